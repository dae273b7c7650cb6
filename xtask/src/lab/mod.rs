//! The network-namespace PXE lab: its names and addresses, and [`Lab`],
//! which builds one instance (namespaces, links, radvd, the servers), keeps
//! track of the processes it starts and tears it all down again. The
//! topology, the servers, the captures, the client, the state file and the
//! `lab up` / `lab down` commands are in the submodules.
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
//!  │       │  off, fwd delay 0)   │         │ web server :80 (HTTP     │
//!  │       │                      │         │ chains only)             │
//!  │       │                      │         └──────────────────────────┘
//!  │       └──────────────────────┼─br-rtr══╗ pxe-rtr (router)
//!  └──────────────────────────────┘         ║ rtr0 10.77.10.254/24
//!                                           ╚ radvd, fd77:10::/64
//! ```
//!
//! Every process the lab starts (radvd, dnsmasq, the web server, the
//! capture, qemu) is a direct child (`ip netns exec NS PROG` execs PROG, so
//! the child's PID is the daemon's PID) and is reaped with `wait`. The
//! PIDs (with their start times, so a recycled PID is never signalled) are
//! persisted in `lab.state` in the state directory, so that a later,
//! separate `cargo xtask lab down` can stop them.
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
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::proc::{Proc, become_subreaper, is_alive, proc_stat, spawn, terminate, wait_ready};
use crate::sys::{find_program, ip, is_root, netns_command, ns_exists, sysctl};

mod capture;
mod client;
mod down;
mod isc;
mod keeper;
mod servers;
mod servers6;
mod state;
mod topology;
mod web;

pub use client::{Console, Firmware, read_console};
pub use down::{down_all, down_command, sweep_abandoned};
pub use keeper::up_command;
pub use servers::{PXELINUX_OK_MARKER, STORM_FILE, STORM_FILE_BYTES, Servers};
pub use state::default_state_dir;
use state::{KEEPER_ROLE, STATE_FILE, StateEntry, read_state, remove_state, write_state};
pub use topology::{Names, leftover_namespaces};
use topology::{add_bridge, plug_into_segment, refuse_if_up};
pub use web::{
    CHAIN_FAILED_MARKER, HTTP_BOOT_SCRIPT, HTTP_CHAIN_FILE, HTTP_CUT_LENGTH, HTTP_CUT_SENT,
    HTTP_INITRD, HTTP_INITRD_BYTES, HTTP_KERNEL, HTTP_KERNEL_BYTES, HTTP_STAGE2, IPXE_EFI,
    WEB_ROOT,
};

/// Client segment: bridge br0, tap0 for qemu, bridge-side ends of the veths.
pub const CLIENT_NS: &str = "pxe-cli";
/// DHCP + TFTP server (dnsmasq) on [`SERVER_IF`].
pub const SERVER_NS: &str = "pxe-srv";
/// Router: radvd on [`ROUTER_IF`] (iPXE waits ~13 s without an RA).
pub const ROUTER_NS: &str = "pxe-rtr";
pub const SERVER_IF: &str = "srv0";
/// The server's end of the planted-traffic link ([`Lab::add_planted_link`]).
pub const PLANT_IF: &str = "plant0";
/// The sender's end of it.
pub const PLANT_TX: &str = "plantx";
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
/// The server's IPv6 address in the IPv6 set-ups (in [`RA_PREFIX`]).
pub const SERVER_IP6: &str = "fd77:10::1";
/// The server behind the router over IPv6 (the DHCPv6 relay set-up).
pub const UPSTREAM_SERVER_IP6: &str = "fd77:20::1";
/// IPv6 prefix radvd advertises.
pub const RA_PREFIX: &str = "fd77:10::/64";
/// Addresses dnsmasq hands out.
pub const DHCP_RANGE_START: &str = "10.77.10.100";
pub const DHCP_RANGE_END: &str = "10.77.10.199";
/// Capture filter used by [`Lab::start_capture`] (TCP port 80: the HTTP
/// chains' web server).
pub const CAPTURE_FILTER: &str = "udp or icmp or tcp port 80";

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
    /// What serves the segment now (how the client's console is read).
    servers: Servers,
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
            servers,
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

pub fn require_root() -> Result<()> {
    if !is_root() {
        bail!("the PXE lab needs root (network namespaces, tap devices)");
    }
    Ok(())
}
