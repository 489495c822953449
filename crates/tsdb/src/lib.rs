//! An embeddable, synchronous time-series database with Prometheus's on-disk formats.
//!
//! This crate **is** Narthex's storage engine. Built so far: the write-ahead log
//! ([`wlog`]: segments, pages, fragments, CRC-32C, snappy, corruption repair) and its
//! records ([`record`]: series, samples, tombstones, exemplars, metadata, native
//! histograms), byte-compatible with Prometheus's `wlog` and `record` packages: it reads the
//! WAL a running Prometheus writes. The head, postings and blocks come next.
//!
//! It is **not** a query engine; queries go through the `narthex-storage` traits.
//!
//! ```
//! use narthex_tsdb::wlog::{RecordReader, Wal, WalOptions};
//! use narthex_tsdb::record::{self, Record, RefSample};
//!
//! let dir = std::env::temp_dir().join(format!("narthex-doc-wal-{}", std::process::id()));
//! let mut wal = Wal::open(&dir, WalOptions::default())?;
//! let mut rec = Vec::new();
//! record::encode_samples(&[RefSample { r: 1, t: 1_000, v: 42.0 }], &mut rec);
//! wal.log(&[&rec])?;
//! wal.close()?;
//!
//! let mut reader = RecordReader::open(&dir)?;
//! let first = reader.next_record().expect("one record")?;
//! assert_eq!(record::decode(first).unwrap(), Record::Samples(vec![RefSample { r: 1, t: 1_000, v: 42.0 }]));
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), narthex_tsdb::wlog::WalError>(())
//! ```

pub mod encoding;
pub mod index;
pub mod record;
pub mod wlog;
