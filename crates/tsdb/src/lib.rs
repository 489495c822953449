//! An embeddable, synchronous time-series database with Prometheus's on-disk formats.
//!
//! This crate **is** Narthex's storage engine: [`Db`] opens a data directory laid out as
//! Prometheus lays out its own (`wal/`, `chunks_head/`, `lock`), takes writes through the
//! `narthex-storage` [`Appender`](narthex_storage::Appender) (logged to the WAL before
//! `commit` returns), and answers queries through the
//! [`Querier`](narthex_storage::Querier) trait. Its parts are public for tools: the
//! write-ahead log ([`wlog`]), WAL records ([`record`]), head chunk files
//! ([`chunks_head`]), postings ([`index`]) and checkpoints ([`checkpoint`]).
//!
//! It is **not** a query engine (see `narthex-promql`) and has no async API: every call
//! does its I/O before it returns, so it embeds in any program.
//!
//! ```
//! use narthex_model::{labels, MatchOp, Matcher};
//! use narthex_storage::{Appendable, Queryable, SeriesRef, ValueType};
//! use narthex_tsdb::{Db, Options};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let db = Db::open(dir.path(), Options::default())?;
//! let mut app = db.appender();
//! let up = labels! { "__name__" => "up", "job" => "api" };
//! let r = app.append(SeriesRef::UNKNOWN, &up, 1_000, 1.0)?;
//! app.append(r, &up, 16_000, 1.0)?;
//! app.commit()?; // in the WAL now: survives a crash
//! drop(db);
//!
//! let db = Db::open(dir.path(), Options::default())?; // replays the WAL
//! let q = db.querier(0, 60_000)?;
//! let m = Matcher::new(MatchOp::Equal, "job", "api").unwrap();
//! let series = q.select(true, None, &[m])?.next().unwrap()?;
//! let mut it = series.iter();
//! assert_eq!(it.next(), ValueType::Float);
//! assert_eq!(it.at(), (1_000, 1.0));
//! # Ok::<(), narthex_storage::StorageError>(())
//! ```

pub mod block;
pub mod checkpoint;
mod chunk;
pub mod chunks_head;
mod compact;
mod db;
pub mod encoding;
mod head;
pub mod index;
mod querier;
pub mod record;
mod refmap;
pub mod wlog;

pub use compact::{exponential_block_ranges, plan};
pub use db::{CompactReport, Db, Options};
pub use head::{ReplayReport, TruncateReport};
pub use querier::CorruptBlock;
