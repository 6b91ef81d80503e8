//! Embedding Ember's TSDB: open a data directory, append, query, compact,
//! close.
//!
//! ```text
//! cargo run --example embed_tsdb [DATA_DIR]
//! ```
//!
//! Without `DATA_DIR` a temporary directory is used. Run it twice on the
//! same directory: the second run finds the first run's samples (replayed
//! from the WAL, or read from the block `compact` wrote).

use std::error::Error;

use ember::model::{labels, Matcher, Sample};
use ember::storage::{Appendable, Queryable, SeriesRef, ValueType};
use ember::tsdb::{Db, DbOptions};

fn main() -> Result<(), Box<dyn Error>> {
    let tmp = tempfile::tempdir()?;
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| tmp.path().to_path_buf(), Into::into);

    // One call: lock, blocks, head (chunks_head + WAL replay).
    let db = Db::open(&dir, DbOptions::default())?;
    println!(
        "opened {}: {} blocks, {} head series",
        db.dir().display(),
        db.blocks().blocks().len(),
        db.head().num_series()
    );

    // Append 3h of one sample a minute, continuing after what is there.
    let start = db.head().max_time().max(0) + 60_000;
    let series = labels!("__name__" => "embed_requests_total", "path" => "/");
    let mut app = db.appender();
    let mut hint = SeriesRef(0);
    for i in 0..180 {
        hint = app.append(hint, &series, Sample::float(start + i * 60_000, i as f64))?;
    }
    // After commit returns, the samples survive a crash of this process.
    app.commit()?;
    drop(app);
    // ... and after sync, a power loss.
    db.sync()?;

    // Persist the oldest 2h of the head into a block once it spans > 3h.
    let report = db.compact()?;
    println!("compaction: {report:?}");

    // Query blocks and head together.
    let q = db.querier(i64::MIN, i64::MAX)?;
    let mut set = q.select(
        true,
        None,
        &[Matcher::equal("__name__", "embed_requests_total")],
    )?;
    while let Some(s) = set.next() {
        let s = s?;
        let mut it = s.iter();
        let (mut n, mut last) = (0, None);
        while it.next() == ValueType::Float {
            n += 1;
            last = Some(it.at());
        }
        println!("{}: {n} samples, last {last:?}", s.labels());
    }
    drop(set);
    drop(q);

    db.close()?;
    Ok(())
}
