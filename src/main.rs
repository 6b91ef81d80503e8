//! `ember`: the reference server and its tools.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Ember: a Prometheus-compatible monitoring server and its tools.
#[derive(Parser)]
#[command(name = "ember", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Check resources for validity (as promtool check).
    #[command(subcommand)]
    Check(cli::check::CheckCommand),
    /// Run tsdb commands (as promtool tsdb).
    #[command(subcommand)]
    Tsdb(cli::tsdb::TsdbCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => {
            eprintln!(
                "ember: the server is not available yet in this version; \
                 see `ember --help` for the tools that are"
            );
            return ExitCode::from(1);
        }
        Some(Command::Check(c)) => cli::check::run(c),
        Some(Command::Tsdb(c)) => cli::tsdb::run(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ember: {e:#}");
            ExitCode::from(1)
        }
    }
}
