//! The failure-spike alert's delivery against a real Alertmanager
//! (Debian's prometheus-alertmanager on loopback, started by
//! `xtask::alertmanager`) behind TLS and basic auth: the mistakes an
//! operator makes (a wrong password, no CA for a private certificate) are
//! said in the log with what to check, and retried without end or crash,
//! while a correct configuration delivers and resolves. And through the
//! binary: a bad `--alertmanager-config` stops the agent before anything
//! is attached, naming the key and the file.
//!
//! Needs prometheus-alertmanager, openssl and curl (`cargo xtask setup`
//! installs them); without them the test says it is skipped, with CI=true
//! it fails instead. No root.

use std::{
    io,
    path::{Path, PathBuf},
    process::Command,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use monitor::{
    alert::{
        AlertChange,
        body::Source,
        config::Settings,
        deliver::{self, Client, Schedule},
    },
    metrics::alerts::DeliveryMetrics,
    verdict::FailureCode,
};
use tokio::sync::mpsc;
use tracing::Instrument as _;
use xtask::{alertmanager, pki::Pki};

const PASSWORD: &str = "correct-horse-battery";
const WRONG: &str = "wrong-horse";

/// The log lines written while the guard lives (this thread's; the tests'
/// runtime runs every task on it).
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl io::Write for Log {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    fn lines_with(&self, needles: &[&str]) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_owned)
            .collect()
    }
}

fn prerequisites() -> bool {
    for (program, package) in [
        (alertmanager::BINARY, "prometheus-alertmanager"),
        ("openssl", "openssl"),
        ("curl", "curl"),
    ] {
        let found = std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()));
        if !found {
            xtask::testing::skip_or_fail(&format!(
                "{program} is not installed (package {package}; cargo xtask setup installs it)"
            ));
            return false;
        }
    }
    true
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn spike(server: &str) -> AlertChange {
    AlertChange::Firing {
        failed: 2,
        decided: 2,
        code: Some(FailureCode::E55),
        server: Some(server.into()),
        cause: Some(format!(
            "DHCP server {server} sends option 60 PXEClient but nothing answers on port 4011"
        )),
        fix: Some("remove options 60, 66 and 67 (Microsoft KB 259670)".into()),
    }
}

/// Polls `f` every 100 ms until it gives `Ok`, or panics after `timeout`.
async fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) if Instant::now() >= deadline => {
                panic!("{what}: not within {timeout:?}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[tokio::test]
async fn https_with_basic_auth_delivers_and_mistakes_are_logged_and_retried() {
    if !prerequisites() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("pxe-monitor-am-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pki = Pki::create(&dir.join("pki")).unwrap();
    let am = alertmanager::Alertmanager::start(
        &dir.join("alertmanager"),
        alertmanager::Options {
            tls: Some(pki.clone()),
            verify_client_certs: true,
            users: vec![("pxe-monitor".into(), PASSWORD.into())],
            route_prefix: Some("/alertmanager".into()),
        },
    )
    .unwrap();
    println!("Alertmanager ready in {:?}", am.startup);
    let log = Log::default();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer({
                let log = log.clone();
                move || log.clone()
            })
            .with_ansi(false)
            .finish(),
    );
    let started = Instant::now();
    write(&dir, "password", &format!("{PASSWORD}\n"));
    write(&dir, "wrong", WRONG);
    let ca = pki.ca_cert.display();
    // Four agents: a wrong password, no CA for the private certificate
    // (the system's CAs do not know it), a client certificate of another
    // CA, and one configured right (with a client certificate it checks).
    let configs = [
        (
            "wrong-password.yml",
            format!(
                "basic_auth:\n  username: pxe-monitor\n  password_file: wrong\ntls_config:\n  ca_file: {ca}\n"
            ),
            "10.0.0.1",
        ),
        (
            "unknown-ca.yml",
            "basic_auth:\n  username: pxe-monitor\n  password_file: password\n".to_owned(),
            "10.0.0.2",
        ),
        (
            "stranger.yml",
            format!(
                "basic_auth:\n  username: pxe-monitor\n  password_file: password\n\
                 tls_config:\n  ca_file: {ca}\n  cert_file: {}\n  key_file: {}\n",
                pki.stranger_cert.display(),
                pki.stranger_key.display()
            ),
            "10.0.0.4",
        ),
        (
            "right.yml",
            format!(
                "timeout: 5s\nbasic_auth:\n  username: pxe-monitor\n  password_file: password\n\
                 tls_config:\n  ca_file: {ca}\n  server_name: localhost\n  cert_file: {}\n  key_file: {}\n",
                pki.client_cert.display(),
                pki.client_key.display()
            ),
            "10.0.0.3",
        ),
    ];
    // A key that is not the certificate's: refused at start-up.
    let mismatched = write(
        &dir,
        "mismatched.yml",
        &format!(
            "tls_config:\n  cert_file: {}\n  key_file: {}\n",
            pki.client_cert.display(),
            pki.server_key.display()
        ),
    );
    let e = Client::new(Settings::load(&am.url(), Some(&mismatched)).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("key_file is not the key of tls_config.cert_file"),
        "{e}"
    );
    println!("a key that is not the certificate's: {e}");
    let schedule = Schedule {
        backoff: Duration::from_millis(200),
        backoff_max: Duration::from_millis(400),
        ..Schedule::default()
    };
    let mut senders = Vec::new();
    let mut tasks = Vec::new();
    let metrics: Vec<DeliveryMetrics> = configs
        .iter()
        .map(|_| DeliveryMetrics::unregistered().unwrap())
        .collect();
    for (i, (name, text, server)) in configs.iter().enumerate() {
        let file = write(&dir, name, text);
        let settings = Settings::load(&am.url(), Some(&file)).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let source = Source {
            instance: "boot-01".into(),
            interfaces: name.trim_end_matches(".yml").into(),
        };
        // Each agent's lines say which it is: agent{config=NAME}.
        let span = tracing::info_span!("agent", config = %name.trim_end_matches(".yml"));
        tasks.push(tokio::spawn(
            deliver::deliver(
                Client::new(settings).unwrap(),
                source,
                schedule,
                metrics[i].clone(),
                rx,
            )
            .instrument(span),
        ));
        tx.send(spike(server)).unwrap();
        senders.push(tx);
    }

    // The right one gets there, the diagnosis in its description.
    let delivered = wait_for(
        Duration::from_secs(10),
        "PxeBootFailureSpike in Alertmanager",
        || {
            let alerts = am
                .alerts_named("PxeBootFailureSpike")
                .map_err(|e| e.to_string())?;
            if alerts.is_empty() {
                Err("none yet".into())
            } else {
                Ok(alerts)
            }
        },
    )
    .await;
    let took = started.elapsed();
    assert_eq!(delivered.len(), 1, "only the right one: {delivered:?}");
    let a = &delivered[0];
    assert_eq!(a["labels"]["interface"], "right");
    assert_eq!(a["labels"]["code"], "PXE-E55");
    assert_eq!(a["labels"]["server"], "10.0.0.3");
    assert_eq!(a["status"]["state"], "active");
    let d = a["annotations"]["description"].as_str().unwrap();
    assert!(d.contains("4011") && d.contains("KB 259670"), "{d}");

    // The wrong ones: said in the log with what to check, retried.
    let retried = |needles: &[&str]| {
        let lines = log.lines_with(needles);
        if lines.len() >= 3 {
            Ok(lines)
        } else {
            Err(format!("{lines:?}\n{}", log.text()))
        }
    };
    let wrong = wait_for(
        Duration::from_secs(10),
        "the wrong password retried",
        || {
            retried(&[
                "agent{config=wrong-password}",
                "alert not delivered to Alertmanager; retrying",
                "401 Unauthorized",
                "check basic_auth's username and password",
            ])
        },
    )
    .await;
    assert!(
        wrong[0].contains("attempt=1") && wrong[2].contains("attempt=3"),
        "{wrong:?}"
    );
    let unknown = wait_for(Duration::from_secs(10), "the unknown CA retried", || {
        retried(&[
            "agent{config=unknown-ca}",
            "alert not delivered to Alertmanager; retrying",
            "UnknownIssuer",
            "set tls_config.ca_file",
        ])
    })
    .await;
    let stranger = wait_for(
        Duration::from_secs(10),
        "the stranger's certificate retried",
        || {
            retried(&[
                "alert not delivered to Alertmanager; retrying",
                "agent{config=stranger}",
            ])
        },
    )
    .await;
    println!("a wrong password: {}", wrong[0]);
    println!("an unknown CA: {}", unknown[0]);
    println!("a client certificate of another CA: {}", stranger[0]);
    assert!(
        tasks.iter().all(|t| !t.is_finished()),
        "every delivery task still runs"
    );
    assert_eq!(
        log.lines_with(&["alert delivered to Alertmanager", "state=\"firing\""])
            .len(),
        1,
        "{}",
        log.text()
    );

    // Resolved: Alertmanager no longer lists it.
    senders[3]
        .send(AlertChange::Resolved {
            failed: 0,
            decided: 4,
        })
        .unwrap();
    wait_for(Duration::from_secs(10), "the alert resolved", || {
        let alerts = am
            .alerts_named("PxeBootFailureSpike")
            .map_err(|e| e.to_string())?;
        if alerts.is_empty() {
            Ok(())
        } else {
            Err(format!("{alerts:?}"))
        }
    })
    .await;
    let text = log.text();
    assert!(
        !text.contains(PASSWORD) && !text.contains(WRONG),
        "no password in the log: {text}"
    );
    println!(
        "Alertmanager start-up {:?}; first delivery {took:?} after the change",
        am.startup
    );
    // Counted as they went: the wrong ones' failures, the right one's
    // firing and resolve.
    let counts: Vec<(u64, u64)> = metrics
        .iter()
        .map(|m| (m.sent.get(), m.errors.get()))
        .collect();
    assert!(
        counts[..3]
            .iter()
            .all(|&(sent, errors)| sent == 0 && errors >= 3),
        "{counts:?}"
    );
    assert_eq!(counts[3], (2, 0));
    drop(senders);
    for t in tasks {
        t.abort();
    }
    drop(am);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Through the binary: a mistake in the file stops `run` before anything
/// is attached (no root needed to see it), naming the key and the file.
#[test]
fn a_bad_config_file_stops_the_agent_at_start_up() {
    let dir = std::env::temp_dir().join(format!("pxe-monitor-am-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |url: &str, config: Option<&Path>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pxe-monitor"));
        cmd.args([
            "run",
            "--interface",
            "pxe-no-such-if",
            "--alertmanager-url",
            url,
        ]);
        if let Some(c) = config {
            cmd.arg("--alertmanager-config").arg(c);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let typo = write(
        &dir,
        "typo.yml",
        "basic_auth:\n  username: pxe\n  password: hunter2\n  pasword_file: /x\n",
    );
    let e = run("https://127.0.0.1:9093", Some(&typo));
    assert!(
        e.contains("pasword_file") && e.contains(&typo.display().to_string()),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "the password is not repeated: {e}");
    assert!(!e.contains("attach"), "nothing was attached: {e}");
    let e = run("https://pxe:hunter2@127.0.0.1:9093", None);
    assert!(
        e.contains("--alertmanager-config") && !e.contains("hunter2"),
        "{e}"
    );
    // The file needs the URL.
    let out = Command::new(env!("CARGO_BIN_EXE_pxe-monitor"))
        .args([
            "run",
            "--interface",
            "pxe-no-such-if",
            "--alertmanager-config",
        ])
        .arg(&typo)
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && e.contains("--alertmanager-url"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
