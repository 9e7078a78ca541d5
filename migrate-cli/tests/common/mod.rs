#![allow(dead_code)]
//! Shared helpers: the corpus location and running commands in-process.

use clap::Parser;
use migrate_cli::app::{run, AppError, Cli};
use std::path::PathBuf;

/// `../shared/corpus`, relative to the repository root.
pub fn corpus() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    assert!(
        p.join("MANIFEST.md").exists(),
        "the shared corpus is missing at {}",
        p.display()
    );
    p
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// Run `sstable-migrate ARGS` in-process; returns stdout.
pub fn run_cli(args: &[&str]) -> Result<String, AppError> {
    let mut argv = vec!["sstable-migrate"];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).map_err(|e| AppError::Usage(e.to_string()))?;
    let mut out = Vec::new();
    run(cli, &mut out)?;
    Ok(String::from_utf8(out).expect("utf-8 output"))
}

/// Dump rows (JSON Lines) parsed.
pub fn rows(path: &std::path::Path, schema: Option<&str>) -> Vec<serde_json::Value> {
    let p = path.to_string_lossy().into_owned();
    let mut args = vec!["dump", p.as_str(), "--now", "1700000000"];
    let s;
    if let Some(f) = schema {
        s = fixtures()
            .join("schemas")
            .join(f)
            .to_string_lossy()
            .into_owned();
        args.push("--schema");
        args.push(&s);
    }
    let out = run_cli(&args).unwrap_or_else(|e| panic!("dump {p}: {e}"));
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}
