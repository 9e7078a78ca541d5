//! Token ranges, shards and point lookups: Filter → Summary → Index → Data,
//! so only the needed part of Data.db is read.

use crate::error::{ReadError, Result};
use crate::sstable::SSTable;
use sstable_format::filter::BloomFilter;
use sstable_format::index::{IndexEntries, IndexOffset};
use sstable_format::{Partitioner, Token};

/// A range of tokens, `start` exclusive and `end` inclusive as Cassandra's
/// ranges are; `None` is unbounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRange {
    pub start: Option<Token>,
    pub end: Option<Token>,
}

impl TokenRange {
    pub const ALL: TokenRange = TokenRange {
        start: None,
        end: None,
    };

    pub fn contains(&self, t: &Token) -> bool {
        self.start.as_ref().is_none_or(|s| s < t) && self.end.as_ref().is_none_or(|e| t <= e)
    }

    /// Parse `START:END` (either side may be empty).
    pub fn parse(s: &str, p: Partitioner) -> std::result::Result<TokenRange, String> {
        let (a, b) = s
            .split_once(':')
            .ok_or_else(|| format!("a token range is START:END, got `{s}`"))?;
        let tok = |x: &str| -> std::result::Result<Option<Token>, String> {
            if x.is_empty() {
                return Ok(None);
            }
            Ok(Some(match p {
                Partitioner::Murmur3 => Token::Long(
                    x.parse()
                        .map_err(|_| format!("`{x}` is not a Murmur3 token"))?,
                ),
                Partitioner::Random => Token::Big(
                    x.parse()
                        .map_err(|_| format!("`{x}` is not a RandomPartitioner token"))?,
                ),
                _ => Token::Bytes(
                    (0..x.len() / 2)
                        .map(|i| u8::from_str_radix(x.get(i * 2..i * 2 + 2).unwrap_or("zz"), 16))
                        .collect::<std::result::Result<Vec<u8>, _>>()
                        .map_err(|_| format!("`{x}` is not a hex key token"))?,
                ),
            }))
        };
        Ok(TokenRange {
            start: tok(a)?,
            end: tok(b)?,
        })
    }

    /// Shard `i` of `n` equal slices of the partitioner's token space.
    pub fn shard(i: u64, n: u64, p: Partitioner) -> std::result::Result<TokenRange, String> {
        if n == 0 || i >= n {
            return Err(format!("a shard is I/N with 0 <= I < N, got {i}/{n}"));
        }
        let bound = |k: u64| -> Option<Token> {
            match p {
                Partitioner::Murmur3 => {
                    if k == 0 {
                        return None;
                    }
                    if k == n {
                        return None;
                    }
                    let span = (u64::MAX as u128) + 1;
                    let off = (span * k as u128 / n as u128) as i128;
                    Some(Token::Long((i64::MIN as i128 + off - 1) as i64))
                }
                Partitioner::Random => {
                    if k == 0 || k == n {
                        return None;
                    }
                    let span = 1u128 << 127;
                    Some(Token::Big(span / n as u128 * k as u128))
                }
                _ => None,
            }
        };
        if !matches!(p, Partitioner::Murmur3 | Partitioner::Random) {
            return Err(format!(
                "shards need Murmur3 or Random tokens, not {}",
                p.class_name()
            ));
        }
        Ok(TokenRange {
            start: bound(i),
            end: bound(i + 1),
        })
    }
}

/// Data.db offset from which partitions of `range` may start (via
/// Summary.db and Index.db); 0 when the sstable has no index.
pub fn start_offset(sst: &SSTable, range: &TokenRange) -> Result<u64> {
    if range.start.is_none() {
        return Ok(0);
    }
    Ok(start_offsets(sst, std::slice::from_ref(range))?[0])
}

/// [`start_offset`] of each range, Summary.db read once.
pub fn start_offsets(sst: &SSTable, ranges: &[TokenRange]) -> Result<Vec<u64>> {
    let indexed = matches!(
        sst.partitioner,
        Partitioner::Murmur3 | Partitioner::Random | Partitioner::ByteOrdered
    );
    let bounded = ranges.iter().any(|r| r.start.is_some());
    let (true, true, Some(index)) = (indexed, bounded, &sst.index) else {
        return Ok(vec![0; ranges.len()]);
    };
    let summary = sst.summary().transpose()?;
    let samples = summary.as_ref().map_or(&[][..], |s| &s.entries[..]);
    let mut out = Vec::with_capacity(ranges.len());
    for range in ranges {
        let Some(start) = &range.start else {
            out.push(0);
            continue;
        };
        // The last summary sample at or before the range start.
        let from = walk_start_in(sst, samples, &(start.clone(), Vec::new()));
        let (it, path) = index_entries_from(sst, index, from)?;
        let mut offset = sst.data_length();
        for e in it.without_promoted() {
            let e = e.map_err(|e| ReadError::format(&path, e))?;
            if sst.partitioner.token(e.key) > *start {
                offset = e.position.0;
                break;
            }
        }
        out.push(offset);
    }
    Ok(out)
}

/// A piece of an sstable's Data.db for one worker of a parallel scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataSlice {
    /// Uncompressed Data.db offsets, `[start, end)`.
    pub start: u64,
    pub end: u64,
    /// The slice starts inside a partition, at one of its promoted-index
    /// blocks: scan it with [`crate::Scanner::rows`] (rows only, then no
    /// partition). Otherwise it starts at a partition; a partition cut into
    /// pieces ends its first piece early ([`crate::Scanner::range`] stops
    /// at `end`).
    pub mid_partition: bool,
}

/// Cut the partitions in `[start, end)` of `sst` (Data.db offsets at
/// partition boundaries, `range` the token range they belong to, to find
/// them in the index) into slices of about `target` bytes: runs of whole
/// partitions, and any partition larger than `target` cut at its
/// promoted-index blocks. 2.x and BTI sstables, and sstables without an
/// index, keep whole partitions (one slice).
pub fn split_wide(
    sst: &SSTable,
    range: &TokenRange,
    start: u64,
    end: u64,
    target: u64,
) -> Result<Vec<DataSlice>> {
    let whole = vec![DataSlice {
        start,
        end,
        mid_partition: false,
    }];
    let target = target.max(1);
    let Some(index) = &sst.index else {
        return Ok(whole);
    };
    if sst.legacy.is_some() || sst.is_raw_legacy() || end <= start {
        return Ok(whole);
    }
    let from = match &range.start {
        Some(t) => index_walk_start(sst, &(t.clone(), Vec::new()))?,
        None => IndexOffset(0),
    };
    let (it, path) = index_entries_from(sst, index, from)?;
    let mut out = Vec::new();
    let mut run_start = start;
    // The partition whose extent is known once the next one starts.
    let mut pending: Option<(u64, Vec<u64>)> = None;
    let close =
        |out: &mut Vec<DataSlice>, run_start: &mut u64, (p, blocks): (u64, Vec<u64>), next: u64| {
            if next.saturating_sub(p) <= target || blocks.len() < 2 {
                if next.saturating_sub(*run_start) >= target {
                    out.push(DataSlice {
                        start: *run_start,
                        end: next,
                        mid_partition: false,
                    });
                    *run_start = next;
                }
                return;
            }
            if p > *run_start {
                out.push(DataSlice {
                    start: *run_start,
                    end: p,
                    mid_partition: false,
                });
            }
            // Cut at block starts (offsets claimed by the index: only
            // increasing ones inside the partition are used).
            let mut piece = p;
            let mut last = p;
            for b in blocks {
                let at = p.saturating_add(b);
                if at <= last || at >= next {
                    continue;
                }
                last = at;
                if at - piece >= target {
                    out.push(DataSlice {
                        start: piece,
                        end: at,
                        mid_partition: piece != p,
                    });
                    piece = at;
                }
            }
            out.push(DataSlice {
                start: piece,
                end: next,
                mid_partition: piece != p,
            });
            *run_start = next;
        };
    for e in it {
        let e = e.map_err(|e| ReadError::format(&path, e))?;
        let pos = e.position.0;
        if pos < start {
            continue;
        }
        if pos >= end {
            break;
        }
        if let Some(prev) = pending.take() {
            close(&mut out, &mut run_start, prev, pos);
        }
        let blocks = e
            .promoted
            .map(|pi| pi.blocks.iter().map(|b| b.offset).collect())
            .unwrap_or_default();
        pending = Some((pos, blocks));
    }
    if let Some(prev) = pending.take() {
        close(&mut out, &mut run_start, prev, end);
    }
    if run_start < end {
        out.push(DataSlice {
            start: run_start,
            end,
            mid_partition: false,
        });
    }
    Ok(out)
}

/// The Index.db offset of the last Summary.db sample at or before `target`
/// (in (token, key) order), where an index walk can begin.
fn index_walk_start(sst: &SSTable, target: &(Token, Vec<u8>)) -> Result<IndexOffset> {
    let summary = sst.summary().transpose()?;
    let samples = summary.as_ref().map_or(&[][..], |s| &s.entries[..]);
    Ok(walk_start_in(sst, samples, target))
}

/// [`index_walk_start`] among parsed samples, which are in partition
/// order: a binary search, hashing about log2(n) keys instead of every key
/// up to the target.
fn walk_start_in(
    sst: &SSTable,
    samples: &[(&[u8], IndexOffset)],
    (token, key): &(Token, Vec<u8>),
) -> IndexOffset {
    let after = samples.partition_point(|(k, _)| match sst.partitioner.token(k).cmp(token) {
        std::cmp::Ordering::Less => true,
        std::cmp::Ordering::Equal => *k <= key.as_slice(),
        std::cmp::Ordering::Greater => false,
    });
    after
        .checked_sub(1)
        .map_or(IndexOffset(0), |i| samples[i].1)
}

/// Index.db entries from `from`, with the path for errors.
fn index_entries_from<'a>(
    sst: &'a SSTable,
    index: &'a crate::mmap::MappedFile,
    from: IndexOffset,
) -> Result<(IndexEntries<'a, 'a>, std::path::PathBuf)> {
    let path = sst.component_path("Index.db");
    let it = IndexEntries::starting_at(
        index.bytes(),
        from,
        sst.version(),
        &sst.header.clustering_types,
    )
    .map_err(|e| ReadError::format(&path, e))?;
    Ok((it, path))
}

/// Where a partition key's data starts, if the sstable may have it:
/// the bloom filter, then the summary, then the index.
pub fn lookup(sst: &SSTable, key: &[u8]) -> Result<Option<u64>> {
    if let Some(f) = &sst.filter {
        if let Ok(mut bf) = BloomFilter::parse(f.bytes(), sst.version()) {
            if sst.version().has_old_bf_hash_order()
                && matches!(
                    sst.version(),
                    sstable_format::Version::La | sstable_format::Version::Lb
                )
            {
                // Some 2.2 files use the new order; only trust a negative from both.
                let a = bf.may_contain(key);
                bf.old_hash_order = !bf.old_hash_order;
                if !a && !bf.may_contain(key) {
                    return Ok(None);
                }
            } else if !bf.may_contain(key) {
                return Ok(None);
            }
        }
    }
    let Some(index) = &sst.index else {
        return Ok(Some(0));
    };
    let token = sst.partitioner.token(key);
    let target = (token.clone(), key.to_vec());
    let from = index_walk_start(sst, &target)?;
    let (it, path) = index_entries_from(sst, index, from)?;
    for e in it {
        let e = e.map_err(|e| ReadError::format(&path, e))?;
        if e.key == key {
            return Ok(Some(e.position.0));
        }
        if (sst.partitioner.token(e.key), e.key.to_vec()) > target {
            return Ok(None);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_ring_once() {
        for n in [1u64, 2, 7, 64] {
            let shards: Vec<TokenRange> = (0..n)
                .map(|i| TokenRange::shard(i, n, Partitioner::Murmur3).unwrap())
                .collect();
            for t in [
                i64::MIN,
                i64::MIN + 1,
                -1,
                0,
                1,
                12345,
                i64::MAX - 1,
                i64::MAX,
            ] {
                let tok = Token::Long(t);
                assert_eq!(
                    shards.iter().filter(|s| s.contains(&tok)).count(),
                    1,
                    "n={n} t={t}"
                );
            }
        }
    }
}
