use clap::Parser;
use migrate_cli::app::{run, Cli};
use std::io::Write;

// Rows, cells and items are many small allocations: mimalloc serves them
// several times faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let r = run(cli, &mut out);
    let r = r.and_then(|_| out.flush().map_err(Into::into));
    if let Err(e) = r {
        if e.is_broken_pipe() {
            std::process::exit(0);
        }
        let _ = out.flush();
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
