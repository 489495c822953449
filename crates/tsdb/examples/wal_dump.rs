//! Prints a summary of every record in a WAL directory (and the newest checkpoint).
//!
//! ```text
//! cargo run -p narthex-tsdb --example wal_dump -- DATA_DIR/wal
//! ```

use narthex_tsdb::record::{self, Record};
use narthex_tsdb::wlog::RecordReader;

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: wal_dump WAL_DIR");
        std::process::exit(2);
    };
    let mut r = match RecordReader::open(std::path::Path::new(&dir)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let mut n = 0;
    while let Some(rec) = r.next_record() {
        match rec {
            Ok(b) => {
                n += 1;
                match record::decode(b) {
                    Ok(Record::Series(v)) => println!(
                        "series: {} ({:?} ...)",
                        v.len(),
                        v.first().map(|s| s.labels.to_string())
                    ),
                    Ok(Record::Samples(v)) => println!(
                        "samples: {} (first t={:?})",
                        v.len(),
                        v.first().map(|s| s.t)
                    ),
                    Ok(Record::Histograms(v)) => println!(
                        "histograms: {} (t {:?})",
                        v.len(),
                        v.iter().map(|s| s.t).collect::<Vec<_>>()
                    ),
                    Ok(Record::FloatHistograms(v)) => println!(
                        "float histograms: {} (t {:?})",
                        v.len(),
                        v.iter().map(|s| s.t).collect::<Vec<_>>()
                    ),
                    Ok(other) => println!("{other:?}"),
                    Err(e) => println!("undecodable record: {e}"),
                }
            }
            Err(e) => {
                println!("error: {e}");
                break;
            }
        }
    }
    println!("{n} records");
}
