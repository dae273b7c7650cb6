//! The HTTP server's routes: `/` (the landing page), `/metrics`
//! (Prometheus text format), `/healthz`, and `/api/sessions` (the recent
//! verdicts, in the JSON format of `replay`).

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Json, Router,
    extract::{Query, State},
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use prometheus::{Encoder, Registry, TextEncoder};
use tokio::net::TcpListener;

use crate::{metrics::servers::ServerMetrics, page};

#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<Registry>,
    pub sessions: Arc<crate::recent::Recent>,
    /// The servers' warnings, for the landing page.
    pub servers: ServerMetrics,
    pub about: Arc<page::About>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/api/sessions", get(sessions))
        .with_state(state)
}

async fn index(State(state): State<AppState>) -> impl IntoResponse {
    let recent = state.sessions.snapshot(None);
    let page = page::render(&state.about, &recent, &state.servers.active());
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page)
}

#[derive(serde::Deserialize)]
struct SessionsQuery {
    outcome: Option<String>,
}

/// Recent sessions, newest first, in the replay's JSON format.
async fn sessions(
    State(state): State<AppState>,
    Query(q): Query<SessionsQuery>,
) -> axum::response::Response {
    use crate::verdict::Outcome;
    let outcome = match q.outcome.as_deref().map(|l| (l, Outcome::from_label(l))) {
        None => None,
        Some((_, Some(o))) => Some(o),
        Some((other, None)) => {
            let known: Vec<&str> = Outcome::ALL.iter().map(|o| o.label()).collect();
            let msg = format!(
                "unknown outcome {:?}: one of {}\n",
                crate::event::escape(other),
                known.join(", ")
            );
            return (StatusCode::BAD_REQUEST, msg).into_response();
        }
    };
    let list = state.sessions.snapshot(outcome);
    let body: Vec<_> = list.iter().map(crate::report::SessionJson::new).collect();
    Json(body).into_response()
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    match encoder.encode(&state.registry.gather(), &mut body) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
            body,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain".to_owned())],
            format!("encoding metrics: {e}\n").into_bytes(),
        ),
    }
}

/// Binds `addr`, failing with a message that names the address.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        anyhow::anyhow!("cannot listen on {addr}: {e} (choose another with --listen ADDR:PORT)")
    })
}
