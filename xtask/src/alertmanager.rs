//! A real Alertmanager (Debian's `prometheus-alertmanager`) for the tests:
//! started on loopback with its own configuration, data directory and a
//! free port, gossip off; optionally behind TLS and basic auth (its
//! `--web.config.file`, exporter-toolkit's format) and under a route
//! prefix; asked through its v2 API with curl (which speaks TLS); stopped
//! (and reaped) on drop.

use std::{
    fs,
    io::Write as _,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::{
    agent, pki,
    proc::{die_with_parent, stop_child},
};

/// The Debian package's binary.
pub const BINARY: &str = "prometheus-alertmanager";

/// How to start it.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Serve over TLS with this CA's server certificate (for 127.0.0.1).
    pub tls: Option<pki::Pki>,
    /// With `tls`: check the certificate a client presents against the
    /// CA (`client_auth_type: VerifyClientCertIfGiven`; clients without
    /// one, such as Prometheus here, still get in).
    pub verify_client_certs: bool,
    /// Users and passwords of `basic_auth_users` (none: no auth).
    pub users: Vec<(String, String)>,
    /// `--web.route-prefix`, e.g. `/alertmanager` (none: `/`).
    pub route_prefix: Option<String>,
}

pub struct Alertmanager {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    options: Options,
    /// From its start to ready (the configuration written before).
    pub startup: Duration,
}

impl Alertmanager {
    /// Starts it in `dir` (created), with a route to a receiver that
    /// notifies nobody: the tests read alerts from its API. Returns once
    /// `/-/ready` answers.
    pub fn start(dir: &Path, options: Options) -> Result<Alertmanager> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let config = dir.join("alertmanager.yml");
        fs::write(
            &config,
            "route:\n  receiver: nobody\n  group_wait: 1s\n  group_interval: 1s\n\
             receivers:\n  - name: nobody\n",
        )
        .with_context(|| format!("writing {}", config.display()))?;
        let addr = agent::free_port()?;
        let log = fs::File::create(dir.join("alertmanager.log"))?;
        let mut cmd = Command::new(BINARY);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            // No gossip port (0.0.0.0:9094 by default): one instance.
            .arg("--cluster.listen-address=");
        if let Some(prefix) = &options.route_prefix {
            cmd.arg(format!("--web.route-prefix={prefix}"));
        }
        if options.tls.is_some() || !options.users.is_empty() {
            let web = dir.join("web.yml");
            fs::write(&web, web_config(&options)?)
                .with_context(|| format!("writing {}", web.display()))?;
            cmd.arg(format!("--web.config.file={}", web.display()));
        }
        die_with_parent(&mut cmd);
        let begin = Instant::now();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| {
                format!("starting {BINARY} (cargo xtask setup installs the Debian package)")
            })?;
        let mut am = Alertmanager {
            child: Some(child),
            addr,
            dir: dir.to_owned(),
            options,
            startup: Duration::ZERO,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if am.get("/-/ready").is_ok() {
                am.startup = begin.elapsed();
                return Ok(am);
            }
            if let Some(status) = am.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                am.child = None;
                bail!(
                    "{BINARY} exited during start-up ({status}); see {}",
                    dir.join("alertmanager.log").display()
                );
            }
            if Instant::now() > deadline {
                bail!("{BINARY} was not ready on {addr} within 20 s");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its base URL, with the route prefix (no trailing slash).
    pub fn url(&self) -> String {
        let scheme = if self.options.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let prefix = self.options.route_prefix.as_deref().unwrap_or("");
        format!("{scheme}://{}{}", self.addr, prefix.trim_end_matches('/'))
    }

    /// The PID of the server.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// GET `path` (under the route prefix) with curl, as the first user of
    /// `users` when there are any; the body on a 2xx.
    pub fn get(&self, path: &str) -> Result<String> {
        let mut curl = Command::new("curl");
        curl.args(["--silent", "--show-error", "--fail-with-body"])
            .args(["--max-time", "5", "--config", "-"])
            .arg(format!("{}{path}", self.url()));
        if let Some(pki) = &self.options.tls {
            curl.arg("--cacert").arg(&pki.ca_cert);
        }
        // The password goes through stdin, not the command line.
        let user = self
            .options
            .users
            .first()
            .map(|(u, p)| format!("user = \"{u}:{p}\"\n"))
            .unwrap_or_default();
        let mut child = curl
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running curl (cargo xtask setup installs it)")?;
        child
            .stdin
            .take()
            .context("curl's stdin")?
            .write_all(user.as_bytes())?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "GET {path}: {}{}",
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The alerts it holds (`/api/v2/alerts`: active, silenced, inhibited
    /// and not yet processed; not the resolved ones).
    pub fn alerts(&self) -> Result<Vec<Value>> {
        let body = self.get("/api/v2/alerts")?;
        let v: Value = serde_json::from_str(&body).context("Alertmanager's alerts")?;
        v.as_array()
            .cloned()
            .with_context(|| format!("not a list of alerts: {v}"))
    }

    /// The alerts of that name it holds.
    pub fn alerts_named(&self, name: &str) -> Result<Vec<Value>> {
        Ok(self
            .alerts()?
            .into_iter()
            .filter(|a| a["labels"]["alertname"] == name)
            .collect())
    }

    /// Stops it (SIGTERM, then SIGKILL after 10 s) and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c, Duration::from_secs(10));
        }
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `--web.config.file`: the server certificate and the users' bcrypt
/// hashes.
fn web_config(o: &Options) -> Result<String> {
    let mut web = String::new();
    if let Some(pki) = &o.tls {
        web.push_str(&format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            pki.server_cert.display(),
            pki.server_key.display()
        ));
        if o.verify_client_certs {
            web.push_str(&format!(
                "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: {}\n",
                pki.ca_cert.display()
            ));
        }
    }
    if !o.users.is_empty() {
        web.push_str("basic_auth_users:\n");
        for (user, password) in &o.users {
            web.push_str(&format!("  {user}: '{}'\n", pki::bcrypt_hash(password)?));
        }
    }
    Ok(web)
}
