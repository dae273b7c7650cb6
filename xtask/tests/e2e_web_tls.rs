//! The agent's HTTP server with `--web.config.file`, as an operator meets
//! it: a real Prometheus (the Debian package, on loopback) scrapes it over
//! https with `basic_auth`, `tls_config.ca_file` and a client certificate
//! (RequireAndVerifyClientCert); a wrong password gets 401 (Prometheus's
//! target shows it, curl sees it with `WWW-Authenticate: Basic`); a client
//! with no certificate or one from another CA is refused; plain http gets
//! Go's 400. Then the operator renews the certificate and drops client
//! certificates: the running agent takes both at the next connection; then
//! RequireAnyClientCert (any certificate, unverified) with TLS 1.2 at most;
//! a file turning TLS off is refused and the configuration in force stays.
//! And a bad web config file stops the agent before it attaches anything,
//! naming the file and the field.
//!
//! The agent watches a veth pair inside a network namespace this test
//! creates and deletes (no lab, no VM); its HTTP server is on loopback.
//! Needs root, Prometheus, curl, openssl and the binary in PXE_MONITOR_BIN
//! (`cargo xtask test` installs and sets them). Without them the tests say
//! they are skipped; with CI=true they fail instead.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use xtask::{
    agent::{self, Agent},
    pki::{self, Pki},
    prom::Prometheus,
    sys,
    testing::{skip_or_fail, wait_for},
};

const USER: &str = "prometheus";
const PASSWORD: &str = "s3cret pxe";

/// A namespace with a veth pair for the agent to watch, deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let ns = Netns(format!("pxtls-{}", std::process::id()));
        sys::ip(None, &["netns", "add", &ns.0]).expect("ip netns add");
        sys::ip(
            Some(&ns.0),
            &[
                "link", "add", "tls0", "type", "veth", "peer", "name", "tls1",
            ],
        )
        .expect("veth");
        for l in ["tls0", "tls1"] {
            sys::ip(Some(&ns.0), &["link", "set", l, "up"]).expect("link up");
        }
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sys::ip(None, &["netns", "del", &self.0]);
    }
}

/// Puts a certificate or key where the web config names it, readable by
/// the unprivileged user the agent runs as after attaching (as an operator
/// would: the agent reads them again when they change). A throw-away PKI:
/// world-readable here; in real use, the user's group and mode 0640.
fn install(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::copy(from, to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// What curl got: its exit code, the HTTP status ("000": no answer), the
/// HTTP version, the `WWW-Authenticate` header and the body.
#[derive(Debug)]
struct Curl {
    exit: i32,
    status: String,
    version: String,
    www_authenticate: String,
    body: String,
}

fn curl(args: &[&str], url: &str) -> Curl {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-o", "-"])
        .args([
            "-w",
            "\n%{http_code}\n%{http_version}\n%header{www-authenticate}",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("running curl (package curl)");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.rsplitn(4, '\n');
    let www_authenticate = parts.next().unwrap_or_default().to_owned();
    let version = parts.next().unwrap_or_default().to_owned();
    let status = parts.next().unwrap_or_default().to_owned();
    let body = parts.next().unwrap_or_default().to_owned();
    Curl {
        exit: out.status.code().unwrap_or(-1),
        status,
        version,
        www_authenticate,
        body,
    }
}

fn have(prog: &str, package: &str) -> bool {
    if sys::find_program(prog, package).is_ok() {
        return true;
    }
    skip_or_fail(&format!(
        "{prog} is not installed (package {package}; cargo xtask setup installs it)"
    ));
    false
}

fn binary() -> Option<PathBuf> {
    let bin = std::env::var_os("PXE_MONITOR_BIN").map(PathBuf::from);
    if bin.is_none() {
        skip_or_fail("PXE_MONITOR_BIN is not set (run through `cargo xtask test`)");
    }
    bin
}

/// The web config file: TLS with `cert_file`/`key_file` relative to it,
/// client certificates verified against `ca` when given, the user.
fn web_config(client_ca: Option<&Path>, hash: &str) -> String {
    let clients = client_ca.map_or_else(String::new, |ca| {
        format!(
            "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
            ca.display()
        )
    });
    format!(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n{clients}\
         http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n\
         basic_auth_users:\n  {USER}: '{hash}'\n"
    )
}

/// The scrape job `name` of the agent at `target`.
fn job(name: &str, target: SocketAddr, password: &str, ca: &Path, client: Option<&Pki>) -> String {
    let cert = client.map_or_else(String::new, |p| {
        format!(
            "      cert_file: {}\n      key_file: {}\n",
            p.client_cert.display(),
            p.client_key.display()
        )
    });
    format!(
        "  - job_name: {name}\n    scheme: https\n    basic_auth:\n      username: {USER}\n      password: '{password}'\n\
         \x20   tls_config:\n      ca_file: {}\n{cert}    static_configs:\n      - targets: ['{target}']\n",
        ca.display()
    )
}

/// The last scrape error of `job`'s target, once it has been scraped.
fn last_error(prom: &Prometheus, job: &str) -> Result<(String, String), String> {
    let targets = prom.api("targets").map_err(|e| e.to_string())?;
    let t = targets["activeTargets"]
        .as_array()
        .and_then(|a| a.iter().find(|t| t["labels"]["job"] == job))
        .ok_or_else(|| format!("no target for {job}: {targets}"))?;
    match t["health"].as_str() {
        Some("unknown") | None => Err(format!("{job} not scraped yet")),
        Some(h) => Ok((
            h.to_owned(),
            t["lastError"].as_str().unwrap_or("").to_owned(),
        )),
    }
}

#[test]
fn prometheus_scrapes_over_tls_with_a_password_and_a_client_certificate() {
    if !sys::is_root() {
        return skip_or_fail("the agent needs root (network namespaces, eBPF)");
    }
    let Some(bin) = binary() else { return };
    if !(have("prometheus", "prometheus") && have("curl", "curl") && have("openssl", "openssl")) {
        return;
    }
    let started = Instant::now();
    let state = std::env::temp_dir().join(format!("pxe-monitor-e2e-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let pki = Pki::create(&state.join("pki")).expect("test PKI");
    let renewed = Pki::create(&state.join("pki-renewed")).expect("second PKI");
    let web = state.join("web");
    std::fs::create_dir_all(&web).unwrap();
    install(&pki.server_cert, &web.join("server.crt"));
    install(&pki.server_key, &web.join("server.key"));
    let hash = pki::bcrypt_hash(PASSWORD).unwrap();
    let web_file = web.join("web.yml");
    std::fs::write(&web_file, web_config(Some(&pki.ca_cert), &hash)).unwrap();

    let ns = Netns::new();
    let listen = agent::free_port().unwrap();
    let mut agent = Agent::start_listening(
        &bin,
        &ns.0,
        "tls0",
        listen,
        &["--web.config.file", web_file.to_str().unwrap()],
        &state.join("agent.log"),
    )
    .expect("pxe-monitor with --web.config.file");
    let url = format!("https://{listen}/metrics");
    let ca = pki.ca_cert.to_str().unwrap();
    let (cert, key) = (
        pki.client_cert.to_str().unwrap(),
        pki.client_key.to_str().unwrap(),
    );
    let right = format!("{USER}:{PASSWORD}");

    // Prometheus: the right password with a client certificate; a wrong
    // password; no client certificate.
    let mut prom = Prometheus::start(
        &state.join("prometheus"),
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{}{}{}",
            job("pxe-tls", listen, PASSWORD, &pki.ca_cert, Some(&pki)),
            job(
                "pxe-wrong-password",
                listen,
                "wrong",
                &pki.ca_cert,
                Some(&pki)
            ),
            job("pxe-no-client-cert", listen, PASSWORD, &pki.ca_cert, None),
        ),
    )
    .expect("prometheus");
    wait_for(Duration::from_secs(15), "up{job=\"pxe-tls\"} == 1", || {
        let r = prom
            .query(r#"up{job="pxe-tls"}"#)
            .map_err(|e| e.to_string())?;
        match r.first().and_then(|s| s["value"][1].as_str()) {
            Some("1") => Ok(()),
            other => Err(format!("{other:?}; {:?}", last_error(&prom, "pxe-tls"))),
        }
    });
    let series = prom
        .query(r#"{job="pxe-tls", __name__=~"pxe_.+"}"#)
        .expect("query");
    assert!(!series.is_empty(), "no pxe_ series scraped over TLS");
    let (health, error) = wait_for(
        Duration::from_secs(10),
        "the wrong password's scrape",
        || last_error(&prom, "pxe-wrong-password"),
    );
    assert_eq!(health, "down");
    assert!(error.contains("401 Unauthorized"), "{error}");
    println!("Prometheus, wrong password: {error}");
    let (health, error) = wait_for(
        Duration::from_secs(10),
        "the scrape without a certificate",
        || last_error(&prom, "pxe-no-client-cert"),
    );
    assert_eq!(health, "down");
    assert!(error.contains("tls: certificate required"), "{error}");
    println!("Prometheus, no client certificate: {error}");
    let prom_pid = prom.pid().unwrap();
    prom.stop();

    // curl, as an operator checks by hand.
    let ok = curl(
        &["--cacert", ca, "--cert", cert, "--key", key, "-u", &right],
        &url,
    );
    assert_eq!(ok.status, "200", "{ok:?}");
    assert!(ok.body.contains("pxe_events_received_total"), "{ok:?}");
    // HTTP/2 is offered (ALPN), as exporter-toolkit's default.
    assert_eq!(ok.version, "2", "{ok:?}");
    let wrong = curl(
        &[
            "--cacert",
            ca,
            "--cert",
            cert,
            "--key",
            key,
            "-u",
            "prometheus:x",
        ],
        &url,
    );
    assert_eq!(wrong.status, "401", "{wrong:?}");
    assert!(wrong.www_authenticate.starts_with("Basic"), "{wrong:?}");
    let anonymous = curl(&["--cacert", ca, "--cert", cert, "--key", key], &url);
    assert_eq!(anonymous.status, "401", "{anonymous:?}");
    let no_cert = curl(&["--cacert", ca, "-u", &right], &url);
    assert!(no_cert.status == "000" && no_cert.exit != 0, "{no_cert:?}");
    let stranger = curl(
        &[
            "--cacert",
            ca,
            "--cert",
            pki.stranger_cert.to_str().unwrap(),
            "--key",
            pki.stranger_key.to_str().unwrap(),
            "-u",
            &right,
        ],
        &url,
    );
    assert!(
        stranger.status == "000" && stranger.exit != 0,
        "{stranger:?}"
    );
    let plain = curl(&[], &format!("http://{listen}/metrics"));
    assert_eq!(plain.status, "400", "{plain:?}");
    assert_eq!(
        plain.body,
        "Client sent an HTTP request to an HTTPS server.\n"
    );

    // The certificate is renewed (another CA here, so that the change is
    // seen) and client certificates dropped, the agent running.
    install(&renewed.server_key, &web.join("server.key"));
    install(&renewed.server_cert, &web.join("server.crt"));
    std::fs::write(&web_file, web_config(None, &hash)).unwrap();
    let renewed_ca = renewed.ca_cert.to_str().unwrap();
    let ok = curl(&["--cacert", renewed_ca, "-u", &right], &url);
    assert_eq!(
        ok.status, "200",
        "renewed certificate, no client certificate: {ok:?}"
    );
    let old = curl(&["--cacert", ca, "-u", &right], &url);
    assert!(
        old.status == "000" && old.exit == 60,
        "the old certificate still served: {old:?}"
    );
    // Any client certificate, unverified (Go's RequireAnyClientCert), and
    // TLS 1.2 at most.
    std::fs::write(
        &web_file,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n\
             \x20 client_auth_type: RequireAnyClientCert\n  max_version: TLS12\n\
             basic_auth_users:\n  {USER}: '{hash}'\n"
        ),
    )
    .unwrap();
    let (stranger_cert, stranger_key) = (
        pki.stranger_cert.to_str().unwrap(),
        pki.stranger_key.to_str().unwrap(),
    );
    let any = [
        "--cacert",
        renewed_ca,
        "--cert",
        stranger_cert,
        "--key",
        stranger_key,
    ];
    let ok = curl(&[&any[..], &["-u", &right]].concat(), &url);
    assert_eq!(
        ok.status, "200",
        "RequireAnyClientCert, another CA's certificate: {ok:?}"
    );
    let no_cert = curl(&["--cacert", renewed_ca, "-u", &right], &url);
    assert!(no_cert.status == "000" && no_cert.exit != 0, "{no_cert:?}");
    let tls13 = curl(&[&any[..], &["-u", &right, "--tlsv1.3"]].concat(), &url);
    assert!(
        tls13.status == "000" && tls13.exit != 0,
        "TLS 1.3 past max_version: {tls13:?}"
    );
    // A file turning TLS off: refused (that needs a restart), logged, and
    // the configuration in force stays.
    std::fs::write(
        &web_file,
        format!("basic_auth_users:\n  {USER}: '{hash}'\n"),
    )
    .unwrap();
    let still = curl(&[&any[..], &["-u", &right]].concat(), &url);
    assert_eq!(still.status, "200", "{still:?}");
    let log = std::fs::read_to_string(state.join("agent.log")).unwrap();
    assert!(log.contains("turning it off needs a restart"), "{log}");
    // The files were readable by the user it runs as after attaching.
    assert!(log.contains("privileges dropped"), "{log}");
    assert!(!log.contains("cannot read it"), "{log}");

    assert!(agent.stop().unwrap().success(), "pxe-monitor exit status");
    assert!(
        !Path::new(&format!("/proc/{prom_pid}")).exists(),
        "prometheus left behind"
    );
    drop(ns);
    let left = sys::ip(None, &["netns", "list"]).unwrap();
    assert!(!left.contains("pxtls-"), "namespace left behind: {left}");
    let _ = std::fs::remove_dir_all(&state);
    println!("e2e web TLS: {:.1} s", started.elapsed().as_secs_f64());
}

#[test]
fn a_bad_web_config_file_stops_the_agent_before_it_attaches() {
    let Some(bin) = binary() else { return };
    if !have("openssl", "openssl") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("pxe-monitor-bad-web-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let pki = Pki::create(&dir.join("pki")).expect("test PKI");
    let tls = |cert: &Path, key: &Path| {
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            cert.display(),
            key.display()
        )
    };
    let cases = [
        (
            "unknown key",
            "tls_server_config:\n  cert_file: a\n  keyfile: b\n".to_owned(),
            "unknown field `keyfile`",
        ),
        (
            "unreadable certificate",
            tls(&dir.join("missing.crt"), &pki.server_key),
            "tls_server_config.cert_file: cannot read",
        ),
        (
            "key of another certificate",
            tls(&pki.server_cert, &pki.client_key),
            "does not match the certificate",
        ),
        (
            "a certificate as the key",
            tls(&pki.server_cert, &pki.server_cert),
            "tls_server_config.key_file: no usable private key",
        ),
        (
            "a password in clear",
            "basic_auth_users:\n  prometheus: s3cret\n".to_owned(),
            "basic_auth_users.prometheus: not a bcrypt hash",
        ),
        (
            "cipher_suites",
            format!(
                "{}  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]\n",
                tls(&pki.server_cert, &pki.server_key)
            ),
            "tls_server_config.cipher_suites is not supported",
        ),
    ];
    for (what, text, says) in cases {
        let file = dir.join("web.yml");
        std::fs::write(&file, text).unwrap();
        let out = Command::new(&bin)
            .args(["run", "--interface", "pxe-no-such-if0", "--web.config.file"])
            .arg(&file)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: accepted");
        assert!(
            err.contains(&file.display().to_string()) && err.contains(says),
            "{what}: {err}"
        );
        // Checked first: nothing was attempted on the interface.
        assert!(!err.contains("pxe-no-such-if0"), "{what}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
