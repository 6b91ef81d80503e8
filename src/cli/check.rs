//! `ember check ...`: validity checks, as `promtool check ...`.

use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;

/// What to check.
#[derive(Subcommand)]
pub enum CheckCommand {
    /// Pass Prometheus metrics over stdin to lint them for consistency and
    /// correctness. Input ending in `# EOF` is read as OpenMetrics.
    ///
    /// examples:
    ///
    /// $ cat metrics.prom | ember check metrics
    ///
    /// $ curl -s http://localhost:9090/metrics | ember check metrics
    Metrics,
}

pub fn run(cmd: CheckCommand) -> Result<ExitCode> {
    match cmd {
        CheckCommand::Metrics => metrics(),
    }
}

/// Exit 0 when the input parses, printing lint findings as promtool does;
/// exit 1 with `line:col: message` when it does not.
fn metrics() -> Result<ExitCode> {
    let mut input = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut input)
        .context("reading stdin")?;
    match ember_exposition::check_metrics(&input) {
        Ok(problems) => {
            let mut err = std::io::BufWriter::new(std::io::stderr().lock());
            for p in problems {
                writeln!(err, "{p}").context("writing findings")?;
            }
            err.flush().context("writing findings")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{}:{}: {}", e.line, e.column, e.kind);
            Ok(ExitCode::from(1))
        }
    }
}
