//! `train`: fit the router (no subcommand) or evaluate an artifact offline (`train eval`).
#![allow(clippy::print_stdout)]

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "train",
    version,
    about = "Train the Arbiter router, export it to ONNX, evaluate it offline"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    train: train::run::TrainArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Offline evaluation of a router artifact against oracle, random and single-model baselines.
    Eval(train::eval::EvalArgs),
    /// The gateway's decision records and feedback as training rows (generic long format).
    Ingest(train::traffic::ingest::IngestArgs),
    /// Distil the sentence encoder (all-MiniLM-L6-v2) into the static token table that
    /// `train --semantic DIR` builds into a router.
    Distill(train::encoder::distill::DistillArgs),
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Eval(args)) => train::eval::run(args),
        Some(Command::Ingest(args)) => {
            let report = train::traffic::ingest::run(&args)?;
            print!("{}", train::traffic::ingest::render(&report, &args));
            Ok(())
        }
        Some(Command::Distill(args)) => {
            let started = std::time::Instant::now();
            let w = train::encoder::run(&args)?;
            println!(
                "wrote {} ({} dims, sha256 {}) and {} in {:.0} s; the kept components explain {:.1}% of the token vectors' variance; frequencies from {} train-split tokens",
                w.table.display(),
                w.config.dim,
                w.config.table_sha256,
                args.out.join(train::encoder::distill::VOCAB_FILE).display(),
                started.elapsed().as_secs_f64(),
                100.0 * w.explained_variance,
                w.corpus_tokens
            );
            Ok(())
        }
        None => {
            let summary = train::run::run(&cli.train)?;
            print!("{}", train::run::render(&summary));
            Ok(())
        }
    }
}
