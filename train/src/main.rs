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
        None => {
            let summary = train::run::run(&cli.train)?;
            print!("{}", train::run::render(&summary));
            Ok(())
        }
    }
}
