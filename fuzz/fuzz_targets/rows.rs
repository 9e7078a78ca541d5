//! The 3.0+ row decoder: a serialization header (from the input) and the
//! partitions that follow it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sstable_format::cursor::Cursor;
use sstable_format::data::{RowBuffers, RowDecoder};
use sstable_format::statistics::SerializationHeader;
use sstable_format::value::Value;
use sstable_format::{Component, Version};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let version = if data[0] & 1 == 0 { Version::Nb } else { Version::Oa };
    let split = (u16::from_le_bytes([data[1], data[2]]) as usize).min(data.len() - 3);
    let (h, body) = data[3..].split_at(split);
    let Ok(header) = SerializationHeader::parse(&mut Cursor::new(h, Component::Statistics), version) else { return };
    let dec = RowDecoder::new(version, &header);
    let mut pos = 0usize;
    let mut bufs = RowBuffers::default();
    for _ in 0..1000 {
        let Some(rest) = body.get(pos..) else { return };
        let Ok((_, n)) = dec.partition_header(rest, pos as u64) else { return };
        pos += n;
        loop {
            let Some(rest) = body.get(pos..) else { return };
            let full = dec.measure_unfiltered_fully(rest, pos as u64);
            if let Some(n) = dec.quick_measure(rest) {
                // The shortcut only answers for rows whole in the buffer.
                assert_eq!(full.as_ref().ok(), Some(&n));
            }
            // Decoding into recycled vectors gives what fresh decoding gives.
            let recycled = dec.unfiltered_in(rest, pos as u64, &mut bufs);
            let fresh = dec.unfiltered(rest, pos as u64);
            assert_eq!(format!("{recycled:?}"), format!("{fresh:?}"));
            if let Ok((Some(u), _)) = recycled {
                bufs.recycle(u);
            }
            // Reading lazily never panics and sees the same end, values and cells.
            let viewed = dec.view(rest, pos as u64);
            // The Result-free head reader answers as the checked one does,
            // and the fast cell loop yields what the iterator yields.
            if let Some((fast, n)) = dec.view_fast(rest, pos as u64) {
                match &viewed {
                    Ok((Some(sstable_format::data::UnfilteredView::Row(r)), m)) => {
                        assert_eq!(n, *m);
                        assert_eq!(fast.clustering.iter().collect::<Vec<_>>(), r.clustering.iter().collect::<Vec<_>>());
                        let mut looped = Vec::new();
                        let res = fast.for_each_cell(|c| {
                            looped.push(format!("{c:?}"));
                            Ok::<(), sstable_format::Error>(())
                        });
                        let iterated: Vec<_> = r.cells().collect();
                        let mut want = Vec::new();
                        let mut want_err = None;
                        for c in iterated {
                            match c {
                                Ok(c) => want.push(format!("{c:?}")),
                                Err(e) => {
                                    want_err = Some(e.to_string());
                                    break;
                                }
                            }
                        }
                        assert_eq!(looped, want);
                        assert_eq!(res.err().map(|e| e.to_string()), want_err);
                    }
                    other => panic!("view_fast answered a row where view gave {other:?}"),
                }
            }
            if let Ok((Some(sstable_format::data::UnfilteredView::Row(r)), n)) = &viewed {
                let _ = r.clustering.iter().count();
                let cells: Result<Vec<_>, _> = r.cells().collect();
                if let Ok((Some(sstable_format::data::Unfiltered::Row(f)), m)) = &fresh {
                    assert_eq!(n, m);
                    assert_eq!(r.clustering.iter().collect::<Vec<_>>(), f.clustering);
                    assert_eq!(cells.map(|c| c.len()).ok(), Some(f.columns.iter().map(|cd| match cd {
                        sstable_format::data::ColumnData::Simple { .. } => 1,
                        sstable_format::data::ColumnData::Complex { cells, .. } => 1 + cells.len(),
                    }).sum::<usize>()));
                }
            }
            match fresh {
                Ok((None, n)) => {
                    pos += n;
                    break;
                }
                Ok((Some(u), n)) => {
                    if let sstable_format::data::Unfiltered::Row(r) = &u {
                        for cd in &r.columns {
                            if let sstable_format::data::ColumnData::Simple { column, cell } = cd {
                                let cols = if r.is_static { &header.static_columns } else { &header.regular_columns };
                                if let Some(c) = cols.get(*column) {
                                    if let Ok(v) = Value::decode(&c.cql_type, cell.value) {
                                        let _ = v.to_json();
                                    }
                                }
                            }
                        }
                    }
                    pos += n;
                }
                Err(_) => return,
            }
        }
    }
});
