//! Least privilege, checked as an operator would: the real agent, started
//! as root on a veth in namespaces this test creates, runs as an
//! unprivileged user once attached, with no capability in any thread and
//! NoNewPrivs (`/proc/PID/task/*/status`), and still serves on the port
//! below 1024 it bound before, counts packets (map reads), judges boots
//! (ring buffer, /api/sessions) and detaches on SIGTERM; started
//! as a non-root user with only CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON
//! ambient (as the systemd unit starts it, here with util-linux
//! `setpriv`), it ends with none; an unknown `--user` fails before
//! anything is attached.
//!
//! Needs root and setpriv (skipped without, failing instead when CI=true).

mod common;

use std::{
    net::{SocketAddr, TcpListener},
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    thread,
    time::{Duration, Instant},
};

use common::veth::{Pair, RX_IF, eventually, free_port, get, get_in};
use monitor::testing::{self, planted};

const BIN: &str = env!("CARGO_BIN_EXE_pxe-monitor");

/// A running agent: its process, where it listens (and in which
/// namespace), and its log file.
struct Agent {
    child: Option<Child>,
    listen: SocketAddr,
    netns: Option<String>,
    log: PathBuf,
}

impl Agent {
    /// Spawns `cmd` (which runs `pxe-monitor run`), its output to a log
    /// file, and waits for /healthz.
    fn start(mut cmd: Command, listen: SocketAddr, netns: Option<&str>, tag: &str) -> Agent {
        let log = std::env::temp_dir().join(format!("pxmon-priv-{tag}-{}.log", std::process::id()));
        let f = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap();
        let mut a = Agent {
            child: Some(child),
            listen,
            netns: netns.map(str::to_owned),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while a.get("/healthz").is_none() {
            if let Some(status) = a.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the agent exited ({status}):\n{}", a.log());
            }
            assert!(
                Instant::now() < deadline,
                "no /healthz after 20 s:\n{}",
                a.log()
            );
            thread::sleep(Duration::from_millis(100));
        }
        a
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    fn get(&self, path: &str) -> Option<String> {
        match &self.netns {
            Some(ns) => get_in(ns, self.listen, path),
            None => get(self.listen, path),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A sample of /metrics, by its series (name and labels) exactly.
    fn metric(&self, series: &str) -> f64 {
        let text = self.get("/metrics").expect("/metrics answers");
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{series} not in /metrics"))
    }

    fn discovers(&self) -> f64 {
        self.metric(&format!(
            r#"pxe_dhcp_messages_total{{interface="{RX_IF}",direction="ingress",type="discover",pxe="true"}}"#
        ))
    }

    /// SIGTERM, then its exit status (within 10 s).
    fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit within 10 s of SIGTERM");
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// `pxe-monitor run` from this (the root) namespace, attaching inside the
/// pair's watched one.
fn run_as_root(p: &Pair, listen: SocketAddr, extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(["run", "--netns", &p.rx, "--interface", RX_IF, "--listen"])
        .arg(listen.to_string())
        .args(extra);
    c
}

/// (uid, gid) of a user, from `getent passwd` (not from the code under
/// test).
fn passwd(user: &str) -> Option<(u32, u32)> {
    let out = Command::new("getent")
        .args(["passwd", user])
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).ok()?;
    let f: Vec<&str> = line.trim().split(':').collect();
    Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?))
}

/// What an operator reads in /proc/PID/status, for every thread.
struct Threads(Vec<String>);

impl Threads {
    fn of(pid: u32) -> Threads {
        let dir = format!("/proc/{pid}/task");
        let all = std::fs::read_dir(&dir)
            .unwrap()
            .map(|t| std::fs::read_to_string(t.unwrap().path().join("status")).unwrap())
            .collect();
        Threads(all)
    }

    /// Every thread's value of `name`, asserted the same in all.
    fn field(&self, name: &str) -> String {
        let values: Vec<String> = self
            .0
            .iter()
            .map(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                    .unwrap_or_else(|| panic!("no {name} in {s}"))
                    .trim()
                    .to_owned()
            })
            .collect();
        assert!(
            values.iter().all(|v| *v == values[0]),
            "threads differ in {name}: {values:?}"
        );
        values[0].clone()
    }

    /// Uid/Gid (real, effective, saved, filesystem) all `uid`/`gid`, no
    /// supplementary group, no capability, NoNewPrivs.
    fn assert_unprivileged(&self, uid: u32, gid: u32) {
        assert!(self.0.len() > 1, "the agent's threads have started");
        assert_eq!(self.field("Uid"), format!("{uid}\t{uid}\t{uid}\t{uid}"));
        assert_eq!(self.field("Gid"), format!("{gid}\t{gid}\t{gid}\t{gid}"));
        for set in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
            assert_eq!(self.field(set), "0000000000000000", "{set}");
        }
        assert_eq!(self.field("NoNewPrivs"), "1");
    }
}

fn prerequisites() -> bool {
    testing::can_load_ebpf() && testing::has_program("setpriv", "util-linux")
}

#[test]
fn started_as_root_it_runs_unprivileged_and_still_counts_judges_and_detaches() {
    if !prerequisites() {
        return;
    }
    let p = Pair::new("priv");
    // A port below 1024, which only a privileged process may bind: the agent
    // binds it before it drops privileges.
    let listen = (600..1024)
        .find_map(|port| {
            TcpListener::bind(("127.0.0.1", port))
                .ok()?
                .local_addr()
                .ok()
        })
        .expect("a free port below 1024");
    // The default user: the dedicated one where it exists, else nobody.
    let (user, (uid, gid)) = ["pxe-monitor", "nobody"]
        .into_iter()
        .find_map(|u| Some((u, passwd(u)?)))
        .expect("a pxe-monitor or nobody user");
    let mut a = Agent::start(run_as_root(&p, listen, &[]), listen, None, "root");
    let t = Threads::of(a.pid());
    t.assert_unprivileged(uid, gid);
    assert_eq!(t.field("Groups"), "", "no supplementary group");
    assert_eq!(t.field("CapBnd"), "0000000000000000", "bounding set");
    assert!(
        a.log().contains(&format!(
            "privileges dropped: running as user {user} (uid {uid}, gid {gid}), capabilities \
             kept: none, bounding set: empty"
        )),
        "{}",
        a.log()
    );

    // Unprivileged, it reads the kernel's counters (two DISCOVERs) and
    // judges a boot from the events of its ring buffer: a client whose boot
    // file is missing (a TFTP ERROR 1 decides it at once), beside one that
    // boots.
    let missing = planted::client(1, planted::Plant::FileMissing);
    let booted = planted::client(0, planted::Plant::Booted);
    let frames: Vec<Vec<u8>> = [&booted, &missing]
        .iter()
        .flat_map(|c| c.frames.iter().map(|(_, f)| f.clone()))
        .collect();
    p.send_frames(&frames);
    eventually("the two DISCOVERs are counted", || a.discovers() == 2.0);
    let mac = planted::mac_text(missing.mac);
    let verdict = || -> Option<(String, Option<String>)> {
        let body = a.get("/api/sessions").expect("/api/sessions answers");
        let list: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
        let s = list.iter().find(|s| s["client_mac"] == mac.as_str())?;
        Some((
            s["outcome"].as_str()?.to_owned(),
            s["code"].as_str().map(str::to_owned),
        ))
    };
    let want = Some(("failed".to_owned(), Some("PXE-E3B".to_owned())));
    eventually("PXE-E3B is judged at /api/sessions", || verdict() == want);

    // SIGTERM: exit 0, nothing of it attached, and another agent can attach
    // (it refuses while a pxe-monitor program is on the interface). That one
    // keeps root (`--user root`, to debug), still without capabilities.
    assert!(a.stop().success(), "{}", a.log());
    assert!(
        !p.attached().iter().any(|n| n.starts_with("pxe_")),
        "{:?}",
        p.attached()
    );
    let listen = free_port();
    let mut b = Agent::start(
        run_as_root(&p, listen, &["--user", "root"]),
        listen,
        None,
        "keep-root",
    );
    Threads::of(b.pid()).assert_unprivileged(0, 0);
    assert!(
        b.log().contains("--user root: pxe-monitor keeps uid 0"),
        "{}",
        b.log()
    );
    p.send_discover(7);
    eventually("the second agent counts", || b.discovers() == 1.0);
    assert!(b.stop().success(), "{}", b.log());
}

#[test]
fn started_with_only_the_three_capabilities_it_ends_with_none() {
    if !prerequisites() {
        return;
    }
    let p = Pair::new("amb");
    let (uid, gid) = passwd("nobody").expect("a nobody user");
    // The binary where that user can run it (the checkout may be under a
    // directory it cannot enter).
    let dir = std::env::temp_dir().join(format!("pxmon-priv-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = dir.join("pxe-monitor");
    std::fs::copy(BIN, &bin).unwrap();
    let _cleanup = RemoveDir(dir.clone());
    for path in [&dir, &bin] {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // As a systemd unit with User= and AmbientCapabilities= starts it,
    // inside the namespace (no --netns: entering one needs CAP_SYS_ADMIN).
    let caps = "+bpf,+net_admin,+perfmon";
    let listen: SocketAddr = "127.0.0.1:9567".parse().unwrap();
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &p.rx, "setpriv"])
        .arg(format!("--reuid={uid}"))
        .arg(format!("--regid={gid}"))
        .args(["--clear-groups", &format!("--inh-caps={caps}")])
        .arg(format!("--ambient-caps={caps}"))
        .arg("--")
        .arg(&bin)
        .args(["run", "--interface", RX_IF, "--listen", "127.0.0.1:9567"]);
    let mut a = Agent::start(cmd, listen, Some(&p.rx), "ambient");
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{}/comm", a.pid()))
            .unwrap()
            .trim(),
        "pxe-monitor",
        "ip netns exec and setpriv exec the agent in the same process"
    );
    let t = Threads::of(a.pid());
    t.assert_unprivileged(uid, gid);
    assert!(
        a.log().contains(&format!(
            "running as user nobody (uid {uid}, gid {gid}), capabilities kept: none, bounding \
             set: unchanged (no CAP_SETPCAP)"
        )),
        "{}",
        a.log()
    );
    p.send_discover(9);
    eventually("the DISCOVER is counted", || a.discovers() == 1.0);
    assert!(a.stop().success(), "{}", a.log());
    assert!(
        !p.attached().iter().any(|n| n.starts_with("pxe_")),
        "{:?}",
        p.attached()
    );
}

struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn an_unknown_user_fails_before_anything_is_attached() {
    if !prerequisites() {
        return;
    }
    let p = Pair::new("nouser");
    let out = run_as_root(&p, free_port(), &["--user", "no-such-user-pxe"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "it started: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--user \"no-such-user-pxe\": no such user") && stderr.contains("adduser"),
        "{stderr}"
    );
    // The attach logs "attached" per interface: it never got there.
    assert!(!stderr.contains("attached"), "{stderr}");
}
