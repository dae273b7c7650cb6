//! Delivery of the failure-spike alert to an Alertmanager's v2 alerts API
//! (reqwest over rustls), in a task of its own fed by a channel, so that
//! nothing waits for the receiver: each change is retried with backoff
//! while Alertmanager is down or refuses it, and a firing alert is re-sent
//! every minute (as Prometheus does), each time valid for four more, so
//! that Alertmanager keeps it while the agent runs and resolves it on its
//! own if the agent goes away.

use std::{
    error::Error as _,
    time::{Duration, SystemTime},
};

use reqwest::{StatusCode, redirect};
use rustls::CertificateError;
use tokio::{sync::mpsc, time::Instant};
use tracing::{debug, info, warn};

use super::{
    AlertChange,
    body::{Alert, Source},
    config::{BasicAuth, Settings},
    tls,
};
use crate::{event::escape, metrics::alerts::DeliveryMetrics};

/// Could not make the HTTP client (a TLS setting rustls refuses).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("TLS configuration: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Why one POST failed, with what to check.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("Alertmanager answered {status}{}: {body}", hint_text(*.hint))]
    Status {
        status: StatusCode,
        /// The start of its answer, escaped.
        body: String,
        hint: Option<&'static str>,
    },
    #[error("{chain}{}", hint_text(*.hint))]
    Transport {
        /// The error and its causes, `: `-separated.
        chain: String,
        hint: Option<&'static str>,
    },
}

fn hint_text(hint: Option<&'static str>) -> String {
    hint.map_or_else(String::new, |h| format!(" ({h})"))
}

/// An HTTP client for one Alertmanager.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    settings: Settings,
}

impl Client {
    pub fn new(settings: Settings) -> Result<Client, ClientError> {
        let https = settings.url.scheme() == "https";
        let tls = tls::client_config(&settings.tls, https)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // As Prometheus: no proxy from the environment, and a
            // redirect is an answer to report, not to follow with a POST.
            .no_proxy()
            .redirect(redirect::Policy::none())
            .user_agent(concat!("pxe-monitor/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client { http, settings })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// POSTs `body` (a JSON array of alerts).
    pub async fn post(&self, body: &serde_json::Value) -> Result<StatusCode, DeliveryError> {
        let mut req = self
            .http
            .post(self.settings.url.clone())
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(BasicAuth { username, password }) = &self.settings.basic_auth {
            req = req.basic_auth(username, Some(password.expose()));
        }
        let resp = req.send().await.map_err(|e| self.transport(&e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(status);
        }
        let text = resp.text().await.unwrap_or_default();
        let body: String = text.trim().chars().take(200).collect();
        Err(DeliveryError::Status {
            status,
            body: escape(&body).into_owned(),
            hint: status_hint(status, self.settings.basic_auth.is_some()),
        })
    }

    fn transport(&self, e: &reqwest::Error) -> DeliveryError {
        let mut chain = e.to_string();
        let mut cause = e.source();
        let mut tls = None;
        while let Some(c) = cause {
            chain.push_str(": ");
            chain.push_str(&c.to_string());
            tls = tls.or_else(|| rustls_error(c).cloned());
            cause = c.source();
        }
        let hint = if e.is_timeout() {
            Some("no answer within the timeout: is the host reachable?")
        } else if let Some(t) = tls {
            tls_hint(&t, &self.settings)
        } else if e.is_connect() {
            Some("is Alertmanager running and listening at that address?")
        } else {
            None
        };
        DeliveryError::Transport { chain, hint }
    }
}

/// The rustls error in a chain (inside `io::Error`s, whose `source`
/// skips what they wrap).
fn rustls_error<'a>(mut e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    loop {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        e = e.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}

fn status_hint(status: StatusCode, has_auth: bool) -> Option<&'static str> {
    match status {
        StatusCode::UNAUTHORIZED if has_auth => Some(
            "check basic_auth's username and password in --alertmanager-config against the server's web config",
        ),
        StatusCode::UNAUTHORIZED => {
            Some("it wants credentials: set basic_auth in --alertmanager-config")
        }
        StatusCode::FORBIDDEN => Some("the credentials are not allowed to post alerts"),
        StatusCode::NOT_FOUND => Some(
            "no alerts API at that path: check the path prefix of --alertmanager-url (Alertmanager's --web.route-prefix)",
        ),
        s if s.is_redirection() => Some(
            "redirected: give --alertmanager-url the address it redirects to (scheme and prefix)",
        ),
        _ => None,
    }
}

fn tls_hint(e: &rustls::Error, s: &Settings) -> Option<&'static str> {
    use rustls::Error::*;
    Some(match e {
        InvalidCertificate(CertificateError::UnknownIssuer) if s.tls.ca.is_some() => {
            "the server's certificate is not signed by the CA in tls_config.ca_file"
        }
        InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the server's certificate is not signed by a CA of this system: set tls_config.ca_file to the CA that signed it"
        }
        InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => {
            "the server's certificate does not name the URL's host: use a name it carries, or set tls_config.server_name"
        }
        InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => {
            "the server's certificate is outside its validity period (or this host's clock is wrong)"
        }
        AlertReceived(_) if s.tls.identity.is_none() => {
            "the server ended the handshake: does it want a client certificate (tls_config.cert_file and key_file)?"
        }
        AlertReceived(_) => {
            "the server ended the handshake: does it trust the CA of tls_config.cert_file?"
        }
        InvalidMessage(_) => "no TLS there: is it an http:// address?",
        _ => return None,
    })
}

/// When to re-send and retry.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// A firing alert is re-sent this often...
    pub resend: Duration,
    /// ...each time valid for this long (Prometheus: four times its
    /// resend delay).
    pub valid_for: Duration,
    /// The first retry after a failure; doubled each time up to
    /// `backoff_max`.
    pub backoff: Duration,
    pub backoff_max: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            resend: Duration::from_secs(60),
            valid_for: Duration::from_secs(240),
            backoff: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// Delivers every change in order until the channel closes; a newer
/// change replaces one still being retried (a resolve keeps the labels of
/// the alert it ends).
pub async fn deliver(
    client: Client,
    source: Source,
    schedule: Schedule,
    metrics: DeliveryMetrics,
    mut rx: mpsc::UnboundedReceiver<AlertChange>,
) {
    let target = client.settings().target().to_owned();
    // What Alertmanager should know, and when to (re)send it.
    let mut current: Option<Alert> = None;
    let mut due: Option<Instant> = None;
    let mut backoff = schedule.backoff;
    // Failed attempts at the current state; whether it got there once.
    let mut failures = 0u32;
    let mut delivered = false;
    loop {
        let change = match due {
            Some(at) => tokio::select! {
                c = rx.recv() => Some(c),
                () = tokio::time::sleep_until(at) => None,
            },
            None => Some(rx.recv().await),
        };
        match change {
            Some(None) => return,
            Some(Some(change)) => {
                current = Some(Alert::new(
                    &change,
                    &source,
                    SystemTime::now(),
                    current.as_ref(),
                ));
                (failures, delivered, backoff) = (0, false, schedule.backoff);
            }
            None => {}
        }
        let Some(alert) = &current else {
            due = None;
            continue;
        };
        let body = alert.body(SystemTime::now(), schedule.valid_for);
        match client.post(&body).await {
            Ok(status) => {
                metrics.sent.inc();
                let state = if alert.firing() { "firing" } else { "resolved" };
                if !delivered {
                    info!(
                        target,
                        state,
                        status = status.as_u16(),
                        failed_attempts = failures,
                        "alert delivered to Alertmanager"
                    );
                } else {
                    debug!(target, state, "firing alert re-sent to Alertmanager");
                }
                (failures, delivered, backoff) = (0, true, schedule.backoff);
                if alert.firing() {
                    due = Some(Instant::now() + schedule.resend);
                } else {
                    current = None;
                    due = None;
                }
            }
            Err(error) => {
                metrics.errors.inc();
                failures += 1;
                warn!(
                    target,
                    attempt = failures,
                    retry_in_s = backoff.as_secs_f64(),
                    %error,
                    "alert not delivered to Alertmanager; retrying"
                );
                due = Some(Instant::now() + backoff);
                backoff = (backoff * 2).min(schedule.backoff_max);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::{
        Router,
        extract::State,
        http::{HeaderMap, StatusCode as Code},
        routing::post,
    };
    use serde_json::Value;

    use super::*;
    use crate::{alert::config::Secret, verdict::FailureCode};

    /// A stand-in for Alertmanager in a unit test (the real one is in
    /// `tests/alertmanager.rs`): records each POST, answers the first
    /// `refuse` with 503 and the others with 200.
    /// A POST: its Authorization header, its body, when it came.
    type Post = (Option<String>, Value, Instant);

    #[derive(Clone, Default)]
    struct Recorder {
        posts: Arc<Mutex<Vec<Post>>>,
        refuse: usize,
    }

    async fn record(State(r): State<Recorder>, headers: HeaderMap, body: String) -> Code {
        let auth = headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = serde_json::from_str(&body).unwrap();
        let mut posts = r.posts.lock().unwrap();
        posts.push((auth, body, Instant::now()));
        if posts.len() <= r.refuse {
            Code::SERVICE_UNAVAILABLE
        } else {
            Code::OK
        }
    }

    impl Recorder {
        fn posts(&self) -> Vec<Post> {
            self.posts.lock().unwrap().clone()
        }

        async fn wait_posts(&self, n: usize) -> Vec<Post> {
            for _ in 0..100 {
                if self.posts().len() >= n {
                    return self.posts();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("{n} posts expected, got {:?}", self.posts());
        }
    }

    #[tokio::test]
    async fn retried_until_delivered_resent_while_firing_then_resolved() {
        let rec = Recorder {
            refuse: 3,
            ..Recorder::default()
        };
        let app = Router::new()
            .route("/am/api/v2/alerts", post(record))
            .with_state(rec.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let mut settings = Settings::load(&format!("http://{addr}/am/"), None).unwrap();
        settings.basic_auth = Some(BasicAuth {
            username: "pxe".into(),
            password: Secret::new("s3cret"),
        });
        let schedule = Schedule {
            resend: Duration::from_millis(400),
            valid_for: Duration::from_secs(2),
            backoff: Duration::from_millis(100),
            backoff_max: Duration::from_millis(150),
        };
        let source = Source {
            instance: "boot-01".into(),
            interfaces: "eth0".into(),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let metrics = DeliveryMetrics::unregistered().unwrap();
        let task = tokio::spawn(deliver(
            Client::new(settings).unwrap(),
            source,
            schedule,
            metrics.clone(),
            rx,
        ));
        tx.send(AlertChange::Firing {
            failed: 5,
            decided: 5,
            code: Some(FailureCode::E55),
            server: Some("10.0.0.1".into()),
            cause: Some("DHCP server 10.0.0.1 sends option 60 PXEClient".into()),
            fix: Some("remove options 60, 66 and 67".into()),
        })
        .unwrap();
        // Refused (503) three times: retried 100, then 150 ms apart.
        let refused = rec.wait_posts(3).await;
        let gaps: Vec<Duration> = refused.windows(2).map(|w| w[1].2 - w[0].2).collect();
        assert!(
            gaps[0] >= Duration::from_millis(100) && gaps[1] >= Duration::from_millis(150),
            "{gaps:?}"
        );
        // Delivered, then re-sent while it fires, each time valid for
        // longer.
        let posts = rec.wait_posts(5).await;
        let (auth, first, _) = &posts[3];
        assert_eq!(auth.as_deref(), Some("Basic cHhlOnMzY3JldA=="));
        let a = &first[0];
        assert_eq!(a["labels"]["alertname"], "PxeBootFailureSpike");
        assert_eq!(
            (a["labels"]["code"].as_str(), a["labels"]["server"].as_str()),
            (Some("PXE-E55"), Some("10.0.0.1"))
        );
        assert!(
            a["annotations"]["description"]
                .as_str()
                .unwrap()
                .contains("remove options 60, 66 and 67")
        );
        let resent = &posts[4];
        assert!(resent.2 - posts[3].2 >= Duration::from_millis(400));
        assert_eq!(resent.1[0]["startsAt"], a["startsAt"]);
        // The resolve: the same labels, ended now.
        tx.send(AlertChange::Resolved {
            failed: 0,
            decided: 6,
        })
        .unwrap();
        let n = rec.posts().len();
        let posts = rec.wait_posts(n + 1).await;
        let resolved = &posts[n].1[0];
        assert_eq!(
            resolved["labels"], a["labels"],
            "it names the alert it ends"
        );
        let ends = humantime::parse_rfc3339(resolved["endsAt"].as_str().unwrap()).unwrap();
        assert!(ends <= SystemTime::now());
        // Resolved and delivered: nothing more is sent.
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(rec.posts().len(), n + 1, "{:?}", rec.posts());
        drop(tx);
        task.await.unwrap();
        assert_eq!(metrics.errors.get(), 3);
        assert_eq!(metrics.sent.get() as usize, n + 1 - 3);
    }

    #[tokio::test]
    async fn nothing_listening_is_said_so() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let settings = Settings::load(&format!("http://127.0.0.1:{port}"), None).unwrap();
        let e = Client::new(settings)
            .unwrap()
            .post(&serde_json::json!([]))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Connection refused") && e.contains("is Alertmanager running"),
            "{e}"
        );
    }

    #[test]
    fn hints_say_what_to_check() {
        let e = DeliveryError::Status {
            status: StatusCode::UNAUTHORIZED,
            body: "Unauthorized".into(),
            hint: status_hint(StatusCode::UNAUTHORIZED, true),
        };
        assert_eq!(
            e.to_string(),
            "Alertmanager answered 401 Unauthorized (check basic_auth's username and password in --alertmanager-config against the server's web config): Unauthorized"
        );
        assert!(
            status_hint(StatusCode::NOT_FOUND, false)
                .unwrap()
                .contains("path prefix")
        );
        let s = Settings::load("https://am.example", None).unwrap();
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(
            tls_hint(&unknown, &s)
                .unwrap()
                .contains("tls_config.ca_file")
        );
    }
}
