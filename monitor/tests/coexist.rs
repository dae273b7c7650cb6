//! pxe-monitor beside what others attached, on a veth pair between two
//! network namespaces this test creates (and deletes): it never replaces
//! another XDP program and says whose it is; by default it runs beside it
//! (TC ingress); a second pxe-monitor on the same interface fails clearly
//! and leaves the first working; after `kill -9` nothing of it stays
//! attached and a restart attaches cleanly.
//!
//! Needs root (skipped without, failing instead when CI=true).

mod common;

use std::{
    net::SocketAddr,
    process::{Child, Command, Output, Stdio},
    thread,
    time::{Duration, Instant},
};

use aya::programs::{Xdp, XdpMode};
use common::veth::{Pair, RX_IF, eventually, free_port, get};
use monitor::{kernel, netns, testing};

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
        ours(&p.attached()),
        2,
        "tc ingress and egress: {:?}",
        p.attached()
    );

    // kill -9: the links die with the process.
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(first.child.id() as i32, libc::SIGKILL) };
    first.child.wait().unwrap();
    eventually("nothing of ours stays attached after kill -9", || {
        ours(&p.attached()) == 0
    });
    let again = Agent::start(&p, &[]);
    p.send_discover(3);
    eventually("the restarted monitor counts", || again.discovers() == 1.0);
}
