//! The cargo-fuzz targets' bodies (`fuzz/src/lib.rs`), compiled as part of
//! the workspace and run over the seeds `fuzz/seed.py` makes from the shared
//! corpus, each seed followed by mutants of it. The fuzz crate itself lives
//! outside the workspace (it needs a nightly toolchain), so without this
//! test a change to a parser's API could leave the targets broken unseen.
//!
//! A body must return on any input; a panic, or a failed assertion of the
//! checks the bodies make (fast paths agreeing with checked ones), fails the
//! test with the target, seed file and mutant that caused it.

#[path = "../../fuzz/src/lib.rs"]
mod bodies;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::process::Command;

/// Mutants tried per seed.
const MUTANTS: u64 = 24;

/// xorshift64*: deterministic, so a failure names a mutant that reproduces.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to three edits of the kinds that break parsers: a flipped bit, a
/// byte set to a boundary value, a truncation, a repeated or removed span.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut m = seed.to_vec();
    for _ in 0..1 + rng.below(3) {
        if m.is_empty() {
            m.push(rng.next() as u8);
            continue;
        }
        let at = rng.below(m.len());
        match rng.below(5) {
            0 => m[at] ^= 1 << rng.below(8),
            1 => m[at] = [0x00, 0x7f, 0x80, 0xff][rng.below(4)],
            2 => m.truncate(at),
            3 => {
                let end = (at + 1 + rng.below(64)).min(m.len());
                let span = m[at..end].to_vec();
                m.splice(at..at, span);
            }
            _ => {
                let end = (at + 1 + rng.below(64)).min(m.len());
                m.drain(at..end);
            }
        }
    }
    m
}

#[test]
fn fuzz_bodies_return_on_seeds_and_their_mutants() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = tempfile::tempdir().expect("a temporary directory");
    let status = Command::new("python3")
        .arg(root.join("fuzz/seed.py"))
        .arg("--out")
        .arg(out.path())
        .status()
        .expect("python3 runs fuzz/seed.py");
    assert!(status.success(), "fuzz/seed.py failed: {status}");

    // Every target's seeds, read before the panic hook goes quiet, so that a
    // missing or unreadable seed fails with its message.
    let mut seeds_of = Vec::new();
    for (name, _) in bodies::TARGETS {
        let dir = out.path().join(name);
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("no seeds for {name} in {}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .collect();
        paths.sort();
        assert!(!paths.is_empty(), "fuzz/seed.py made no seeds for {name}");
        let seeds: Vec<(String, Vec<u8>)> = paths
            .iter()
            .map(|p| {
                let file = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                (file, std::fs::read(p).expect("a seed file"))
            })
            .collect();
        seeds_of.push(seeds);
    }

    // Panics of the bodies are caught and reported below; keep their
    // messages off stderr.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    let mut runs = 0usize;
    for (ti, ((name, body), seeds)) in bodies::TARGETS.iter().zip(&seeds_of).enumerate() {
        for (si, (file, seed)) in seeds.iter().enumerate() {
            let mut rng = Rng::new(((ti as u64) << 32) ^ si as u64);
            for k in 0..=MUTANTS {
                let input = if k == 0 {
                    seed.clone()
                } else {
                    mutate(seed, &mut rng)
                };
                runs += 1;
                if let Err(e) = catch_unwind(AssertUnwindSafe(|| body(&input))) {
                    let msg = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    failures.push(format!("{name}, seed {file}, mutant {k}: {msg}"));
                }
            }
        }
    }
    std::panic::set_hook(hook);
    assert!(
        failures.is_empty(),
        "{} of {runs} fuzz inputs panicked:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{runs} fuzz inputs, none panicked");
}
