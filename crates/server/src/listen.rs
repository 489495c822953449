//! The web listener: binds `--web.listen-address` and serves a router on it until told to
//! stop. Every mode of the server (full server, agent) goes through here, so the web
//! configuration file (`--web.config.file`: TLS, basic authentication, headers, rate
//! limit) applies to all of them.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cli::ServerArgs;
use crate::webconfig::WebConfigSource;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound listener, not yet serving.
pub(crate) struct Listener {
    tcp: tokio::net::TcpListener,
    web: Option<Arc<WebConfigSource>>,
    tls: bool,
}

/// Loads the web configuration file named by the flags (refusing an invalid one, as
/// Prometheus does) and binds the listen address.
pub(crate) async fn bind(args: &ServerArgs) -> Result<Listener, String> {
    let web = match &args.web_config_file {
        Some(path) => Some(WebConfigSource::open(path).map_err(|e| {
            format!(
                "unable to validate web configuration file {}: {e}",
                path.display()
            )
        })?),
        None => None,
    };
    let (tls, http2) = match web.as_ref().map(|w| w.current()) {
        Some(Ok(c)) => (c.tls.is_some(), c.tls.is_some() && c.http2),
        _ => (false, false),
    };
    let tcp = tokio::net::TcpListener::bind(&args.listen_address)
        .await
        .map_err(|e| format!("listening on {}: {e}", args.listen_address))?;
    tracing::info!(address = %args.listen_address, "listening");
    if tls {
        tracing::info!(http2, "TLS is enabled");
    } else {
        tracing::info!(http2, "TLS is disabled");
    }
    Ok(Listener { tcp, web, tls })
}

impl Listener {
    /// Serves `app` until `stop` turns true (or its sender goes away); in-flight
    /// requests are finished first.
    pub(crate) fn serve(self, app: Router, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        let app = match &self.web {
            Some(web) => app.layer(axum::middleware::from_fn_with_state(
                Arc::clone(web),
                crate::webconfig::guard,
            )),
            None => app,
        };
        if let (true, Some(web)) = (self.tls, self.web) {
            return tokio::spawn(serve_tls(self.tcp, web, app, stop));
        }
        tokio::spawn(async move {
            let shutdown = async move { drop(stop.wait_for(|s| *s).await) };
            if let Err(e) = axum::serve(self.tcp, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "web listener failed");
            }
        })
    }
}

/// The TLS accept loop: each connection gets the TLS settings in force when it arrives
/// (so renewed certificates apply without a restart), then HTTP/1.1 or HTTP/2 as ALPN
/// chose.
async fn serve_tls(
    tcp: tokio::net::TcpListener,
    web: Arc<WebConfigSource>,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            r = tcp.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = async { drop(stop.wait_for(|s| *s).await) } => break,
        };
        let cfg = match web.current() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "web config file unusable; connection refused");
                continue;
            }
        };
        let Some(tls) = cfg.tls.clone() else {
            tracing::error!("TLS was removed from the web config file; connection refused");
            continue;
        };
        let http2 = cfg.http2;
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let acceptor = tokio_rustls::TlsAcceptor::from(tls);
            let stream =
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            let mut builder = auto::Builder::new(TokioExecutor::new());
            if !http2 {
                builder = builder.http1_only();
            }
            let svc = TowerToHyperService::new(app);
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
            if let Err(e) = watcher.watch(conn.into_owned()).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(tcp);
    // In-flight requests finish; idle keep-alive connections close.
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after 30s; closing them");
    }
}
