//! The HTTP server: axum routes over a shared [`Store`], periodic and final persistence.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use narthex_exposition::{Format, negotiate};

use crate::path::{parse_grouping_path, percent_decode};
use crate::store::{Now, PushError, Store};

/// How [`run`] is configured: the Pushgateway's flags.
#[derive(Clone, Debug)]
pub struct Options {
    /// `--web.listen-address`: `host:port`, or `:port` for every interface.
    pub listen_address: String,
    /// `--persistence.file`: where the store is saved; `None` keeps it in memory only.
    pub persistence_file: Option<PathBuf>,
    /// `--persistence.interval`: how often a changed store is written.
    pub persistence_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen_address: ":9091".into(),
            persistence_file: None,
            persistence_interval: Duration::from_secs(300),
        }
    }
}

/// Parses `--persistence.interval`: a Prometheus duration (`5m`, `1h30m`, `500ms`), as
/// a clap value parser.
///
/// ```
/// assert_eq!(narthex_pushgateway::parse_interval("5m").unwrap().as_secs(), 300);
/// assert!(narthex_pushgateway::parse_interval("soon").is_err());
/// ```
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let ms = narthex_model::parse_duration(s).map_err(|e| e.to_string())?;
    Ok(Duration::from_millis(ms.max(0) as u64))
}

/// Why [`run`] failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The persistence file exists but cannot be read or decoded.
    #[error("loading persistence file {path}: {message}")]
    Load {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Writing the persistence file failed.
    #[error("writing persistence file {path}: {source}")]
    Persist {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Binding or serving failed, or the runtime could not start.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The store and its generation: the number of changes made to it since the start.
struct Versioned {
    store: Store,
    generation: u64,
}

/// Shared state of the HTTP handlers.
///
/// Writes of the persistence file are serialized by `written` (the generation the file on
/// disk holds), so two writes never share the temporary file. A push waits until a write
/// that includes its change has finished: while one write runs, the pushes arriving
/// meanwhile queue on `written`, and the first of them writes the store with all of their
/// changes, the others find their generation written and return (group commit).
pub struct AppState {
    store: Mutex<Versioned>,
    written: Mutex<u64>,
    options: Options,
    start_ms: i64,
}

impl AppState {
    /// State over `store` for a server configured by `options`.
    pub fn new(store: Store, options: Options) -> Arc<AppState> {
        Arc::new(AppState {
            store: Mutex::new(Versioned {
                store,
                generation: 0,
            }),
            written: Mutex::new(0),
            options,
            start_ms: Now::system().ms,
        })
    }

    fn versioned(&self) -> MutexGuard<'_, Versioned> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `change` on the store and counts it as a change when it returns `true`; the
    /// generation after it, to wait for with [`AppState::persist_through`].
    fn change<T>(&self, change: impl FnOnce(&mut Store) -> (T, bool)) -> (T, u64) {
        let mut v = self.versioned();
        let (out, changed) = change(&mut v.store);
        if changed {
            v.generation += 1;
        }
        (out, v.generation)
    }

    /// Writes the store to the persistence file if it changed since the last write.
    pub fn persist_if_dirty(&self) -> Result<(), Error> {
        let generation = self.versioned().generation;
        self.persist_through(generation)
    }

    /// Returns once the persistence file holds generation `generation` or a later one,
    /// writing it if no other write has; without a persistence file at once.
    fn persist_through(&self, generation: u64) -> Result<(), Error> {
        let Some(path) = &self.options.persistence_file else {
            return Ok(());
        };
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if *written >= generation {
            return Ok(());
        }
        let (bytes, current) = {
            let v = self.versioned();
            (v.store.to_bytes(), v.generation)
        };
        write_atomically(path, &bytes).map_err(|source| Error::Persist {
            path: path.clone(),
            source,
        })?;
        *written = current;
        Ok(())
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory, synced and
/// renamed into place, so a crash leaves the old or the new file, never a torn one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Loads the store from `path`; an absent file is an empty store.
pub fn load(path: &Path) -> Result<Store, Error> {
    match std::fs::read(path) {
        Ok(bytes) => Store::from_bytes(&bytes).map_err(|e| Error::Load {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Store::new()),
        Err(e) => Err(Error::Load {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
    }
}

/// The Pushgateway's HTTP API over `state`: `PUT`/`POST`/`DELETE /metrics/job/...`,
/// `GET /metrics`, `GET /api/v1/metrics`, `GET /api/v1/status`, `/-/healthy`, `/-/ready`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/metrics/{*rest}", any(push))
        .route("/api/v1/metrics", get(api_metrics))
        .route("/api/v1/status", get(api_status))
        .route("/-/healthy", get(ok))
        .route("/-/ready", get(ok))
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn ok() -> &'static str {
    "OK"
}

async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    // Text or delimited protobuf, as the Pushgateway negotiates (it offers no OpenMetrics).
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = match negotiate(accept) {
        Format::Protobuf => Format::Protobuf,
        _ => Format::PrometheusText,
    };
    let body = if format == Format::Protobuf {
        state.versioned().store.protobuf_exposition()
    } else {
        state.versioned().store.exposition()
    };
    ([(header::CONTENT_TYPE, format.content_type())], body).into_response()
}

async fn push(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let bad = |msg: String| (StatusCode::BAD_REQUEST, msg).into_response();
    let Some(rest) = uri.path().strip_prefix("/metrics/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let decoded = match percent_decode(rest) {
        Ok(d) => d,
        Err(e) => return bad(e.to_string()),
    };
    let key = match parse_grouping_path(&decoded) {
        Ok(k) => k,
        Err(crate::PathError::NoJob) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => return bad(e.to_string()),
    };
    let replace = match method {
        Method::PUT => true,
        Method::POST => false,
        Method::DELETE => {
            let ((), generation) = state.change(|s| ((), s.delete(&key)));
            return match persist_through(&state, generation).await {
                Ok(()) => StatusCode::ACCEPTED.into_response(),
                Err(r) => r,
            };
        }
        _ => return StatusCode::METHOD_NOT_ALLOWED.into_response(),
    };
    let protobuf = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(Format::from_content_type)
        == Some(Format::Protobuf);
    // Parsed before the store's lock is taken, so concurrent pushes parse in parallel; an
    // unparsable body changes nothing, a refused one the group's failure time.
    let parsed = match Store::parse(&body, protobuf) {
        Ok(p) => p,
        Err(e) => return bad(e.to_string()),
    };
    let (result, generation) =
        state.change(|s| (s.push_parsed(&key, parsed, replace, Now::system()), true));
    match result {
        Ok(()) => match persist_through(&state, generation).await {
            Ok(()) => StatusCode::OK.into_response(),
            Err(r) => r,
        },
        // Not waited for: only the failure time changed, which the next interval or
        // shutdown write saves.
        Err(e @ PushError::Inconsistent(_)) => {
            tracing::debug!(error = %e, "push refused");
            bad(e.to_string())
        }
        Err(e) => bad(e.to_string()),
    }
}

/// With a persistence file, waits until it holds `generation` before a change is
/// acknowledged: a push that got its 200 survives a crash (the Pushgateway itself only
/// writes at its interval). Pushes arriving during a write share the next one.
async fn persist_through(state: &Arc<AppState>, generation: u64) -> Result<(), Response> {
    if state.options.persistence_file.is_none() {
        return Ok(());
    }
    let s = Arc::clone(state);
    match tokio::task::spawn_blocking(move || s.persist_through(generation)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()),
        Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()),
    }
}

async fn api_metrics(State(state): State<Arc<AppState>>) -> Response {
    let data = state.versioned().store.api_metrics();
    json(serde_json::json!({"status": "success", "data": data}))
}

async fn api_status(State(state): State<Arc<AppState>>) -> Response {
    let o = &state.options;
    let file = o
        .persistence_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    json(serde_json::json!({
        "status": "success",
        "data": {
            "build_information": {
                "version": env!("CARGO_PKG_VERSION"),
                "branch": "",
                "revision": "",
                "buildUser": "",
                "buildDate": "",
                "goVersion": "",
            },
            "flags": {
                "web.listen-address": o.listen_address,
                "persistence.file": file,
                "persistence.interval": narthex_model::format_duration(
                    o.persistence_interval.as_millis() as i64
                ),
                "web.telemetry-path": "/metrics",
            },
            "start_time": narthex_model::time::format_rfc3339(state.start_ms),
        }
    }))
}

fn json(v: serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(&v).unwrap_or_default(),
    )
        .into_response()
}

/// The socket address for a Go-style listen address (`:9091` means every interface).
fn socket_address(listen: &str) -> String {
    if listen.starts_with(':') {
        format!("0.0.0.0{listen}")
    } else {
        listen.to_string()
    }
}

/// Runs the Pushgateway until SIGINT or SIGTERM: loads the persistence file, serves,
/// writes the file every interval when something changed, and once more on shutdown.
/// Blocking: builds its own tokio runtime.
pub fn run(options: Options) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(serve(options))
}

async fn serve(options: Options) -> Result<(), Error> {
    let store = match &options.persistence_file {
        Some(p) => load(p)?,
        None => Store::new(),
    };
    let listener = tokio::net::TcpListener::bind(socket_address(&options.listen_address)).await?;
    tracing::info!(address = %listener.local_addr()?, "pushgateway listening");
    let state = AppState::new(store, options.clone());
    let persister = {
        let state = state.clone();
        let every = options.persistence_interval.max(Duration::from_millis(10));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let s = state.clone();
                let r = tokio::task::spawn_blocking(move || s.persist_if_dirty()).await;
                if let Ok(Err(e)) = r {
                    tracing::error!(error = %e, "persisting failed");
                }
            }
        })
    };
    axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    persister.abort();
    state.persist_if_dirty()?;
    tracing::info!("pushgateway stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(socket_address(":9091"), "0.0.0.0:9091");
        assert_eq!(socket_address("127.0.0.1:1"), "127.0.0.1:1");
    }

    #[test]
    fn persistence_round_trip() {
        let dir = std::env::temp_dir().join(format!("narthex-pg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pg.json");
        let mut store = Store::new();
        let key = parse_grouping_path("job/x").unwrap();
        store
            .push(&key, b"a NaN\nb +Inf\n", false, true, Now::system())
            .unwrap();
        let state = AppState::new(
            store.clone(),
            Options {
                persistence_file: Some(file.clone()),
                ..Options::default()
            },
        );
        assert!(!file.exists(), "nothing changed yet");
        state.change(|_| ((), true));
        state.persist_if_dirty().unwrap();
        let back = load(&file).unwrap();
        assert_eq!(back.exposition(), store.exposition());
        assert!(load(&dir.join("absent")).unwrap().groups().next().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
