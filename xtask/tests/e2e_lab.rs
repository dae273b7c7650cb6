//! End to end: the lab with dnsmasq, pxe-monitor attached to the server's
//! interface (XDP ingress + TC egress), a real iPXE client (qemu) booting
//! (scenario "healthy dnsmasq"), and /metrics compared with a capture of the
//! same run taken on the same interface.
//!
//! Needs root and the binary in PXE_MONITOR_BIN (`cargo xtask test` builds it
//! and sets it). Without them the test says it is skipped; with CI=true it
//! fails instead.

use std::{process::Command, time::Duration};

use xtask::{
    agent::{self, Agent},
    lab::{self, Lab},
    scrape, sys,
};

/// Frames of `pcap` matching a tshark display filter.
fn tshark_count(pcap: &std::path::Path, filter: &str) -> u64 {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(pcap)
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .expect("running tshark");
    assert!(
        out.status.success(),
        "tshark -Y {filter:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .count() as u64
}

/// The MAC address of the server's interface, as tshark prints it.
fn server_mac() -> String {
    let out = sys::netns_command(lab::SERVER_NS, "cat")
        .arg(format!("/sys/class/net/{}/address", lab::SERVER_IF))
        .output()
        .expect("reading the server's MAC");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn ipxe_client_boot_is_counted_like_the_capture_shows() {
    let Some(bin) = xtask::testing::lab_prerequisites() else {
        return;
    };
    let state = std::env::temp_dir().join(format!("pxe-monitor-e2e-{}", std::process::id()));
    // Dropping `lab` (also on panic) kills its processes and deletes the
    // namespaces.
    let mut lab = Lab::up(&state).expect("lab up");
    let pcap = state.join("e2e.pcap");
    lab.start_capture(&pcap).expect("capture");
    let listen = agent::free_port().unwrap();
    let mut agent =
        Agent::start(&bin, lab::SERVER_NS, lab::SERVER_IF, listen).expect("pxe-monitor");

    lab.boot_client().expect("boot client");
    let booted = lab
        .wait_client(Duration::from_secs(90))
        .expect("serial log");
    assert!(
        booted,
        "the iPXE client did not print {} (see {})",
        lab::BOOT_OK_MARKER,
        lab.serial_log().display()
    );
    // Let the last TFTP ACKs arrive, then stop the client so nothing more
    // is sent while the capture and the counters are compared.
    std::thread::sleep(Duration::from_secs(1));
    lab.stop_client().expect("stop client");
    std::thread::sleep(Duration::from_millis(500));
    let m = agent.metrics().expect("scrape /metrics");
    lab.stop_capture().expect("stop capture");

    let mac = server_mac();
    let from_server = format!("eth.src == {mac}");
    let to_server = format!("eth.src != {mac}");
    let dhcp = |dir: &str, ty: &str| {
        scrape::sum(
            &m,
            "pxe_dhcp_messages_total",
            &[
                ("interface", lab::SERVER_IF),
                ("direction", dir),
                ("type", ty),
            ],
        )
    };
    // (direction, message type, option 53 value, which frames)
    let cases = [
        ("ingress", "discover", 1, &to_server),
        ("ingress", "request", 3, &to_server),
        ("egress", "offer", 2, &from_server),
        ("egress", "ack", 5, &from_server),
    ];
    for (dir, ty, code, side) in cases {
        let want = tshark_count(
            &pcap,
            &format!("{side} && !icmp && dhcp.option.dhcp == {code}"),
        );
        assert!(want >= 1, "the capture should hold at least one {ty}");
        assert_eq!(dhcp(dir, ty), want, "{dir} DHCP {ty}: /metrics vs capture");
    }
    let rrq_want = tshark_count(&pcap, &format!("{to_server} && !icmp && udp.dstport == 69"));
    assert!(
        rrq_want >= 1,
        "the capture should hold the TFTP read request"
    );
    let rrq = scrape::sum(
        &m,
        "pxe_packets_total",
        &[
            ("interface", lab::SERVER_IF),
            ("direction", "ingress"),
            ("class", "tftp_request"),
        ],
    );
    assert_eq!(rrq, rrq_want, "TFTP requests: /metrics vs capture");
    // The transfer itself (OACK/DATA from the server's ephemeral port).
    let data_want = tshark_count(&pcap, &format!("{from_server} && tftp.opcode == 3"));
    assert!(data_want >= 1, "the capture should hold TFTP DATA");
    // The transfer is followed across the server's ephemeral port: its
    // DATA (sent, egress) and the client's ACKs (received, ingress).
    let tftp = |dir: &str, op: &str| {
        scrape::sum(
            &m,
            "pxe_tftp_packets_total",
            &[
                ("interface", lab::SERVER_IF),
                ("direction", dir),
                ("opcode", op),
            ],
        )
    };
    assert_eq!(
        tftp("egress", "data"),
        data_want,
        "TFTP DATA: /metrics vs capture"
    );
    let acks = tshark_count(&pcap, &format!("{to_server} && tftp.opcode == 4"));
    assert_eq!(
        tftp("ingress", "ack"),
        acks,
        "TFTP ACK: /metrics vs capture"
    );
    // Every DHCP message of this boot belongs to the PXE exchange (the
    // server's replies by their xid), and each reached userspace as an
    // event.
    let dhcp_frames = tshark_count(&pcap, "!icmp && dhcp");
    let non_pxe = scrape::sum(
        &m,
        "pxe_dhcp_messages_total",
        &[("interface", lab::SERVER_IF), ("pxe", "false")],
    );
    assert_eq!(non_pxe, 0, "DHCP messages counted as non-PXE");
    let events = scrape::sum(
        &m,
        "pxe_events_received_total",
        &[("interface", lab::SERVER_IF), ("kind", "dhcp")],
    );
    assert_eq!(
        events, dhcp_frames,
        "one event per DHCP message of the exchange"
    );
    let lost = scrape::sum(
        &m,
        "pxe_events_lost_total",
        &[("interface", lab::SERVER_IF)],
    );
    assert_eq!(lost, 0, "events lost");
    let attached = scrape::sum(&m, "pxe_program_attached", &[("interface", lab::SERVER_IF)]);
    assert_eq!(attached, 2, "XDP and TC egress attached");

    // The tracker followed the client to its boot file. A boot that
    // arrived is decided after the settle time (15 s of quiet: a chain
    // could go on with its next file), so the verdict comes within that
    // and a few seconds more.
    let deadline = std::time::Instant::now() + Duration::from_secs(25);
    let sessions = loop {
        let text = scrape::get(listen, "/api/sessions").expect("GET /api/sessions");
        let sessions: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let decided = sessions
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["client_mac"] == lab::CLIENT_MAC);
        if decided || std::time::Instant::now() > deadline {
            break sessions;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let mine: Vec<_> = sessions
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["client_mac"] == lab::CLIENT_MAC)
        .collect();
    assert_eq!(mine.len(), 1, "one session for the client: {sessions}");
    assert_eq!(mine[0]["outcome"], "booted", "{}", mine[0]);
    assert_eq!(mine[0]["boot_file"], lab::BOOT_FILE, "{}", mine[0]);
    assert_eq!(mine[0]["server"], lab::SERVER_IP, "{}", mine[0]);
    let m = agent.metrics().expect("scrape /metrics again");
    assert_eq!(
        scrape::sum(&m, "pxe_sessions_total", &[("outcome", "booted")]),
        1,
        "one booted session"
    );
    assert_eq!(
        scrape::sum(&m, "pxe_sessions_total", &[("outcome", "failed")]),
        0
    );
    assert!(scrape::sum(&m, "pxe_sessions_started_total", &[]) >= 1);
    assert_eq!(scrape::sum(&m, "pxe_boot_duration_seconds_count", &[]), 1);
    // The boot file's transfer: once, with the file's size (nothing resent
    // on a quiet lab segment).
    assert_eq!(
        scrape::sum(&m, "pxe_tftp_transfer_duration_seconds_count", &[]),
        1
    );
    let file_size = std::fs::metadata(state.join("tftp").join(lab::BOOT_FILE))
        .expect("the lab's boot file")
        .len();
    assert_eq!(
        scrape::sum(&m, "pxe_tftp_transfer_bytes_sum", &[]),
        file_size,
        "bytes of the completed transfer"
    );
    // Every offer, by the server that made it; the client waited for the
    // first one at least once (iPXE's second DISCOVER may be answered too).
    let offers = tshark_count(&pcap, "!icmp && dhcp.option.dhcp == 2");
    assert_eq!(
        scrape::sum(&m, "pxe_dhcp_offers_total", &[("server", lab::SERVER_IP)]),
        offers,
        "offers from {} vs the capture",
        lab::SERVER_IP
    );
    assert!(scrape::sum(&m, "pxe_dhcp_offer_latency_seconds_count", &[]) >= 1);
    // dnsmasq sends no option 60 and answers alone.
    assert_eq!(scrape::sum(&m, "pxe_server_warnings", &[]), 0);
    // Prometheus's own linter finds nothing to say about /metrics.
    let text = scrape::get(listen, "/metrics").expect("GET /metrics");
    let mut lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running promtool (installed by cargo xtask setup)");
    std::io::Write::write_all(&mut lint.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = lint.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {said}"
    );
    // Every metric the alert rules and the dashboard use is one the agent
    // exports.
    let exported: std::collections::HashSet<&str> = m.iter().map(|s| s.name.as_str()).collect();
    let dashboards = xtask::agent::workspace_root().join("dashboards");
    let files = ["prometheus/alerts.yml", "grafana/pxe-monitor.json"]
        .map(|f| std::fs::read_to_string(dashboards.join(f)).unwrap())
        .join("\n");
    let mut used: Vec<&str> = files
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("pxe_"))
        .collect();
    used.sort();
    used.dedup();
    assert!(used.len() >= 10, "{used:?}");
    for name in used {
        let histogram = ["_bucket", "_sum", "_count"]
            .iter()
            .any(|p| exported.contains(format!("{name}{p}").as_str()));
        assert!(
            exported.contains(name) || histogram,
            "{name} is used in dashboards/ but /metrics does not export it"
        );
    }
    let failed = scrape::get(listen, "/api/sessions?outcome=failed").expect("GET failed sessions");
    assert_eq!(failed.trim(), "[]");
    let bad = scrape::get(listen, "/api/sessions?outcome=sideways").unwrap_err();
    assert!(bad.to_string().contains("400"), "{bad}");

    let status = agent.stop().expect("stop pxe-monitor");
    assert!(
        status.success(),
        "pxe-monitor must exit 0 on SIGTERM, got {status}"
    );
    let pids: Vec<(&str, u32)> = lab.pids();
    assert!(
        pids.iter().any(|(role, _)| *role == "dnsmasq"),
        "lab processes: {pids:?}"
    );
    lab.down().expect("lab down");
    for (role, pid) in pids {
        // Gone, not even a zombie: the lab reaps what it starts.
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "{role} (pid {pid}) left behind"
        );
    }
    let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let left = String::from_utf8_lossy(&left.stdout);
    assert!(!left.contains("pxe-"), "namespaces left behind: {left}");
    let _ = std::fs::remove_dir_all(&state);
}
