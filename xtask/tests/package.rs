//! The Debian package as an admin meets it: lintian on the .deb, then on
//! this machine `dpkg -i`, the unit checked (`systemd-analyze verify`, its
//! exposure score), the agent run as the unit runs it, an upgrade over it
//! and a purge.
//!
//! PID 1 here is not systemd, so `systemctl start` is impossible: the test
//! EMULATES systemd with util-linux `setpriv` (`xtask::unit`). From the
//! installed unit file it applies User=, Group=, AmbientCapabilities=,
//! CapabilityBoundingSet=, NoNewPrivileges=, UMask=, EnvironmentFile= and
//! ExecStart=; it does NOT apply the sandbox (ProtectSystem=,
//! PrivateDevices=, ProcSubset=, RestrictAddressFamilies=, ...,
//! SystemCallFilter=) nor the restart policy, and prints the list. For the
//! filter it does the next best thing: the run is traced with strace, and
//! every system call the agent made must be one SystemCallFilter= allows.
//! The agent runs inside a network namespace the test creates, on one end
//! of a veth pair whose other end is in a second one; nothing touches the
//! machine's own interfaces.
//!
//! Needs root and the two packages `cargo xtask test` builds from one
//! release build (versions 0.1.0-1 and 0.1.0-2) in PXE_MONITOR_DEB and
//! PXE_MONITOR_DEB_UPGRADE; without them the tests say they are skipped,
//! with CI=true they fail instead. The lifecycle test refuses to run where
//! pxe-monitor is already installed (it would purge it).

use std::{
    collections::{BTreeMap, BTreeSet},
    fs::File,
    io::Read as _,
    net::{SocketAddr, UdpSocket},
    os::fd::AsRawFd as _,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    thread,
    time::{Duration, Instant},
};

use xtask::{
    agent, scrape,
    sys::{self, ip, netns_path, run_cmd},
    testing::skip_or_fail,
    unit::{self, Service, Unit},
};

const PACKAGE: &str = "pxe-monitor";
const UNIT_FILE: &str = "/usr/lib/systemd/system/pxe-monitor.service";
const DEFAULTS: &str = "/etc/default/pxe-monitor";
const WANTS_LINK: &str = "/etc/systemd/system/multi-user.target.wants/pxe-monitor.service";
/// The exposure `systemd-analyze security` may give the unit at most.
const MAX_EXPOSURE: f64 = 2.0;

const RX_NS: &str = "pxe-pkg-rx";
const TX_NS: &str = "pxe-pkg-tx";
const RX_IF: &str = "pkgrx0";
const TX_IF: &str = "pkgtx0";
const RX_IP: &str = "10.99.1.2";
const TX_IP: &str = "10.99.1.1";
/// UDP datagrams sent to port 67 through the veth.
const DATAGRAMS: u64 = 5;

/// The packages from the environment, or `None` after [`skip_or_fail`].
fn packages() -> Option<(PathBuf, PathBuf)> {
    let get = |var: &str| std::env::var_os(var).map(PathBuf::from);
    match (get("PXE_MONITOR_DEB"), get("PXE_MONITOR_DEB_UPGRADE")) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => {
            skip_or_fail(
                "PXE_MONITOR_DEB and PXE_MONITOR_DEB_UPGRADE are not set (run through `cargo xtask test`)",
            );
            None
        }
    }
}

fn run(cmd: &mut Command) -> String {
    run_cmd(cmd).unwrap_or_else(|e| panic!("{e:#}"))
}

#[test]
fn lintian_finds_nothing_to_report() {
    let Some((deb, _)) = packages() else {
        return;
    };
    // --pedantic: every tag lintian knows; the package's overrides
    // (packaging/debian/lintian-overrides) say why each one left is wrong
    // for it, and lintian hides those.
    let out = Command::new("lintian")
        .args([
            "--pedantic",
            "--display-info",
            "--fail-on",
            "error,warning,info,pedantic",
        ])
        .arg(&deb)
        .output()
        .expect("running lintian (cargo xtask setup installs it)");
    let tags = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && tags.trim().is_empty(),
        "lintian on {}: {}\n{tags}{}",
        deb.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    println!("lintian --pedantic: no tag on {}", deb.display());
}

/// Purges the package on drop, if a failed test left it installed.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        if installed_version().is_some() {
            let _ = Command::new("dpkg")
                .args(["--purge", PACKAGE])
                .stdin(Stdio::null())
                .status();
        }
    }
}

fn installed_version() -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Status} ${Version}", PACKAGE])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.strip_prefix("installed ").map(str::to_owned)
}

fn dpkg(args: &[&str], deb: Option<&Path>) -> String {
    // Another apt or dpkg run (on a shared machine) holds the lock for a
    // while: wait for it, as apt's DPkg::Lock::Timeout would.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let mut cmd = Command::new("dpkg");
        cmd.args(args);
        if let Some(deb) = deb {
            cmd.arg(deb);
        }
        // No terminal: a conffile question would fail the command.
        match run_cmd(&mut cmd) {
            Ok(out) => return out,
            Err(e) if format!("{e:#}").contains("lock") && Instant::now() < deadline => {
                thread::sleep(Duration::from_secs(2));
            }
            Err(e) => panic!("{e:#}"),
        }
    }
}

/// Paths that name the package in the places a package installs to.
fn files_naming_the_package() -> Vec<String> {
    let out = Command::new("find")
        .args([
            "/etc",
            "/var/lib/systemd",
            "/var/lib/dpkg/info",
            "/usr/bin",
            "/usr/sbin",
            "/usr/lib",
            "/usr/share",
            "/usr/local",
            "-name",
            "*pxe-monitor*",
        ])
        .output()
        .expect("running find");
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

fn passwd(user: &str) -> Option<Vec<String>> {
    let out = Command::new("getent")
        .args(["passwd", user])
        .output()
        .ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .split(':')
            .map(str::to_owned)
            .collect()
    })
}

#[test]
fn installs_runs_as_its_unit_says_upgrades_and_purges() {
    let Some((deb, upgrade)) = packages() else {
        return;
    };
    if !sys::is_root() {
        skip_or_fail("installing a package needs root");
        return;
    }
    if let Some(v) = installed_version() {
        skip_or_fail(&format!(
            "{PACKAGE} {v} is installed on this machine and this test would purge it: \
             `dpkg --purge {PACKAGE}` first"
        ));
        return;
    }
    let start = Instant::now();
    let _guard = Installed;

    // Install.
    dpkg(&["-i"], Some(&deb));
    assert_eq!(installed_version().as_deref(), Some("0.1.0-1"));
    let user = passwd(PACKAGE).expect("the package creates the user pxe-monitor");
    let uid: u32 = user[2].parse().unwrap();
    assert!(uid < 1000, "pxe-monitor is not a system user: {user:?}");
    assert_eq!(user[5..], ["/nonexistent", "/usr/sbin/nologin"]);
    assert!(
        Path::new(WANTS_LINK).symlink_metadata().is_ok(),
        "the unit is not enabled on install ({WANTS_LINK} missing)"
    );
    let defaults = std::fs::read_to_string(DEFAULTS).expect("the defaults file");
    assert!(
        defaults.lines().any(|l| l == "ARGS=\"\""),
        "{DEFAULTS} does not start unconfigured:\n{defaults}"
    );
    for page in [
        "pxe-monitor",
        "pxe-monitor-run",
        "pxe-monitor-replay",
        "pxe-monitor-check",
    ] {
        run(Command::new("man").args(["-w", page]));
    }
    for f in [
        "/usr/share/bash-completion/completions/pxe-monitor",
        "/usr/share/zsh/vendor-completions/_pxe-monitor",
        "/usr/share/fish/vendor_completions.d/pxe-monitor.fish",
        "/usr/share/pxe-monitor/grafana/pxe-monitor.json",
    ] {
        assert!(Path::new(f).is_file(), "{f} not installed");
    }
    // The example scrape configuration loads the rules beside it, where the
    // package puts them.
    run(Command::new("promtool").args([
        "check",
        "config",
        "/usr/share/pxe-monitor/prometheus/prometheus.yml",
    ]));

    // The unit: systemd's own checks. verify also runs `man` for each
    // Documentation= page and checks ExecStart's program.
    let verify = Command::new("systemd-analyze")
        .args(["verify", "pxe-monitor.service"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stderr).into_owned()
        + &String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {}\n{said}",
        verify.status
    );
    let security = run(Command::new("systemd-analyze").args([
        "security",
        "--offline=true",
        "--no-pager",
        UNIT_FILE,
    ]));
    let exposure: f64 = security
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for pxe-monitor.service: "))
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no overall exposure in:\n{security}"));
    println!(
        "systemd-analyze security --offline=true: exposure {exposure:.1} (at most {MAX_EXPOSURE:.1})"
    );
    assert!(exposure <= MAX_EXPOSURE, "exposure {exposure}:\n{security}");

    let unit = Unit::parse(&std::fs::read_to_string(UNIT_FILE).unwrap()).unwrap();
    unconfigured_stops_without_a_restart(&unit);
    runs_as_its_unit_says(&unit, uid);

    // The admin configures it; an upgrade keeps that, without a question.
    let configured = defaults.replace("ARGS=\"\"", "ARGS=\"--interface eth7\"");
    std::fs::write(DEFAULTS, &configured).unwrap();
    dpkg(&["-i"], Some(&upgrade));
    assert_eq!(installed_version().as_deref(), Some("0.1.0-2"));
    assert_eq!(std::fs::read_to_string(DEFAULTS).unwrap(), configured);
    assert_eq!(passwd(PACKAGE).map(|u| u[2].clone()), Some(uid.to_string()));
    assert!(Path::new(WANTS_LINK).symlink_metadata().is_ok());

    // Purge: nothing left but the system user, which Debian leaves (files
    // it owned may remain elsewhere: adduser(8), deluser(8)).
    dpkg(&["--purge", PACKAGE], None);
    assert_eq!(installed_version(), None);
    let left = files_naming_the_package();
    assert!(left.is_empty(), "left after the purge: {left:#?}");
    assert!(passwd(PACKAGE).is_some());
    println!(
        "install, run, upgrade and purge: {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

/// Unconfigured (ARGS=""), the service must stop at once with an exit code
/// the unit does not restart on, saying what to set and where.
fn unconfigured_stops_without_a_restart(unit: &Unit) {
    let service = Service::from_unit(unit, None).unwrap();
    let mut child = service
        .command(&[], &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running setpriv");
    let status = wait(&mut child, Duration::from_secs(10)).expect("pxe-monitor did not stop");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let no_restart: Vec<i32> = unit
        .values("Service", "RestartPreventExitStatus")
        .iter()
        .flat_map(|v| v.split_whitespace())
        .map(|c| c.parse().unwrap())
        .collect();
    let code = status.code().expect("an exit code");
    assert!(
        no_restart.contains(&code),
        "unconfigured exit code {code}, the unit restarts unless {no_restart:?}:\n{stderr}"
    );
    assert!(
        stderr.contains("--interface") && stderr.contains(DEFAULTS),
        "the message does not say what to set, and where:\n{stderr}"
    );
}

/// Deletes the test's namespaces on drop.
struct Namespaces;

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in [RX_NS, TX_NS] {
            let _ = ip(None, &["netns", "del", ns]);
        }
    }
}

fn namespaces() -> Namespaces {
    for ns in [RX_NS, TX_NS] {
        assert!(
            !sys::ns_exists(ns),
            "namespace {ns} exists: a previous run did not finish; `ip netns del {ns}`"
        );
    }
    let guard = Namespaces;
    let ok = |r: anyhow::Result<String>| r.unwrap_or_else(|e| panic!("{e:#}"));
    ok(ip(None, &["netns", "add", RX_NS]));
    ok(ip(None, &["netns", "add", TX_NS]));
    ok(ip(
        Some(TX_NS),
        &[
            "link", "add", TX_IF, "type", "veth", "peer", "name", RX_IF, "netns", RX_NS,
        ],
    ));
    for (ns, dev, addr) in [(TX_NS, TX_IF, TX_IP), (RX_NS, RX_IF, RX_IP)] {
        ok(ip(
            Some(ns),
            &["addr", "add", &format!("{addr}/24"), "dev", dev],
        ));
        ok(ip(Some(ns), &["link", "set", dev, "up"]));
        ok(ip(Some(ns), &["link", "set", "lo", "up"]));
    }
    guard
}

/// Runs `f` on a thread inside network namespace `ns`.
fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    thread::scope(|s| {
        s.spawn(|| {
            let fd = File::open(netns_path(ns)).unwrap();
            // SAFETY: setns on this thread only, with an open namespace fd.
            let r = unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns {ns}: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap()
    })
}

/// The tracer and the agent it runs; SIGKILLs both on drop (a killed
/// strace would leave its tracee running).
struct Traced {
    strace: Child,
    agent: Option<u32>,
}

impl Drop for Traced {
    fn drop(&mut self) {
        if let Some(pid) = self.agent {
            // SAFETY: kill(2) on the agent's PID, our grandchild: strace has
            // not reaped it while strace itself is not reaped by us.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let _ = self.strace.kill();
        let _ = self.strace.wait();
    }
}

fn wait(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        thread::sleep(Duration::from_millis(50));
    }
    None
}

fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

fn proc_status(pid: u32) -> BTreeMap<String, String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.trim().to_owned()))
        .collect()
}

/// The capability bits of setpriv's names.
fn cap_mask(names: &[String]) -> u64 {
    names
        .iter()
        .map(|n| match n.as_str() {
            "net_admin" => 1u64 << 12,
            "perfmon" => 1 << 38,
            "bpf" => 1 << 39,
            other => panic!("capability {other} not expected in the unit"),
        })
        .fold(0, |a, b| a | b)
}

fn packets_in(listen: SocketAddr) -> Option<u64> {
    let text = in_netns(RX_NS, || scrape::get(listen, "/metrics")).ok()?;
    let samples = scrape::parse(&text);
    Some(scrape::sum(
        &samples,
        "pxe_packets_total",
        &[
            ("interface", RX_IF),
            ("direction", "ingress"),
            ("family", "ipv4"),
            ("class", "dhcp_to_server"),
        ],
    ))
}

/// The installed agent with the unit's settings and a test copy of the
/// defaults file naming the veth, traced; checked as an admin would.
fn runs_as_its_unit_says(unit: &Unit, uid: u32) {
    let _ns = namespaces();
    let listen = agent::free_port().unwrap();
    let work = std::env::temp_dir().join(format!("pxe-pkg-test-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    // SAFETY: chown(2) on a directory we just created, with a C string
    // that outlives the call.
    let path = std::ffi::CString::new(work.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::chown(path.as_ptr(), uid, uid) }, 0);
    let defaults = std::fs::read_to_string(DEFAULTS).unwrap().replace(
        "ARGS=\"\"",
        &format!("ARGS=\"--interface {RX_IF} --listen {listen}\""),
    );
    let test_defaults = work.join("defaults");
    std::fs::write(&test_defaults, defaults).unwrap();
    let service = Service::from_unit(unit, Some(&test_defaults)).unwrap();
    println!(
        "systemd emulated with setpriv: applied {}; NOT applied (sandbox, supervision): {}",
        unit::APPLIED.join(", "),
        service.not_applied.join(", ")
    );
    let trace = work.join("syscalls");
    let trace_arg = trace.to_str().unwrap();
    let log = work.join("agent.log");
    let mut cmd = service.command(
        &["ip", "netns", "exec", RX_NS],
        &["strace", "-f", "-qq", "-c", "-o", trace_arg],
    );
    let log_file = File::create(&log).unwrap();
    cmd.stdout(log_file.try_clone().unwrap()).stderr(log_file);
    let mut traced = Traced {
        strace: cmd.spawn().expect("starting ip netns exec setpriv strace"),
        agent: None,
    };
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();

    // Up: /healthz answers inside the namespace.
    let deadline = Instant::now() + Duration::from_secs(20);
    while in_netns(RX_NS, || scrape::get(listen, "/healthz")).is_err() {
        if let Some(s) = traced.strace.try_wait().unwrap() {
            panic!("the agent exited during start-up: {s}\n{}", log_text());
        }
        assert!(
            Instant::now() < deadline,
            "no /healthz within 20 s:\n{}",
            log_text()
        );
        thread::sleep(Duration::from_millis(100));
    }
    let agent_pid = *children(traced.strace.id())
        .first()
        .expect("strace has no child");
    traced.agent = Some(agent_pid);

    // Who it runs as.
    let status = proc_status(agent_pid);
    assert!(status["Name"].starts_with("pxe-monitor"), "{status:?}");
    for key in ["Uid", "Gid"] {
        let ids: Vec<&str> = status[key].split_whitespace().collect();
        let want = uid.to_string();
        assert_eq!(ids, [want.as_str(); 4], "{key}: {status:?}");
    }
    let caps = |k: &str| u64::from_str_radix(&status[k], 16).unwrap();
    let allowed = cap_mask(&service.bounding);
    // Nothing beyond the unit's three, in any set (the agent may drop more).
    for set in ["CapBnd", "CapPrm", "CapEff", "CapAmb", "CapInh"] {
        assert_eq!(caps(set) & !allowed, 0, "{set}: {status:?}");
    }
    assert_eq!(status["NoNewPrivs"], "1");
    // It answers /healthz only once attached and its privileges dropped:
    // on TCX links it keeps no capability at all (its bounding set stays
    // the unit's three: it has no CAP_SETPCAP to empty it).
    for set in ["CapPrm", "CapEff", "CapAmb", "CapInh"] {
        assert_eq!(caps(set), 0, "{set} after attach: {status:?}");
    }

    // Kernel counters move with packets through the veth.
    let before = packets_in(listen).expect("scraping /metrics");
    in_netns(TX_NS, || {
        let sock = UdpSocket::bind(format!("{TX_IP}:0")).unwrap();
        for _ in 0..DATAGRAMS {
            sock.send_to(b"pxe-monitor package test", format!("{RX_IP}:67"))
                .unwrap();
            thread::sleep(Duration::from_millis(20));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut after = before;
    while after < before + DATAGRAMS && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
        after = packets_in(listen).unwrap_or(after);
    }
    assert_eq!(
        after - before,
        DATAGRAMS,
        "pxe_packets_total{{interface={RX_IF},class=dhcp_to_server}} went {before} -> {after}"
    );

    // SIGTERM: a clean exit (strace exits with its tracee's status).
    // SAFETY: kill(2) on the agent's PID (alive: strace has not exited).
    unsafe { libc::kill(agent_pid as i32, libc::SIGTERM) };
    let exit = wait(&mut traced.strace, Duration::from_secs(15)).expect("no exit after SIGTERM");
    traced.agent = None;
    assert!(exit.success(), "exit after SIGTERM: {exit}\n{}", log_text());

    // Every system call made is one the unit's filter allows.
    let summary = std::fs::read_to_string(&trace).unwrap();
    // The rows of strace's table: a percentage first, a system call's
    // name last. (With -f, strace may also write a line such as
    // "1560  ???( <detached ...>" for a thread that left mid-call.)
    let made: BTreeSet<String> = summary
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|p| p.parse::<f64>().is_ok() && p.contains('.'))
        })
        .filter_map(|l| l.split_whitespace().last())
        .filter(|name| {
            *name != "total"
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        })
        .map(str::to_owned)
        .collect();
    assert!(made.contains("bpf"), "no bpf(2) in the trace:\n{summary}");
    let filter = unit::allowed_syscalls(unit).unwrap();
    let denied: Vec<&String> = made.difference(&filter).collect();
    assert!(
        denied.is_empty(),
        "system calls the unit's SystemCallFilter= denies: {denied:?}\n{summary}"
    );
    println!(
        "agent: uid {uid}, CapEff {:#x}, {DATAGRAMS} datagrams counted, exit 0 on SIGTERM; \
         {} distinct system calls, all allowed by SystemCallFilter=",
        caps("CapEff"),
        made.len()
    );
    let _ = std::fs::remove_dir_all(&work);
}
