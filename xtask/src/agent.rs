//! Running pxe-monitor as a child process for the demo and the end-to-end
//! test: started inside the lab, stopped by SIGTERM (and killed on drop);
//! building it, a free loopback port for it, and where the workspace is.

use std::{
    net::{SocketAddr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::{proc::die_with_parent, scrape};

pub struct Agent {
    child: Option<Child>,
    pub listen: SocketAddr,
}

impl Agent {
    /// Starts `bin run --netns NS --interface IF --listen ADDR` and waits for
    /// /healthz.
    pub fn start(bin: &Path, netns: &str, interface: &str, listen: SocketAddr) -> Result<Agent> {
        Self::start_with(bin, netns, interface, listen, &[])
    }

    /// [`start`](Self::start) with extra arguments for `run`.
    pub fn start_with(
        bin: &Path,
        netns: &str,
        interface: &str,
        listen: SocketAddr,
        extra: &[&str],
    ) -> Result<Agent> {
        Self::spawn(bin, netns, interface, listen, extra, None)
    }

    /// [`start_with`](Self::start_with), its output going to `log`.
    pub fn start_logged(
        bin: &Path,
        netns: &str,
        interface: &str,
        listen: SocketAddr,
        extra: &[&str],
        log: &Path,
    ) -> Result<Agent> {
        Self::spawn(bin, netns, interface, listen, extra, Some(log))
    }

    /// [`start_logged`](Self::start_logged) for an agent whose HTTP server
    /// wants TLS or a password: ready once its port accepts connections
    /// (it listens only after attaching).
    pub fn start_listening(
        bin: &Path,
        netns: &str,
        interface: &str,
        listen: SocketAddr,
        extra: &[&str],
        log: &Path,
    ) -> Result<Agent> {
        let ready = |a: SocketAddr| TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok();
        Self::spawn_until(bin, netns, interface, listen, extra, Some(log), &ready)
    }

    fn spawn(
        bin: &Path,
        netns: &str,
        interface: &str,
        listen: SocketAddr,
        extra: &[&str],
        log: Option<&Path>,
    ) -> Result<Agent> {
        let healthz = |a: SocketAddr| scrape::get(a, "/healthz").is_ok();
        Self::spawn_until(bin, netns, interface, listen, extra, log, &healthz)
    }

    fn spawn_until(
        bin: &Path,
        netns: &str,
        interface: &str,
        listen: SocketAddr,
        extra: &[&str],
        log: Option<&Path>,
        ready: &dyn Fn(SocketAddr) -> bool,
    ) -> Result<Agent> {
        let mut cmd = Command::new(bin);
        cmd.args([
            "run",
            "--netns",
            netns,
            "--interface",
            interface,
            "--listen",
        ])
        .arg(listen.to_string())
        .args(extra);
        if let Some(log) = log {
            let f = std::fs::File::create(log)
                .with_context(|| format!("creating {}", log.display()))?;
            cmd.stdout(f.try_clone()?).stderr(f);
        }
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let mut agent = Agent {
            child: Some(child),
            listen,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if ready(listen) {
                return Ok(agent);
            }
            if let Some(status) = agent
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                agent.child = None;
                bail!("pxe-monitor exited during start-up: {status}");
            }
            if Instant::now() > deadline {
                bail!("pxe-monitor was not ready on {listen} within 20 s");
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The agent's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn metrics(&self) -> Result<Vec<scrape::Sample>> {
        Ok(scrape::parse(&scrape::get(self.listen, "/metrics")?))
    }

    /// SIGTERM, then wait up to 10 s; the exit status.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("pxe-monitor already stopped")
        };
        // SAFETY: kill(2) on the PID of our own child, which we have not reaped.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        bail!("pxe-monitor did not exit within 10 s of SIGTERM")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A loopback port that is free right now.
pub fn free_port() -> Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent")
        .to_owned()
}

/// Builds pxe-monitor (debug) and returns the binary's path.
/// Builds the planted-traffic sender (the monitor package's `bench_traffic`
/// example), in release mode with `release`.
pub fn build_sender(release: bool) -> Result<PathBuf> {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "--quiet",
        "--package",
        "monitor",
        "--example",
        "bench_traffic",
    ]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd
        .current_dir(workspace_root())
        .status()
        .context("building bench_traffic")?;
    if !status.success() {
        bail!("building bench_traffic: {status}");
    }
    let profile = if release { "release" } else { "debug" };
    Ok(target_dir().join(profile).join("examples/bench_traffic"))
}

/// Which cargo build a task takes: `Release` for what users install
/// (`cargo xtask package`, `cargo xtask container`); `Dev` for what
/// `cargo xtask test` packages and runs, the debug build it already made
/// (a second, release build of everything cost about 2.5 minutes of a
/// clean-clone run, measured 2026-12-06). What the package and image
/// tests check (files, unit, scripts, user, privileges, system calls, the
/// static link) does not depend on the optimisation level; cargo-deb 3.8
/// takes `--profile dev` with a warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Release,
    Dev,
}

impl Profile {
    /// The profile's directory under the target directory (or under
    /// target/TRIPLE/).
    pub fn dir(self) -> &'static str {
        match self {
            Profile::Release => "release",
            Profile::Dev => "debug",
        }
    }
}

/// Where cargo puts what it builds.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

pub fn build_monitor() -> Result<PathBuf> {
    let status = Command::new(env!("CARGO"))
        .args(["build", "--package", "monitor", "--bin", "pxe-monitor"])
        .current_dir(workspace_root())
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build -p monitor failed: {status}");
    }
    Ok(target_dir().join("debug/pxe-monitor"))
}
