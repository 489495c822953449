//! An embeddable, synchronous time-series database with Prometheus's on-disk formats.
//!
//! This crate **is** Narthex's storage engine: [`Db`] opens a data directory laid out as
//! Prometheus lays out its own (`wal/`, `chunks_head/`, block directories, `lock`), takes
//! writes through the `narthex-storage` [`Appender`](narthex_storage::Appender) (logged to
//! the WAL before `commit` returns), answers queries through the
//! [`Querier`](narthex_storage::Querier) trait over blocks and head, and persists the head
//! as blocks when asked to [`compact`](Db::compact) (Prometheus's server does so every
//! minute; so will Narthex's), merging and deleting blocks as Prometheus's compactor and
//! retention do. Its parts are public for tools: the write-ahead log ([`wlog`]), WAL
//! records ([`record`]), head chunk files ([`chunks_head`]), postings and the block index
//! ([`index`]), block files ([`block`]) and checkpoints ([`checkpoint`]).
//! [`Db::open_read_only`] reads a directory another process is writing, as `promtool` does.
//!
//! Start timestamps ([`append_with_st`](narthex_storage::Appender::append_with_st)) are kept
//! for samples in the head and logged in Prometheus 3.11's version 2 sample records, so they
//! survive restarts; blocks have no room for them, so a compaction drops them (a known
//! limitation, see `docs/FORMAT.md`).
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
//! db.compact()?; // nothing to persist yet: the head spans less than 3 hours
//! let q = db.querier(0, 60_000)?;
//! let m = Matcher::new(MatchOp::Equal, "job", "api").unwrap();
//! let series = q.select(true, None, &[m])?.next().unwrap()?;
//! let mut it = series.iter();
//! assert_eq!(it.next(), ValueType::Float);
//! assert_eq!(it.at(), (1_000, 1.0));
//! # Ok::<(), narthex_storage::StorageError>(())
//! ```

pub mod agent;
pub mod block;
pub mod checkpoint;
mod chunk;
pub mod chunks_head;
mod compact;
mod db;
pub mod encoding;
mod head;
pub mod index;
mod metrics;
mod querier;
pub mod record;
mod refmap;
pub mod wlog;

pub use chunk::{EncodedChunk, encode_samples};
pub use compact::{exponential_block_ranges, plan};
pub use db::{CompactReport, Db, HeadStats, Options};
pub use head::{ReplayReport, TruncateReport};
pub use metrics::DbMetrics;
pub use querier::CorruptBlock;
