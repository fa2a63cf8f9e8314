//! Load-time benchmark: loads the whole data folder (`ROUTER_DATA_DIR`, else the shared
//! data next to the workspace) a few times and prints the best and median wall time.
//! Run with `cargo bench -p datasets --bench load`.
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), datasets::LoadError> {
    let dir = std::env::var_os("ROUTER_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data"))
        });
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..5 {
        let start = Instant::now();
        let loaded = datasets::load(&dir)?;
        times.push(start.elapsed().as_secs_f64());
        rows = loaded.frame.height();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "load {}: {rows} rows, best {:.3} s, median {:.3} s ({} runs)",
        dir.display(),
        times[0],
        times[times.len() / 2],
        times.len()
    );
    Ok(())
}
