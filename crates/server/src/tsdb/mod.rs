//! `narthex tsdb ...`: the commands, each in its module.

pub(crate) mod analyze;
mod backfill;
mod dump;
mod list;

use std::io::{self, Write};

use narthex_tsdb::block::meta::BlockMeta;

use crate::cli::{CreateBlocksFrom, TsdbCommand};
use crate::gofmt;

/// A command's failure, printed to stderr by `main`.
pub(crate) type Error = Box<dyn std::error::Error>;

pub(crate) fn run(cmd: TsdbCommand) -> Result<(), Error> {
    let r = match cmd {
        TsdbCommand::List(a) => list::run(&a),
        TsdbCommand::Dump(a) => dump::run(&a),
        TsdbCommand::Analyze(a) => analyze::run(&a),
        TsdbCommand::CreateBlocksFrom(CreateBlocksFrom::Openmetrics(a)) => backfill::run(&a),
    };
    match r {
        // A closed pipe (`narthex tsdb dump | head`) is not a failure.
        Err(e)
            if e.downcast_ref::<io::Error>().map(io::Error::kind)
                == Some(io::ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        r => r,
    }
}

/// The block table of `promtool tsdb list`: a tab-aligned header (when `header`) and one
/// row per block, `(meta, size in bytes)`.
pub(crate) fn block_table(blocks: &[(BlockMeta, u64)], header: bool, human: bool) -> String {
    let mut tw = gofmt::TabWriter::new(13, 2);
    if header {
        tw.row(
            [
                "BLOCK ULID",
                "MIN TIME",
                "MAX TIME",
                "DURATION",
                "NUM SAMPLES",
                "NUM CHUNKS",
                "NUM SERIES",
                "SIZE",
            ]
            .map(String::from)
            .to_vec(),
        );
    }
    let time = |t: i64| {
        if human {
            gofmt::utc_time(t)
        } else {
            t.to_string()
        }
    };
    for (m, size) in blocks {
        tw.row(vec![
            m.ulid.to_string(),
            time(m.min_time),
            time(m.max_time),
            gofmt::duration((m.max_time.wrapping_sub(m.min_time)).wrapping_mul(1_000_000)),
            m.stats.num_samples.to_string(),
            m.stats.num_chunks.to_string(),
            m.stats.num_series.to_string(),
            if human {
                gofmt::base2_bytes(*size)
            } else {
                size.to_string()
            },
        ]);
    }
    tw.render()
}

fn write_stdout(text: &str) -> Result<(), Error> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
