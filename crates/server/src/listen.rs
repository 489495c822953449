//! The web listener: binds `--web.listen-address` and serves a router on it until told to
//! stop. Every mode of the server (full server, agent) goes through here, so listener
//! options such as the web config file apply to all of them.

use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::cli::ServerArgs;

/// A bound listener, not yet serving.
pub(crate) struct Listener {
    tcp: tokio::net::TcpListener,
}

/// Binds the listen address given by the flags.
pub(crate) async fn bind(args: &ServerArgs) -> Result<Listener, String> {
    let tcp = tokio::net::TcpListener::bind(&args.listen_address)
        .await
        .map_err(|e| format!("listening on {}: {e}", args.listen_address))?;
    tracing::info!(address = %args.listen_address, "listening");
    Ok(Listener { tcp })
}

impl Listener {
    /// Serves `app` until `stop` turns true (or its sender goes away); in-flight
    /// requests are finished first.
    pub(crate) fn serve(self, app: Router, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(self.tcp, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "web listener failed");
            }
        })
    }
}
