//! The network-namespace PXE lab: `cargo xtask lab up | down`.
//!
//! Everything lives in three network namespaces; nothing is configured or
//! bound in the root namespace, and every address is a 10.77.x.x address
//! inside the namespaces:
//!
//! ```text
//!  pxe-cli (client segment)                 pxe-srv (DHCP + TFTP)
//!  ┌──────────────────────────────┐         ┌──────────────────────────┐
//!  │ tap0 ─┐  (qemu iPXE client)  │         │ srv0 10.77.10.1/24       │
//!  │       br0 (no address, STP   ├─br-srv══╡ dnsmasq (DHCP, TFTP)     │
//!  │       │  off, fwd delay 0)   │         └──────────────────────────┘
//!  │       └──────────────────────┼─br-rtr══╗ pxe-rtr (router)
//!  └──────────────────────────────┘         ║ rtr0 10.77.10.254/24
//!                                           ╚ radvd, fd77:10::/64
//! ```
//!
//! Every process the lab starts (radvd, dnsmasq, the capture, qemu) is a
//! direct child (`ip netns exec NS PROG` execs PROG, so the child's PID is the
//! daemon's PID) and is reaped with `wait`. The PIDs (with their start times,
//! so a recycled PID is never signalled) are persisted in `lab.state` in the
//! state directory, so that a later, separate `cargo xtask lab down` can stop
//! them.
//!
//! `cargo xtask lab up` must return while the lab keeps running, yet its
//! daemons must still be reaped (PID 1 on this machine does not reap orphans
//! promptly). So `lab up` forks a small *keeper* process, which detaches
//! (`setsid`), builds the lab (the daemons are its children), reports success
//! back through a pipe, and then only waits for its children; it exits when
//! `lab down` has killed them all.
//!
//! radvd always forks a privsep helper that exits just after radvd itself.
//! So that it is reaped too, [`Lab::up`] makes the calling process a child
//! subreaper (`PR_SET_CHILD_SUBREAPER`) and teardown waits for such helpers.
//!
//! Captures use dumpcap directly (a single process; tshark would run dumpcap
//! as a grandchild).

use std::fs;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::proc::{
    Proc, become_subreaper, is_alive, kill_foreign, proc_comm, proc_stat, spawn, terminate,
    wait_ready, wait_until,
};
use crate::sys::{find_program, ip, netns_command, ns_exists, sysctl};

mod client;
mod servers;

pub use client::{Console, Firmware};
pub use servers::{PXELINUX_OK_MARKER, STORM_FILE, STORM_FILE_BYTES, Servers};

/// Client segment: bridge br0, tap0 for qemu, bridge-side ends of the veths.
pub const CLIENT_NS: &str = "pxe-cli";
/// DHCP + TFTP server (dnsmasq) on [`SERVER_IF`].
pub const SERVER_NS: &str = "pxe-srv";
/// Router: radvd on [`ROUTER_IF`] (iPXE waits ~13 s without an RA).
pub const ROUTER_NS: &str = "pxe-rtr";
pub const SERVER_IF: &str = "srv0";
pub const SERVER_IP: &str = "10.77.10.1";
pub const CLIENT_MAC: &str = "52:54:00:77:00:10";
pub const BOOT_FILE: &str = "boot.ipxe";
pub const BOOT_OK_MARKER: &str = "LAB-BOOT-OK";

/// Router interface (in [`ROUTER_NS`]) and its address.
pub const ROUTER_IF: &str = "rtr0";
pub const ROUTER_IP: &str = "10.77.10.254";
/// Client-segment bridge and the qemu tap device (in [`CLIENT_NS`]).
pub const BRIDGE: &str = "br0";
pub const CLIENT_TAP: &str = "tap0";
/// IPv6 prefix radvd advertises.
pub const RA_PREFIX: &str = "fd77:10::/64";
/// Addresses dnsmasq hands out.
pub const DHCP_RANGE_START: &str = "10.77.10.100";
pub const DHCP_RANGE_END: &str = "10.77.10.199";
/// Capture filter used by [`Lab::start_capture`].
pub const CAPTURE_FILTER: &str = "udp or icmp";

/// How long [`Lab::stop_capture`] lets dumpcap catch up before stopping it.
const CAPTURE_SETTLE: Duration = Duration::from_millis(750);
/// Second DHCP server (scenarios with two), at [`SERVER2_IP`] on [`SERVER_IF`].
pub const SERVER2_NS: &str = "pxe-srv2";
pub const SERVER2_IP: &str = "10.77.10.3";
/// The proxyDHCP / boot server of the proxy scenarios, in the second
/// server's namespace.
pub const PROXY_IP: &str = "10.77.10.2";
/// Relay scenarios: the router's upstream interface and the routed link
/// behind it, where the servers are (the DHCP server at
/// [`UPSTREAM_SERVER_IP`], a PXE server at [`UPSTREAM_PXE_IP`]).
pub const UPSTREAM_IF: &str = "rtr1";
pub const UPSTREAM_ROUTER_IP: &str = "10.77.20.254";
pub const UPSTREAM_SERVER_IP: &str = "10.77.20.1";
pub const UPSTREAM_PXE_IP: &str = "10.77.20.2";
/// Bridge-side veth ends in [`CLIENT_NS`].
const BR_SRV_PORT: &str = "br-srv";
const BR_RTR_PORT: &str = "br-rtr";
const BR_SRV2_PORT: &str = "br-srv2";

/// The namespace names of one lab instance. Instance 0 is the lab of `lab
/// up`, the demo and the tests ([`CLIENT_NS`], [`SERVER_NS`], ...); the
/// e2e matrix runs instances 1, 2, ... side by side (`pxe1-cli`, ...).
/// Interface names and addresses are the same in every instance: each has
/// its own namespaces, so its own segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    pub cli: String,
    pub srv: String,
    pub rtr: String,
    pub srv2: String,
    /// The routed upstream link (relay scenarios): a bridge joining the
    /// router's [`UPSTREAM_IF`] and the servers.
    pub up: String,
}

impl Names {
    pub fn of(instance: u16) -> Names {
        let p = match instance {
            0 => "pxe".to_owned(),
            n => format!("pxe{n}"),
        };
        Names {
            cli: format!("{p}-cli"),
            srv: format!("{p}-srv"),
            rtr: format!("{p}-rtr"),
            srv2: format!("{p}-srv2"),
            up: format!("{p}-up"),
        }
    }

    /// The namespace of light client `i` (boot storms).
    pub fn client(&self, i: usize) -> String {
        format!("{}-c{i}", self.cli.trim_end_matches("-cli"))
    }

    fn all(&self) -> [&str; 5] {
        [&self.cli, &self.srv, &self.rtr, &self.srv2, &self.up]
    }
}

/// Whether `ns` names a namespace of some lab instance (`pxe-cli`,
/// `pxe3-srv2`, ...).
fn is_lab_ns(ns: &str) -> bool {
    let Some(rest) = ns.strip_prefix("pxe") else {
        return false;
    };
    let role = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let light_client = role
        .strip_prefix("-c")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    light_client || matches!(role, "-cli" | "-srv" | "-rtr" | "-srv2" | "-up")
}
const STATE_FILE: &str = "lab.state";
const KEEPER_ROLE: &str = "keeper";

/// `cargo xtask lab up`: [`up_detached`] in [`default_state_dir`].
pub fn up_command() -> Result<()> {
    up_detached(&default_state_dir())
}

/// `cargo xtask lab down`: [`down_all`], saying what it stopped and deleted.
pub fn down_command() -> Result<()> {
    let done = down_all_report()?;
    if done.is_empty() {
        println!("nothing to tear down: no pxe-* namespace, no lab process");
    } else {
        for line in done {
            println!("{line}");
        }
        println!("lab is down");
    }
    Ok(())
}

/// `/run/pxe-monitor-lab`: `/run` is a tmpfs, like `/run/netns` where the
/// namespaces live, so persisted PIDs can never outlive a reboot; the lab
/// needs root anyway.
pub fn default_state_dir() -> PathBuf {
    PathBuf::from("/run/pxe-monitor-lab")
}

/// A running lab. Dropping it tears it down (errors are only printed).
pub struct Lab {
    dir: PathBuf,
    pub names: Names,
    /// Namespaces this value created (only these are deleted).
    created_ns: Vec<String>,
    /// radvd, dnsmasq (in start order).
    daemons: Vec<Proc>,
    /// Running captures (dumpcap), each on one interface.
    captures: Vec<Proc>,
    client: Option<Proc>,
    client_firmware: Firmware,
    /// PID of the `lab up` keeper process, if this lab runs under one.
    keeper_pid: Option<u32>,
    torn_down: bool,
}

impl Lab {
    /// Creates the namespaces, links and addresses, starts radvd and dnsmasq.
    /// Any failure part-way tears down what was made. Refuses if a lab
    /// already exists. Configs, logs, the TFTP root, the lease file and
    /// `lab.state` go into `state_dir` (created if needed). Makes the calling
    /// process a child subreaper (see the module docs).
    pub fn up(state_dir: &Path) -> Result<Lab> {
        Self::up_with(state_dir, 0, Servers::Dnsmasq)
    }

    /// [`up`](Self::up) as instance `instance` ([`Names`]), with `servers`
    /// serving the segment.
    pub fn up_with(state_dir: &Path, instance: u16, servers: Servers) -> Result<Lab> {
        require_root()?;
        let names = Names::of(instance);
        let dir = std::path::absolute(state_dir)
            .with_context(|| format!("state dir {}", state_dir.display()))?;
        find_program("ip", "iproute2")?;
        // Checked before anything is built.
        find_program("dnsmasq", "dnsmasq")?;
        let radvd = find_program("radvd", "radvd")?;

        refuse_if_up(&names)?;
        let earlier = if instance == 0 {
            vec![dir.clone(), default_state_dir()]
        } else {
            vec![dir.clone()]
        };
        for state_dir in earlier {
            for e in read_state(&state_dir).unwrap_or_default() {
                if e.role != KEEPER_ROLE && is_alive(e.pid, Some(e.start_time)) {
                    bail!(
                        "{} (pid {}) from an earlier lab is still running (see {}); \
                         run `cargo xtask lab down` first",
                        e.role,
                        e.pid,
                        state_dir.join(STATE_FILE).display()
                    );
                }
            }
        }

        write_files(&dir)?;
        become_subreaper();
        let mut lab = Lab {
            dir,
            names,
            created_ns: Vec::new(),
            daemons: Vec::new(),
            captures: Vec::new(),
            client: None,
            client_firmware: Firmware::Bios,
            keeper_pid: None,
            torn_down: false,
        };
        if let Err(e) = lab.build(&radvd, servers) {
            if let Err(e2) = lab.teardown() {
                eprintln!("lab: cleanup after the failed `up` also failed: {e2:#}");
            }
            return Err(e.context("building the PXE lab failed; what was built has been removed"));
        }
        Ok(lab)
    }

    fn build(&mut self, radvd: &str, servers: Servers) -> Result<()> {
        let n = self.names.clone();
        for ns in [&n.cli, &n.srv, &n.rtr] {
            self.add_ns(ns)?;
        }

        // Client segment: a pure L2 bridge. No IPv6 either, so the only
        // frames on the segment are the client's and the servers'.
        sysctl(&n.cli, "net.ipv6.conf.all.disable_ipv6", "1")?;
        sysctl(&n.cli, "net.ipv6.conf.default.disable_ipv6", "1")?;
        add_bridge(&n.cli)?;
        ip(
            Some(&n.cli),
            &["tuntap", "add", "dev", CLIENT_TAP, "mode", "tap"],
        )?;
        ip(
            Some(&n.cli),
            &["link", "set", CLIENT_TAP, "master", BRIDGE, "up"],
        )?;

        // Server: on the segment, or (relay scenarios) behind the router.
        if servers.upstream() {
            self.add_ns(&n.up)?;
            add_bridge(&n.up)?;
            plug_into_segment(&n.up, &n.srv, BR_SRV_PORT, SERVER_IF, UPSTREAM_SERVER_IP)?;
            ip(
                Some(&n.srv),
                &["route", "add", "10.77.10.0/24", "via", UPSTREAM_ROUTER_IP],
            )?;
            plug_into_segment(&n.up, &n.rtr, BR_RTR_PORT, UPSTREAM_IF, UPSTREAM_ROUTER_IP)?;
            sysctl(&n.rtr, "net.ipv4.ip_forward", "1")?;
        } else {
            plug_into_segment(&n.cli, &n.srv, BR_SRV_PORT, SERVER_IF, SERVER_IP)?;
        }

        // Router: radvd wants forwarding on and a usable link-local address
        // (no DAD, so it is usable at once).
        sysctl(&n.rtr, "net.ipv6.conf.all.forwarding", "1")?;
        sysctl(&n.rtr, "net.ipv6.conf.default.accept_dad", "0")?;
        plug_into_segment(&n.cli, &n.rtr, BR_RTR_PORT, ROUTER_IF, ROUTER_IP)?;
        wait_for(
            Duration::from_secs(5),
            "a link-local IPv6 address on rtr0",
            || {
                let out = ip(
                    Some(&n.rtr),
                    &["-6", "addr", "show", "dev", ROUTER_IF, "scope", "link"],
                )?;
                Ok(out.contains("inet6 fe80") && !out.contains("tentative"))
            },
        )?;

        // radvd.
        let mut cmd = netns_command(&n.rtr, radvd);
        cmd.arg("--nodaemon")
            .arg("--config")
            .arg(self.dir.join("radvd.conf"))
            .arg("--pidfile")
            .arg(self.dir.join("radvd.pid"))
            .args(["--logmethod", "stderr"]);
        self.start_daemon("radvd", cmd, |l| l.contains("started"))?;
        self.start_servers(servers)
    }

    /// `n` light clients for a boot storm: namespaces [`Names::client`],
    /// each with `eth0` (MAC `52:54:00:77:01:<i>`, no address) on the
    /// segment. Removed with the lab.
    pub fn add_light_clients(&mut self, n: usize) -> Result<Vec<(String, String)>> {
        let cli = self.names.cli.clone();
        let mut out = Vec::new();
        for i in 0..n {
            let ns = self.names.client(i);
            self.add_ns(&ns)?;
            let port = format!("br-c{i}");
            let mac = format!("52:54:00:77:01:{i:02x}");
            ip(
                Some(&cli),
                &[
                    "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
                ],
            )?;
            ip(Some(&cli), &["link", "set", &port, "master", BRIDGE, "up"])?;
            ip(Some(&ns), &["link", "set", "eth0", "address", &mac, "up"])?;
            out.push((ns, mac));
        }
        Ok(out)
    }

    fn add_ns(&mut self, ns: &str) -> Result<()> {
        ip(None, &["netns", "add", ns])?;
        self.created_ns.push(ns.to_owned());
        ip(Some(ns), &["link", "set", "lo", "up"])?;
        Ok(())
    }

    /// Starts one daemon (logging to `<role>.log` in the state dir), records
    /// its PID in the state file, and waits up to 5 s for the log line that
    /// says it is ready.
    fn start_daemon(
        &mut self,
        role: &'static str,
        cmd: Command,
        ready: impl Fn(&str) -> bool,
    ) -> Result<()> {
        let log = self.dir.join(format!("{role}.log"));
        let p = spawn(role, cmd, &log)?;
        let pid = p.pid();
        self.daemons.push(p);
        self.write_state()?;
        wait_ready(pid, &log, role, Duration::from_secs(5), ready)
    }

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

    /// Starts the qemu iPXE client (TCG, -nographic, serial console to
    /// [`Lab::serial_log`], e1000 with [`CLIENT_MAC`] on tap0 in [`CLIENT_NS`]).
    pub fn boot_client(&mut self) -> Result<()> {
        self.boot_client_as(CLIENT_MAC)
    }

    /// [`boot_client`](Self::boot_client) with another MAC address: another
    /// machine on the segment.
    pub fn boot_client_as(&mut self, mac: &str) -> Result<()> {
        self.boot(Firmware::Bios, mac)
    }

    /// Starts a client with `firmware` and `mac` (qemu, TCG, serial console
    /// to [`Lab::serial_log`], on tap0 in the client namespace).
    pub fn boot(&mut self, firmware: Firmware, mac: &str) -> Result<()> {
        if let Some(c) = &self.client {
            bail!("the client is already running (pid {})", c.pid());
        }
        let qemu = find_program("qemu-system-x86_64", "qemu-system-x86 ipxe-qemu")?;
        let serial = self.serial_log();
        match fs::remove_file(&serial) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing old {}", serial.display()));
            }
            _ => {}
        }
        let mut cmd = netns_command(&self.names.cli, &qemu);
        cmd.args(client::qemu_args(
            &serial,
            mac,
            firmware,
            Some(&self.dir.join("ovmf-vars.fd")),
        )?);
        self.client_firmware = firmware;
        let log = self.dir.join("qemu.log");
        let mut p = spawn("client", cmd, &log)?;
        // qemu creates the serial file once its chardevs (and the tap) are open.
        let ready = wait_ready(p.pid(), &log, "qemu", Duration::from_secs(10), |_| {
            serial.exists()
        });
        if let Err(e) = ready {
            let _ = terminate(&mut p, libc::SIGTERM, Duration::from_secs(2));
            return Err(e);
        }
        self.client = Some(p);
        self.write_state()
    }

    /// Polls the serial log until [`BOOT_OK_MARKER`] appears (`Ok(true)`), or
    /// a known failure line appears, qemu exits, or `timeout` passes
    /// (`Ok(false)`). The client keeps running; see [`Lab::stop_client`].
    pub fn wait_client(&self, timeout: Duration) -> Result<bool> {
        Ok(self.wait_console(timeout, None)?.booted)
    }

    /// Polls the serial log until the firmware says how its boot went (see
    /// [`client::read_console`]), qemu exits, or `timeout` passes (then the
    /// line is empty and `booted` false). The client keeps running.
    pub fn wait_console(&self, timeout: Duration, booted: Option<&str>) -> Result<Console> {
        let Some(client) = &self.client else {
            bail!("no client was booted (call boot_client first)");
        };
        let serial = self.serial_log();
        let deadline = Instant::now() + timeout;
        loop {
            let bytes = fs::read(&serial).unwrap_or_default();
            if let Some(c) = client::read_console(
                self.client_firmware,
                &String::from_utf8_lossy(&bytes),
                booted,
            ) {
                return Ok(c);
            }
            if !is_alive(client.pid(), Some(client.start_time)) || Instant::now() >= deadline {
                return Ok(Console {
                    booted: false,
                    line: String::new(),
                });
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// Kills the qemu client (if running) and reaps it.
    pub fn stop_client(&mut self) -> Result<()> {
        let Some(mut p) = self.client.take() else {
            return Ok(());
        };
        let res = terminate(&mut p, libc::SIGTERM, Duration::from_secs(3));
        self.write_state()?;
        res.map(|_| ())
    }

    /// The client's serial console log.
    pub fn serial_log(&self) -> PathBuf {
        self.dir.join("client-serial.log")
    }

    /// The state directory (configs, logs, TFTP root, `lab.state`).
    pub fn state_dir(&self) -> &Path {
        &self.dir
    }

    /// PIDs of the running lab processes, by role (radvd, dnsmasq, capture,
    /// client).
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        self.procs().map(|p| (p.role, p.pid())).collect()
    }

    /// Kills every process it started (SIGTERM, SIGKILL after a grace
    /// period, reaping each) and deletes the namespaces. Idempotent.
    pub fn down(mut self) -> Result<()> {
        self.teardown()
    }

    fn procs(&self) -> impl Iterator<Item = &Proc> {
        self.client
            .iter()
            .chain(self.captures.iter())
            .chain(self.daemons.iter().rev())
    }

    fn teardown(&mut self) -> Result<()> {
        if self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        let mut errors = Vec::new();
        if let Err(e) = self.stop_client() {
            errors.push(format!("client: {e:#}"));
        }
        if let Err(e) = self.stop_capture() {
            errors.push(format!("capture: {e:#}"));
        }
        while let Some(mut p) = self.daemons.pop() {
            if let Err(e) = terminate(&mut p, libc::SIGTERM, Duration::from_secs(3)) {
                errors.push(format!("{}: {e:#}", p.role));
            }
        }
        while let Some(ns) = self.created_ns.pop() {
            if ns_exists(&ns)
                && let Err(e) = ip(None, &["netns", "del", &ns])
            {
                errors.push(format!("{e:#}"));
            }
        }
        remove_state(&self.dir);
        if errors.is_empty() {
            Ok(())
        } else {
            bail!("lab teardown: {}", errors.join("; "))
        }
    }

    fn write_state(&self) -> Result<()> {
        let mut entries: Vec<StateEntry> = self
            .procs()
            .map(|p| StateEntry {
                role: p.role.to_string(),
                pid: p.pid(),
                start_time: p.start_time,
            })
            .collect();
        if let Some(pid) = self.keeper_pid
            && let Some((_, start_time)) = proc_stat(pid)
        {
            entries.push(StateEntry {
                role: KEEPER_ROLE.to_string(),
                pid,
                start_time,
            });
        }
        write_state(&self.dir, &entries)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("lab: {e:#}");
        }
    }
}

/// Removes everything a previous `lab up` left: kills the processes listed in
/// the default state dir (verifying each PID's start time), then any process
/// still inside a pxe-* namespace of this lab, then deletes the namespaces.
/// Safe to call when nothing exists.
pub fn down_all() -> Result<()> {
    down_all_report().map(|_| ())
}

fn down_all_report() -> Result<Vec<String>> {
    require_root()?;
    let dir = default_state_dir();
    let mut done = Vec::new();
    let mut errors = Vec::new();
    let entries = read_state(&dir).unwrap_or_default();

    // Client and capture first, the daemons after; the keeper last.
    let rank = |role: &str| match role {
        "client" => 0,
        "capture" => 1,
        "dnsmasq" | "dhcpd" => 2,
        "radvd" => 3,
        KEEPER_ROLE => 5,
        _ => 4,
    };
    let mut procs: Vec<&StateEntry> = entries.iter().filter(|e| e.role != KEEPER_ROLE).collect();
    procs.sort_by_key(|e| rank(&e.role));
    for e in procs {
        if !is_alive(e.pid, Some(e.start_time)) {
            continue;
        }
        let sig = if e.role == "capture" {
            libc::SIGINT
        } else {
            libc::SIGTERM
        };
        match kill_foreign(e.pid, Some(e.start_time), sig) {
            Ok(()) => done.push(format!("stopped {} (pid {})", e.role, e.pid)),
            Err(err) => errors.push(format!("{} (pid {}): {err:#}", e.role, e.pid)),
        }
    }

    // Anything else still inside a lab's namespaces (e.g. a qemu started
    // by hand, or the children of a test or an e2e run that was killed).
    let lab_ns = lab_namespaces();
    for ns in &lab_ns {
        let pids = ip(None, &["netns", "pids", ns]).unwrap_or_default();
        for pid in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
        {
            let Some((_, start)) = proc_stat(pid) else {
                continue;
            };
            let name = proc_comm(pid);
            match kill_foreign(pid, Some(start), libc::SIGTERM) {
                Ok(()) => done.push(format!("stopped {name} (pid {pid}) found in netns {ns}")),
                Err(err) => errors.push(format!("{name} (pid {pid}) in {ns}: {err:#}")),
            }
        }
    }
    for ns in &lab_ns {
        if ns_exists(ns) {
            match ip(None, &["netns", "del", ns]) {
                Ok(_) => done.push(format!("deleted netns {ns}")),
                Err(err) => errors.push(format!("{err:#}")),
            }
        }
    }

    // The keeper exits by itself once its children are gone.
    for e in entries.iter().filter(|e| e.role == KEEPER_ROLE) {
        let gone = wait_until(Duration::from_secs(3), || {
            !is_alive(e.pid, Some(e.start_time))
        });
        if !gone {
            match kill_foreign(e.pid, Some(e.start_time), libc::SIGTERM) {
                Ok(()) => done.push(format!("stopped keeper (pid {})", e.pid)),
                Err(err) => errors.push(format!("keeper (pid {}): {err:#}", e.pid)),
            }
        }
    }
    if errors.is_empty() {
        remove_state(&dir);
        Ok(done)
    } else {
        for line in &done {
            eprintln!("{line}");
        }
        bail!("lab down: {}", errors.join("; "))
    }
}

/// Namespaces of lab instances 1 and up (the e2e runs) that exist now.
pub fn leftover_namespaces() -> Vec<String> {
    let zero = Names::of(0);
    lab_namespaces()
        .into_iter()
        .filter(|ns| !zero.all().contains(&ns.as_str()))
        .collect()
}

/// The namespaces of every lab instance that exist now.
fn lab_namespaces() -> Vec<String> {
    ip(None, &["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|ns| is_lab_ns(ns))
        .map(str::to_owned)
        .collect()
}

/// Fails, naming them, when any of the instance's namespaces exist.
fn refuse_if_up(names: &Names) -> Result<()> {
    let existing: Vec<&str> = names.all().into_iter().filter(|ns| ns_exists(ns)).collect();
    if !existing.is_empty() {
        bail!(
            "network namespace(s) {} already exist: a lab is already up (or was left \
             behind); run `cargo xtask lab down` first",
            existing.join(", ")
        );
    }
    Ok(())
}

/// `cargo xtask lab up`: builds the lab under a detached keeper process (so
/// the daemons stay reaped after this command exits), then prints a summary.
fn up_detached(dir: &Path) -> Result<()> {
    require_root()?;
    // Lab::up checks this too; checking here as well starts no keeper at all.
    refuse_if_up(&Names::of(0))?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = fs::canonicalize(dir)?;

    let threads = fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(1);
    if threads > 1 {
        // fork() is only sound while single-threaded: run in-process and
        // leave the daemons behind (orphaned, but recorded for `lab down`).
        let lab = Lab::up(&dir)?;
        lab.write_state()?;
        print_summary(&dir, None)?;
        std::mem::forget(lab);
        return Ok(());
    }

    let mut fds = [0; 2];
    // SAFETY: plain syscalls; the fds are owned below.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("pipe2");
    }
    let (rd, wr) = (fds[0], fds[1]);
    // SAFETY: the process is single-threaded (checked above).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error()).context("fork");
    }
    if pid == 0 {
        // The keeper. Never returns.
        // SAFETY: `rd` is ours; `wr` is owned by the File.
        unsafe { libc::close(rd) };
        let report = unsafe { fs::File::from_raw_fd(wr) };
        keeper(&dir, report);
    }
    // SAFETY: `wr` belongs to the keeper now; `rd` is owned by the File.
    unsafe { libc::close(wr) };
    let mut report = unsafe { fs::File::from_raw_fd(rd) };
    let mut msg = String::new();
    report
        .read_to_string(&mut msg)
        .context("reading the keeper's report")?;
    match msg.split_once('\n') {
        Some(("OK", _)) => print_summary(&dir, Some(pid as u32)),
        Some(("ERR", err)) => bail!("{}", err.trim_end()),
        _ => {
            // The keeper died before reporting: remove whatever it left.
            let cleanup = down_all();
            bail!(
                "the lab keeper (pid {pid}) died while building the lab (see {}); cleanup: {}",
                dir.join("keeper.log").display(),
                match cleanup {
                    Ok(()) => "done".to_string(),
                    Err(e) => format!("{e:#}"),
                }
            )
        }
    }
}

fn keeper(dir: &Path, mut report: fs::File) -> ! {
    // SAFETY: single-threaded child of fork; plain syscalls.
    unsafe {
        libc::setsid();
        let _ = libc::chdir(c"/".as_ptr());
    }
    let log = dir.join("keeper.log");
    let redirect = (|| -> std::io::Result<()> {
        let null = fs::File::open("/dev/null")?;
        let log = fs::File::create(&log)?;
        use std::os::fd::AsRawFd;
        // SAFETY: valid fds; dup2 onto the standard descriptors.
        unsafe {
            libc::dup2(null.as_raw_fd(), 0);
            libc::dup2(log.as_raw_fd(), 1);
            libc::dup2(log.as_raw_fd(), 2);
        }
        Ok(())
    })();
    if let Err(e) = redirect {
        let _ = write!(report, "ERR\nkeeper: redirecting stdio: {e}\n");
        // SAFETY: terminate the forked child without running destructors.
        unsafe { libc::_exit(1) };
    }
    let mut lab = match Lab::up(dir) {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("keeper: {e:#}");
            let _ = write!(report, "ERR\n{e:#}\n");
            // SAFETY: see above.
            unsafe { libc::_exit(1) };
        }
    };
    lab.keeper_pid = Some(std::process::id());
    if let Err(e) = lab.write_state() {
        eprintln!("keeper: {e:#}");
        drop(lab);
        let _ = write!(report, "ERR\nwriting the lab state: {e:#}\n");
        // SAFETY: see above.
        unsafe { libc::_exit(1) };
    }
    eprintln!("keeper {}: lab up: {:?}", std::process::id(), lab.pids());
    // From now on the daemons outlive this Lab value; `lab down` stops them.
    std::mem::forget(lab);
    let _ = report.write_all(b"OK\n");
    drop(report);
    loop {
        let mut status = 0;
        // SAFETY: plain syscall.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid > 0 {
            eprintln!("keeper: reaped pid {pid} (wait status {status:#x})");
            continue;
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        eprintln!("keeper: no children left ({err}); exiting");
        // SAFETY: see above.
        unsafe { libc::_exit(0) };
    }
}

fn print_summary(dir: &Path, keeper: Option<u32>) -> Result<()> {
    let entries = read_state(dir)?;
    let pid_of = |role: &str| {
        entries
            .iter()
            .find(|e| e.role == role)
            .map(|e| e.pid.to_string())
            .unwrap_or("?".into())
    };
    let serial = dir.join("client-serial.log");
    let qemu = client::qemu_args(&serial, CLIENT_MAC, Firmware::Bios, None)?
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    println!(
        "PXE lab is up (state, configs and logs in {})",
        dir.display()
    );
    match keeper {
        Some(pid) => println!("  keeper pid {pid} (reaps the daemons; exits on `lab down`)"),
        None => println!("  (no keeper: the daemons are orphans of this command)"),
    }
    println!(
        "  netns {CLIENT_NS}: bridge {BRIDGE} (no address, STP off, forward delay 0) \
         with ports {CLIENT_TAP} (for qemu, NO-CARRIER until it runs), {BR_SRV_PORT}, {BR_RTR_PORT}"
    );
    println!(
        "  netns {SERVER_NS}: {SERVER_IF} {SERVER_IP}/24; dnsmasq pid {}: DHCP \
         {DHCP_RANGE_START}-{DHCP_RANGE_END}, boot file {BOOT_FILE} via TFTP from {}",
        pid_of("dnsmasq"),
        dir.join("tftp").display()
    );
    println!(
        "  netns {ROUTER_NS}: {ROUTER_IF} {ROUTER_IP}/24; radvd pid {} advertising {RA_PREFIX}",
        pid_of("radvd")
    );
    println!();
    println!(
        "Boot the iPXE client (serial console in {}):",
        serial.display()
    );
    println!("  ip netns exec {CLIENT_NS} qemu-system-x86_64 {qemu} </dev/null >/dev/null 2>&1 &");
    println!(
        "  tail -f {}    # '{BOOT_OK_MARKER}' = booted; then: kill $!",
        serial.display()
    );
    println!("Watch the wire:");
    println!("  ip netns exec {SERVER_NS} tshark -n -i {SERVER_IF} -f '{CAPTURE_FILTER}'");
    println!("Tear down:");
    println!("  cargo xtask lab down");
    Ok(())
}

/// Writes the radvd config and the TFTP root.
fn write_files(dir: &Path) -> Result<()> {
    let tftp = dir.join("tftp");
    fs::create_dir_all(&tftp).with_context(|| format!("creating {}", tftp.display()))?;
    for d in [dir, &tftp] {
        fs::set_permissions(d, fs::Permissions::from_mode(0o755))?;
    }
    let write = |name: PathBuf, text: String| {
        fs::write(&name, text).with_context(|| format!("writing {}", name.display()))
    };
    write(
        tftp.join(BOOT_FILE),
        format!("#!ipxe\necho {BOOT_OK_MARKER}\n"),
    )?;
    write(
        dir.join("radvd.conf"),
        format!(
            "# generated by `cargo xtask lab`\n\
             interface {ROUTER_IF} {{\n\
             \tAdvSendAdvert on;\n\
             \tMinRtrAdvInterval 3;\n\
             \tMaxRtrAdvInterval 10;\n\
             \tprefix {RA_PREFIX} {{\n\
             \t\tAdvOnLink on;\n\
             \t\tAdvAutonomous on;\n\
             \t}};\n\
             }};\n"
        ),
    )?;
    Ok(())
}

fn wait_for(timeout: Duration, what: &str, mut cond: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if cond()? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        sleep(Duration::from_millis(50));
    }
}

/// A switch in namespace `ns`: bridge [`BRIDGE`], up, forwarding at once
/// (STP off, no forward delay), flooding multicast (no snooping).
fn add_bridge(ns: &str) -> Result<()> {
    ip(
        Some(ns),
        &[
            "link",
            "add",
            BRIDGE,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
            "mcast_snooping",
            "0",
        ],
    )?;
    ip(Some(ns), &["link", "set", BRIDGE, "up"])?;
    Ok(())
}

/// Connects namespace `ns` to the client segment: a veth whose bridge end
/// `port` joins the bridge in the client namespace and whose other end `ifname`
/// gets `addr`/24 in `ns`.
fn plug_into_segment(cli: &str, ns: &str, port: &str, ifname: &str, addr: &str) -> Result<()> {
    ip(
        Some(cli),
        &[
            "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", ns,
        ],
    )?;
    ip(Some(cli), &["link", "set", port, "master", BRIDGE, "up"])?;
    ip(
        Some(ns),
        &["addr", "add", &format!("{addr}/24"), "dev", ifname],
    )?;
    ip(Some(ns), &["link", "set", ifname, "up"])?;
    Ok(())
}

pub fn require_root() -> Result<()> {
    // SAFETY: plain syscall.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the PXE lab needs root (network namespaces, tap devices)");
    }
    Ok(())
}

// ---------------------------------------------------------------- state file

#[derive(Debug, Clone, PartialEq)]
struct StateEntry {
    role: String,
    pid: u32,
    start_time: u64,
}

fn write_state(dir: &Path, entries: &[StateEntry]) -> Result<()> {
    let mut text = String::from("# pxe-monitor lab: role pid starttime (clock ticks)\n");
    for e in entries {
        text.push_str(&format!("{} {} {}\n", e.role, e.pid, e.start_time));
    }
    let tmp = dir.join(format!("{STATE_FILE}.tmp"));
    fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, dir.join(STATE_FILE))
        .with_context(|| format!("writing {}", dir.join(STATE_FILE).display()))
}

fn parse_state(text: &str) -> Vec<StateEntry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some(StateEntry {
                role: f.next()?.to_string(),
                pid: f.next()?.parse().ok()?,
                start_time: f.next()?.parse().ok()?,
            })
        })
        .collect()
}

fn read_state(dir: &Path) -> Result<Vec<StateEntry>> {
    let path = dir.join(STATE_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(parse_state(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn remove_state(dir: &Path) {
    let _ = fs::remove_file(dir.join(STATE_FILE));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names() {
        let zero = Names::of(0);
        assert_eq!(
            zero.all(),
            [CLIENT_NS, SERVER_NS, ROUTER_NS, SERVER2_NS, "pxe-up"],
            "instance 0 is the lab of `lab up`"
        );
        assert_eq!(Names::of(12).srv2, "pxe12-srv2");
        assert_eq!(Names::of(3).client(49), "pxe3-c49");
        assert!(is_lab_ns(&Names::of(0).client(7)));
        for ns in zero.all().into_iter().chain(Names::of(7).all()) {
            assert!(is_lab_ns(ns), "{ns}");
        }
        for other in ["pxe-bench-tx", "pxe", "pxe7", "lab-cli", "pxe-cli2"] {
            assert!(!is_lab_ns(other), "{other}");
        }
    }

    #[test]
    fn state_file_round_trip() {
        let dir = std::env::temp_dir().join(format!("pxe-lab-state-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let entries = vec![
            StateEntry {
                role: "radvd".into(),
                pid: 10,
                start_time: 123,
            },
            StateEntry {
                role: KEEPER_ROLE.into(),
                pid: 9,
                start_time: 100,
            },
        ];
        write_state(&dir, &entries).unwrap();
        assert_eq!(read_state(&dir).unwrap(), entries);
        remove_state(&dir);
        assert!(read_state(&dir).unwrap().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
