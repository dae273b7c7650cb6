//! `cargo xtask package --boot`: the package under a real systemd, sandbox
//! and all. PID 1 here is not systemd, so a Debian 12 tree made once with
//! debootstrap (kept in target/package-boot/rootfs) is booted with
//! systemd-nspawn in a network namespace of its own, with a veth to a
//! second one; the .deb is installed in it and the service checked as an
//! admin would check it: running as pxe-monitor under seccomp, counting the
//! datagrams sent through the veth, the online exposure score, an upgrade
//! restarting it with the defaults file kept, a clean stop, an unconfigured
//! start failing once with status 2 and no restart, a purge. Manual (root,
//! debootstrap and systemd-container installed): about a minute for
//! debootstrap the first time, 20 s after; not part of `cargo xtask test`.

use std::{
    fs,
    net::UdpSocket,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};

use crate::sys::{find_program, ip, is_root, ns_exists, run_cmd};

const PEER_NS: &str = "pxe-boot-peer";
const CONTAINER_NS: &str = "pxe-boot-c";
const PEER_IF: &str = "bootpeer0";
/// The container's end, named as nspawn names its own veths.
const CONTAINER_IF: &str = "host0";
const PEER_IP: &str = "10.99.2.1";
const CONTAINER_IP: &str = "10.99.2.2";
const LISTEN: &str = "127.0.0.1:9567";
const DATAGRAMS: u64 = 5;
const DEFAULTS: &str = "etc/default/pxe-monitor";

/// Deletes the namespaces and stops the container on drop.
struct Booted {
    nspawn: Option<Child>,
}

impl Drop for Booted {
    fn drop(&mut self) {
        if let Some(mut c) = self.nspawn.take() {
            // SIGTERM: nspawn shuts the container's systemd down.
            // SAFETY: kill(2) on our own child, not yet reaped.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && c.try_wait().ok().flatten().is_none() {
                thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [PEER_NS, CONTAINER_NS] {
            let _ = ip(None, &["netns", "del", ns]);
        }
    }
}

/// Boots the tree in `dir`, installs `deb`, checks, upgrades to `upgrade`,
/// purges.
pub fn run(deb: &Path, upgrade: &Path, dir: &Path) -> Result<()> {
    ensure!(
        is_root(),
        "--boot needs root (debootstrap, namespaces, systemd-nspawn)"
    );
    for (prog, pkg) in [
        ("debootstrap", "debootstrap"),
        ("systemd-nspawn", "systemd-container"),
    ] {
        find_program(prog, pkg)?;
    }
    let root = dir.join("rootfs");
    let t = Instant::now();
    rootfs(&root)?;
    println!(
        "boot: Debian 12 tree ready in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    for d in [deb, upgrade] {
        fs::copy(
            d,
            root.join("var/tmp")
                .join(d.file_name().context("a .deb name")?),
        )?;
    }
    let name = |d: &Path| format!("/var/tmp/{}", d.file_name().unwrap().to_string_lossy());
    run_cmd(
        Command::new("chroot")
            .arg(&root)
            .args(["dpkg", "-i", &name(deb)]),
    )
    .context("installing the package in the tree")?;
    set_args(
        &root,
        &format!("--interface {CONTAINER_IF} --listen {LISTEN}"),
    )?;

    for ns in [PEER_NS, CONTAINER_NS] {
        ensure!(!ns_exists(ns), "namespace {ns} exists: `ip netns del {ns}`");
    }
    let mut booted = Booted { nspawn: None };
    ip(None, &["netns", "add", PEER_NS])?;
    ip(None, &["netns", "add", CONTAINER_NS])?;
    ip(
        Some(PEER_NS),
        &[
            "link",
            "add",
            PEER_IF,
            "type",
            "veth",
            "peer",
            "name",
            CONTAINER_IF,
            "netns",
            CONTAINER_NS,
        ],
    )?;
    for (ns, dev, addr) in [
        (PEER_NS, PEER_IF, PEER_IP),
        (CONTAINER_NS, CONTAINER_IF, CONTAINER_IP),
    ] {
        ip(
            Some(ns),
            &["addr", "add", &format!("{addr}/24"), "dev", dev],
        )?;
        ip(Some(ns), &["link", "set", dev, "up"])?;
        ip(Some(ns), &["link", "set", "lo", "up"])?;
    }
    let console = fs::File::create(dir.join("console.log"))?;
    let t = Instant::now();
    // Not through `ip netns exec`, whose fresh /sys has no cgroup mounts.
    let nspawn = Command::new("systemd-nspawn")
        .args(["--quiet", "--boot", "--directory"])
        .arg(&root)
        .arg(format!(
            "--network-namespace-path=/run/netns/{CONTAINER_NS}"
        ))
        .args(["--machine=pxe-monitor-boot", "--register=no", "--keep-unit"])
        // What the unit asks for: nspawn's own bounding set and system-call
        // filter lack them.
        .args([
            "--capability=CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN",
            "--system-call-filter=bpf",
        ])
        .arg("--console=pipe")
        .stdin(Stdio::null())
        .stdout(console.try_clone()?)
        .stderr(console)
        .spawn()
        .context("starting systemd-nspawn")?;
    booted.nspawn = Some(nspawn);
    let nspawn_pid = booted.nspawn.as_ref().unwrap().id();
    let c = Container::find(nspawn_pid)?;
    // "running", or "degraded" where a unit of the minimal tree failed;
    // nothing while its bus is not up yet.
    let state = loop {
        let out = c
            .command(&["systemctl", "is-system-running", "--wait"])
            .output()?;
        let state = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if matches!(state.as_str(), "running" | "degraded") {
            break state;
        }
        ensure!(
            t.elapsed() < Duration::from_secs(60),
            "the container's systemd is not up within 60 s ({state})"
        );
        thread::sleep(Duration::from_millis(200));
    };
    println!(
        "boot: systemd in the container {state} after {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // Started at boot (enabled on install), as the unit says.
    let pid = c.show("MainPID")?;
    ensure!(
        c.show("ActiveState")? == "active",
        "not active after boot:\n{}",
        c.journal()?
    );
    // Serving means attached and its privileges dropped.
    let before = c.wait_serving()?;
    let status = c.run(&["cat", &format!("/proc/{pid}/status")])?;
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}:")))
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    let uid = c.run(&["id", "-u", "pxe-monitor"])?.trim().to_owned();
    ensure!(
        field("Uid") == [uid.as_str(); 4].join(" "),
        "Uid: {}",
        field("Uid")
    );
    ensure!(field("Seccomp") == "2", "no seccomp filter: {status}");
    ensure!(field("NoNewPrivs") == "1");
    // CAP_NET_ADMIN (12), CAP_PERFMON (38), CAP_BPF (39) and no other.
    let unit_caps: u64 = (1 << 12) | (1 << 38) | (1 << 39);
    let bits = u64::from_str_radix(&field("CapBnd"), 16)?;
    ensure!(
        bits & !unit_caps == 0,
        "CapBnd {bits:#x}: beyond the unit's"
    );
    // Once attached it keeps none (TCX links).
    for set in ["CapPrm", "CapEff", "CapAmb"] {
        let bits = u64::from_str_radix(&field(set), 16)?;
        ensure!(bits == 0, "{set} {bits:#x} after attach");
    }
    send_datagrams()?;
    thread::sleep(Duration::from_millis(500));
    let after = dhcp_packets()?;
    ensure!(
        after - before == DATAGRAMS,
        "pxe_packets_total went {before} -> {after}"
    );
    println!(
        "boot: pxe-monitor runs as uid {uid} under seccomp, no capability left after attach \
         (CapEff {}), {DATAGRAMS} datagrams counted",
        field("CapEff")
    );
    let security = c.run(&[
        "systemd-analyze",
        "security",
        "--no-pager",
        "pxe-monitor.service",
    ])?;
    if let Some(l) = security
        .lines()
        .find(|l| l.contains("Overall exposure level"))
    {
        println!("boot: {}", l.trim_start_matches(['→', ' ']));
    }

    // An upgrade restarts it on the new package, the defaults file kept.
    let args_before = fs::read_to_string(root.join(DEFAULTS))?;
    c.run(&["dpkg", "-i", &name(upgrade)])?;
    thread::sleep(Duration::from_secs(1));
    let new_pid = c.show("MainPID")?;
    ensure!(
        new_pid != pid && new_pid != "0",
        "not restarted by the upgrade"
    );
    ensure!(c.show("ActiveState")? == "active");
    c.wait_serving()?;
    ensure!(fs::read_to_string(root.join(DEFAULTS))? == args_before);
    println!("boot: upgrade restarted it (PID {pid} -> {new_pid}), defaults file kept");

    // Stop: SIGTERM, exit 0.
    c.run(&["systemctl", "stop", "pxe-monitor"])?;
    let (result, code) = (c.show("Result")?, c.show("ExecMainStatus")?);
    ensure!(
        result == "success" && code == "0",
        "stop: result {result}, status {code}:\n{}",
        c.journal()?
    );

    // Unconfigured: fails once with status 2, no restart after RestartSec.
    set_args(&root, "")?;
    c.run(&["systemctl", "start", "pxe-monitor"])?;
    thread::sleep(Duration::from_secs(12));
    ensure!(
        c.show("ActiveState")? == "failed"
            && c.show("ExecMainStatus")? == "2"
            && c.show("NRestarts")? == "0",
        "unconfigured:\n{}",
        c.journal()?
    );
    ensure!(c.journal()?.contains("/etc/default/pxe-monitor"));
    println!("boot: unconfigured, it failed once with status 2 and was not restarted in 12 s");

    c.run(&["dpkg", "--purge", "pxe-monitor"])?;
    ensure!(c.show("LoadState")? == "not-found");
    drop(booted);
    println!("boot: purged; container stopped");
    Ok(())
}

/// debootstrap once; a tree whose debootstrap did not finish is redone.
fn rootfs(root: &Path) -> Result<()> {
    let done = root.with_file_name("rootfs.complete");
    if done.exists() {
        // A previous run that stopped half-way may have left it installed.
        let _ = Command::new("chroot")
            .arg(root)
            .args(["dpkg", "--purge", "pxe-monitor"])
            .output();
        return Ok(());
    }
    if root.exists() {
        fs::remove_dir_all(root)?;
    }
    fs::create_dir_all(root)?;
    println!(
        "boot: debootstrap of Debian 12 (minbase + systemd) into {}",
        root.display()
    );
    run_cmd(
        Command::new("debootstrap")
            .args([
                "--variant=minbase",
                "--include=systemd,systemd-sysv,dbus,iproute2",
                "bookworm",
            ])
            .arg(root)
            .arg("http://deb.debian.org/debian"),
    )
    .context("debootstrap (is the Debian mirror reachable?)")?;
    fs::write(&done, "")?;
    Ok(())
}

fn set_args(root: &Path, args: &str) -> Result<()> {
    let path = root.join(DEFAULTS);
    let text = fs::read_to_string(&path)?;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("ARGS=") {
                format!("ARGS=\"{args}\"")
            } else {
                l.to_owned()
            }
        })
        .collect();
    fs::write(&path, out.join("\n") + "\n")?;
    Ok(())
}

fn dhcp_packets() -> Result<u64> {
    let text = run_cmd(
        Command::new("ip")
            .args(["netns", "exec", CONTAINER_NS, "curl", "-sf"])
            .arg(format!("http://{LISTEN}/metrics")),
    )?;
    let samples = crate::scrape::parse(&text);
    Ok(crate::scrape::sum(
        &samples,
        "pxe_packets_total",
        &[
            ("interface", CONTAINER_IF),
            ("direction", "ingress"),
            ("class", "dhcp_to_server"),
        ],
    ))
}

fn send_datagrams() -> Result<()> {
    use std::os::fd::AsRawFd as _;
    thread::scope(|s| {
        s.spawn(|| -> Result<()> {
            let ns = fs::File::open(crate::sys::netns_path(PEER_NS))?;
            // SAFETY: setns on this thread only, with an open namespace fd.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                bail!("setns: {}", std::io::Error::last_os_error());
            }
            let sock = UdpSocket::bind(format!("{PEER_IP}:0"))?;
            for _ in 0..DATAGRAMS {
                sock.send_to(b"pxe-monitor boot test", format!("{CONTAINER_IP}:67"))?;
                thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("sender panicked"))?
    })
}

/// The booted container, entered with nsenter through its PID 1.
struct Container {
    init: u32,
}

impl Container {
    /// Waits for nspawn's child (the container's systemd).
    fn find(nspawn: u32) -> Result<Container> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let children = fs::read_to_string(format!("/proc/{nspawn}/task/{nspawn}/children"))
                .unwrap_or_default();
            if let Some(pid) = children.split_whitespace().find_map(|p| p.parse().ok()) {
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() == "systemd" {
                    return Ok(Container { init: pid });
                }
            }
            ensure!(
                Instant::now() < deadline,
                "no systemd in the container within 30 s"
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &self.init.to_string(), "-a"]).args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Result<String> {
        run_cmd(&mut self.command(args))
    }

    /// One property of pxe-monitor.service.
    fn show(&self, property: &str) -> Result<String> {
        Ok(self
            .run(&[
                "systemctl",
                "show",
                "pxe-monitor",
                "--value",
                "-p",
                property,
            ])?
            .trim()
            .to_owned())
    }

    /// Type=exec: active as soon as it runs; it serves once attached. The
    /// datagrams counted so far, once it answers.
    fn wait_serving(&self) -> Result<u64> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match dhcp_packets() {
                Ok(n) => return Ok(n),
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(200)),
                Err(e) => return Err(e.context(self.journal()?)),
            }
        }
    }

    fn journal(&self) -> Result<String> {
        self.run(&["journalctl", "-u", "pxe-monitor", "--no-pager"])
    }
}

/// Where the tree and the console log go.
pub fn default_dir() -> PathBuf {
    crate::agent::target_dir().join("package-boot")
}
