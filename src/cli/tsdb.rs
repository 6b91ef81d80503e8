//! `ember tsdb ...`: promtool's `tsdb` commands on Ember's block layer.
//!
//! `list`, `analyze`, `dump` and `create-blocks-from openmetrics` take
//! promtool 2.42's arguments and flags and print what promtool prints, so
//! scripts and diffs work against either tool. Directories are opened
//! read-only: no lock is taken and nothing is repaired. Blocks that cannot
//! be opened are reported on stderr by ULID and the command goes on with
//! the others, then exits with status 1.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ember_tsdb::backfill::{
    backfill_openmetrics_file, BackfillObserver, BackfillOptions, Progress,
};
use ember_tsdb::{dump, dump_samples, open_blocks, report, BlockDir, WrittenBlock};

/// promtool's default database path.
const DEFAULT_DB_PATH: &str = "data/";

/// Run tsdb commands (as promtool tsdb).
#[derive(clap::Subcommand, Debug)]
pub enum TsdbCommand {
    /// Analyze churn, label pair cardinality and compaction efficiency.
    Analyze(AnalyzeArgs),
    /// List tsdb blocks.
    List(ListArgs),
    /// Dump samples from a TSDB.
    Dump(DumpArgs),
    /// [Experimental] Import samples from input and produce TSDB blocks.
    #[command(name = "create-blocks-from")]
    CreateBlocksFrom(CreateBlocksFromArgs),
}

/// Arguments of `tsdb analyze`.
#[derive(clap::Args, Debug)]
pub struct AnalyzeArgs {
    /// Database path.
    #[arg(value_name = "db path", default_value = DEFAULT_DB_PATH)]
    path: PathBuf,
    /// Block to analyze (default is the last block).
    #[arg(value_name = "block id")]
    block_id: Option<String>,
    /// How many items to show in each list.
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Run extended analysis.
    #[arg(long)]
    extended: bool,
}

/// Arguments of `tsdb list`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Print human readable values.
    #[arg(short = 'r', long)]
    human_readable: bool,
    /// Database path.
    #[arg(value_name = "db path", default_value = DEFAULT_DB_PATH)]
    path: PathBuf,
}

/// Arguments of `tsdb dump`.
#[derive(clap::Args, Debug)]
pub struct DumpArgs {
    /// Database path.
    #[arg(value_name = "db path", default_value = DEFAULT_DB_PATH)]
    path: PathBuf,
    /// Minimum timestamp to dump.
    #[arg(long, default_value_t = i64::MIN, allow_hyphen_values = true)]
    min_time: i64,
    /// Maximum timestamp to dump.
    #[arg(long, default_value_t = i64::MAX, allow_hyphen_values = true)]
    max_time: i64,
    /// Series selector.
    #[arg(long = "match", default_value = "{__name__=~'(?s:.*)'}")]
    matcher: String,
}

/// Arguments of `tsdb create-blocks-from`.
#[derive(clap::Args, Debug)]
pub struct CreateBlocksFromArgs {
    /// Print human readable values.
    #[arg(short = 'r', long, global = true)]
    human_readable: bool,
    /// Do not print created blocks.
    #[arg(short = 'q', long, global = true)]
    quiet: bool,
    /// Maximum duration created blocks may span. Anything less than 2h is
    /// ignored.
    #[arg(long, global = true, hide = true, value_name = "duration", value_parser = parse_duration)]
    max_block_duration: Option<i64>,
    #[command(subcommand)]
    source: CreateBlocksSource,
}

/// Where `create-blocks-from` reads samples.
#[derive(clap::Subcommand, Debug)]
pub enum CreateBlocksSource {
    /// Import samples from OpenMetrics input and produce TSDB blocks.
    Openmetrics {
        /// OpenMetrics file to read samples from.
        #[arg(value_name = "input file")]
        input: PathBuf,
        /// Output directory for generated blocks.
        #[arg(value_name = "output directory", default_value = DEFAULT_DB_PATH)]
        output: PathBuf,
    },
}

fn parse_duration(s: &str) -> Result<i64, String> {
    ember_model::parse_duration(s).map_err(|e| e.to_string())
}

/// Runs a `tsdb` subcommand.
pub fn run(cmd: TsdbCommand) -> Result<ExitCode> {
    match cmd {
        TsdbCommand::List(a) => list(&a),
        TsdbCommand::Analyze(a) => analyze(&a),
        TsdbCommand::Dump(a) => dump(&a),
        TsdbCommand::CreateBlocksFrom(a) => create_blocks(&a),
    }
}

/// Opens the blocks of `path`, reporting those that fail on stderr.
fn open(path: &Path) -> Result<BlockDir> {
    let dir = open_blocks(path)?;
    for f in dir.failed() {
        eprintln!("corrupted block {}: {}", f.ulid, f.error);
    }
    Ok(dir)
}

fn status(dir: &BlockDir) -> ExitCode {
    if dir.failed().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Writes to stdout; a closed pipe (`| head`) ends the output quietly.
fn write_stdout(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

fn list(a: &ListArgs) -> Result<ExitCode> {
    let dir = open(&a.path)?;
    let rows: Vec<_> = dir
        .blocks()
        .iter()
        .map(|b| (b.meta(), b.size().total()))
        .collect();
    write_stdout(&report::block_table(&rows, true, a.human_readable))?;
    Ok(status(&dir))
}

fn analyze(a: &AnalyzeArgs) -> Result<ExitCode> {
    let dir = open(&a.path)?;
    let block = match &a.block_id {
        Some(id) => dir.blocks().iter().find(|b| b.ulid().to_string() == *id),
        None => dir.blocks().last(),
    };
    let Some(block) = block else {
        bail!("block {} not found", a.block_id.as_deref().unwrap_or(""));
    };
    let text = report::analyze(block, a.limit, a.extended)?;
    write_stdout(&text)?;
    Ok(status(&dir))
}

fn dump(a: &DumpArgs) -> Result<ExitCode> {
    let matchers = ember_promql::parse_metric_selector(&a.matcher)?;
    let dir = open(&a.path)?;
    if matchers.is_empty() {
        // `{}` selects nothing in promtool.
        return Ok(status(&dir));
    }
    // The head a (possibly crashed) server left in `wal/`, loaded
    // read-only: nothing in the directory is written or repaired.
    let head = dump::read_only_head(&a.path, dump::blocks_max_time(&dir))?;
    if let Some(c) = &head.corruption {
        eprintln!("warning: WAL damaged, head data after it not dumped: {c}");
    }
    let q = dump::merge_blocks_and_head(&dir, &head.head, a.min_time, a.max_time);
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let stats = match dump_samples(&q, &matchers, &mut out) {
        Ok(s) => s,
        Err(ember_tsdb::TsdbError::Io { error, .. })
            if error.kind() == io::ErrorKind::BrokenPipe =>
        {
            return Ok(status(&dir));
        }
        Err(e) => return Err(e.into()),
    };
    drop(out);
    if !stats.warnings.is_empty() {
        for w in &stats.warnings {
            eprintln!("warning: {w}");
        }
        return Ok(ExitCode::from(1));
    }
    Ok(status(&dir))
}

fn create_blocks(a: &CreateBlocksFromArgs) -> Result<ExitCode> {
    let CreateBlocksSource::Openmetrics { input, output } = &a.source;
    let opts = BackfillOptions {
        max_block_duration: a.max_block_duration.unwrap_or(0),
        ..BackfillOptions::default()
    };
    let mut observer = Printer {
        quiet: a.quiet,
        human_readable: a.human_readable,
        wrote_header: false,
        bar: (!a.quiet && io::stderr().is_terminal()).then(ProgressBar::new),
    };
    let res = backfill_openmetrics_file(input, output, &opts, &mut observer);
    if let Some(bar) = &mut observer.bar {
        bar.clear();
    }
    res.with_context(|| format!("block creation from {}", input.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// Prints each block as it is written (promtool's table) and the progress
/// bar.
struct Printer {
    quiet: bool,
    human_readable: bool,
    wrote_header: bool,
    bar: Option<ProgressBar>,
}

impl BackfillObserver for Printer {
    fn progress(&mut self, p: &Progress) {
        if let Some(bar) = &mut self.bar {
            bar.draw(p);
        }
    }

    fn block_written(&mut self, b: &WrittenBlock) {
        if self.quiet {
            return;
        }
        if let Some(bar) = &mut self.bar {
            bar.clear();
        }
        // promtool formats each block with a fresh tabwriter, the header
        // only with the first.
        let text = report::block_table(
            &[(&b.meta, b.size)],
            !self.wrote_header,
            self.human_readable,
        );
        self.wrote_header = true;
        // Output problems (a closed pipe) must not fail the import.
        let _ = write_stdout(&text);
    }
}

/// A one-line progress bar on stderr.
struct ProgressBar {
    last: Option<Instant>,
    drawn: bool,
}

impl ProgressBar {
    fn new() -> Self {
        ProgressBar {
            last: None,
            drawn: false,
        }
    }

    fn draw(&mut self, p: &Progress) {
        let now = Instant::now();
        let done = p.bytes_done >= p.bytes_total;
        if !done
            && self
                .last
                .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        let frac = if p.bytes_total == 0 {
            1.0
        } else {
            p.bytes_done as f64 / p.bytes_total as f64
        };
        const WIDTH: usize = 30;
        let filled = ((frac * WIDTH as f64) as usize).min(WIDTH);
        let passes = p.passes.map_or_else(|| "?".to_string(), |n| n.to_string());
        let what = if p.pass == 1 { "reading" } else { "re-reading" };
        let line = format!(
            "\r[{}{}] pass {}/{} {what} {:>3}% {}/{} MiB",
            "=".repeat(filled),
            " ".repeat(WIDTH - filled),
            p.pass,
            passes,
            (frac * 100.0) as u32,
            p.bytes_done >> 20,
            p.bytes_total >> 20,
        );
        let mut err = io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
        let _ = err.flush();
        self.drawn = true;
    }

    fn clear(&mut self) {
        if self.drawn {
            let mut err = io::stderr().lock();
            let _ = write!(err, "\r{}\r", " ".repeat(72));
            let _ = err.flush();
            self.drawn = false;
            self.last = None;
        }
    }
}
