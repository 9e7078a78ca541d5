//! The 2.x atom decoder and composite cell names (`legacy_rows` assembles
//! whole legacy sstables into rows).
#![no_main]
use libfuzzer_sys::fuzz_target;
use sstable_format::legacy::{parse_composite, read_atom, LegacyAtom};
use sstable_format::Version;

fuzz_target!(|data: &[u8]| {
    let version = if data.first().is_some_and(|b| b & 1 == 0) { Version::Ka } else { Version::La };
    let mut pos = 1usize.min(data.len());
    for _ in 0..10_000 {
        let Some(rest) = data.get(pos..) else { return };
        match read_atom(rest, pos as u64, version) {
            Ok((None, n)) | Ok((Some(_), n)) if n == 0 => return,
            Ok((Some(LegacyAtom::Cell(c)), n)) => {
                let _ = parse_composite(c.name);
                pos += n;
            }
            Ok((Some(LegacyAtom::RangeTombstone { start, end, .. }), n)) => {
                let _ = parse_composite(start);
                let _ = parse_composite(end);
                pos += n;
            }
            Ok((None, n)) => pos += n,
            Err(_) => return,
        }
    }
});
