//! `Statistics.db`: validation, compaction, stats and serialization-header metadata.
//!
//! ```text
//! i32 count                      [na+: i32 CRC32(count)]
//! count × (i32 type, i32 offset) [na+: i32 CRC32(count ‖ entries)]
//! components, in type order      [na+: each followed by i32 CRC32(component)]
//!   0 VALIDATION  utf partitioner, f64 bloom filter fp chance
//!   1 COMPACTION  i32 length + HyperLogLog++ cardinality bytes
//!   2 STATS       histograms, timestamps, deletion times, TTLs, ... (see `Stats::parse`)
//!   3 HEADER      EncodingStats, key type, clustering types, static/regular columns
//! ```

use crate::cursor::Cursor;
use crate::error::{Component, Error, Result};
use crate::types::CqlType;
use crate::version::Version;

const C: Component = Component::Statistics;

/// EncodingStats epochs (2015-09-22T00:00:00Z).
pub const TIMESTAMP_EPOCH: i64 = 1_442_880_000_000_000;
pub const DELETION_TIME_EPOCH: i32 = 1_442_880_000;

/// Per-sstable minima that Data.db deltas are taken against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodingStats {
    pub min_timestamp: i64,
    pub min_local_deletion_time: i64,
    pub min_ttl: i32,
}

/// A column of the serialization header.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderColumn {
    pub name: Vec<u8>,
    pub type_string: String,
    pub cql_type: CqlType,
}

impl HeaderColumn {
    pub fn name_str(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// The serialization header: the types needed to decode Data.db.
#[derive(Debug, Clone, PartialEq)]
pub struct SerializationHeader {
    pub stats: EncodingStats,
    pub key_type_string: String,
    pub key_type: CqlType,
    pub clustering_types: Vec<CqlType>,
    pub clustering_type_strings: Vec<String>,
    /// Sorted as Cassandra sorts them: simple before complex, then by name bytes.
    pub static_columns: Vec<HeaderColumn>,
    pub regular_columns: Vec<HeaderColumn>,
}

/// The validation component.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    pub partitioner: String,
    pub bloom_filter_fp_chance: f64,
}

/// An estimated histogram: (bucket upper offset, count) pairs; the last bucket is overflow.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EstimatedHistogram {
    pub offsets: Vec<i64>,
    pub buckets: Vec<i64>,
}

impl EstimatedHistogram {
    pub fn count(&self) -> i64 {
        self.buckets.iter().fold(0i64, |a, b| a.saturating_add(*b))
    }
    /// Mean, rounded up as Cassandra does.
    pub fn mean(&self) -> i64 {
        let mut elements: i64 = 0;
        let mut sum: i64 = 0;
        for i in 0..self.buckets.len().saturating_sub(1) {
            let b = self.buckets[i];
            elements = elements.saturating_add(b);
            sum = sum.saturating_add(b.saturating_mul(*self.offsets.get(i).unwrap_or(&0)));
        }
        if elements == 0 {
            0
        } else {
            (sum + elements - 1) / elements
        }
    }
}

/// The STATS component.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stats {
    pub estimated_partition_size: EstimatedHistogram,
    pub estimated_cell_per_partition_count: EstimatedHistogram,
    pub commit_log_upper_bound: (i64, i32),
    pub min_timestamp: i64,
    pub max_timestamp: i64,
    /// Seconds; `i64::MAX` means "none".
    pub min_local_deletion_time: i64,
    pub max_local_deletion_time: i64,
    pub min_ttl: i32,
    pub max_ttl: i32,
    pub compression_ratio: f64,
    /// (deletion time in seconds, count)
    pub tombstone_histogram: Vec<(i64, i64)>,
    pub sstable_level: i32,
    pub repaired_at: i64,
    /// Legacy min/max clustering values (raw bytes), where present.
    pub min_clustering_values: Vec<Vec<u8>>,
    pub max_clustering_values: Vec<Vec<u8>>,
    /// Improved min/max (nc, oa): the raw clustering bound bytes and their types.
    pub covered_clustering_types: Vec<String>,
    pub covered_clustering: Option<(ClusteringBoundRaw, ClusteringBoundRaw)>,
    pub has_legacy_counter_shards: bool,
    pub total_columns_set: i64,
    pub total_rows: i64,
    pub commit_log_lower_bound: Option<(i64, i32)>,
    pub commit_log_intervals: Vec<((i64, i32), (i64, i32))>,
    pub pending_repair: Option<[u8; 16]>,
    pub is_transient: bool,
    pub originating_host_id: Option<[u8; 16]>,
    pub has_partition_level_deletions: Option<bool>,
    pub first_key: Option<Vec<u8>>,
    pub last_key: Option<Vec<u8>>,
    pub token_space_coverage: Option<f64>,
    /// Written by a pre-release 4.0 `na` writer (no isTransient field); such
    /// sstables also use the old bloom-filter serialization.
    pub pre_release_na: bool,
}

/// A clustering bound kept as raw values (kind ordinal + values; None = null).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusteringBoundRaw {
    pub kind: u8,
    pub values: Vec<Option<Vec<u8>>>,
}

/// All of Statistics.db.
#[derive(Debug, Clone, PartialEq)]
pub struct Statistics {
    pub validation: Option<Validation>,
    /// Serialized HyperLogLog++ bytes.
    pub compaction_cardinality: Option<Vec<u8>>,
    pub stats: Option<Stats>,
    pub header: Option<SerializationHeader>,
}

/// Maximum number of entries accepted in any histogram or list (a claim bound).
const MAX_ENTRIES: usize = 1 << 20;

impl Statistics {
    pub fn parse(buf: &[u8], version: Version) -> Result<Statistics> {
        let mut c = Cursor::new(buf, C);
        let checksum = version.has_metadata_checksum();
        let count = c.count_i32(16, "metadata component count")?;
        let mut toc_crc = crc32fast::Hasher::new();
        toc_crc.update(&buf[..4]);
        if checksum {
            let stored = c.u32("metadata count checksum")?;
            let actual = crc32fast::hash(&buf[..4]);
            if stored != actual {
                return Err(Error::ChecksumMismatch {
                    component: C,
                    chunk: 0,
                    offset: 4,
                    expected: stored,
                    actual,
                });
            }
        }
        let toc_start = c.position();
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let at = c.position();
            let t = c.i32("metadata type")?;
            let off = c.i32("metadata offset")?;
            if !(0..=3).contains(&t) || off < 0 || off as usize > buf.len() {
                return Err(c.invalid_at(at, format!("a metadata type in 0..=3 and offset within the file, found type {t} offset {off}")));
            }
            entries.push((t as u8, off as usize));
        }
        if checksum {
            toc_crc.update(&buf[toc_start..c.position()]);
            let at = c.position();
            let stored = c.u32("metadata table checksum")?;
            let actual = toc_crc.finalize();
            if stored != actual {
                return Err(Error::ChecksumMismatch {
                    component: C,
                    chunk: 0,
                    offset: at as u64,
                    expected: stored,
                    actual,
                });
            }
        }
        let mut stats = Statistics {
            validation: None,
            compaction_cardinality: None,
            stats: None,
            header: None,
        };
        let mut sorted = entries.clone();
        sorted.sort_by_key(|e| e.1);
        for (i, (t, off)) in sorted.iter().enumerate() {
            let end = sorted.get(i + 1).map(|e| e.1).unwrap_or(buf.len());
            if end < *off {
                return Err(Error::invalid(
                    C,
                    *off as u64,
                    "non-overlapping metadata components",
                ));
            }
            let mut body = &buf[*off..end];
            if checksum {
                if body.len() < 4 {
                    return Err(Error::Truncated {
                        component: C,
                        offset: *off as u64,
                        needed: 4,
                        what: "metadata component checksum",
                    });
                }
                let (b, crc) = body.split_at(body.len() - 4);
                let stored = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
                let actual = crc32fast::hash(b);
                if stored != actual {
                    return Err(Error::ChecksumMismatch {
                        component: C,
                        chunk: *t as u64,
                        offset: *off as u64,
                        expected: stored,
                        actual,
                    });
                }
                body = b;
            }
            let mut bc = Cursor::with_base(body, C, *off as u64);
            match t {
                0 => {
                    let partitioner = bc.utf("partitioner")?;
                    let bloom_filter_fp_chance = bc.f64("bloom filter fp chance")?;
                    stats.validation = Some(Validation {
                        partitioner,
                        bloom_filter_fp_chance,
                    });
                }
                1 => {
                    if !version.stores_rows() {
                        let n = bc.count_i32(MAX_ENTRIES, "ancestor count")?;
                        bc.skip(n * 4, "ancestors")?;
                    }
                    let n = bc.count_i32(bc.remaining(), "cardinality length")?;
                    stats.compaction_cardinality = Some(bc.bytes(n, "cardinality")?.to_vec());
                }
                2 => stats.stats = Some(Stats::parse(&mut bc, version)?),
                3 => stats.header = Some(SerializationHeader::parse(&mut bc, version)?),
                _ => {}
            }
        }
        Ok(stats)
    }
}

fn histogram(c: &mut Cursor) -> Result<EstimatedHistogram> {
    let n = c.count_i32(MAX_ENTRIES.min(c.remaining() / 16), "histogram size")?;
    let mut offsets = vec![0i64; n.saturating_sub(1).max(1)];
    let mut buckets = Vec::with_capacity(n);
    for i in 0..n {
        let o = c.i64("histogram offset")?;
        if let Some(slot) = offsets.get_mut(i.saturating_sub(1)) {
            *slot = o;
        }
        buckets.push(c.i64("histogram bucket")?);
    }
    Ok(EstimatedHistogram { offsets, buckets })
}

fn clp(c: &mut Cursor) -> Result<(i64, i32)> {
    Ok((c.i64("commit log segment")?, c.i32("commit log position")?))
}

fn uuid(c: &mut Cursor, what: &'static str) -> Result<[u8; 16]> {
    let b = c.bytes(16, what)?;
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    Ok(a)
}

fn ldt_legacy(v: i32) -> i64 {
    if v == i32::MAX {
        i64::MAX
    } else {
        v as i64
    }
}

fn ldt_uint(v: i32) -> i64 {
    if v == -1 {
        i64::MAX
    } else {
        v as u32 as i64
    }
}

/// Read a clustering bound (kind, u16 size, values) whose types are given.
pub fn read_bound_raw(c: &mut Cursor, types: &[CqlType]) -> Result<ClusteringBoundRaw> {
    let kind = c.u8("clustering kind")?;
    let size = c.u16("clustering size")? as usize;
    if size > types.len() {
        return Err(c.invalid(format!(
            "at most {} clustering values, found {size}",
            types.len()
        )));
    }
    let vals = crate::data::read_clustering_values(c, &types[..size])?;
    Ok(ClusteringBoundRaw {
        kind,
        values: vals.into_iter().map(|v| v.map(|b| b.to_vec())).collect(),
    })
}

fn improved_min_max(c: &mut Cursor, s: &mut Stats) -> Result<()> {
    let n = c.uvint_len(4096, "clustering type count")?;
    let mut types = Vec::with_capacity(n);
    let mut strings = Vec::with_capacity(n);
    for _ in 0..n {
        let at = c.position();
        let b = c.vint_bytes("clustering type")?;
        let st = std::str::from_utf8(b).map_err(|_| c.invalid_at(at, "a UTF-8 type name"))?;
        types.push(CqlType::parse_marshal(st).map_err(|e| c.invalid_at(at, e.to_string()))?);
        strings.push(st.to_string());
    }
    let start = read_bound_raw(c, &types)?;
    let end = read_bound_raw(c, &types)?;
    s.covered_clustering_types = strings;
    s.covered_clustering = Some((start, end));
    Ok(())
}

fn legacy_min_max(c: &mut Cursor, s: &mut Stats) -> Result<()> {
    for max in [false, true] {
        let n = c.count_i32(c.remaining() / 2, "min/max clustering count")?;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(c.short_bytes("min/max clustering value")?.to_vec());
        }
        if max {
            s.max_clustering_values = v;
        } else {
            s.min_clustering_values = v;
        }
    }
    Ok(())
}

impl Stats {
    fn parse(c: &mut Cursor, version: Version) -> Result<Stats> {
        let mut s = Stats {
            estimated_partition_size: histogram(c)?,
            estimated_cell_per_partition_count: histogram(c)?,
            commit_log_upper_bound: clp(c)?,
            min_timestamp: c.i64("min timestamp")?,
            max_timestamp: c.i64("max timestamp")?,
            ..Default::default()
        };
        let uint = version.has_uint_deletion_time();
        let conv = if uint { ldt_uint } else { ldt_legacy };
        let rows = version.stores_rows();
        s.min_local_deletion_time = if rows {
            conv(c.i32("min local deletion time")?)
        } else {
            i64::MAX
        };
        s.max_local_deletion_time = conv(c.i32("max local deletion time")?);
        s.min_ttl = if rows { c.i32("min ttl")? } else { 0 };
        s.max_ttl = if rows { c.i32("max ttl")? } else { i32::MAX };
        s.compression_ratio = c.f64("compression ratio")?;
        c.i32("tombstone histogram max bin size")?;
        let n = c.count_i32(
            MAX_ENTRIES.min(c.remaining() / 12),
            "tombstone histogram size",
        )?;
        for _ in 0..n {
            if uint {
                let p = c.i64("tombstone histogram point")?;
                let n = c.i32("tombstone histogram count")? as i64;
                s.tombstone_histogram.push((p, n));
            } else {
                let p = c.f64("tombstone histogram point")?;
                let n = c.i64("tombstone histogram count")?;
                s.tombstone_histogram.push((p as i64, n));
            }
        }
        s.sstable_level = c.i32("sstable level")?;
        s.repaired_at = c.i64("repaired at")?;
        let legacy_min_max_present = version < Version::Oa;
        if legacy_min_max_present {
            legacy_min_max(c, &mut s)?;
        } else if version.has_improved_min_max() {
            improved_min_max(c, &mut s)?;
        }
        s.has_legacy_counter_shards = c.bool("has legacy counter shards")?;
        if rows {
            s.total_columns_set = c.i64("total columns set")?;
            s.total_rows = c.i64("total rows")?;
        } else {
            s.total_columns_set = -1;
            s.total_rows = -1;
        }
        if version.has_commit_log_lower_bound() {
            s.commit_log_lower_bound = Some(clp(c)?);
        }
        if version.has_commit_log_intervals() {
            let n = c.count_i32(c.remaining() / 24, "commit log interval count")?;
            for _ in 0..n {
                s.commit_log_intervals.push((clp(c)?, clp(c)?));
            }
        }
        if version.has_pending_repair() && c.u8("pending repair flag")? != 0 {
            s.pending_repair = Some(uuid(c, "pending repair id")?);
        }
        // Pre-release 4.0 `na` writers ended the component before isTransient
        // (and host id); accept those shorter components.
        let optional_tail = version == Version::Na && c.is_empty();
        s.pre_release_na = optional_tail;
        if version.has_is_transient() && !optional_tail {
            s.is_transient = c.bool("is transient")?;
        }
        if version.has_originating_host_id() && c.u8("originating host id flag")? != 0 {
            s.originating_host_id = Some(uuid(c, "originating host id")?);
        }
        if version.has_partition_level_deletion_presence_marker() {
            s.has_partition_level_deletions = Some(c.bool("partition level deletions marker")?);
        }
        if version.has_improved_min_max() && legacy_min_max_present {
            improved_min_max(c, &mut s)?;
        }
        if version.has_key_range() {
            s.first_key = Some(c.vint_bytes("first key")?.to_vec());
            s.last_key = Some(c.vint_bytes("last key")?.to_vec());
        }
        if version.has_token_space_coverage() {
            s.token_space_coverage = Some(c.f64("token space coverage")?);
        }
        // 5.0 writers size the component with 16 bytes per tombstone-histogram
        // entry but write 12, and pad the rest with zeros.
        if !c.rest().iter().all(|b| *b == 0) {
            return Err(c.invalid(format!(
                "the end of the stats component ({} bytes left over)",
                c.remaining()
            )));
        }
        Ok(s)
    }
}

/// Sort header columns as Cassandra's `ColumnMetadata.compareTo` does.
pub fn sort_columns(cols: &mut [HeaderColumn]) {
    cols.sort_by(|a, b| {
        a.cql_type
            .is_multi_cell()
            .cmp(&b.cql_type.is_multi_cell())
            .then_with(|| a.name.cmp(&b.name))
    });
}

impl SerializationHeader {
    pub fn parse(c: &mut Cursor, version: Version) -> Result<SerializationHeader> {
        let min_ts = c.uvint("min timestamp delta")?;
        // Cassandra 5.0 rejects a delta past 32 bits (`readUnsignedVInt32`);
        // 3.x and 4.x cast it to an int, so an sstable whose writer put a
        // "no value" sentinel there (Scylla does, in empty sstables) reads.
        let int32 = |c: &mut Cursor, what| match version.has_uint_deletion_time() {
            true => read_uvint32(c, what),
            false => Ok(c.uvint(what)? as i32),
        };
        let ldt = int32(c, "min local deletion time delta")?;
        let ttl = int32(c, "min ttl delta")?;
        let stats = EncodingStats {
            min_timestamp: (min_ts as i64).wrapping_add(TIMESTAMP_EPOCH),
            min_local_deletion_time: ldt.wrapping_add(DELETION_TIME_EPOCH) as i64,
            min_ttl: ttl,
        };
        let (key_type_string, key_type) = read_type(c)?;
        let n = c.uvint_len(4096, "clustering type count")?;
        let mut clustering_types = Vec::with_capacity(n);
        let mut clustering_type_strings = Vec::with_capacity(n);
        for _ in 0..n {
            let (s, t) = read_type(c)?;
            clustering_type_strings.push(s);
            clustering_types.push(t);
        }
        let mut static_columns = read_columns(c)?;
        let mut regular_columns = read_columns(c)?;
        sort_columns(&mut static_columns);
        sort_columns(&mut regular_columns);
        Ok(SerializationHeader {
            stats,
            key_type_string,
            key_type,
            clustering_types,
            clustering_type_strings,
            static_columns,
            regular_columns,
        })
    }
}

/// `readUnsignedVInt32`: a u64 that must be a sign-extended i32.
pub fn read_uvint32(c: &mut Cursor, what: &'static str) -> Result<i32> {
    let at = c.position();
    let v = c.uvint(what)? as i64;
    if v as i32 as i64 != v {
        return Err(c.invalid_at(at, format!("{what}: a 32-bit value, found {v}")));
    }
    Ok(v as i32)
}

fn read_type(c: &mut Cursor) -> Result<(String, CqlType)> {
    let at = c.position();
    let b = c.vint_bytes("type name")?;
    let s = std::str::from_utf8(b).map_err(|_| c.invalid_at(at, "a UTF-8 type name"))?;
    let t = CqlType::parse_marshal(s).map_err(|e| c.invalid_at(at, e.to_string()))?;
    Ok((s.to_string(), t))
}

fn read_columns(c: &mut Cursor) -> Result<Vec<HeaderColumn>> {
    let n = c.uvint_len(c.remaining(), "column count")?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let name = c.vint_bytes("column name")?.to_vec();
        let (type_string, cql_type) = read_type(c)?;
        v.push(HeaderColumn {
            name,
            type_string,
            cql_type,
        });
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::encode_uvint;

    /// A header with no columns whose deletion-time and TTL deltas are
    /// `i64::MAX`, as Scylla writes them in an empty sstable.
    fn sentinel_header() -> Vec<u8> {
        let mut b = Vec::new();
        encode_uvint(0, &mut b);
        encode_uvint(i64::MAX as u64, &mut b);
        encode_uvint(i64::MAX as u64, &mut b);
        let key = b"org.apache.cassandra.db.marshal.Int32Type";
        encode_uvint(key.len() as u64, &mut b);
        b.extend_from_slice(key);
        for _ in 0..3 {
            encode_uvint(0, &mut b); // clustering, static, regular counts
        }
        b
    }

    #[test]
    fn header_deltas_past_32_bits_are_cast_before_5_0_and_refused_after() {
        let b = sentinel_header();
        let h =
            SerializationHeader::parse(&mut Cursor::new(&b, Component::Statistics), Version::Me)
                .unwrap();
        // Java's `(int) Long.MAX_VALUE` is -1.
        assert_eq!(h.stats.min_ttl, -1);
        assert_eq!(
            h.stats.min_local_deletion_time,
            (-1i32).wrapping_add(DELETION_TIME_EPOCH) as i64
        );
        assert_eq!(h.key_type, CqlType::Int);
        let e =
            SerializationHeader::parse(&mut Cursor::new(&b, Component::Statistics), Version::Oa)
                .unwrap_err();
        assert!(
            e.to_string()
                .contains("min local deletion time delta: a 32-bit value"),
            "{e}"
        );
    }
}
