//! Turning decoded rows into output: `SELECT JSON`-style rows (JSON Lines)
//! and Cassandra's `sstabledump` document.

use crate::jackson::Jackson;
use sstable_format::data::{
    counter_value, Cell, ClusteringValue, ColumnData, DeletionTime, RangeTombstoneMarker, Row,
    Unfiltered,
};
use sstable_format::value::{get_string, json_column_name, json_quote_into, Value};
use sstable_format::{Component, CqlType, Error as FmtError};
use sstable_reader::live::{LiveColumn, PartitionState};
use sstable_reader::range::TokenRange;
use sstable_reader::{ReadError, SSTable, ScanOptions, Scanner, TableSchema};
use std::io::Write;

/// Errors while rendering: decoding failures or output I/O.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, RenderError>;

/// Options for dumping.
#[derive(Debug, Clone)]
pub struct DumpOptions {
    /// Only the partition with this serialized key.
    pub key: Option<Vec<u8>>,
    pub with_meta: bool,
    /// "Now" for TTL expiry, seconds since the epoch.
    pub now: i64,
    pub scan: ScanOptions,
    /// Which Cassandra's sstabledump to reproduce: 5.0 (default) prints a
    /// "table kind" field and partitions at the offset after their header
    /// and static row; 4.x and 3.11 print neither quirk.
    pub sstabledump_compat: DumpCompat,
    /// Only partitions whose token is in this range.
    pub range: TokenRange,
    /// Only rows whose clustering is within these prefixes (inclusive).
    pub slice: Slice,
}

/// Is `clustering` inside the inclusive prefix slice?
fn in_slice(types: &[CqlType], slice: &Slice, clustering: &[ClusteringValue]) -> bool {
    use std::cmp::Ordering;
    let cmp = |bound: &Vec<Vec<u8>>| -> Ordering {
        let b: Vec<Option<&[u8]>> = bound.iter().map(|v| Some(v.as_slice())).collect();
        let n = b.len().min(clustering.len());
        sstable_format::compare::compare_clustering(types, &clustering[..n], &b[..n])
    };
    slice.0.as_ref().is_none_or(|f| cmp(f) != Ordering::Less)
        && slice.1.as_ref().is_none_or(|t| cmp(t) != Ordering::Greater)
}

/// A scanner positioned where the wanted data starts (the key's partition,
/// or the first partition of the range), or `None` if the sstable cannot
/// have it.
pub fn positioned<'s>(sst: &'s SSTable, opts: &DumpOptions) -> Result<Option<Scanner<'s>>> {
    let start = match &opts.key {
        Some(k) => match sstable_reader::range::lookup(sst, k)? {
            Some(off) => off,
            None => return Ok(None),
        },
        None => sstable_reader::range::start_offset(sst, &opts.range)?,
    };
    Ok(Some(if start == 0 {
        Scanner::new(sst, opts.scan)
    } else {
        Scanner::range(sst, opts.scan, start, sst.data_length())
    }))
}

/// Is this partition wanted? `Err(())` once past the end of the range.
fn wanted(
    opts: &DumpOptions,
    key: &[u8],
    token: impl FnOnce() -> sstable_format::Token,
) -> std::result::Result<bool, ()> {
    if let Some(k) = &opts.key {
        return Ok(*k == key);
    }
    if opts.range == TokenRange::ALL {
        return Ok(true);
    }
    let t = token();
    if opts.range.contains(&t) {
        return Ok(true);
    }
    match &opts.range.end {
        Some(e) if t > *e => Err(()),
        _ => Ok(false),
    }
}

/// A clustering slice: inclusive (from, to) prefixes of serialized values.
pub type Slice = (Option<Vec<Vec<u8>>>, Option<Vec<Vec<u8>>>);

/// The sstabledump flavour to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DumpCompat {
    #[default]
    V50,
    V4,
    /// As 4.x, with 3.11's `getString` of timestamps (partition keys,
    /// set elements and map keys): `yyyy-MM-dd HH:mmZ`.
    V311,
}

impl DumpCompat {
    /// Cassandra's `AbstractType.getString` of this version.
    fn get_string(self, t: &CqlType, b: &[u8]) -> std::result::Result<String, FmtError> {
        if self == DumpCompat::V311 {
            sstable_format::value::get_string_3_11(t, b)
        } else {
            get_string(t, b)
        }
    }
}

fn value_err(sst: &SSTable, e: FmtError, at: u64) -> RenderError {
    let e = match e {
        FmtError::Invalid { expected, .. } => FmtError::Invalid {
            component: Component::Data,
            offset: at,
            expected,
        },
        FmtError::Truncated { needed, what, .. } => FmtError::Truncated {
            component: Component::Data,
            offset: at,
            needed,
            what,
        },
        e => e,
    };
    RenderError::Read(ReadError::format(sst.data_path(), e))
}

/// Split a serialized partition key into its components.
pub fn key_components<'a>(
    schema: &TableSchema,
    key: &'a [u8],
) -> std::result::Result<Vec<&'a [u8]>, FmtError> {
    if schema.partition_key.len() == 1 {
        return Ok(vec![key]);
    }
    let mut c = sstable_format::cursor::Cursor::new(key, Component::Value);
    let mut v = Vec::with_capacity(schema.partition_key.len());
    for _ in 0..schema.partition_key.len() {
        v.push(c.short_bytes("partition key component")?);
        c.u8("end-of-component byte")?;
    }
    Ok(v)
}

/// `SELECT JSON` text of a simple cell value.
fn simple_json(t: &CqlType, v: &[u8], out: &mut String) -> std::result::Result<(), FmtError> {
    if t.is_counter() {
        if v.is_empty() {
            out.push_str("null");
        } else {
            out.push_str(&counter_value(v)?.to_string());
        }
        return Ok(());
    }
    Value::decode(t, v)?.write_json(out);
    Ok(())
}

/// `SELECT JSON` text of a multi-cell column from its live cells.
fn complex_json(
    t: &CqlType,
    cells: &[&Cell],
    out: &mut String,
) -> std::result::Result<(), FmtError> {
    match t {
        CqlType::List { elem, .. } => {
            out.push('[');
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                Value::decode(elem, c.value)?.write_json(out);
            }
            out.push(']');
        }
        CqlType::Set { elem, .. } => {
            out.push('[');
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                Value::decode(elem, c.path.unwrap_or(&[]))?.write_json(out);
            }
            out.push(']');
        }
        CqlType::Map { key, value, .. } => {
            out.push('{');
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let mut ks = String::new();
                Value::decode(key, c.path.unwrap_or(&[]))?.write_json(&mut ks);
                if ks.starts_with('"') {
                    out.push_str(&ks);
                } else {
                    json_quote_into(&ks, out);
                }
                out.push_str(": ");
                Value::decode(value, c.value)?.write_json(out);
            }
            out.push('}');
        }
        CqlType::Udt(u) => {
            out.push('{');
            for (i, (name, ft)) in u.fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                json_quote_into(&json_column_name(name), out);
                out.push_str(": ");
                let cell = cells.iter().find(|c| udt_field_index(c.path) == Some(i));
                match cell {
                    Some(c) => Value::decode(ft, c.value)?.write_json(out),
                    None => out.push_str("null"),
                }
            }
            out.push('}');
        }
        _ => out.push_str("null"),
    }
    Ok(())
}

fn udt_field_index(path: Option<&[u8]>) -> Option<usize> {
    match path {
        Some([a, b]) => Some(u16::from_be_bytes([*a, *b]) as usize),
        _ => None,
    }
}

/// Writes live rows as JSON Lines.
pub struct RowsWriter<'s, W: Write> {
    sst: &'s SSTable,
    schema: &'s TableSchema,
    opts: &'s DumpOptions,
    out: W,
    line: String,
    /// Token of the current partition (for `--with-meta`).
    token: String,
    pub rows: u64,
}

/// One rendered column: its JSON value and meta.
struct Rendered {
    json: String,
    writetime: String,
    ttl: String,
}

impl<'s, W: Write> RowsWriter<'s, W> {
    pub fn new(sst: &'s SSTable, schema: &'s TableSchema, opts: &'s DumpOptions, out: W) -> Self {
        RowsWriter {
            sst,
            schema,
            opts,
            out,
            line: String::with_capacity(256),
            token: String::new(),
            rows: 0,
        }
    }

    fn render_columns(
        &self,
        cols: &[LiveColumn],
        kinds: &[sstable_reader::schema::Column],
        at: u64,
    ) -> Result<Vec<Option<Rendered>>> {
        let mut v: Vec<Option<Rendered>> = (0..kinds.len()).map(|_| None).collect();
        let now = self.opts.now;
        let ttl_of = |c: &Cell| {
            if c.is_expiring {
                (c.local_deletion_time - now).max(0).to_string()
            } else {
                "null".into()
            }
        };
        for lc in cols {
            let idx = lc.column();
            let Some(col) = kinds.get(idx) else { continue };
            if !col.included {
                continue;
            }
            // Cells of a column dropped and re-added belong to the old column.
            let lc = match (col.dropped_at, lc) {
                (None, lc) => lc.clone(),
                (Some(t), LiveColumn::Simple { cell, .. }) if cell.timestamp <= t => continue,
                (Some(_), LiveColumn::Simple { .. }) => lc.clone(),
                (Some(t), LiveColumn::Complex { column, cells }) => {
                    let cells: Vec<&Cell> =
                        cells.iter().copied().filter(|c| c.timestamp > t).collect();
                    if cells.is_empty() {
                        continue;
                    }
                    LiveColumn::Complex {
                        column: *column,
                        cells,
                    }
                }
            };
            let lc = &lc;
            let mut json = String::new();
            let meta = self.opts.with_meta;
            let (writetime, ttl) = match lc {
                LiveColumn::Simple { cell, .. } => {
                    simple_json(&col.cql_type, cell.value, &mut json)
                        .map_err(|e| value_err(self.sst, e, at))?;
                    if meta {
                        (cell.timestamp.to_string(), ttl_of(cell))
                    } else {
                        (String::new(), String::new())
                    }
                }
                LiveColumn::Complex { cells, .. } => {
                    complex_json(&col.cql_type, cells, &mut json)
                        .map_err(|e| value_err(self.sst, e, at))?;
                    if meta {
                        let ts: Vec<String> =
                            cells.iter().map(|c| c.timestamp.to_string()).collect();
                        let ttls: Vec<String> = cells.iter().map(|c| ttl_of(c)).collect();
                        (
                            format!("[{}]", ts.join(", ")),
                            format!("[{}]", ttls.join(", ")),
                        )
                    } else {
                        (String::new(), String::new())
                    }
                }
            };
            if let Some(slot) = v.get_mut(idx) {
                *slot = Some(Rendered {
                    json,
                    writetime,
                    ttl,
                });
            }
        }
        Ok(v)
    }

    fn emit(
        &mut self,
        keys: &[(String, String)],
        clustering: Option<&[ClusteringValue]>,
        statics: &[Option<Rendered>],
        regulars: &[Option<Rendered>],
        at: u64,
    ) -> Result<()> {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        line.push('{');
        let mut first = true;
        let mut field = |line: &mut String, name: &str| {
            if !first {
                line.push_str(", ");
            }
            first = false;
            json_quote_into(&json_column_name(name), line);
            line.push_str(": ");
        };
        for (name, json) in keys {
            field(&mut line, name);
            line.push_str(json);
        }
        for (i, col) in self.schema.visible_clustering().iter().enumerate() {
            field(&mut line, &col.name);
            match clustering.and_then(|c| c.get(i).copied().flatten()) {
                Some(v) => Value::decode(&col.cql_type, v)
                    .map_err(|e| value_err(self.sst, e, at))?
                    .write_json(&mut line),
                None => line.push_str("null"),
            }
        }
        let groups: [(&[sstable_reader::schema::Column], &[Option<Rendered>]); 2] = [
            (&self.schema.statics, statics),
            (&self.schema.regulars, regulars),
        ];
        let mut meta: Vec<(&str, &Rendered)> = Vec::new();
        for (cols, vals) in groups {
            for (i, col) in cols.iter().enumerate() {
                if !col.included
                    || (self.schema.compact_static && matches!(col.cql_type, CqlType::Empty))
                {
                    continue;
                }
                field(&mut line, &col.name);
                match vals.get(i).and_then(|v| v.as_ref()) {
                    Some(r) => {
                        line.push_str(&r.json);
                        meta.push((&col.name, r));
                    }
                    None => line.push_str("null"),
                }
            }
        }
        if self.opts.with_meta {
            field(&mut line, "_token");
            json_quote_into(&self.token, &mut line);
            for (label, pick) in [("_writetime", 0), ("_ttl", 1)] {
                field(&mut line, label);
                line.push('{');
                for (i, (name, r)) in meta.iter().enumerate() {
                    if i > 0 {
                        line.push_str(", ");
                    }
                    json_quote_into(&json_column_name(name), &mut line);
                    line.push_str(": ");
                    line.push_str(if pick == 0 { &r.writetime } else { &r.ttl });
                }
                line.push('}');
            }
        }
        line.push_str("}\n");
        self.out.write_all(line.as_bytes())?;
        self.line = line;
        self.rows += 1;
        Ok(())
    }

    /// The output, once dumped.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Dump the live rows of several sstables of one table, merged into the
    /// table's current state. `self.schema` must be the union schema.
    pub fn dump_merged(&mut self, ssts: &[&SSTable]) -> Result<()> {
        use sstable_reader::merge::Merger;
        let schema = self.schema;
        let no_clustering_cols = schema.visible_clustering().is_empty();
        let ctypes: Vec<CqlType> = schema
            .clustering
            .iter()
            .map(|c| c.cql_type.clone())
            .collect();
        let ctypes_slice = ctypes.clone();
        let mut scans = Vec::new();
        for s in ssts {
            if let Some(sc) = positioned(s, self.opts)? {
                scans.push((*s, sc));
            }
        }
        let mut m = Merger::with_scanners(
            scans,
            ctypes,
            schema.statics.clone(),
            schema.regulars.clone(),
        );
        m.set_now(self.opts.now);
        let partitioner = self.sst.partitioner;
        while let Some(p) = m.next_partition(partitioner)? {
            match wanted(self.opts, &p.key, || p.token.clone()) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(()) => break,
            }
            let comps = key_components(schema, &p.key).map_err(|e| value_err(self.sst, e, 0))?;
            let mut keys = Vec::with_capacity(comps.len());
            for (col, b) in schema.partition_key.iter().zip(comps) {
                let mut s = String::new();
                Value::decode(&col.cql_type, b)
                    .map_err(|e| value_err(self.sst, e, 0))?
                    .write_json(&mut s);
                keys.push((col.name.clone(), s));
            }
            if self.opts.with_meta {
                self.token = p.token.to_string();
            }
            let state = PartitionState::new(p.deletion, self.opts.now);
            let mut statics: Vec<Option<Rendered>> = Vec::new();
            let mut emitted = 0u64;
            while let Some(owned) = m.next_row()? {
                let r = owned.as_row();
                let live = state.live(&r);
                if r.is_static {
                    statics = self.render_columns(&live.columns, &schema.statics, 0)?;
                    if schema.compact_static && statics.iter().any(Option::is_some) {
                        self.emit(&keys, None, &statics, &[], 0)?;
                        emitted += 1;
                    }
                } else if live.is_live()
                    && !schema.compact_static
                    && in_slice(&ctypes_slice, &self.opts.slice, &r.clustering)
                {
                    let regs = self.render_columns(&live.columns, &schema.regulars, 0)?;
                    self.emit(&keys, Some(&r.clustering), &statics, &regs, 0)?;
                    emitted += 1;
                }
            }
            if emitted == 0
                && !no_clustering_cols
                && !schema.compact_static
                && statics.iter().any(Option::is_some)
            {
                self.emit(&keys, None, &statics, &[], 0)?;
            }
        }
        Ok(())
    }

    /// Dump every live row of the sstable.
    pub fn dump(&mut self) -> Result<()> {
        let Some(mut scan) = positioned(self.sst, self.opts)? else {
            return Ok(());
        };
        let schema = self.schema;
        let ctypes_slice: Vec<CqlType> = schema
            .clustering
            .iter()
            .map(|c| c.cql_type.clone())
            .collect();
        let no_clustering_cols = schema.visible_clustering().is_empty();
        let partitioner = self.sst.partitioner;
        while let Some(p) = scan.next_partition()? {
            match wanted(self.opts, &p.key, || partitioner.token(&p.key)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(()) => break,
            }
            let comps =
                key_components(schema, &p.key).map_err(|e| value_err(self.sst, e, p.position))?;
            let mut keys = Vec::with_capacity(comps.len());
            for (col, b) in schema.partition_key.iter().zip(comps) {
                let mut s = String::new();
                Value::decode(&col.cql_type, b)
                    .map_err(|e| value_err(self.sst, e, p.position))?
                    .write_json(&mut s);
                keys.push((col.name.clone(), s));
            }
            if self.opts.with_meta {
                self.token = self.sst.partitioner.token(&p.key).to_string();
            }
            let mut state = PartitionState::new(p.deletion, self.opts.now);
            let mut statics: Vec<Option<Rendered>> = Vec::new();
            let mut emitted = 0u64;
            while let Some((at, _, u)) = scan.next_unfiltered_span()? {
                match u {
                    Unfiltered::Marker(m) => state.on_marker(&m),
                    Unfiltered::Row(r) => {
                        let live = state.live(&r);
                        if r.is_static {
                            statics = self.render_columns(&live.columns, &schema.statics, at)?;
                            if schema.compact_static && statics.iter().any(Option::is_some) {
                                self.emit(&keys, None, &statics, &[], at)?;
                                emitted += 1;
                            }
                        } else if live.is_live()
                            && !schema.compact_static
                            && in_slice(&ctypes_slice, &self.opts.slice, &r.clustering)
                        {
                            let regs = self.render_columns(&live.columns, &schema.regulars, at)?;
                            self.emit(&keys, Some(&r.clustering), &statics, &regs, at)?;
                            emitted += 1;
                        }
                    }
                }
            }
            if emitted == 0
                && !no_clustering_cols
                && !schema.compact_static
                && statics.iter().any(Option::is_some)
            {
                self.emit(&keys, None, &statics, &[], p.position)?;
            }
        }
        Ok(())
    }
}

/// Writes the `sstabledump` JSON document of one sstable.
pub struct SstableDumpWriter<'s, W: Write> {
    sst: &'s SSTable,
    schema: &'s TableSchema,
    opts: &'s DumpOptions,
    out: W,
    j: Jackson,
    /// The column names as sstabledump prints them (quoted where CQL needs).
    static_names: std::rc::Rc<[String]>,
    regular_names: std::rc::Rc<[String]>,
    /// Row vectors reused from one row to the next.
    bufs: sstable_reader::RowBuffers,
}

const FLUSH_AT: usize = 1 << 16;

impl<'s, W: Write> SstableDumpWriter<'s, W> {
    pub fn new(sst: &'s SSTable, schema: &'s TableSchema, opts: &'s DumpOptions, out: W) -> Self {
        let names = |cols: &[sstable_reader::schema::Column]| -> std::rc::Rc<[String]> {
            cols.iter()
                .map(|c| sstable_format::cql::maybe_quote(&c.name))
                .collect()
        };
        SstableDumpWriter {
            sst,
            schema,
            opts,
            out,
            j: Jackson::new(),
            bufs: Default::default(),
            static_names: names(&schema.statics),
            regular_names: names(&schema.regulars),
        }
    }

    fn flush(&mut self, force: bool) -> Result<()> {
        if force || self.j.out.len() >= FLUSH_AT {
            self.out.write_all(self.j.out.as_bytes())?;
            self.j.out.clear();
        }
        Ok(())
    }

    pub fn dump(mut self) -> Result<W> {
        self.j.start_array();
        self.partitions()?;
        self.j.end_array();
        // Like sstabledump, no newline after the document (the caller
        // separates several documents).
        self.flush(true)?;
        Ok(self.out)
    }

    /// One slice of the sstable (see [`sstable_reader::range::split_wide`])
    /// as it appears inside the document's array: partitions after their
    /// commas; a slice starting inside a partition, its rows after their
    /// commas inside that partition's `rows`; with `open_end` (the next
    /// slice goes on with the last partition), that partition left open.
    /// A caller joining the slices in order drops the comma before the
    /// first partition and adds the brackets. Every piece of a cut
    /// partition must print a row (promoted-index blocks hold rows); an
    /// index claiming a block without any is an error, not a bad document.
    pub fn dump_slice(
        mut self,
        slice: sstable_reader::range::DataSlice,
        open_end: bool,
    ) -> Result<(W, u64)> {
        use crate::jackson::Container;
        let at_block = |what: &str| {
            RenderError::Read(ReadError::other(
                self.sst.component_path("Index.db"),
                format!(
                    "the promoted index puts a block at Data.db offset {} with no rows in {what}",
                    slice.start
                ),
            ))
        };
        let mut scan = if slice.mid_partition {
            Scanner::rows(self.sst, self.opts.scan, slice.start, slice.end)
        } else {
            Scanner::range(self.sst, self.opts.scan, slice.start, slice.end)
        };
        if slice.mid_partition {
            // Inside: the document's array, the partition, its rows.
            self.j
                .resume(&[Container::Array, Container::Object, Container::Array]);
            while let Some((at, end, u)) = scan.next_unfiltered_span_in(&mut self.bufs)? {
                self.unfiltered(at, end, u)?;
            }
            if self.j.entries() < 2 {
                return Err(at_block("its slice"));
            }
            if !(open_end && scan.position() >= slice.end) {
                self.j.end_array();
                self.j.end_object();
            }
        } else {
            self.j.start_array();
            self.j.out.clear();
            self.j.continue_array();
        }
        let mut n = 0;
        while let Some(p) = scan.next_partition()? {
            let cut =
                self.partition_inner(&mut scan, p.key.clone(), p.deletion, p.position, |s| {
                    open_end && s.position() >= slice.end
                })?;
            if cut && self.j.entries() == 0 {
                return Err(at_block("the first piece of its partition"));
            }
            n += 1;
            self.flush(false)?;
        }
        self.flush(true)?;
        Ok((self.out, n))
    }

    fn partitions(&mut self) -> Result<u64> {
        let partitioner = self.sst.partitioner;
        let mut n = 0;
        if let Some(mut scan) = positioned(self.sst, self.opts)? {
            while let Some(p) = scan.next_partition()? {
                match wanted(self.opts, &p.key, || partitioner.token(&p.key)) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(()) => break,
                }
                self.partition(&mut scan, p.key.clone(), p.deletion, p.position)?;
                n += 1;
                self.flush(false)?;
            }
        }
        Ok(n)
    }

    fn deletion(&mut self, d: &DeletionTime) {
        let j = &mut self.j;
        j.field("deletion_info");
        j.object_compact = true;
        j.start_object();
        j.field("marked_deleted");
        j.instant(d.marked_for_delete_at, 1_000_000);
        j.field("local_delete_time");
        j.instant(d.local_deletion_time, 1);
        j.end_object();
        j.object_compact = false;
    }

    fn partition(
        &mut self,
        scan: &mut Scanner,
        key: Vec<u8>,
        deletion: DeletionTime,
        position: u64,
    ) -> Result<()> {
        self.partition_inner(scan, key, deletion, position, |_| false)
            .map(|_| ())
    }

    /// A partition; left open (its `rows` not closed) when `cut` says the
    /// scan stopped inside it. Returns whether it did.
    fn partition_inner(
        &mut self,
        scan: &mut Scanner,
        key: Vec<u8>,
        deletion: DeletionTime,
        position: u64,
        cut: impl Fn(&Scanner) -> bool,
    ) -> Result<bool> {
        let schema = self.schema;
        let key_strings: Vec<String> = {
            let comps =
                key_components(schema, &key).map_err(|e| value_err(self.sst, e, position))?;
            let mut v = Vec::new();
            for (col, b) in schema.partition_key.iter().zip(comps) {
                v.push(
                    self.opts
                        .sstabledump_compat
                        .get_string(&col.cql_type, b)
                        .map_err(|e| value_err(self.sst, e, position))?,
                );
            }
            v
        };
        // sstabledump prints the partition at the offset after its header
        // and static row (both are read before it prints).
        let has_statics = !self.sst.header.static_columns.is_empty();
        let after_header = scan.position();
        let first = if has_statics {
            scan.next_unfiltered_span()?
        } else {
            None
        };
        let shown = match (&first, self.opts.sstabledump_compat) {
            (_, DumpCompat::V4 | DumpCompat::V311) => position,
            (Some((_, end, Unfiltered::Row(r))), _) if r.is_static => *end,
            (Some((at, _, _)), _) => *at,
            (None, _) => after_header,
        };
        let j = &mut self.j;
        j.start_object();
        if self.opts.sstabledump_compat == DumpCompat::V50 {
            j.field("table kind");
            j.string("REGULAR");
        }
        j.field("partition");
        j.start_object();
        j.field("key");
        j.object_compact = true;
        j.array_compact = true;
        j.start_array();
        for s in &key_strings {
            j.string(s);
        }
        j.end_array();
        j.object_compact = false;
        j.array_compact = false;
        j.field("position");
        j.number(shown as i64);
        if !deletion.is_live() {
            self.deletion(&deletion);
        }
        self.j.end_object();
        self.j.field("rows");
        self.j.start_array();
        if let Some((at, end, u)) = first {
            self.unfiltered(at, end, u)?;
        }
        while let Some((at, end, u)) = scan.next_unfiltered_span_in(&mut self.bufs)? {
            self.unfiltered(at, end, u)?;
        }
        if cut(scan) {
            return Ok(true);
        }
        self.j.end_array();
        self.j.end_object();
        Ok(false)
    }

    fn unfiltered(&mut self, at: u64, end: u64, u: Unfiltered) -> Result<()> {
        match &u {
            Unfiltered::Row(r) => {
                if r.is_static
                    && r.columns.is_empty()
                    && r.liveness.timestamp.is_none()
                    && r.deletion.is_live()
                {
                    return Ok(());
                }
                // sstabledump reports a static row at the offset just after it.
                let shown = if r.is_static { end } else { at };
                self.row(r, shown, at)?;
            }
            Unfiltered::Marker(m) => self.marker(m, at)?,
        }
        self.bufs.recycle(u);
        self.flush(false)
    }

    fn clustering(&mut self, values: &[ClusteringValue], at: u64) -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        let n = self.schema.clustering.len();
        let j = &mut self.j;
        j.field("clustering");
        j.object_compact = true;
        j.start_array();
        j.array_compact = true;
        for i in 0..n {
            match values.get(i) {
                None => j.string("*"),
                Some(None) => j.raw("null"),
                Some(Some(v)) => {
                    let value = Value::decode(&self.schema.clustering[i].cql_type, v)
                        .map_err(|e| value_err(self.sst, e, at))?;
                    value.write_json(j.value_out());
                }
            }
        }
        j.end_array();
        j.object_compact = false;
        j.array_compact = false;
        Ok(())
    }

    fn row(&mut self, r: &Row, shown_position: u64, at: u64) -> Result<()> {
        let now = self.opts.now;
        self.j.start_object();
        self.j.field("type");
        self.j
            .string(if r.is_static { "static_block" } else { "row" });
        self.j.field("position");
        self.j.number(shown_position as i64);
        if !r.is_static {
            self.clustering(&r.clustering, at)?;
        }
        let live = r.liveness;
        if let Some(ts) = live.timestamp {
            let j = &mut self.j;
            j.object_compact = false;
            j.field("liveness_info");
            j.object_compact = true;
            j.start_object();
            j.field("tstamp");
            j.instant(ts, 1_000_000);
            if live.is_expiring() {
                j.field("ttl");
                j.number(live.ttl as i64);
                j.field("expires_at");
                j.instant(live.local_expiration_time, 1);
                j.field("expired");
                j.boolean(live.local_expiration_time < now);
            }
            j.end_object();
            j.object_compact = false;
        }
        if !r.deletion.is_live() {
            self.deletion(&r.deletion);
        }
        self.j.field("cells");
        self.j.start_array();
        let schema = self.schema;
        let (cols, names) = if r.is_static {
            (&schema.statics, self.static_names.clone())
        } else {
            (&schema.regulars, self.regular_names.clone())
        };
        self.row_cells(r, cols, &names, at)?;
        self.j.end_array();
        self.j.end_object();
        Ok(())
    }

    fn row_cells(
        &mut self,
        r: &Row,
        cols: &[sstable_reader::schema::Column],
        names: &[String],
        at: u64,
    ) -> Result<()> {
        for cd in &r.columns {
            let (Some(col), Some(name)) = (cols.get(cd.column()), names.get(cd.column())) else {
                continue;
            };
            match cd {
                ColumnData::Simple { cell, .. } => self.cell(name, &col.cql_type, cell, r, at)?,
                ColumnData::Complex {
                    deletion, cells, ..
                } => {
                    if !deletion.is_live() {
                        let j = &mut self.j;
                        j.object_compact = true;
                        j.start_object();
                        j.field("name");
                        j.string(name);
                        self.deletion(deletion);
                        self.j.object_compact = true;
                        self.j.end_object();
                        self.j.object_compact = false;
                    }
                    for c in cells {
                        self.cell(name, &col.cql_type, c, r, at)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// One cell; `name` is the column name as printed.
    fn cell(&mut self, name: &str, t: &CqlType, cell: &Cell, r: &Row, at: u64) -> Result<()> {
        let now = self.opts.now;
        let sst = self.sst;
        let verr = |e| value_err(sst, e, at);
        let compat = self.opts.sstabledump_compat;
        let j = &mut self.j;
        j.start_object();
        j.object_compact = true;
        j.field("name");
        j.string(name);
        let value_type: std::borrow::Cow<CqlType> = if t.is_multi_cell() {
            let path = cell.path.unwrap_or(&[]);
            let (path_str, vt) = match t {
                CqlType::List { elem, .. } => (
                    get_string(&CqlType::TimeUuid, path).map_err(verr)?,
                    (**elem).clone(),
                ),
                CqlType::Set { elem, .. } => {
                    (compat.get_string(elem, path).map_err(verr)?, CqlType::Empty)
                }
                CqlType::Map { key, value, .. } => (
                    compat.get_string(key, path).map_err(verr)?,
                    (**value).clone(),
                ),
                CqlType::Udt(u) => {
                    let i = udt_field_index(Some(path)).unwrap_or(usize::MAX);
                    match u.fields.get(i) {
                        Some((n, ft)) => (n.clone(), ft.clone()),
                        None => (String::new(), CqlType::Blob),
                    }
                }
                _ => (String::new(), CqlType::Blob),
            };
            j.field("path");
            j.array_compact = true;
            j.start_array();
            j.string(&path_str);
            j.end_array();
            j.array_compact = false;
            std::borrow::Cow::Owned(vt)
        } else {
            std::borrow::Cow::Borrowed(t)
        };
        if cell.is_tombstone {
            j.field("deletion_info");
            j.object_compact = true;
            j.start_object();
            j.field("local_delete_time");
            j.instant(cell.local_deletion_time, 1);
            j.end_object();
            j.object_compact = false;
        } else {
            j.field("value");
            if value_type.is_counter() {
                // sstabledump prints the first 8 bytes of the counter context as a long.
                match cell.value.get(..8) {
                    Some(b) => j.number(i64::from_be_bytes([
                        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                    ])),
                    None => j.raw("null"),
                }
            } else {
                let value = Value::decode(&value_type, cell.value).map_err(verr)?;
                value.write_json(j.value_out());
            }
        }
        let live = r.liveness;
        if live.timestamp.is_none() || Some(cell.timestamp) != live.timestamp {
            j.field("tstamp");
            j.instant(cell.timestamp, 1_000_000);
        }
        if cell.is_expiring && (live.timestamp.is_none() || cell.ttl != live.ttl) {
            j.field("ttl");
            j.number(cell.ttl as i64);
            j.field("expires_at");
            j.instant(cell.local_deletion_time, 1);
            j.field("expired");
            j.boolean(!cell.is_live(now));
        }
        j.end_object();
        j.object_compact = false;
        Ok(())
    }

    fn marker(&mut self, m: &RangeTombstoneMarker, at: u64) -> Result<()> {
        use sstable_format::data::BoundKind as K;
        self.j.start_object();
        self.j.field("type");
        if m.kind.is_boundary() {
            self.j.string("range_tombstone_boundary");
            // start (the bound that opens) first, then end.
            let (open_incl, close_incl) = match m.kind {
                K::ExclEndInclStartBoundary => (true, false),
                _ => (false, true),
            };
            let open = m.start_deletion.unwrap_or(DeletionTime::LIVE);
            self.bound(true, open_incl, &m.clustering, &open, at)?;
            self.bound(false, close_incl, &m.clustering, &m.deletion, at)?;
        } else {
            self.j.string("range_tombstone_bound");
            let incl = matches!(m.kind, K::InclStart | K::InclEnd);
            self.bound(m.kind.is_start(), incl, &m.clustering, &m.deletion, at)?;
        }
        self.j.end_object();
        self.j.object_compact = false;
        Ok(())
    }

    fn bound(
        &mut self,
        start: bool,
        inclusive: bool,
        clustering: &[ClusteringValue],
        d: &DeletionTime,
        at: u64,
    ) -> Result<()> {
        self.j.field(if start { "start" } else { "end" });
        self.j.start_object();
        self.j.field("type");
        self.j
            .string(if inclusive { "inclusive" } else { "exclusive" });
        self.clustering(clustering, at)?;
        self.deletion(d);
        self.j.end_object();
        Ok(())
    }
}

/// Raw 2.x cells as JSON Lines: partition lines, then one line per cell or
/// range tombstone, with names and values in hex.
pub fn dump_atoms(sst: &SSTable, opts: &DumpOptions, out: &mut dyn Write) -> Result<()> {
    use sstable_format::legacy::LegacyAtom;
    use sstable_format::value::hex;
    if !sst.version().is_legacy() {
        return Err(RenderError::Read(ReadError::other(
            sst.data_path(),
            "--format atoms is for 2.x (ka/la/lb) sstables",
        )));
    }
    let mut scan = Scanner::new(sst, opts.scan);
    let mut line = String::new();
    let comps = |b: &[u8]| -> String {
        match sstable_format::legacy::parse_composite(b) {
            Ok(c) => {
                let v: Vec<String> = c
                    .components
                    .iter()
                    .map(|x| format!("\"{}\"", hex(x)))
                    .collect();
                format!(
                    "{{\"static\": {}, \"components\": [{}], \"eoc\": {}}}",
                    c.is_static,
                    v.join(", "),
                    c.last_eoc
                )
            }
            Err(_) => "null".into(),
        }
    };
    while let Some(p) = scan.next_partition()? {
        if let Some(k) = &opts.key {
            if *k != p.key {
                continue;
            }
        }
        line.clear();
        line.push_str(&format!(
            "{{\"partition\": \"{}\", \"position\": {}",
            hex(&p.key),
            p.position
        ));
        if !p.deletion.is_live() {
            line.push_str(&format!(
                ", \"deletion\": {{\"marked_deleted\": {}, \"local_delete_time\": {}}}",
                p.deletion.marked_for_delete_at, p.deletion.local_deletion_time
            ));
        }
        line.push_str("}\n");
        out.write_all(line.as_bytes())?;
        while let Some((at, a)) = scan.next_atom()? {
            line.clear();
            match a {
                LegacyAtom::Cell(c) => {
                    line.push_str(&format!(
                        "{{\"position\": {at}, \"name\": \"{}\", \"composite\": {}, \"mask\": {}, \"timestamp\": {}",
                        hex(c.name),
                        comps(c.name),
                        c.mask,
                        c.timestamp
                    ));
                    if c.is_expiring() {
                        line.push_str(&format!(", \"ttl\": {}", c.ttl));
                    }
                    if let Some(l) = c.local_deletion_time {
                        line.push_str(&format!(", \"local_delete_time\": {l}"));
                    }
                    line.push_str(&format!(", \"value\": \"{}\"}}\n", hex(c.value)));
                }
                LegacyAtom::RangeTombstone {
                    start,
                    end,
                    deletion,
                } => {
                    line.push_str(&format!(
                        "{{\"position\": {at}, \"range_tombstone\": {{\"start\": {}, \"end\": {}, \"marked_deleted\": {}, \"local_delete_time\": {}}}}}\n",
                        comps(start),
                        comps(end),
                        deletion.marked_for_delete_at,
                        deletion.local_deletion_time
                    ));
                }
            }
            out.write_all(line.as_bytes())?;
        }
    }
    Ok(())
}
