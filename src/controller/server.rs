//! `/metrics`, `/healthz` and `/readyz`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::metrics::Metrics;

/// `refresh` updates the gauges that are counted at scrape time rather than on every reconcile.
pub async fn serve(
    address: SocketAddr,
    metrics: Arc<Metrics>,
    refresh: impl Fn() + Clone + Send + Sync + 'static,
    synced: Arc<AtomicBool>,
    standby: Arc<AtomicBool>,
) {
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                refresh();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        metrics.encode(),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || {
                let ready = synced.load(Ordering::SeqCst) || standby.load(Ordering::SeqCst);
                async move {
                    if ready {
                        (StatusCode::OK, "ok").into_response()
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced").into_response()
                    }
                }
            }),
        );
    match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => {
            tracing::info!(%address, "serving /metrics, /healthz, /readyz");
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "metrics server stopped");
            }
        }
        Err(e) => tracing::error!(%address, error = %e, "cannot bind the metrics address"),
    }
}
