//! Serving the routes with the web configuration: basic auth and the
//! configured headers in front of every route, and TLS on the listening
//! socket (each connection handshaken with the configuration in force when
//! it arrives). A plain-HTTP request to the TLS port is answered as Go's
//! server answers it (`400 Bad Request`, "Client sent an HTTP request to an
//! HTTPS server.") and the connection closed.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    sync::mpsc,
    task::JoinHandle,
};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tracing::{debug, warn};

use super::{auth::BasicAuth, reload::WebState};

/// A client has this long to complete its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What Go's HTTPS server answers to plain HTTP.
pub const PLAIN_HTTP_ANSWER: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// Serves `app` on `listener` until `shutdown` resolves: as before when
/// `web` is `None`; otherwise with its users, headers and TLS.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    web: Option<Arc<WebState>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let Some(web) = web else {
        return axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
    };
    let app = guarded(app, web.clone());
    if web.tls() {
        axum::serve(TlsListener::new(listener, web), app)
            .with_graceful_shutdown(shutdown)
            .await
    } else {
        if !web.current().config.users.is_empty() {
            warn!(
                "basic auth without TLS: passwords cross the network in clear; add tls_server_config to the web config file"
            );
        }
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// `app` behind basic auth and with the configured headers.
pub fn guarded(app: Router, web: Arc<WebState>) -> Router {
    let guard = Arc::new(Guard {
        web,
        auth: BasicAuth::new(),
    });
    app.layer(axum::middleware::from_fn_with_state(guard, check))
}

struct Guard {
    web: Arc<WebState>,
    auth: BasicAuth,
}

async fn check(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let loaded = g.web.current();
    let users = &loaded.config.users;
    let mut resp = match g
        .auth
        .check(users, req.headers().get(header::AUTHORIZATION))
        .await
    {
        Ok(()) => next.run(req).await,
        Err(denied) => {
            debug!(?denied, path = %crate::event::escape(req.uri().path()), "refused: basic auth");
            (
                StatusCode::UNAUTHORIZED,
                [(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"pxe-monitor\""),
                )],
                "Unauthorized\n",
            )
                .into_response()
        }
    };
    for (name, value) in &loaded.config.headers {
        resp.headers_mut().insert(name.clone(), value.clone());
    }
    resp
}

/// The TLS connections of a TCP listener, for `axum::serve`: a task
/// accepts, and each connection's first bytes and handshake are handled in
/// a task of its own, so that a slow client holds up no other.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    acceptor: JoinHandle<()>,
}

impl TlsListener {
    pub fn new(listener: TcpListener, web: Arc<WebState>) -> TlsListener {
        let local = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (tx, ready) = mpsc::channel(64);
        let acceptor = tokio::spawn(accept_loop(listener, web, tx));
        TlsListener {
            ready,
            local,
            acceptor,
        }
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accepting task ended (it does not, short of a panic).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    listener: TcpListener,
    web: Arc<WebState>,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let (web, ready) = (web.clone(), ready.clone());
                tokio::spawn(async move {
                    if let Some(tls) = handshake(stream, peer, &web).await {
                        let _ = ready.send((tls, peer)).await;
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: wait, then go on.
                warn!(error = %e, "accepting a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The TLS stream of a new connection; `None` (connection closed) for a
/// failed or timed-out handshake, and for plain HTTP, which gets Go's 400.
async fn handshake(
    stream: TcpStream,
    peer: SocketAddr,
    web: &WebState,
) -> Option<TlsStream<TcpStream>> {
    let Some(config) = web.current().tls.clone() else {
        warn!("TLS listener without a TLS configuration");
        return None;
    };
    let result = tokio::time::timeout(HANDSHAKE_TIMEOUT, async move {
        let mut first = [0u8; 1];
        match stream.peek(&mut first).await {
            Ok(1..) if first[0] == TLS_HANDSHAKE => {}
            Ok(1..) if first[0].is_ascii_uppercase() => {
                refuse_plain_http(stream).await;
                return Err("plain HTTP".to_owned());
            }
            Ok(_) => return Err("not TLS".to_owned()),
            Err(e) => return Err(e.to_string()),
        }
        match TlsAcceptor::from(config)
            .accept(stream)
            .into_fallible()
            .await
        {
            Ok(tls) => Ok(tls),
            Err((e, io)) => {
                linger(io).await;
                Err(e.to_string())
            }
        }
    })
    .await;
    match result {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "TLS connection refused");
            None
        }
        Err(_) => {
            debug!(%peer, "TLS handshake timed out");
            None
        }
    }
}

/// After a failed handshake (the alert sent): what the client sends is read
/// and dropped for a moment before closing. With TLS 1.3 a client learns
/// that its certificate was refused only after sending its request; closed
/// at once, the connection is reset under that request and the client
/// (Prometheus) reports "broken pipe" instead of the TLS alert.
async fn linger(mut io: TcpStream) {
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Ok(1..) = io.read(&mut sink).await {}
    })
    .await;
}

/// Answers a plain-HTTP request on the TLS port: the request head is read
/// first (so that closing does not reset the connection before the client
/// reads the answer), then Go's answer, then the connection is closed.
pub async fn refuse_plain_http(mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while head.len() < 8192 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let _ = stream.write_all(PLAIN_HTTP_ANSWER).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `request` to `addr`, returns everything answered.
    async fn exchange(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
            .await
            .expect("answered and closed")
            .unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn plain_http_to_the_tls_port_gets_gos_400_and_is_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut first = [0u8; 1];
            s.peek(&mut first).await.unwrap();
            assert_ne!(first[0], TLS_HANDSHAKE);
            refuse_plain_http(s).await;
        });
        let answer = exchange(
            addr,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nUser-Agent: Prometheus/2.42.0\r\n\r\n",
        )
        .await;
        assert_eq!(
            answer,
            "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
        );
        server.await.unwrap();
    }

    /// A web config file of `text` in a directory of the test's own.
    fn web_file(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("pxe-web-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("web.yml");
        std::fs::write(&f, text).unwrap();
        f
    }

    #[tokio::test]
    async fn the_routes_need_a_user_the_headers_are_added_and_a_changed_file_is_taken() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let file = web_file(
            "auth",
            &format!(
                "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n\
                 basic_auth_users:\n  prometheus: '{hash}'\n"
            ),
        );
        let web = Arc::new(WebState::load(&file).unwrap());
        assert!(!web.tls());
        let app = Router::new().route("/metrics", axum::routing::get(|| async { "pxe_up 1\n" }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener, app, Some(web), std::future::pending()));
        let get = |auth: Option<&str>| {
            let auth = auth
                .map(|a| {
                    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, a);
                    format!("Authorization: Basic {b64}\r\n")
                })
                .unwrap_or_default();
            format!("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}\r\n")
        };
        let missing = exchange(addr, &get(None)).await;
        assert!(missing.starts_with("HTTP/1.1 401 "), "{missing}");
        let lower = missing.to_ascii_lowercase();
        assert!(lower.contains("\r\nwww-authenticate: basic"), "{missing}");
        assert!(
            lower.contains("\r\nx-content-type-options: nosniff"),
            "{missing}"
        );
        // Paths without a route too: nothing is told without a user.
        let other = exchange(
            addr,
            "GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(other.starts_with("HTTP/1.1 401 "), "{other}");
        let wrong = exchange(addr, &get(Some("prometheus:S3cret"))).await;
        assert!(wrong.starts_with("HTTP/1.1 401 "), "{wrong}");
        let ok = exchange(addr, &get(Some("prometheus:s3cret"))).await;
        assert!(
            ok.starts_with("HTTP/1.1 200 ") && ok.ends_with("pxe_up 1\n"),
            "{ok}"
        );
        assert!(
            ok.to_ascii_lowercase()
                .contains("x-content-type-options: nosniff")
        );

        // The password changes in the file: the next request sees it.
        let new = bcrypt::hash("n3w", 4).unwrap();
        std::fs::write(&file, format!("basic_auth_users:\n  prometheus: '{new}'\n")).unwrap();
        let old = exchange(addr, &get(Some("prometheus:s3cret"))).await;
        assert!(old.starts_with("HTTP/1.1 401 "), "{old}");
        let ok = exchange(addr, &get(Some("prometheus:n3w"))).await;
        assert!(ok.starts_with("HTTP/1.1 200 "), "{ok}");
        assert!(
            !ok.to_ascii_lowercase().contains("x-content-type-options"),
            "{ok}"
        );
        // A broken file: logged, the last good one stays in force.
        std::fs::write(&file, "basic_auth_users:\n  prometheus: plain\n").unwrap();
        let ok = exchange(addr, &get(Some("prometheus:n3w"))).await;
        assert!(ok.starts_with("HTTP/1.1 200 "), "{ok}");
        // A file turning TLS on (its certificate unreadable): refused, the
        // last good one stays.
        std::fs::write(&file, "tls_server_config:\n  cert_file: a\n  key_file: b\n").unwrap();
        let ok = exchange(addr, &get(Some("prometheus:n3w"))).await;
        assert!(ok.starts_with("HTTP/1.1 200 "), "{ok}");
        server.abort();
        std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
    }
}
