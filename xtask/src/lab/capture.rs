//! The lab's captures: dumpcap on an interface of a lab namespace (or on
//! several, into one file), stopped so that the file is complete.

use std::fs;
use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::{BRIDGE, CAPTURE_FILTER, Lab, SERVER_IF};
use crate::proc::{is_alive, spawn, terminate, wait_ready};
use crate::sys::{find_program, netns_command};

/// How long [`Lab::stop_capture`] lets dumpcap catch up before stopping it.
const CAPTURE_SETTLE: Duration = Duration::from_millis(750);

impl Lab {
    /// Starts dumpcap capturing on [`SERVER_IF`] in the server namespace into
    /// `pcap` (classic pcap, filter [`CAPTURE_FILTER`]) and returns once it is
    /// really capturing. Stop it with [`Lab::stop_capture`] (or teardown).
    pub fn start_capture(&mut self, pcap: &Path) -> Result<()> {
        let ns = self.names.srv.clone();
        self.start_capture_at(pcap, &ns, SERVER_IF)
    }

    /// [`start_capture`](Self::start_capture) on the client segment: the
    /// bridge, which sees every frame of every port (as the clients do).
    pub fn start_capture_on_segment(&mut self, pcap: &Path) -> Result<()> {
        let ns = self.names.cli.clone();
        self.start_capture_at(pcap, &ns, BRIDGE)
    }

    /// Captures on `iface` in namespace `ns` into `pcap`, besides any other
    /// capture running.
    pub fn start_capture_at(&mut self, pcap: &Path, ns: &str, iface: &str) -> Result<()> {
        self.start_capture_on(pcap, ns, &[iface])
    }

    /// Captures on every interface of `ifaces` in namespace `ns` into one
    /// file (pcapng when there are several).
    pub fn start_capture_on(&mut self, pcap: &Path, ns: &str, ifaces: &[&str]) -> Result<()> {
        let dumpcap = find_program("dumpcap", "tshark")?;
        let pcap = std::path::absolute(pcap)?;
        if let Some(parent) = pcap.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        match fs::remove_file(&pcap) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing old {}", pcap.display()));
            }
            _ => {}
        }
        let mut cmd = netns_command(ns, &dumpcap);
        cmd.arg("-q");
        if ifaces.len() == 1 {
            cmd.arg("-P");
        }
        for iface in ifaces {
            cmd.args(["-i", iface, "-f", CAPTURE_FILTER]);
        }
        cmd.arg("-w").arg(&pcap);
        let log = self.dir.join(format!(
            "capture-{}-{}.log",
            self.captures.len(),
            ifaces.join("+")
        ));
        let mut p = spawn("capture", cmd, &log)?;
        let ready = wait_ready(p.pid(), &log, "dumpcap", Duration::from_secs(10), |l| {
            l.contains("Capturing on")
                && fs::metadata(&pcap).map(|m| m.len() >= 24).unwrap_or(false)
        });
        if let Err(e) = ready {
            let _ = terminate(&mut p, libc::SIGINT, Duration::from_secs(2));
            return Err(e);
        }
        self.captures.push(p);
        self.write_state()
    }

    /// Stops the captures: lets dumpcap catch up ([`CAPTURE_SETTLE`]), sends
    /// SIGINT and waits for each to exit, so the files are complete.
    /// Does nothing if no capture is running.
    pub fn stop_capture(&mut self) -> Result<()> {
        if self.captures.is_empty() {
            return Ok(());
        }
        if self
            .captures
            .iter()
            .any(|p| is_alive(p.pid(), Some(p.start_time)))
        {
            // dumpcap (libpcap, TPACKET_V3) gets packets in blocks that the
            // kernel hands over after a 250 ms timer; on SIGINT it does not
            // drain the ring, so packets younger than ~300 ms would be lost.
            sleep(CAPTURE_SETTLE);
        }
        let mut errors = Vec::new();
        for mut p in std::mem::take(&mut self.captures) {
            if let Err(e) = terminate(&mut p, libc::SIGINT, Duration::from_secs(5)) {
                errors.push(format!("{e:#}"));
            }
        }
        self.write_state()?;
        if !errors.is_empty() {
            bail!("stopping the captures: {}", errors.join("; "));
        }
        Ok(())
    }
}
