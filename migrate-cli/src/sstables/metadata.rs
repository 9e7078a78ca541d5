//! The metadata components of a written sstable: Statistics.db (validation,
//! compaction, stats, serialization header), Summary.db, Filter.db and
//! CompressionInfo.db, built as Cassandra's `MetadataCollector`,
//! `IndexSummaryBuilder` and `BloomFilter` build them.

use super::encode::{put_uvint, put_uvint32, put_vint_bytes};
use sstable_format::data::NO_DELETION_TIME;
use sstable_format::partitioner::murmur3_x64_128;
use sstable_format::statistics::{EncodingStats, DELETION_TIME_EPOCH, TIMESTAMP_EPOCH};
use sstable_format::Version;
use std::collections::BTreeMap;

/// Cassandra's `EstimatedHistogram` with `n` buckets (offsets 1, then ×1.2).
#[derive(Debug, Clone)]
pub struct Histogram {
    offsets: Vec<i64>,
    buckets: Vec<i64>,
}

impl Histogram {
    pub fn new(n: usize) -> Histogram {
        let mut offsets = Vec::with_capacity(n);
        let mut last = 1i64;
        offsets.push(last);
        while offsets.len() < n {
            let mut next = (last as f64 * 1.2).round() as i64;
            if next == last {
                next += 1;
            }
            offsets.push(next);
            last = next;
        }
        Histogram {
            buckets: vec![0; offsets.len() + 1],
            offsets,
        }
    }

    pub fn add(&mut self, v: i64) {
        let i = self.offsets.partition_point(|o| *o < v);
        self.buckets[i] += 1;
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.buckets.len() as i32).to_be_bytes());
        for (i, b) in self.buckets.iter().enumerate() {
            let off = self.offsets[i.saturating_sub(1)];
            out.extend_from_slice(&off.to_be_bytes());
            out.extend_from_slice(&b.to_be_bytes());
        }
    }
}

/// Cassandra's `MurmurHash.hash2_64` (MurmurHash64A; tail bytes sign-extended as Java does).
pub fn murmur_hash2_64(key: &[u8], seed: u64) -> i64 {
    const M: u64 = 0xc6a4a7935bd1e995;
    const R: u32 = 47;
    let mut h = (seed & 0xffff_ffff) ^ M.wrapping_mul(key.len() as u64);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, b) in rest.iter().enumerate().rev() {
            h ^= ((*b as i8 as i64) << (8 * i)) as u64;
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h as i64
}

/// A HyperLogLog++ (p = 13, sp = 25) of the partition keys, serialized in
/// its NORMAL form as stream-lib's `HyperLogLogPlus.getBytes` writes it.
#[derive(Clone)]
pub struct Cardinality {
    registers: Vec<u8>,
}

const HLL_P: u32 = 13;

impl Default for Cardinality {
    fn default() -> Self {
        Cardinality {
            registers: vec![0; 1 << HLL_P],
        }
    }
}

impl Cardinality {
    pub fn offer(&mut self, key: &[u8]) {
        let h = murmur_hash2_64(key, 0) as u64;
        let idx = (h >> (64 - HLL_P)) as usize;
        let w = (h << HLL_P) | (1u64 << (HLL_P - 1));
        let run = (w.leading_zeros() + 1) as u8;
        if run > self.registers[idx] {
            self.registers[idx] = run;
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        let count = self.registers.len();
        let words = count / 6 + usize::from(!(count / 6).is_multiple_of(32));
        let mut m = vec![0u32; words];
        for (i, r) in self.registers.iter().enumerate() {
            let b = i / 6;
            m[b] |= (*r as u32 & 0x1f) << (5 * (i - b * 6));
        }
        let mut out = Vec::with_capacity(16 + words * 4);
        out.extend_from_slice(&(-2i32).to_be_bytes());
        let varint = |out: &mut Vec<u8>, mut v: u32| {
            while v & !0x7f != 0 {
                out.push((v & 0x7f) as u8 | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        };
        varint(&mut out, HLL_P);
        varint(&mut out, 25);
        varint(&mut out, 0);
        varint(&mut out, (words * 4) as u32);
        for w in m {
            out.extend_from_slice(&w.to_be_bytes());
        }
        out
    }
}

/// Statistics gathered while writing, as `MetadataCollector` gathers them.
#[derive(Clone)]
pub struct Collector {
    pub partition_size: Histogram,
    pub cells_per_partition: Histogram,
    pub min_timestamp: Option<i64>,
    pub max_timestamp: Option<i64>,
    pub min_ldt: Option<i64>,
    pub max_ldt: Option<i64>,
    pub min_ttl: Option<i32>,
    pub max_ttl: Option<i32>,
    /// Tombstone drop times, rounded up to the minute: count per time.
    pub drop_times: BTreeMap<i64, i64>,
    pub total_columns_set: i64,
    pub total_rows: i64,
    pub has_legacy_counter_shards: bool,
    pub has_partition_level_deletions: bool,
    pub cardinality: Cardinality,
}

impl Default for Collector {
    fn default() -> Self {
        Collector {
            partition_size: Histogram::new(150),
            cells_per_partition: Histogram::new(118),
            min_timestamp: None,
            max_timestamp: None,
            min_ldt: None,
            max_ldt: None,
            min_ttl: None,
            max_ttl: None,
            drop_times: BTreeMap::new(),
            total_columns_set: 0,
            total_rows: 0,
            has_legacy_counter_shards: false,
            has_partition_level_deletions: false,
            cardinality: Cardinality::default(),
        }
    }
}

impl Collector {
    pub fn timestamp(&mut self, ts: i64) {
        self.min_timestamp = Some(self.min_timestamp.map_or(ts, |m| m.min(ts)));
        self.max_timestamp = Some(self.max_timestamp.map_or(ts, |m| m.max(ts)));
    }

    pub fn ldt(&mut self, ldt: i64) {
        self.min_ldt = Some(self.min_ldt.map_or(ldt, |m| m.min(ldt)));
        self.max_ldt = Some(self.max_ldt.map_or(ldt, |m| m.max(ldt)));
        if ldt != NO_DELETION_TIME {
            let r = ldt + (60 - ldt.rem_euclid(60)) % 60;
            *self.drop_times.entry(r).or_insert(0) += 1;
        }
    }

    pub fn ttl(&mut self, ttl: i32) {
        self.min_ttl = Some(self.min_ttl.map_or(ttl, |m| m.min(ttl)));
        self.max_ttl = Some(self.max_ttl.map_or(ttl, |m| m.max(ttl)));
    }

    /// At most 100 bins, merging the closest neighbours as Cassandra's
    /// streaming histogram does.
    fn tombstone_bins(&self) -> Vec<(i64, i64)> {
        let mut bins: Vec<(f64, i64)> = self
            .drop_times
            .iter()
            .map(|(p, c)| (*p as f64, *c))
            .collect();
        while bins.len() > 100 {
            let mut best = 0;
            let mut gap = f64::INFINITY;
            for i in 0..bins.len() - 1 {
                let g = bins[i + 1].0 - bins[i].0;
                if g < gap {
                    gap = g;
                    best = i;
                }
            }
            let (a, b) = (bins[best], bins[best + 1]);
            let n = a.1 + b.1;
            let p = (a.0 * a.1 as f64 + b.0 * b.1 as f64) / n as f64;
            bins[best] = (p, n);
            bins.remove(best + 1);
        }
        bins.into_iter()
            .map(|(p, c)| (p.round() as i64, c))
            .collect()
    }
}

/// Java's `writeUTF` (ASCII names only are ever written here).
fn put_utf(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The serialization header of the output.
#[derive(Debug, Clone)]
pub struct HeaderTypes {
    pub key_type: String,
    pub clustering_types: Vec<String>,
    pub statics: Vec<(Vec<u8>, String)>,
    pub regulars: Vec<(Vec<u8>, String)>,
}

/// Everything Statistics.db needs besides the collector.
pub struct StatsInput<'a> {
    pub version: Version,
    pub partitioner: &'a str,
    pub fp_chance: f64,
    pub header: &'a HeaderTypes,
    pub encoding: EncodingStats,
    pub compression_ratio: f64,
    pub first_key: &'a [u8],
    pub last_key: &'a [u8],
}

fn ldt_int(version: Version, ldt: Option<i64>) -> i32 {
    let ldt = ldt.unwrap_or(NO_DELETION_TIME);
    if version.has_uint_deletion_time() {
        if ldt == NO_DELETION_TIME {
            -1
        } else {
            ldt.clamp(0, u32::MAX as i64 - 1) as u32 as i32
        }
    } else if ldt == NO_DELETION_TIME {
        i32::MAX
    } else {
        ldt.clamp(i32::MIN as i64, i32::MAX as i64 - 1) as i32
    }
}

fn put_type(out: &mut Vec<u8>, t: &str) {
    put_vint_bytes(out, t.as_bytes());
}

/// Statistics.db: the four components with their table of contents and
/// (from `na`) CRCs.
pub fn statistics(c: &Collector, s: &StatsInput) -> Vec<u8> {
    let v = s.version;
    // VALIDATION
    let mut validation = Vec::new();
    put_utf(&mut validation, s.partitioner);
    validation.extend_from_slice(&s.fp_chance.to_be_bytes());
    // COMPACTION
    let mut compaction = Vec::new();
    let hll = c.cardinality.bytes();
    compaction.extend_from_slice(&(hll.len() as i32).to_be_bytes());
    compaction.extend_from_slice(&hll);
    // STATS
    let mut st = Vec::new();
    c.partition_size.write(&mut st);
    c.cells_per_partition.write(&mut st);
    // commit log upper bound: none
    st.extend_from_slice(&(-1i64).to_be_bytes());
    st.extend_from_slice(&0i32.to_be_bytes());
    st.extend_from_slice(&c.min_timestamp.unwrap_or(i64::MAX).to_be_bytes());
    st.extend_from_slice(&c.max_timestamp.unwrap_or(i64::MIN).to_be_bytes());
    st.extend_from_slice(&ldt_int(v, c.min_ldt).to_be_bytes());
    st.extend_from_slice(&ldt_int(v, c.max_ldt).to_be_bytes());
    st.extend_from_slice(&c.min_ttl.unwrap_or(0).to_be_bytes());
    st.extend_from_slice(&c.max_ttl.unwrap_or(0).to_be_bytes());
    st.extend_from_slice(&s.compression_ratio.to_be_bytes());
    let bins = c.tombstone_bins();
    st.extend_from_slice(&(bins.len() as i32).to_be_bytes());
    st.extend_from_slice(&(bins.len() as i32).to_be_bytes());
    for (p, n) in &bins {
        if v.has_uint_deletion_time() {
            st.extend_from_slice(&p.to_be_bytes());
            st.extend_from_slice(&((*n).min(i32::MAX as i64) as i32).to_be_bytes());
        } else {
            st.extend_from_slice(&(*p as f64).to_be_bytes());
            st.extend_from_slice(&n.to_be_bytes());
        }
    }
    st.extend_from_slice(&0i32.to_be_bytes()); // sstable level
    st.extend_from_slice(&0i64.to_be_bytes()); // repaired at: unrepaired
    let improved = |st: &mut Vec<u8>| {
        // Covered clustering: BOTTOM..TOP, i.e. "may hold any clustering",
        // so no read ever skips this sstable on its clustering bounds.
        put_uvint32(st, s.header.clustering_types.len() as i32);
        for t in &s.header.clustering_types {
            put_type(st, t);
        }
        st.push(1); // INCL_START_BOUND
        st.extend_from_slice(&0u16.to_be_bytes());
        st.push(6); // INCL_END_BOUND
        st.extend_from_slice(&0u16.to_be_bytes());
    };
    if v < Version::Oa {
        // Legacy min/max clustering values: none, which reads as "any".
        st.extend_from_slice(&0i32.to_be_bytes());
        st.extend_from_slice(&0i32.to_be_bytes());
    } else if v.has_improved_min_max() {
        improved(&mut st);
    }
    st.push(u8::from(c.has_legacy_counter_shards));
    st.extend_from_slice(&c.total_columns_set.to_be_bytes());
    st.extend_from_slice(&c.total_rows.to_be_bytes());
    if v.has_commit_log_lower_bound() {
        st.extend_from_slice(&(-1i64).to_be_bytes());
        st.extend_from_slice(&0i32.to_be_bytes());
    }
    if v.has_commit_log_intervals() {
        st.extend_from_slice(&0i32.to_be_bytes());
    }
    if v.has_pending_repair() {
        st.push(0);
    }
    if v.has_is_transient() {
        st.push(0);
    }
    if v.has_originating_host_id() {
        st.push(0);
    }
    if v.has_partition_level_deletion_presence_marker() {
        st.push(u8::from(c.has_partition_level_deletions));
    }
    if v.has_improved_min_max() && v < Version::Oa {
        improved(&mut st);
    }
    if v.has_key_range() {
        put_vint_bytes(&mut st, s.first_key);
        put_vint_bytes(&mut st, s.last_key);
    }
    if v.has_token_space_coverage() {
        st.extend_from_slice(&f64::NAN.to_be_bytes());
    }
    // HEADER
    let mut h = Vec::new();
    let e = s.encoding;
    put_uvint(&mut h, e.min_timestamp.wrapping_sub(TIMESTAMP_EPOCH) as u64);
    put_uvint32(
        &mut h,
        e.min_local_deletion_time
            .wrapping_sub(DELETION_TIME_EPOCH as i64) as i32,
    );
    put_uvint32(&mut h, e.min_ttl);
    put_type(&mut h, &s.header.key_type);
    put_uvint32(&mut h, s.header.clustering_types.len() as i32);
    for t in &s.header.clustering_types {
        put_type(&mut h, t);
    }
    for cols in [&s.header.statics, &s.header.regulars] {
        put_uvint32(&mut h, cols.len() as i32);
        for (name, t) in cols {
            put_vint_bytes(&mut h, name);
            put_type(&mut h, t);
        }
    }

    let components = [validation, compaction, st, h];
    let checksum = v.has_metadata_checksum();
    let mut out = Vec::new();
    let mut crc = crc32fast::Hasher::new();
    let n = components.len() as i32;
    out.extend_from_slice(&n.to_be_bytes());
    crc.update(&n.to_be_bytes());
    if checksum {
        out.extend_from_slice(&crc.clone().finalize().to_be_bytes());
    }
    let mut pos = 4 + 8 * components.len() + if checksum { 8 } else { 0 };
    for (t, comp) in components.iter().enumerate() {
        let t = t as i32;
        out.extend_from_slice(&t.to_be_bytes());
        crc.update(&t.to_be_bytes());
        out.extend_from_slice(&(pos as i32).to_be_bytes());
        crc.update(&(pos as i32).to_be_bytes());
        pos += comp.len() + if checksum { 4 } else { 0 };
    }
    if checksum {
        out.extend_from_slice(&crc.finalize().to_be_bytes());
    }
    for comp in &components {
        out.extend_from_slice(comp);
        if checksum {
            out.extend_from_slice(&crc32fast::hash(comp).to_be_bytes());
        }
    }
    out
}

/// Index summary sampling interval (`min_index_interval`).
pub const MIN_INDEX_INTERVAL: u64 = 128;

/// Summary.db from the sampled (key, Index.db position) pairs.
pub fn summary(entries: &[(Vec<u8>, u64)], keys: u64, first: &[u8], last: &[u8]) -> Vec<u8> {
    let n = entries.len();
    let offsets_len = n * 4;
    let entries_len: usize = entries.iter().map(|(k, _)| k.len() + 8).sum();
    let mut out = Vec::with_capacity(24 + offsets_len + entries_len + first.len() + last.len() + 8);
    out.extend_from_slice(&(MIN_INDEX_INTERVAL as i32).to_be_bytes());
    out.extend_from_slice(&(n as i32).to_be_bytes());
    out.extend_from_slice(&((offsets_len + entries_len) as i64).to_be_bytes());
    out.extend_from_slice(&128i32.to_be_bytes()); // sampling level: full
    let full = keys.div_ceil(MIN_INDEX_INTERVAL);
    out.extend_from_slice(&(full as i32).to_be_bytes());
    let mut off = offsets_len;
    for (k, _) in entries {
        out.extend_from_slice(&(off as u32).to_le_bytes());
        off += k.len() + 8;
    }
    for (k, p) in entries {
        out.extend_from_slice(k);
        out.extend_from_slice(&(*p as i64).to_le_bytes());
    }
    out.extend_from_slice(&(first.len() as i32).to_be_bytes());
    out.extend_from_slice(first);
    out.extend_from_slice(&(last.len() as i32).to_be_bytes());
    out.extend_from_slice(last);
    out
}

/// A bloom filter over the partition keys (`na`+ serialization), sized for
/// an expected key count at Cassandra's default 1% false-positive chance
/// (10 bits per key, 7 hashes: `BloomCalculations`' choice for 0.01).
pub struct Filter {
    bits: Vec<u8>,
    hashes: u32,
}

impl Filter {
    pub const FP_CHANCE: f64 = 0.01;

    pub fn new(expected_keys: u64) -> Filter {
        let bits = expected_keys.saturating_mul(10).saturating_add(20);
        let words = bits.div_ceil(64).max(1);
        Filter {
            bits: vec![0; (words * 8) as usize],
            hashes: 7,
        }
    }

    pub fn add(&mut self, key: &[u8]) {
        let max = self.bits.len() as i64 * 8;
        let h = murmur3_x64_128(key, 0);
        let (mut base, inc) = (h[1], h[0]);
        for _ in 0..self.hashes {
            let idx = (base % max).unsigned_abs();
            self.bits[(idx >> 3) as usize] |= 1 << (idx & 7);
            base = base.wrapping_add(inc);
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.bits.len());
        out.extend_from_slice(&(self.hashes as i32).to_be_bytes());
        out.extend_from_slice(&((self.bits.len() / 8) as i32).to_be_bytes());
        out.extend_from_slice(&self.bits);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash2_64_matches_java() {
        // Values from Cassandra's MurmurHash.hash2_64 (seed 0).
        assert_eq!(murmur_hash2_64(b"", 0), 0);
        // Self-consistency: tail sign extension matters for bytes >= 0x80.
        assert_ne!(murmur_hash2_64(&[0x80], 0), murmur_hash2_64(&[0x00], 0));
    }

    #[test]
    fn histogram_offsets_grow_by_a_fifth() {
        let h = Histogram::new(150);
        assert_eq!(&h.offsets[..10], &[1, 2, 3, 4, 5, 6, 7, 8, 10, 12]);
        assert_eq!(h.buckets.len(), 151);
    }

    #[test]
    fn filter_reads_back() {
        let mut f = Filter::new(100);
        for i in 0..100u32 {
            f.add(&i.to_be_bytes());
        }
        let b = f.bytes();
        let parsed = sstable_format::filter::BloomFilter::parse(&b, Version::Nb).unwrap();
        for i in 0..100u32 {
            assert!(parsed.may_contain(&i.to_be_bytes()));
        }
    }
}
