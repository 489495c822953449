//! Prometheus-compatible scraping.
//!
//! This crate **is** the part of Narthex that pulls metrics: it turns discovered target
//! groups into targets (Prometheus's default labels and `relabel_configs`), runs one loop
//! per target spread over the interval, fetches bodies over HTTP with Prometheus's `Accept`
//! header and timeout header, parses them with `narthex-exposition`, and appends through
//! the `narthex-storage` traits: target labels (`honor_labels`), timestamps
//! (`honor_timestamps`), metric relabelling, limits with Prometheus's error texts, the
//! report series (`up`, `scrape_duration_seconds`, ...), and staleness markers when a
//! series or a target goes away.
//!
//! It is **not** service discovery (`narthex-discovery` produces the target groups) nor a
//! configuration parser (`narthex-config` produces the [`ScrapeOptions`]); the server wires
//! them together. The HTTP part needs a Tokio runtime; [`ScrapeCache::append_body`], the
//! part that turns a body into appends, is synchronous.
//!
//! ```
//! use narthex_exposition::Format;
//! use narthex_model::labels;
//! use narthex_scrape::{ScrapeCache, ScrapeOptions, populate};
//! use narthex_storage::{Appendable, MemStorage};
//!
//! let opts = ScrapeOptions { job: "node".into(), ..ScrapeOptions::default() };
//! let (_, target) = populate(&labels! { "__address__" => "10.0.0.1:9100" }, &labels! {}, &opts);
//! let target = target.unwrap().unwrap();
//! let storage = MemStorage::new();
//! let mut cache = ScrapeCache::new();
//! let mut app = storage.appender();
//! let body = b"# TYPE temp gauge\ntemp{instance=\"x\"} 21.5\n";
//! let stats = cache
//!     .append_body(&mut *app, body, Format::PrometheusText, &target, &opts, 1_000)
//!     .unwrap();
//! app.commit().unwrap();
//! assert_eq!((stats.scraped, stats.added), (1, 1));
//! ```

mod append;
mod metrics;
mod native;
mod pool;
mod scraper;
mod target;

pub use append::{AppendStats, REPORT_NAMES, ScrapeCache, ScrapeError, body_format, sample_labels};
pub use metrics::{IntervalObserver, ScrapeMetrics};
pub use pool::{
    ActiveTarget, DroppedTarget, Health, ScrapeManager, ScrapePool, SharedStorage, TargetStatus,
};
pub use scraper::{Fetched, Scraper};
pub use target::{Protocol, ScrapeOptions, Target, TargetError, accept_header, populate};
