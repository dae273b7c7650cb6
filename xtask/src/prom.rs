//! A real Prometheus server (the Debian package) for the end-to-end tests:
//! started on loopback with its own directory, asked through its HTTP API,
//! stopped (and reaped) on drop.

use std::{
    fs,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::{
    agent,
    proc::{die_with_parent, stop_child},
    scrape,
};

pub struct Prometheus {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub dir: PathBuf,
}

impl Prometheus {
    /// Writes `config` (prometheus.yml) into `dir` and starts Prometheus on
    /// a free loopback port, its data in `dir/data`; returns once it is
    /// ready. Relative paths in `config` (rule files) are relative to `dir`.
    pub fn start(dir: &Path, config: &str) -> Result<Prometheus> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let file = dir.join("prometheus.yml");
        fs::write(&file, config).with_context(|| format!("writing {}", file.display()))?;
        let addr = agent::free_port()?;
        let log = fs::File::create(dir.join("prometheus.log"))?;
        let mut cmd = Command::new("prometheus");
        die_with_parent(&mut cmd);
        let child = cmd
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting prometheus (cargo xtask setup installs the Debian package)")?;
        let mut p = Prometheus {
            child: Some(child),
            addr,
            dir: dir.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if scrape::get(addr, "/-/ready").is_ok() {
                return Ok(p);
            }
            if let Some(status) = p.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                p.child = None;
                bail!(
                    "prometheus exited during start-up ({status}); see {}",
                    dir.join("prometheus.log").display()
                );
            }
            if Instant::now() > deadline {
                bail!("prometheus was not ready on {addr} within 20 s");
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The PID of the server.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `GET /api/v1/<path>`: the `data` of a successful answer.
    pub fn api(&self, path: &str) -> Result<Value> {
        let body = scrape::get(self.addr, &format!("/api/v1/{path}"))?;
        let v: Value = serde_json::from_str(&body).context("Prometheus API answer")?;
        if v["status"] != "success" {
            bail!("Prometheus API {path}: {v}");
        }
        Ok(v["data"].clone())
    }

    /// An instant query: the result vector (an error names a query that
    /// does not parse).
    pub fn query(&self, promql: &str) -> Result<Vec<Value>> {
        let data = self
            .api(&format!("query?query={}", url_encode(promql)))
            .with_context(|| format!("query {promql}"))?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }

    /// The alerts Prometheus holds now (pending and firing).
    pub fn alerts(&self) -> Result<Vec<Value>> {
        Ok(self.api("alerts")?["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Stops it (SIGTERM, then SIGKILL after 10 s) and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            stop_child(&mut c, Duration::from_secs(10));
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Percent-encodes a query-string value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_promql() {
        assert_eq!(
            url_encode(r#"up{job="x"} > 0"#),
            "up%7Bjob%3D%22x%22%7D%20%3E%200"
        );
    }
}
