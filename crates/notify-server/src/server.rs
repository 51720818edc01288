//! Running the router on a socket, plain or with TLS (rustls with the `ring` provider), until a
//! shutdown future resolves; then in-flight requests get the grace period to finish.

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use axum_server::Handle;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use notify_core::Storage;

use crate::config::Config;
use crate::retention;
use crate::router::router_with_state;
use crate::state::AppState;

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The certificate or key cannot be loaded.
    #[error("cannot load the TLS certificate {cert} and key {key}: {source}")]
    Tls {
        /// Certificate file.
        cert: String,
        /// Key file.
        key: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// Binds the configured address.
pub fn bind(config: &Config) -> Result<TcpListener, ServeError> {
    let listener = TcpListener::bind(config.listen)
        .map_err(|source| ServeError::Bind { addr: config.listen, source })?;
    listener.set_nonblocking(true).map_err(|source| ServeError::Bind { addr: config.listen, source })?;
    Ok(listener)
}

/// Serves on `listener` until `shutdown` resolves, then waits up to the configured grace
/// period for in-flight requests. With a `log_retention`, prunes the event log meanwhile (see
/// [`retention`]).
pub async fn serve(
    config: &Config,
    store: Arc<dyn Storage>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let state = AppState::new(config, store);
    // Dropped with `serve`'s future: a slice being pruned is its own transaction.
    let _pruner = state.retention().map(|r| {
        tracing::info!(retention = %humantime::format_duration(r.period()), "pruning the event log");
        AbortOnDrop(tokio::spawn(retention::run(state.store().clone(), r, state.metrics().clone())))
    });
    let app = router_with_state(config, state).into_make_service();
    let handle = Handle::new();
    let grace = config.shutdown_grace;
    let on_shutdown = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        on_shutdown.graceful_shutdown(Some(grace));
    });
    let local = listener.local_addr()?;
    match &config.tls {
        None => {
            tracing::info!(address = %local, webhook = %config.webhook.path, "listening (http)");
            axum_server::from_tcp(listener).handle(handle).serve(app).await?;
        }
        Some(tls) => {
            // rustls needs a process-wide crypto provider; ring builds without cmake or a C
            // toolchain beyond cc. Installing twice (tests) is harmless.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let rustls =
                RustlsConfig::from_pem_file(&tls.cert_file, &tls.key_file).await.map_err(|source| {
                    ServeError::Tls {
                        cert: tls.cert_file.display().to_string(),
                        key: tls.key_file.display().to_string(),
                        source,
                    }
                })?;
            tracing::info!(address = %local, webhook = %config.webhook.path, "listening (https)");
            axum_server::from_tcp(listener)
                .acceptor(RustlsAcceptor::new(rustls))
                .handle(handle)
                .serve(app)
                .await?;
        }
    }
    tracing::info!("server stopped");
    Ok(())
}

/// A spawned task that ends with its owner.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
