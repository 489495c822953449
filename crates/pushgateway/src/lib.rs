//! A Prometheus Pushgateway-compatible push endpoint.
//!
//! This crate **is** what `narthex pushgateway` runs: an HTTP server that accepts metrics
//! pushed by batch jobs and exposes them for Prometheus to scrape, with the Pushgateway's
//! (1.x) API and semantics:
//! - `PUT /metrics/job/<job>{/<label>/<value>}` replaces every family of the group,
//!   `POST` replaces only the pushed families, `DELETE` removes the group (202). A label
//!   written `<label>@base64` takes a URL-safe base64 value (padding optional, `=` alone
//!   is the empty value, spare bits ignored as Go's decoder ignores them); `job@base64`
//!   works too. Paths split as the Pushgateway splits them: `job/j/x/` is `x=""`, a label
//!   given twice takes its last value, a `job` pair is ignored. A base64 value that is not
//!   UTF-8 is refused with 400 (the Pushgateway 1.5.1 accepts it, then fails every push).
//! - Bodies in the text format, or length-delimited protobuf when the `Content-Type`
//!   says so. The grouping labels are set on every pushed sample (overriding pushed
//!   values of those labels, as the Pushgateway does), `instance=""` is added where no
//!   instance label is present.
//! - The Pushgateway's consistency checks: a family whose type differs from the same
//!   family in another group, samples with timestamps, duplicate series (within the
//!   push or with another group), and a family `x_count` or `x_sum` (or `x_bucket`) next
//!   to a summary (or histogram) `x` in any group (the Go client's name collision check;
//!   `x_created` is not checked, as in the Pushgateway 1.5) are refused with 400 and the
//!   reason; nothing stored changes but the group's `push_failure_time_seconds`. Unparseable bodies are refused
//!   with 400 and change nothing.
//! - `push_time_seconds` and `push_failure_time_seconds` gauges per group; `GET /metrics`
//!   (text format, or delimited protobuf when the `Accept` header asks for it, as the
//!   Pushgateway negotiates; no OpenMetrics, which the Pushgateway does not offer either),
//!   `GET /api/v1/metrics` (the Pushgateway's JSON), `GET /api/v1/status`, `/-/healthy`,
//!   `/-/ready`. Status codes are the Pushgateway's: 200 for a push, 202 for a delete, 400
//!   with the reason for a refused push.
//! - `--persistence.file` written atomically (temporary file, sync, rename) and read back
//!   on start. Durability rule: a push or delete is answered only once a write of the file
//!   that includes it has finished, so nothing acknowledged is lost, even to SIGKILL.
//!   Writes are serialized; pushes arriving while one runs share the next (group commit).
//!   What is changed without waiting (the failure time a refused push sets) is written
//!   every `--persistence.interval` and on shutdown (SIGTERM, SIGINT).
//!
//! It is **not** a byte-identical clone: the persistence file is JSON (not the
//! Pushgateway's gob file, which it cannot read); `/metrics` carries no process or Go
//! runtime metrics of the gateway itself and writes no `# TYPE x untyped` lines (its HELP
//! and other TYPE lines are the Pushgateway's); native
//! histograms pushed in protobuf are dropped (their classic buckets are kept); there is
//! no web UI, admin API, lifecycle API, `--push.disable-consistency-check`, route prefix
//! or TLS. Unlike the Pushgateway, which writes its file only at its interval and on
//! shutdown (so SIGKILL loses what was pushed since), every acknowledged push is on disk;
//! the price is a write of the whole store per push (or per group of concurrent pushes).
//! The integration tests check the same pushes against Debian's
//! `prometheus-pushgateway` 1.5.1: same status codes, same sample lines, same protobuf
//! series, same `/api/v1/metrics` JSON but for times.
//!
//! ```
//! use narthex_pushgateway::{Now, Store, parse_grouping_path};
//!
//! let mut store = Store::new();
//! let key = parse_grouping_path("job/backup/instance@base64/ZGI6NTQzMg").unwrap();
//! let body = b"# TYPE backup_bytes gauge\nbackup_bytes{disk=\"a\"} 1024\n";
//! store.push(&key, body, false, true, Now { ms: 1_700_000_000_000, seconds: 1.7e9 }).unwrap();
//!
//! let text = String::from_utf8(store.exposition()).unwrap();
//! assert!(text.contains("backup_bytes{disk=\"a\",instance=\"db:5432\",job=\"backup\"} 1024\n"));
//! assert!(text.contains("push_time_seconds{instance=\"db:5432\",job=\"backup\"} 1.7e+09\n"));
//!
//! // A family pushed with another type by another group is refused; nothing changes.
//! let other = parse_grouping_path("job/other").unwrap();
//! let err = store
//!     .push(&other, b"# TYPE backup_bytes counter\nbackup_bytes 1\n", false, true,
//!           Now { ms: 1_700_000_001_000, seconds: 1.7e9 + 1.0 })
//!     .unwrap_err();
//! assert!(err.to_string().contains("GAUGE"));
//! assert!(!String::from_utf8(store.exposition()).unwrap().contains("backup_bytes{instance=\"\""));
//! ```
//!
//! # Design
//! - [`Store`] is pure (no I/O, the caller passes the time) and holds groups by grouping
//!   key; each group's families are stored as metrics (samples sharing labels), so the
//!   JSON API can show histograms and summaries as the Pushgateway does.
//! - `le` and `quantile` label values are kept in Go's float text (`1`, not `1.0`), as the
//!   Pushgateway writes them.
//! - Families pushed with different help texts are accepted, as the Pushgateway 1.x
//!   accepts them; `/metrics` shows the help of the first group (by grouping key), where
//!   the Pushgateway shows an arbitrary group's, changing from scrape to scrape.

mod path;
mod server;
mod store;

pub use path::{GroupingKey, PathError, decode_base64_url, parse_grouping_path};
pub use server::{AppState, Error, Options, load, parse_interval, router, run};
pub use store::{
    Family, Group, Metric, Now, PUSH_FAILURE_TIME, PUSH_TIME, PushError, Sample, Store,
};
