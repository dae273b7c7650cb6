//! A veth pair between two network namespaces a root test creates (and
//! deletes): the sender's `tx0` and the watched `rx0`; traffic sent from
//! the sender's side, the programs attached to the watched side, and the
//! agent's HTTP answers.

use std::{
    net::{SocketAddr, TcpListener, UdpSocket},
    process::Command,
    thread,
    time::{Duration, Instant},
};

use aya::programs::{SchedClassifier, TcAttachType};
use monitor::{netns, testing::wire::Wire};

/// Two namespaces joined by a veth: the sender's `tx0` and the watched `rx0`.
pub struct Pair {
    pub tx: String,
    pub rx: String,
}

pub const RX_IF: &str = "rx0";
const TX_IF: &str = "tx0";
const TX_IP: &str = "10.98.0.1";
const RX_IP: &str = "10.98.0.2";

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("running ip");
    assert!(out.status.success(), "ip {args:?}: {out:?}");
}

impl Pair {
    /// Namespaces `pxmon-TAG-{tx,rx}-PID`, their loopbacks up (an agent
    /// started inside `rx` serves HTTP there).
    pub fn new(tag: &str) -> Pair {
        let id = std::process::id();
        let p = Pair {
            tx: format!("pxmon-{tag}-tx-{id}"),
            rx: format!("pxmon-{tag}-rx-{id}"),
        };
        ip(&["netns", "add", &p.tx]);
        ip(&["netns", "add", &p.rx]);
        ip(&[
            "-n", &p.tx, "link", "add", TX_IF, "type", "veth", "peer", "name", RX_IF, "netns",
            &p.rx,
        ]);
        ip(&[
            "-n",
            &p.tx,
            "addr",
            "add",
            &format!("{TX_IP}/24"),
            "dev",
            TX_IF,
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
        for (ns, dev) in [(&p.tx, TX_IF), (&p.rx, RX_IF), (&p.tx, "lo"), (&p.rx, "lo")] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        p
    }

    /// A PXE client's DISCOVER from the sender to the watched side.
    pub fn send_discover(&self, xid: u32) {
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

    /// Whole frames written onto the sender's side, in order: the watched
    /// side receives them as a capture on its link would show them.
    pub fn send_frames(&self, frames: &[Vec<u8>]) {
        let tx = self.tx.clone();
        let frames = frames.to_vec();
        thread::spawn(move || {
            netns::in_netns(&tx, || {
                let wire = Wire::open(TX_IF).expect("AF_PACKET socket on tx0");
                for f in &frames {
                    wire.send(f).expect("sending a frame");
                }
            })
            .unwrap();
        })
        .join()
        .unwrap();
    }

    /// Names of the programs attached to the watched interface: TCX ingress
    /// and egress, and XDP (from `ip -j link`).
    pub fn attached(&self) -> Vec<String> {
        let mut names = netns::in_netns(&self.rx, || {
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
            .args(["-n", &self.rx, "-j", "-d", "link", "show", RX_IF])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if let Some(name) = v[0]["xdp"]["prog"]["name"].as_str() {
            names.push(name.to_owned());
        }
        names
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in [&self.tx, &self.rx] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The body of a 200 answer to `GET path`, or `None`.
pub fn get(addr: SocketAddr, path: &str) -> Option<String> {
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

/// [`get`] from inside network namespace `ns` (an agent listening there).
pub fn get_in(ns: &str, addr: SocketAddr, path: &str) -> Option<String> {
    let (ns, path) = (ns.to_owned(), path.to_owned());
    thread::spawn(move || netns::in_netns(&ns, || get(addr, &path)).ok().flatten())
        .join()
        .unwrap()
}

/// Waits until `cond` holds, for up to 5 s.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}");
        thread::sleep(Duration::from_millis(100));
    }
}
