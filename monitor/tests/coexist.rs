//! pxe-monitor beside what others attached, on a veth pair between two
//! network namespaces this test creates (and deletes): it never replaces
//! another XDP program and says whose it is; by default it runs beside it
//! (TC ingress); a second pxe-monitor on the same interface fails clearly
//! and leaves the first working; after `kill -9` nothing of it stays
//! attached and a restart attaches cleanly.
//!
//! Needs root (skipped without, failing instead when CI=true).

use std::{
    net::{SocketAddr, TcpListener, UdpSocket},
    process::{Child, Command, Output, Stdio},
    thread,
    time::{Duration, Instant},
};

use aya::programs::{SchedClassifier, TcAttachType, Xdp, XdpMode};
use monitor::{kernel, netns, testing};

/// Two namespaces joined by a veth: the sender's `tx0` and the watched `rx0`.
struct Pair {
    tx: String,
    rx: String,
}

const RX_IF: &str = "rx0";
const TX_IP: &str = "10.98.0.1";
const RX_IP: &str = "10.98.0.2";

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(out.status.success(), "ip {args:?}: {out:?}");
}

impl Pair {
    fn new(tag: &str) -> Pair {
        let id = std::process::id();
        let p = Pair {
            tx: format!("pxmon-{tag}-tx-{id}"),
            rx: format!("pxmon-{tag}-rx-{id}"),
        };
        ip(&["netns", "add", &p.tx]);
        ip(&["netns", "add", &p.rx]);
        ip(&[
            "-n", &p.tx, "link", "add", "tx0", "type", "veth", "peer", "name", RX_IF, "netns",
            &p.rx,
        ]);
        ip(&[
            "-n",
            &p.tx,
            "addr",
            "add",
            &format!("{TX_IP}/24"),
            "dev",
            "tx0",
        ]);
        ip(&[
            "-n",
            &p.rx,
            "addr",
            "add",
            &format!("{RX_IP}/24"),
            "dev",
            RX_IF,
        ]);
        ip(&["-n", &p.tx, "link", "set", "tx0", "up"]);
        ip(&["-n", &p.rx, "link", "set", RX_IF, "up"]);
        p
    }

    /// A PXE client's DISCOVER from the sender to the watched side.
    fn send_discover(&self, xid: u32) {
        let tx = self.tx.clone();
        thread::spawn(move || {
            netns::in_netns(&tx, || {
                let vendor: &[u8] = b"PXEClient:Arch:00000:UNDI:002001";
                let mac = [2, 0, 0x98, 0, 0, 1];
                let d =
                    monitor::testing::frames::dhcp(1, 1, xid, mac, [0; 4], [0; 4], &[(60, vendor)]);
                let s = UdpSocket::bind(format!("{TX_IP}:68")).unwrap();
                s.send_to(&d, format!("{RX_IP}:67")).unwrap();
            })
            .unwrap();
        })
        .join()
        .unwrap();
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in [&self.tx, &self.rx] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// `pxe-monitor run` on the watched side, killed on drop.
struct Agent {
    child: Child,
    listen: SocketAddr,
}

impl Agent {
    fn command(p: &Pair, listen: SocketAddr, extra: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pxe-monitor"));
        c.args(["run", "--netns", &p.rx, "--interface", RX_IF, "--listen"])
            .arg(listen.to_string())
            .args(extra);
        c
    }

    /// Starts an agent and waits until it serves /healthz.
    fn start(p: &Pair, extra: &[&str]) -> Agent {
        let listen = free_port();
        let child = Self::command(p, listen, extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut a = Agent { child, listen };
        let deadline = Instant::now() + Duration::from_secs(20);
        while get(listen, "/healthz").is_none() {
            assert!(a.child.try_wait().unwrap().is_none(), "the agent exited");
            assert!(Instant::now() < deadline, "no /healthz after 20 s");
            thread::sleep(Duration::from_millis(100));
        }
        a
    }

    /// Runs an agent that is expected to refuse to start.
    fn refused(p: &Pair, extra: &[&str]) -> Output {
        let out = Self::command(p, free_port(), extra)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "it started: {out:?}");
        out
    }

    fn metric(&self, series: &str) -> f64 {
        let text = get(self.listen, "/metrics").expect("/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{series} not in /metrics"))
    }

    /// The DISCOVERs it counted on the watched interface.
    fn discovers(&self) -> f64 {
        self.metric(&format!(
            r#"pxe_dhcp_messages_total{{interface="{RX_IF}",direction="ingress",type="discover",pxe="true"}} "#
        ))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(addr: SocketAddr, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// Waits until `cond` holds, for up to 5 s.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// Names of the programs attached to the watched interface: TCX ingress
/// and egress, and XDP (from `ip -j link`).
fn attached(p: &Pair) -> Vec<String> {
    let mut names = netns::in_netns(&p.rx, || {
        let mut names = Vec::new();
        for t in [TcAttachType::Ingress, TcAttachType::Egress] {
            if let Ok((_, progs)) = SchedClassifier::query_tcx(RX_IF, t) {
                names.extend(
                    progs
                        .iter()
                        .filter_map(|p| p.name_as_str().map(str::to_owned)),
                );
            }
        }
        names
    })
    .unwrap();
    let out = Command::new("ip")
        .args(["-n", &p.rx, "-j", "-d", "link", "show", RX_IF])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    if let Some(name) = v[0]["xdp"]["prog"]["name"].as_str() {
        names.push(name.to_owned());
    }
    names
}

#[test]
fn another_xdp_program_is_never_replaced() {
    if !testing::can_load_ebpf() {
        return;
    }
    let p = Pair::new("xdp");
    // Someone else's XDP program (a pass-everything program, loaded and
    // attached by this test, which holds its link).
    let mut theirs = kernel::load().expect("loading the object");
    let _link = netns::in_netns(&p.rx, || {
        let xdp: &mut Xdp = theirs
            .program_mut(kernel::BARE_XDP_PROGRAM)
            .unwrap()
            .try_into()
            .unwrap();
        xdp.attach(RX_IF, XdpMode::Skb)
            .expect("attaching the foreign program")
    })
    .unwrap();
    let prog_id = |p: &Pair| {
        let out = Command::new("ip")
            .args(["-n", &p.rx, "-j", "-d", "link", "show", RX_IF])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v[0]["xdp"]["prog"]["id"].as_u64()
    };
    let id = prog_id(&p).expect("the foreign program is attached");

    // An explicit XDP request fails, naming the program and the way out.
    for mode in ["xdp", "xdp-generic"] {
        let out = Agent::refused(&p, &["--ingress", mode]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("XDP program \"bare_pass\" (id {id})"))
                && stderr.contains("--ingress tc")
                && stderr.contains("never replaces"),
            "{stderr}"
        );
        assert_eq!(prog_id(&p), Some(id), "the foreign program stays");
    }
    // The default runs beside it, at TC ingress, and sees the traffic.
    let a = Agent::start(&p, &[]);
    assert_eq!(
        a.metric(&format!(
            r#"pxe_program_attached{{hook="tc_ingress",interface="{RX_IF}",mode="tcx"}} "#
        )),
        1.0
    );
    p.send_discover(1);
    eventually("the DISCOVER is counted", || a.discovers() == 1.0);
    assert_eq!(prog_id(&p), Some(id), "the foreign program stays");
}

#[test]
fn a_second_monitor_fails_and_kill_9_leaves_nothing_attached() {
    if !testing::can_load_ebpf() {
        return;
    }
    let p = Pair::new("two");
    let mut first = Agent::start(&p, &[]);
    for extra in [&[][..], &["--ingress", "xdp"][..], &["--ingress", "tc"][..]] {
        let out = Agent::refused(&p, extra);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("another pxe-monitor already watches \"rx0\""),
            "{extra:?}: {stderr}"
        );
    }
    // The first one still works, and counts each packet once.
    p.send_discover(2);
    eventually("the first monitor counts", || first.discovers() == 1.0);
    let ours = |names: &[String]| names.iter().filter(|n| n.starts_with("pxe_")).count();
    assert_eq!(
        ours(&attached(&p)),
        2,
        "tc ingress and egress: {:?}",
        attached(&p)
    );

    // kill -9: the links die with the process.
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(first.child.id() as i32, libc::SIGKILL) };
    first.child.wait().unwrap();
    eventually("nothing of ours stays attached after kill -9", || {
        ours(&attached(&p)) == 0
    });
    let again = Agent::start(&p, &[]);
    p.send_discover(3);
    eventually("the restarted monitor counts", || again.discovers() == 1.0);
}
