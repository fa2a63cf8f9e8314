//! Benchmark set-up helper (a test tool, not part of the gateway):
//!
//! - `bench_artifact router --out DIR` writes the synthetic router (see
//!   `bench_common/artifact.rs`) for when the shipped `models/default` is missing;
//! - `bench_artifact config --router-dir DIR --upstream URL --log-dir DIR [--listen ADDR]`
//!   prints a gateway config whose catalog is that router's candidates, every one served
//!   by the stub upstream at URL, with no client keys.
#![allow(clippy::print_stdout)]

#[path = "bench_common/artifact.rs"]
mod artifact;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "Writes the synthetic router and gateway configs used by bench/overhead.sh")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write the synthetic router artifact into a directory.
    Router {
        /// Output directory (created).
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a gateway config (TOML) pointing every candidate at one upstream.
    Config {
        /// Router artifact directory (its manifest gives the catalog).
        #[arg(long)]
        router_dir: PathBuf,
        /// Upstream base URL, up to `/v1`.
        #[arg(long)]
        upstream: String,
        /// Decision log directory.
        #[arg(long)]
        log_dir: PathBuf,
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:18080")]
        listen: String,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Router { out } => {
            let m = artifact::write_synthetic_router(&out).map_err(anyhow::Error::msg)?;
            println!(
                "wrote {} ({} candidates)",
                out.display(),
                m.candidates.len()
            );
        }
        Command::Config {
            router_dir,
            upstream,
            log_dir,
            listen,
        } => {
            let manifest = models::Manifest::load(&router_dir)
                .with_context(|| format!("reading the manifest in {}", router_dir.display()))?;
            let router_dir = std::fs::canonicalize(&router_dir).unwrap_or(router_dir);
            print!(
                "{}",
                artifact::gateway_config_toml(
                    &manifest,
                    &router_dir,
                    &upstream,
                    &log_dir,
                    &listen,
                    ""
                )
            );
        }
    }
    Ok(())
}
