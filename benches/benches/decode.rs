//! Criterion benches: LZ4 chunk decompression alone, and a full decode
//! (decompress + rows + cells, collected or read lazily through row views)
//! of the same real sstable, so the ratio of the two shows the cost of
//! decoding over the floor of decompression.
//! Data: a real Cassandra 5.0 sstable from ../shared/corpus.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sstable_format::data::{CellItem, ColumnData, Unfiltered, UnfilteredView};
use sstable_reader::{SSTable, ScanOptions, Scanner};
use std::path::PathBuf;

fn corpus_sstable() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
        "../../shared/corpus/apache-cassandra/oa/legacy_tables/legacy_oa_clust/oa-1-big-Data.db",
    )
}

fn bench(c: &mut Criterion) {
    let sst = SSTable::open(&corpus_sstable()).expect("corpus sstable");
    let ci = sst.compression.clone().expect("compressed");
    let data = sst.data.bytes();
    let mut g = c.benchmark_group("legacy_oa_clust");
    g.throughput(Throughput::Bytes(ci.data_length));
    g.bench_function("lz4_chunks_only", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            for i in 0..ci.chunk_offsets.len() as u64 {
                ci.read_chunk(data, i, true, &mut out).unwrap();
            }
        })
    });
    g.bench_function("decompress_and_decode_rows", |b| {
        b.iter(|| {
            let mut scan = Scanner::new(&sst, ScanOptions::default());
            let mut cells = 0usize;
            while scan.next_partition().unwrap().is_some() {
                while let Some(u) = scan.next_unfiltered().unwrap() {
                    if let Unfiltered::Row(r) = u {
                        for cd in &r.columns {
                            if let ColumnData::Simple { cell, .. } = cd {
                                cells += cell.value.len();
                            }
                        }
                    }
                }
            }
            cells
        })
    });
    g.bench_function("decompress_and_read_row_views", |b| {
        b.iter(|| {
            let mut scan = Scanner::new(&sst, ScanOptions::default());
            let mut cells = 0usize;
            while scan.next_partition_ref().unwrap().is_some() {
                while let Some(u) = scan.next_view().unwrap() {
                    if let UnfilteredView::Row(r) = u {
                        for item in r.cells() {
                            if let CellItem::Simple { cell, .. } = item.unwrap() {
                                cells += cell.value.len();
                            }
                        }
                    }
                }
            }
            cells
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
