//! Command-line definitions and dispatch.

mod score;

use clap::{Parser, Subcommand};

/// Token-level implicit rewards of DPO-trained language models.
#[derive(Debug, Parser)]
#[command(name = "creditlens", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Score responses token by token with a policy and its reference.
    Score(score::ScoreArgs),
}

/// Parses the command line and runs the chosen command.
pub fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Score(args) => score::run(args),
    }
}
