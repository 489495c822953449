//! Prometheus's HTTP API v1, query side, as an [axum] [`Router`].
//!
//! This crate **is** the API a Prometheus client talks to: `/api/v1/query`,
//! `/api/v1/query_range`, `/api/v1/series`, `/api/v1/labels`,
//! `/api/v1/label/<name>/values`, `/api/v1/format_query`, `/api/v1/parse_query`, the
//! status and discovery endpoints (filled by the server through a [`StatusProvider`]),
//! and `/-/healthy` and `/-/ready`. Answers have Prometheus's shape byte for byte:
//! `{"status":"success","data":...}` with `warnings` and `infos` when there are some,
//! sample values as Go float text in strings, timestamps as float seconds, native
//! histograms with bucket boundary codes, and errors as
//! `{"status":"error","errorType":"bad_data","error":"..."}` with Prometheus's HTTP status
//! codes (400 `bad_data`, 422 `execution`, 503 `timeout`/`canceled`/`unavailable`,
//! 500 `internal`).
//!
//! It is **not** a server: it binds no socket, reads no configuration and owns no
//! targets, rules or TSDB. The server builds an [`ApiState`] over its storage and engine,
//! plugs in its [`StatusProvider`], and serves [`router`] (nested under a prefix if it
//! likes). Remote read/write, admin endpoints, exemplar queries and the OTLP receiver are
//! not here.
//!
//! ```
//! use std::sync::Arc;
//! use narthex_http_api::{router, ApiOptions, ApiState};
//! use narthex_model::Labels;
//! use narthex_promql::{Engine, EngineOptions};
//! use narthex_storage::{Appendable, MemStorage, SeriesRef};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let storage = Arc::new(MemStorage::new());
//! let mut app = storage.appender();
//! let up = Labels::from_pairs([("__name__", "up"), ("job", "api")]);
//! app.append(SeriesRef::UNKNOWN, &up, 1_700_000_000_000, 1.0).unwrap();
//! app.commit().unwrap();
//!
//! let state = ApiState::new(storage, Engine::new(EngineOptions::default()))
//!     .with_options(ApiOptions { max_concurrency: 4, ..ApiOptions::default() });
//! state.ready().set(true);
//! let app: axum::Router = router(state);
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//! let addr = listener.local_addr().unwrap();
//! tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
//!
//! // A bare HTTP/1.0 request, to keep the example free of an HTTP client.
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
//! s.write_all(b"GET /api/v1/query?query=up&time=1700000000 HTTP/1.0\r\n\r\n").await.unwrap();
//! let mut resp = String::new();
//! s.read_to_string(&mut resp).await.unwrap();
//! assert!(resp.ends_with(
//!     r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"api"},"value":[1700000000,"1"]}]}}"#
//! ));
//! # }
//! ```
//!
//! # Design
//! - PromQL runs on blocking threads (`spawn_blocking`): the engine and the storage traits
//!   are synchronous. At most [`ApiOptions::max_concurrency`] queries run at once
//!   (Prometheus's `--query.max-concurrency`); others wait for a slot.
//! - A query stops with `timeout` after the smaller of the `timeout` parameter and
//!   [`narthex_promql::EngineOptions::timeout`], and with `canceled` when the client goes
//!   away (the handler's future is dropped, which cancels the query's
//!   [`narthex_promql::CancelToken`]).
//! - JSON is written by hand, so floats, timestamps and string escapes match Go's (and
//!   jsoniter's standard-library mode) exactly.
//! - Parameters are read as Go's `Request.FormValue` reads them: from a url-encoded POST
//!   body first, then from the URL.
//!
//! # Testing
//! `tests/it/peer.rs` runs Debian's `prometheus` (2.42) and this router over copies of the
//! same blocks and requires byte-identical bodies for instant, range, scalar and string
//! queries, series, labels and label values (Go float text, `\u003c` escapes, UTF-8),
//! and the same status, type and (mostly) text for 30 malformed requests;
//! `tests/it/promtool.rs` drives the router with `promtool query`.
//!
//! # Limits and differences
//! - `stats` gives the timings and sample counts, without
//!   `totalQueryableSamplesPerStep`; `queryPreparationTime` and `resultSortTime` are 0.
//! - `match[]` values that are not plain series selectors get Prometheus's
//!   `unexpected <token>` error, found by re-parsing (checked against Prometheus for the
//!   usual shapes).
//! - `/api/v1/parse_query` follows Prometheus's `translateAST`; experimental
//!   duration expressions in offsets and ranges are shown as `0`, and `alignEvalTime` is
//!   always `false`.
//! - Exponential bucket bounds of schemas above 0 are computed with `exp2` instead of
//!   Prometheus's constant table (equal in all tested cases); the lowest custom bucket
//!   keeps its `-Inf` lower bound.
//! - `/api/v1/query_exemplars` checks its parameters and answers `[]` (the storage traits
//!   carry no exemplar queries yet). Not here at all: `/api/v1/admin/*`, remote read and
//!   write, OTLP, `/api/v1/notifications`, gzip compression of answers, `DELETE
//!   /api/v1/series`.
//! - Status provider answers are written as given: serialise structs in Prometheus's
//!   field order; `serde_json` does not escape `<`, `>` and `&` as Go does.

mod active;
mod ast_json;
mod error;
mod handlers;
mod json;
mod params;
mod status;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::routing::get;
use narthex_promql::Engine;
use narthex_storage::Queryable;

pub use active::{ActiveQuery, ActiveQueryLog};
pub use error::{ApiError, ErrorType};
pub use params::{
    MAX_TIME, MIN_TIME, Params, matcher_sets, parse_duration, parse_time, unescape_name,
};
pub use status::{NoStatus, ProviderResult, RawJson, StatusProvider};

/// Settings of the API.
#[derive(Clone, Debug)]
pub struct ApiOptions {
    /// Most queries evaluated at once (Prometheus's `--query.max-concurrency`, 20).
    pub max_concurrency: usize,
    /// Most points per series a range query may ask for (11,000, as Prometheus).
    pub max_points_per_series: i64,
    /// Most warnings and infos listed per answer; more are summarised (10 each).
    pub max_annotations: usize,
    /// Origins allowed to read API answers from a browser (Prometheus's
    /// `--web.cors.origin`, `.*`; anchored). `None` sends no CORS headers.
    pub cors_origin: Option<narthex_model::FastRegex>,
    /// The active query log (`queries.active`), when the server keeps one.
    pub active_queries: Option<Arc<ActiveQueryLog>>,
    /// Told the timings of every query evaluated (the server's
    /// `prometheus_engine_query_duration_seconds`).
    pub on_query: Option<QueryObserver>,
}

/// How long a query waited and ran, as told to [`ApiOptions::on_query`].
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct QueryTimings {
    /// Waiting for a free slot under [`ApiOptions::max_concurrency`].
    pub queue: std::time::Duration,
    /// Parsing and evaluating (the engine's `elapsed`).
    pub eval: std::time::Duration,
    /// Samples the evaluation touched.
    pub samples: u64,
    /// Whether it ended with an error (its timings are told too).
    pub failed: bool,
}

/// A callback receiving [`QueryTimings`]; called on the thread that evaluated the query.
#[derive(Clone)]
pub struct QueryObserver(pub Arc<dyn Fn(&QueryTimings) + Send + Sync>);

impl std::fmt::Debug for QueryObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QueryObserver(..)")
    }
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            max_concurrency: 20,
            max_points_per_series: 11_000,
            max_annotations: 10,
            cors_origin: narthex_model::FastRegex::new(".*").ok(),
            active_queries: None,
            on_query: None,
        }
    }
}

/// The readiness flag behind `/-/ready`: while it is false, `/-/ready` and every API
/// endpoint answer 503 `Service Unavailable`, as Prometheus does while it starts.
#[derive(Clone, Debug, Default)]
pub struct ReadyFlag(Arc<AtomicBool>);

impl ReadyFlag {
    /// Sets the flag.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    /// Whether the server is ready.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A clock giving "now" in milliseconds since the epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Everything the API needs: the storage, the engine, options, the server's status
/// provider, the readiness flag and a clock. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    /// What queries and lookups read.
    pub storage: Arc<dyn Queryable>,
    /// The PromQL engine (its options give the default timeout, lookback and parser).
    pub engine: Engine,
    /// API settings. Set them with [`ApiState::with_options`], which also sizes the
    /// concurrency limit.
    pub options: ApiOptions,
    /// Targets, rules, alerts, metadata and status pages.
    pub status: Arc<dyn StatusProvider>,
    ready: ReadyFlag,
    clock: Clock,
    slots: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("engine", &self.engine)
            .field("options", &self.options)
            .field("ready", &self.ready.get())
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// A state with default options, no status provider ([`NoStatus`]), the system clock,
    /// and the readiness flag **unset** (call `state.ready().set(true)`).
    pub fn new(storage: Arc<dyn Queryable>, engine: Engine) -> Self {
        let options = ApiOptions::default();
        ApiState {
            storage,
            engine,
            slots: Arc::new(tokio::sync::Semaphore::new(options.max_concurrency.max(1))),
            options,
            status: Arc::new(NoStatus),
            ready: ReadyFlag::default(),
            clock: Arc::new(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64)
            }),
        }
    }

    /// Replaces the options (and resizes the concurrency limit).
    pub fn with_options(mut self, options: ApiOptions) -> Self {
        self.slots = Arc::new(tokio::sync::Semaphore::new(options.max_concurrency.max(1)));
        self.options = options;
        self
    }

    /// Sets the status provider.
    pub fn with_status(mut self, status: Arc<dyn StatusProvider>) -> Self {
        self.status = status;
        self
    }

    /// Sets the clock used for default query times (tests pin it).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Uses this readiness flag (to share one between several routers).
    pub fn with_ready_flag(mut self, ready: ReadyFlag) -> Self {
        self.ready = ready;
        self
    }

    /// The readiness flag; clone it to flip it later.
    pub fn ready(&self) -> &ReadyFlag {
        &self.ready
    }

    /// Queries being evaluated now: slots of [`ApiOptions::max_concurrency`] taken
    /// (Prometheus's `prometheus_engine_queries`).
    pub fn queries_running(&self) -> usize {
        self.options
            .max_concurrency
            .max(1)
            .saturating_sub(self.slots.available_permits())
    }

    /// Now, in milliseconds.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }
}

/// The API's routes: `/api/v1/...`, `/-/healthy` and `/-/ready`. Serve it with
/// `axum::serve`, or `Router::nest` it under a route prefix.
pub fn router(state: ApiState) -> Router {
    use handlers as h;
    use status::Endpoint as E;
    let status = |e: E| {
        move |st: axum::extract::State<ApiState>, req: axum::extract::Request| {
            h::status_endpoint(st, req, e)
        }
    };
    let api = Router::new()
        .route("/api/v1/query", get(h::query).post(h::query))
        .route(
            "/api/v1/query_range",
            get(h::query_range).post(h::query_range),
        )
        .route(
            "/api/v1/format_query",
            get(h::format_query).post(h::format_query),
        )
        .route(
            "/api/v1/parse_query",
            get(h::parse_query).post(h::parse_query),
        )
        .route("/api/v1/series", get(h::series).post(h::series))
        .route("/api/v1/labels", get(h::labels).post(h::labels))
        .route("/api/v1/label/{name}/values", get(h::label_values))
        .route(
            "/api/v1/query_exemplars",
            get(h::query_exemplars).post(h::query_exemplars),
        )
        .route("/api/v1/status/buildinfo", get(status(E::BuildInfo)))
        .route("/api/v1/status/runtimeinfo", get(status(E::RuntimeInfo)))
        .route("/api/v1/status/flags", get(status(E::Flags)))
        .route("/api/v1/status/config", get(status(E::Config)))
        .route("/api/v1/status/tsdb", get(status(E::Tsdb)))
        .route("/api/v1/status/tsdb/blocks", get(status(E::TsdbBlocks)))
        .route("/api/v1/status/walreplay", get(status(E::WalReplay)))
        .route("/api/v1/targets", get(status(E::Targets)))
        .route("/api/v1/targets/metadata", get(status(E::TargetsMetadata)))
        .route("/api/v1/metadata", get(status(E::Metadata)))
        .route("/api/v1/scrape_pools", get(status(E::ScrapePools)))
        .route("/api/v1/alertmanagers", get(status(E::Alertmanagers)))
        .route("/api/v1/rules", get(status(E::Rules)))
        .route("/api/v1/alerts", get(status(E::Alerts)))
        .layer(axum::middleware::from_fn_with_state(
            state.options.cors_origin.clone(),
            h::cors,
        ));
    Router::new()
        .merge(api)
        .route("/-/healthy", get(h::healthy))
        .route("/-/ready", get(h::ready))
        .with_state(state)
}
