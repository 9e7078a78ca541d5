//! A zstd stream whose matches are found by a match finder made for
//! DynamoDB JSON lines, with zstd's own entropy coding.
//!
//! The lines of an export repeat one shape: `{"Item":{"pk":{"S":"…"},…}}`.
//! What repeats from line to line is mostly the run from a value's closing
//! quote to the next value (attribute names, type tags), and each such run
//! starts at a `"`. zstd's fast match finder hashes nearly every position it
//! passes; [`Finder`] hashes only at quotes, so it looks about once per
//! value, and stretches each hit as far as the bytes agree, both ways. zstd
//! takes those sequences through its block-level sequence producer API
//! (`ZSTD_registerSequenceProducer`, libzstd ≥ 1.5.4) and codes them as it
//! codes its own; the output is an ordinary zstd frame.
//!
//! This module holds migrate-cli's only `unsafe`: the calls into libzstd's
//! experimental API, which the `zstd` crate does not wrap. The match finder
//! itself is safe Rust and is tested on its own ([`Finder::find`]); zstd
//! checks that the sequences it is given add up to its block (and falls
//! back to its own match finder if the producer reports an error).

use std::ffi::c_void;
use std::io::{self, Write};
use std::ptr::NonNull;
use zstd::zstd_safe::zstd_sys as sys;

/// One zstd sequence: `litLength` literal bytes, then `matchLength` bytes
/// copied from `offset` bytes back (no match when both are 0: the block's
/// last literals).
pub(super) type Seq = sys::ZSTD_Sequence;

/// Hash table bits: 4096 entries, 16 KiB, within L1 with the block's hot
/// lines.
const HASH_BITS: u32 = 12;

/// Bytes that must agree for a hit: matches are at least this long.
const KEY: usize = 8;

/// Finds matches in a block of JSON lines, each starting at (or reaching
/// back from) a `"`, against the last earlier position whose next
/// [`KEY`] bytes hashed alike. Positions are block-relative: zstd gives
/// a sequence producer one block at a time and no history.
pub(super) struct Finder {
    table: Box<[u32]>,
    seqs: Vec<Seq>,
    /// Blocks done.
    blocks: u64,
}

const EMPTY: u32 = u32::MAX;

#[inline]
fn word(s: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(w)
}

#[inline]
fn slot(w: u64) -> usize {
    (w.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - HASH_BITS)) as usize
}

impl Finder {
    pub(super) fn new() -> Finder {
        Finder {
            table: vec![EMPTY; 1 << HASH_BITS].into_boxed_slice(),
            seqs: Vec::new(),
            blocks: 0,
        }
    }

    /// The sequences of `block` (at most 4 GiB; zstd's are 128 KiB): every
    /// match is at least [`KEY`] bytes and copies earlier bytes of the block
    /// that equal it, and the last sequence (no match) holds the block's
    /// trailing literals, so the lengths add up to `block.len()`.
    pub(super) fn find(&mut self, block: &[u8]) -> &[Seq] {
        self.table.fill(EMPTY);
        self.seqs.clear();
        self.blocks += 1;
        let s = block;
        let n = s.len();
        // Literals start here: bytes before it are covered.
        let mut lit = 0usize;
        let mut i = 0usize;
        // A key needs KEY bytes; positions stay below u32::MAX as zstd's
        // blocks are at most 128 KiB (longer input only loses matches).
        let end = n.saturating_sub(KEY - 1).min(EMPTY as usize);
        while i < end {
            let Some(q) = memchr::memchr(b'"', &s[i..end]) else {
                break;
            };
            let pos = i + q;
            let key = word(s, pos);
            let h = slot(key);
            let cand = self.table[h];
            self.table[h] = pos as u32;
            let cand = cand as usize;
            if cand == EMPTY as usize || word(s, cand) != key {
                i = pos + 1;
                continue;
            }
            // Reach back over literals that also agree.
            let (mut st, mut c) = (pos, cand);
            while st > lit && c > 0 && s[st - 1] == s[c - 1] {
                st -= 1;
                c -= 1;
            }
            // And forward, a word at a time.
            let (mut e, mut ce) = (pos + KEY, cand + KEY);
            loop {
                if e + 8 > n {
                    while e < n && s[e] == s[ce] {
                        e += 1;
                        ce += 1;
                    }
                    break;
                }
                let x = word(s, e) ^ word(s, ce);
                if x != 0 {
                    let t = (x.trailing_zeros() / 8) as usize;
                    e += t;
                    break;
                }
                e += 8;
                ce += 8;
            }
            self.seqs.push(Seq {
                offset: (pos - cand) as u32,
                litLength: (st - lit) as u32,
                matchLength: (e - st) as u32,
                rep: 0,
            });
            lit = e;
            i = e;
        }
        self.seqs.push(Seq {
            offset: 0,
            litLength: (n - lit) as u32,
            matchLength: 0,
            rep: 0,
        });
        &self.seqs
    }
}

/// zstd's sequence producer: the sequences of one block, or
/// `ZSTD_SEQUENCE_PRODUCER_ERROR` if they do not fit `cap` (zstd then uses
/// its own match finder for the block).
///
/// # Safety
/// Called by libzstd only, as registered by [`JsonZstd::new`]: `state` is
/// that encoder's boxed [`Finder`], `src` points to `n` readable bytes and
/// `out` to room for `cap` sequences.
unsafe extern "C" fn produce(
    state: *mut c_void,
    out: *mut Seq,
    cap: usize,
    src: *const c_void,
    n: usize,
    _dict: *const c_void,
    _dict_size: usize,
    _level: i32,
    _window: usize,
) -> usize {
    const PRODUCER_ERROR: usize = usize::MAX;
    if state.is_null() || out.is_null() || (src.is_null() && n > 0) || u32::try_from(n).is_err() {
        return PRODUCER_ERROR;
    }
    // SAFETY: `state` is the finder that `JsonZstd::new` registered, which
    // lives as long as the context, and zstd calls this only from
    // within `ZSTD_compressStream2` on that context, which `JsonZstd` calls
    // through `&mut self`: no other reference to the finder exists now.
    let finder = unsafe { &mut *state.cast::<Finder>() };
    let block: &[u8] = if n == 0 {
        &[]
    } else {
        // SAFETY: zstd passes the block it is compressing, `n` bytes it
        // owns and does not change during this call.
        unsafe { std::slice::from_raw_parts(src.cast::<u8>(), n) }
    };
    let seqs = finder.find(block);
    if seqs.len() > cap {
        return PRODUCER_ERROR;
    }
    // SAFETY: `out` has room for `cap` sequences (the API's contract), and
    // `seqs.len() <= cap`; the finder's buffer is not zstd's.
    unsafe { std::ptr::copy_nonoverlapping(seqs.as_ptr(), out, seqs.len()) };
    seqs.len()
}

/// A zstd encoder writing one frame to `W`, its matches found by a
/// [`Finder`]: as `zstd::Encoder`, it takes bytes through [`Write`] and
/// needs [`JsonZstd::finish`] to end the frame.
pub(super) struct JsonZstd<W: Write> {
    cctx: NonNull<sys::ZSTD_CCtx>,
    /// A leaked `Box<Finder>` registered with `cctx`, used only by zstd
    /// (through [`produce`]) and freed after `cctx` (a raw pointer, not a
    /// `Box`, as moving a `Box` would claim it unaliased).
    finder: NonNull<Finder>,
    /// Compressed bytes not yet written out: `buf[..filled]`. Large
    /// enough for zstd to compress most blocks straight into it, and for
    /// the writes to bypass a `BufWriter` of 1 MiB.
    buf: Vec<u8>,
    filled: usize,
    /// zstd's size for one whole compressed block in the output
    /// (`ZSTD_CStreamOutSize`).
    block_room: usize,
    w: Option<W>,
}

/// Size of [`JsonZstd`]'s output buffer.
const OUT_BUF: usize = 2 << 20;

/// `code`, or the error it names.
fn check(code: usize) -> io::Result<usize> {
    // SAFETY: takes any value.
    if unsafe { sys::ZSTD_isError(code) } != 0 {
        // SAFETY: returns a static, NUL-terminated string for any value.
        let name = unsafe { std::ffi::CStr::from_ptr(sys::ZSTD_getErrorName(code)) };
        return Err(io::Error::other(format!(
            "zstd: {}",
            name.to_string_lossy()
        )));
    }
    Ok(code)
}

impl<W: Write> JsonZstd<W> {
    /// An encoder at `level` (which sets zstd's entropy coding: literals
    /// are left raw at negative levels) with a window of 2^`window_log`.
    pub(super) fn new(w: W, level: i32, window_log: u32) -> io::Result<JsonZstd<W>> {
        // SAFETY: no arguments; a null result is checked.
        let cctx = NonNull::new(unsafe { sys::ZSTD_createCCtx() })
            .ok_or_else(|| io::Error::other("zstd: cannot allocate a context"))?;
        // SAFETY: no arguments.
        let out_size = unsafe { sys::ZSTD_CStreamOutSize() };
        // Owns the context from here: dropping it frees the context.
        let enc = JsonZstd {
            cctx,
            finder: NonNull::from(Box::leak(Box::new(Finder::new()))),
            buf: vec![0; OUT_BUF.max(2 * out_size)],
            filled: 0,
            block_room: out_size,
            w: Some(w),
        };
        use sys::ZSTD_cParameter as P;
        let params = [
            (P::ZSTD_c_compressionLevel, level),
            (P::ZSTD_c_windowLog, window_log as i32),
            // ZSTD_c_enableSeqProducerFallback: zstd's own match finder
            // takes any block the producer cannot do.
            (P::ZSTD_c_experimentalParam17, 1),
        ];
        for (p, v) in params {
            // SAFETY: a live context and a parameter zstd range-checks.
            check(unsafe { sys::ZSTD_CCtx_setParameter(enc.cctx.as_ptr(), p, v) })?;
        }
        // SAFETY: the finder lives until `enc` is dropped, after the
        // context is freed; `produce` has the signature zstd calls.
        unsafe {
            sys::ZSTD_registerSequenceProducer(
                enc.cctx.as_ptr(),
                enc.finder.as_ptr().cast(),
                Some(produce),
            )
        };
        Ok(enc)
    }

    /// Run the stream over `input` with `op` (for `ZSTD_e_flush` and
    /// `ZSTD_e_end`, until zstd has nothing left to write), writing what it
    /// gives out.
    fn step(&mut self, input: &[u8], op: sys::ZSTD_EndDirective) -> io::Result<()> {
        let mut inb = sys::ZSTD_inBuffer {
            src: input.as_ptr().cast(),
            size: input.len(),
            pos: 0,
        };
        loop {
            let mut outb = sys::ZSTD_outBuffer {
                dst: self.buf.as_mut_ptr().cast(),
                size: self.buf.len(),
                pos: self.filled,
            };
            // SAFETY: a live context; `inb` describes `input` and `outb`
            // `self.buf` (`filled <= len`), both valid for the call, which
            // moves their `pos` only within their `size`.
            let left = check(unsafe {
                sys::ZSTD_compressStream2(self.cctx.as_ptr(), &mut outb, &mut inb, op)
            })?;
            self.filled = outb.pos.min(self.buf.len());
            let done = match op {
                sys::ZSTD_EndDirective::ZSTD_e_continue => inb.pos >= inb.size,
                _ => left == 0,
            };
            // Written out when the room left may not hold a whole block
            // (zstd then compresses into its own buffer and copies), and
            // when the caller wants everything out.
            if self.buf.len() - self.filled < self.block_room
                || (done && op != sys::ZSTD_EndDirective::ZSTD_e_continue)
            {
                self.write_out()?;
            }
            if done {
                return Ok(());
            }
        }
    }

    /// Write the compressed bytes held to the writer.
    fn write_out(&mut self) -> io::Result<()> {
        if self.filled > 0 {
            let w = self
                .w
                .as_mut()
                .ok_or_else(|| io::Error::other("finished"))?;
            w.write_all(&self.buf[..self.filled])?;
            self.filled = 0;
        }
        Ok(())
    }

    /// Blocks whose matches the finder found.
    #[cfg(test)]
    fn blocks(&self) -> u64 {
        // SAFETY: zstd uses the finder only within `step`, which takes
        // `&mut self`; under `&self` nothing else refers to it.
        unsafe { self.finder.as_ref() }.blocks
    }

    /// End the frame and return the writer.
    pub(super) fn finish(mut self) -> io::Result<W> {
        self.step(&[], sys::ZSTD_EndDirective::ZSTD_e_end)?;
        self.w.take().ok_or_else(|| io::Error::other("finished"))
    }
}

impl<W: Write> Write for JsonZstd<W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.step(b, sys::ZSTD_EndDirective::ZSTD_e_continue)?;
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.step(&[], sys::ZSTD_EndDirective::ZSTD_e_flush)?;
        match &mut self.w {
            Some(w) => w.flush(),
            None => Ok(()),
        }
    }
}

impl<W: Write> Drop for JsonZstd<W> {
    fn drop(&mut self) {
        // SAFETY: the context was created by `new` and is freed once, here.
        unsafe { sys::ZSTD_freeCCtx(self.cctx.as_ptr()) };
        // SAFETY: the finder came from `Box::leak` in `new`, is freed once,
        // here, and the context that used it is gone.
        drop(unsafe { Box::from_raw(self.finder.as_ptr()) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::Rng;
    use proptest::prelude::*;

    /// Check `seqs` against zstd's rules for `block` and rebuild the block
    /// from them as a decoder would.
    fn replay(block: &[u8], seqs: &[Seq]) -> Vec<u8> {
        let (last, body) = seqs.split_last().expect("a last sequence");
        assert_eq!(
            (last.offset, last.matchLength),
            (0, 0),
            "ends with literals"
        );
        let mut out = Vec::with_capacity(block.len());
        for q in body {
            let lit = q.litLength as usize;
            out.extend_from_slice(&block[out.len()..out.len() + lit]);
            let (off, len) = (q.offset as usize, q.matchLength as usize);
            assert!(len >= KEY, "match of {len}");
            assert!(
                off >= 1 && off <= out.len(),
                "offset {off} at {}",
                out.len()
            );
            for _ in 0..len {
                out.push(out[out.len() - off]);
            }
        }
        out.extend_from_slice(&block[out.len()..out.len() + last.litLength as usize]);
        out
    }

    /// `raw` decoded by ruzstd, a decoder written apart from libzstd.
    pub(crate) fn ruzstd_decode(raw: &[u8]) -> Vec<u8> {
        let mut d = ruzstd::decoding::StreamingDecoder::new(raw).unwrap();
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut d, &mut out).unwrap();
        out
    }

    /// Lines shaped as an export's: a few attributes of random values.
    fn json_lines(seed: u64, bytes: usize) -> Vec<u8> {
        let mut rng = Rng::new(seed);
        let mut out = Vec::new();
        while out.len() < bytes {
            let id = rng.below(1_000_000);
            let name: String = (0..rng.below(30))
                .map(|_| b"abc xyz\\\"\xc3\xa9"[rng.below(10)] as char)
                .collect();
            out.extend_from_slice(
                format!(
                    "{{\"Item\":{{\"pk\":{{\"S\":\"{id}\"}},\"id\":{{\"N\":\"{id}\"}},\
                     \"name\":{{\"S\":\"{name}\"}},\"n\":{{\"N\":\"{}\"}}}}}}\n",
                    rng.below(1 << 40)
                )
                .as_bytes(),
            );
        }
        out
    }

    /// `data` through a [`JsonZstd`] at `level`, written in pieces of
    /// `piece` bytes. The finder did every block of 128 KiB.
    fn compress(data: &[u8], level: i32, piece: usize) -> Vec<u8> {
        let mut enc = JsonZstd::new(Vec::new(), level, 17).unwrap();
        for c in data.chunks(piece.max(1)) {
            enc.write_all(c).unwrap();
        }
        assert!(enc.blocks() + 1 >= (data.len() >> 17) as u64);
        enc.finish().unwrap()
    }

    #[test]
    fn finder_sequences_rebuild_the_block() {
        let block = json_lines(1, 128 << 10);
        let mut f = Finder::new();
        let seqs = f.find(&block).to_vec();
        assert_eq!(replay(&block, &seqs), block);
        // The lines' shape is found: most bytes are matched.
        let matched: usize = seqs.iter().map(|q| q.matchLength as usize).sum();
        assert!(matched * 2 > block.len(), "{matched} of {}", block.len());
        for short in [&b""[..], b"\"", b"\"abcdefg", b"\"abcdefgh\"abcdefgh"] {
            assert_eq!(replay(short, f.find(short)), short);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// For any bytes (mostly quotes and a few letters, so that keys
        /// repeat and matches overlap), the sequences are valid and give
        /// the block back.
        #[test]
        fn finder_is_exact_on_any_block(
            block in proptest::collection::vec(
                prop_oneof![Just(b'"'), Just(b'a'), Just(b'b'), any::<u8>()],
                0..4096,
            )
        ) {
            let mut f = Finder::new();
            let seqs = f.find(&block).to_vec();
            prop_assert_eq!(replay(&block, &seqs), block);
        }

        /// What a [`JsonZstd`] writes is one zstd frame that decodes to
        /// what it was given, however it was written.
        #[test]
        fn json_zstd_round_trips(
            seed in any::<u64>(),
            bytes in 0usize..400_000,
            piece in 1usize..200_000,
            level in prop_oneof![Just(-7), Just(-3), Just(1)],
        ) {
            let data = json_lines(seed, bytes);
            let raw = compress(&data, level, piece);
            let frame = zstd::zstd_safe::find_frame_compressed_size(&raw).unwrap();
            prop_assert_eq!(frame, raw.len());
            prop_assert_eq!(&zstd::decode_all(&raw[..]).unwrap(), &data);
            prop_assert_eq!(ruzstd_decode(&raw), data);
        }
    }

    /// Nothing written still makes a frame, of nothing; a flush mid-way
    /// changes nothing decoded.
    #[test]
    fn json_zstd_empty_and_flushed() {
        let raw = compress(b"", 1, 1);
        assert_eq!(zstd::decode_all(&raw[..]).unwrap(), b"");
        assert_eq!(ruzstd_decode(&raw), b"");
        let data = json_lines(3, 300_000);
        let mut enc = JsonZstd::new(Vec::new(), -3, 17).unwrap();
        enc.write_all(&data[..1000]).unwrap();
        enc.flush().unwrap();
        enc.write_all(&data[1000..]).unwrap();
        let raw = enc.finish().unwrap();
        assert_eq!(zstd::decode_all(&raw[..]).unwrap(), data);
        assert_eq!(ruzstd_decode(&raw), data);
    }

    /// On export-shaped lines the finder's files are near zstd's own at
    /// the same level, not a stored copy.
    #[test]
    fn json_zstd_compresses_like_zstd() {
        let data = json_lines(5, 1 << 20);
        for level in [-3, 1] {
            let ours = compress(&data, level, 128 << 10).len();
            let theirs = zstd::encode_all(&data[..], level).unwrap().len();
            assert!(ours * 10 < theirs * 13, "level {level}: {ours} vs {theirs}");
        }
    }
}
