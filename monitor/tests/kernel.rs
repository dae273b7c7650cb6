//! The real eBPF programs run with `BPF_PROG_TEST_RUN` (aya `TestRun`),
//! compared with the host running the same shared code on the same frames:
//! counters and event bytes.
//!
//! Needs root (skipped with a message otherwise, failed when CI=true) and
//! the fixture captures (same policy).

mod common;

use aya::{
    Ebpf,
    maps::RingBuf,
    programs::{SchedClassifier, TestRun, TestRunOptions, Xdp},
};
use monitor::{
    counters::Counters,
    event::{self, Event},
    host::HostObserver,
    kernel::{self, TC_INGRESS_PROGRAM, TC_PROGRAM, XDP_PROGRAM},
    testing,
};
use monitor_common::{Class, DhcpType, Direction, counters::maps::EVENTS, event::EventKind};

const XDP_PASS: u32 = 2;
const TC_ACT_OK: u32 = 0;

/// Frames the test harness takes whole: at least an Ethernet header, and
/// linear (XDP test runs split larger frames into fragments, which a
/// program without frags support reads only the first part of).
const TEST_RUN_LEN: std::ops::RangeInclusive<usize> = 14..=3000;

/// The event with the fields taken from a clock zeroed: the kernel's clock
/// and the host's differ (transfer times are tested where time is real).
fn without_clock(e: Event) -> Event {
    match e {
        Event::Tftp(mut t) => {
            t.elapsed_ms = 0;
            Event::Tftp(t)
        }
        Event::Http(mut h) => {
            h.elapsed_ms = 0;
            Event::Http(h)
        }
        other => other,
    }
}

/// The fixtures directory, when the test can run: root and ../shared
/// (otherwise skipped with a message, or failed when CI=true).
fn prerequisites() -> Option<std::path::PathBuf> {
    if !testing::can_load_ebpf() {
        return None;
    }
    testing::fixtures_dir()
}

/// A freshly loaded object (zeroed maps, empty ring buffer) and the host
/// replica fed the same frames.
struct Pair {
    ebpf: Ebpf,
    /// The ingress program: XDP or TC ingress (each counts every frame it
    /// sees, so one of them runs per pair).
    ingress: &'static str,
    host: HostObserver,
    /// Events read from the kernel's ring buffer: (direction, kind, event
    /// bytes).
    kernel_events: Vec<(u8, u8, Vec<u8>)>,
}

impl Pair {
    fn new() -> Self {
        Self::with_ingress(XDP_PROGRAM)
    }

    fn with_ingress(ingress: &'static str) -> Self {
        Pair {
            ebpf: kernel::load().unwrap_or_else(|e| panic!("{e}")),
            ingress,
            host: HostObserver::default(),
            kernel_events: Vec::new(),
        }
    }

    /// Runs one frame through the ingress program (XDP or TC) and TC
    /// egress, checks that each lets it pass, and gives it to the host for
    /// each hook that ran.
    ///
    /// The skb test harness (TC) refuses, with EINVAL, an IPv4 or IPv6
    /// frame too short for the fixed IP header; only XDP runs those. Real
    /// egress skbs always hold that header.
    fn run(&mut self, frame: &[u8]) {
        assert!(
            TEST_RUN_LEN.contains(&frame.len()),
            "test frame of {} bytes",
            frame.len()
        );
        let opts = || TestRunOptions {
            data_in: Some(frame),
            ..Default::default()
        };
        if self.ingress == XDP_PROGRAM {
            let xdp: &Xdp = self.ebpf.program(XDP_PROGRAM).unwrap().try_into().unwrap();
            let r = xdp
                .test_run(opts())
                .unwrap_or_else(|e| panic!("XDP test run of a {}-byte frame: {e:?}", frame.len()));
            assert_eq!(
                r.return_value, XDP_PASS,
                "XDP must pass every frame ({frame:02x?})"
            );
            self.host.observe(frame, Direction::Ingress);
            self.drain();
        }
        let hooks = [
            (self.ingress, Direction::Ingress),
            (TC_PROGRAM, Direction::Egress),
        ];
        for (name, dir) in hooks {
            if name == XDP_PROGRAM {
                continue;
            }
            let r = {
                let tc: &SchedClassifier = self.ebpf.program(name).unwrap().try_into().unwrap();
                tc.test_run(opts())
            };
            self.run_tc(r, frame, dir);
        }
    }

    /// A TC run's result: the frame passed and the host saw it the same
    /// way, or the harness refused a frame too short for an skb.
    fn run_tc(
        &mut self,
        r: Result<aya::programs::TestRunResult, aya::programs::ProgramError>,
        frame: &[u8],
        dir: Direction,
    ) {
        match r {
            Ok(r) => {
                assert_eq!(
                    r.return_value, TC_ACT_OK,
                    "TC must pass every frame ({frame:02x?})"
                );
                self.host.observe(frame, dir);
                self.drain();
            }
            Err(e) => {
                let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
                let short_ip = (ethertype == 0x0800 && frame.len() < 14 + 20)
                    || (ethertype == 0x86dd && frame.len() < 14 + 40);
                assert!(
                    short_ip,
                    "TC test run of a {}-byte frame: {e:?}",
                    frame.len()
                );
            }
        }
    }

    /// Reads what the kernel put in the ring buffer (after every run, so it
    /// never fills up).
    fn drain(&mut self) {
        let mut rb = RingBuf::try_from(self.ebpf.map_mut(EVENTS).unwrap()).unwrap();
        while let Some(item) = rb.next() {
            let rec = event::decode(&item)
                .unwrap_or_else(|| panic!("undecodable record {:02x?}", &*item));
            assert!(rec.header().timestamp_ns > 0);
            let ev = without_clock(rec.event());
            self.kernel_events
                .push((rec.header().direction, ev.kind() as u8, ev.bytes().to_vec()));
        }
    }

    fn kernel_counters(&self) -> Counters {
        kernel::read_counters(&self.ebpf).unwrap()
    }

    /// Kernel and host agree: counters, and every event byte for byte.
    /// (Which transfers went to the kernel's overflow table is the
    /// kernel's alone: the host's table has no slots.)
    fn assert_agree(&self, what: &str) {
        let mut kernel = self.kernel_counters();
        assert!(kernel.new_overflow <= kernel.new_flows);
        kernel.new_overflow = 0;
        assert_eq!(kernel, self.host.counters, "{what}: counters");
        let host: Vec<(u8, u8, Vec<u8>)> = self
            .host
            .events
            .iter()
            .map(|(d, e)| (*d as u8, e.kind() as u8, without_clock(*e).bytes().to_vec()))
            .collect();
        assert_eq!(
            self.kernel_events.len(),
            host.len(),
            "{what}: number of events"
        );
        for (i, (k, h)) in self.kernel_events.iter().zip(&host).enumerate() {
            assert_eq!(k, h, "{what}: event {i}");
        }
    }
}

#[test]
fn kernel_counts_match_tshark_for_netboot_and_lab_captures() {
    let Some(dir) = prerequisites() else {
        return;
    };
    for (e, ingress) in common::EXPECTED
        .iter()
        .flat_map(|e| [(e, XDP_PROGRAM), (e, TC_INGRESS_PROGRAM)])
    {
        let mut pair = Pair::with_ingress(ingress);
        for f in common::frames(&common::fixture(&dir, e.file)) {
            pair.run(&f);
        }
        let got = pair.kernel_counters();
        // XDP counts as ingress, TC as egress: the same frames, the same numbers.
        for dir in Direction::ALL {
            common::assert_matches("kernel", dir, &got, e);
            // PXE or not, the servers' replies included (known by xid).
            for i in 0..DhcpType::COUNT {
                let ty = DhcpType::from_index(i).unwrap();
                let want = e
                    .non_pxe
                    .iter()
                    .find(|(t, _)| *t == ty)
                    .map_or(0, |(_, n)| *n);
                assert_eq!(
                    got.dhcp_pxe(dir, false, ty),
                    want,
                    "{}: non-PXE {}",
                    e.file,
                    ty.label()
                );
            }
        }
        assert_eq!(got.events_lost, 0);
        pair.assert_agree(e.file);
        let count = |v: &[(DhcpType, u64)]| v.iter().map(|(_, n)| n).sum::<u64>();
        let pxe_messages = count(e.dhcp) - count(e.non_pxe);
        let pxe_port_unreachable: u64 = e
            .icmp
            .iter()
            .filter(|(c, _)| c.is_dhcp() || *c == Class::TftpRequest)
            .map(|(_, n)| n)
            .sum();
        let dhcp_and_icmp_events = pair
            .kernel_events
            .iter()
            .filter(|(_, kind, _)| *kind != EventKind::Tftp as u8)
            .count();
        assert_eq!(
            dhcp_and_icmp_events as u64,
            2 * (pxe_messages + pxe_port_unreachable + e.icmp_about_transfers),
            "{}: one event per PXE DHCP message and per ICMP unreachable about a PXE port, each hook",
            e.file
        );
    }
}

#[test]
fn kernel_and_host_agree_on_every_fixture_frame() {
    let Some(dir) = prerequisites() else {
        return;
    };
    let mut events = 0;
    for path in common::all_captures(&dir) {
        let Ok(packets) = monitor::capture::read_file(&path) else {
            continue;
        };
        for ingress in [XDP_PROGRAM, TC_INGRESS_PROGRAM] {
            let mut pair = Pair::with_ingress(ingress);
            let usable = packets
                .iter()
                .filter(|p| p.is_ethernet() && TEST_RUN_LEN.contains(&p.data.len()));
            for p in usable {
                pair.run(&p.data);
            }
            pair.assert_agree(&format!("{} ({ingress})", path.display()));
            events += pair.kernel_events.len();
        }
    }
    assert!(
        events > 100,
        "the fixtures hold PXE exchanges; got {events} events"
    );
}

/// A deterministic xorshift generator: the same "random" frames every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn truncated_malformed_and_non_ip_frames_always_pass() {
    let Some(dir) = prerequisites() else {
        return;
    };
    // Seeds: every frame of a healthy PXE boot and of a proxyDHCP exchange
    // (DHCP with options, 4011, TFTP, IPv6, ICMP).
    let mut seeds = common::frames(&dir.join("lab-pcaps/a-healthy-dnsmasq.pcap"));
    seeds.extend(common::frames(
        &dir.join("lab-pcaps/f-healthy-proxydhcp.pcap"),
    ));
    let mut cases: Vec<Vec<u8>> = Vec::new();
    for s in &seeds {
        // Every truncation.
        for len in *TEST_RUN_LEN.start()..s.len() {
            cases.push(s[..len].to_vec());
        }
    }
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for s in &seeds {
        for _ in 0..200 {
            let mut f = s.clone();
            // Corrupt 1-4 bytes among the first 300 (the headers and the
            // first options).
            for _ in 0..=(rng.next() % 4) {
                let at = (rng.next() as usize) % f.len().min(300);
                f[at] = rng.next() as u8;
            }
            cases.push(f);
        }
    }
    // A frame of nothing but VLAN tags.
    let vlan_only: Vec<u8> = [[0xffu8; 12].as_slice(), &[0x81, 0x00, 0, 1].repeat(10)].concat();
    cases.push(vlan_only);
    let mut pair = Pair::new();
    for f in &cases {
        pair.run(f);
    }
    pair.assert_agree("malformed frames");
    let errors: u64 = pair.kernel_counters().parse_errors.iter().sum();
    assert!(
        errors > 1000,
        "the malformed cases should be counted as parse errors, got {errors}"
    );
    println!(
        "{} frames run through XDP and TC, all passed; {errors} parse errors and {} events, kernel == host",
        cases.len(),
        pair.kernel_events.len()
    );
}

#[test]
fn the_port_hint_of_a_transfer_silent_for_minutes_lapses() {
    let Some(dir) = prerequisites() else {
        return;
    };
    // A healthy boot: its TFTP request, then the transfer on the client's
    // ephemeral port.
    let frames = common::frames(&dir.join("lab-pcaps/a-healthy-dnsmasq.pcap"));
    let udp_ports = |f: &[u8]| {
        let ip_len = usize::from(f[14] & 0x0f) * 4;
        let at = 14 + ip_len;
        (
            u16::from_be_bytes([f[at], f[at + 1]]),
            u16::from_be_bytes([f[at + 2], f[at + 3]]),
        )
    };
    let is_udp = |f: &[u8]| f.len() > 42 && f[12..14] == [0x08, 0x00] && f[23] == 17;
    let rrq = frames
        .iter()
        .position(|f| is_udp(f) && udp_ports(f).1 == 69)
        .expect("the capture holds a TFTP read request");
    let client_port = udp_ports(&frames[rrq]).0;
    let data = |c: &Counters| c.tftp_opcodes.iter().sum::<u64>();

    // The request, then the hint made 10 minutes old: the transfer's
    // packets are no longer looked up, so not counted as TFTP.
    let mut stale = Pair::new();
    for f in &frames[..=rrq] {
        stale.run(f);
    }
    let after_request = data(&stale.kernel_counters());
    let mut hints: aya::maps::Array<_, u32> = stale
        .ebpf
        .map_mut(monitor_common::counters::maps::TFTP_PORT_HINTS)
        .unwrap()
        .try_into()
        .unwrap();
    let now = monitor_common::flow::port_hint::stamp(monitor::kernel::monotonic_ns());
    let h = hints.get(&u32::from(client_port), 0).unwrap();
    assert!(h != 0 && now.abs_diff(h) <= 1, "hint {h}, now {now}");
    // 10 minutes (560 ticks of 2^30 ns) old. Wrapping: the machine may
    // have booted less than 10 minutes ago.
    hints
        .set(u32::from(client_port), now.wrapping_sub(560), 0)
        .unwrap();
    for f in &frames[rrq + 1..] {
        stale.run(f);
    }
    assert_eq!(
        data(&stale.kernel_counters()),
        after_request,
        "packets on a port whose hint lapsed are not looked up"
    );

    // Without the lapse the same packets are followed.
    let mut fresh = Pair::new();
    for f in &frames {
        fresh.run(f);
    }
    assert!(data(&fresh.kernel_counters()) > after_request);
}

/// The kernel's own records of rare conditions (aya-log): a full ring
/// buffer says so when the programs are loaded with `--kernel-log`, and
/// nothing is written without it.
#[test]
fn the_kernel_reports_rare_conditions_only_when_asked() {
    if !testing::can_load_ebpf() {
        return;
    }
    #[derive(Clone, Default)]
    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<String>>>);
    impl log::Log for Capture {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, r: &log::Record<'_>) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{} {}", r.level(), r.args()));
        }
        fn flush(&self) {}
    }
    // A boot-server request to port 4011 (a PXE message: an event each, a
    // short record of 80 bytes with the ring buffer's own header), into the
    // smallest ring buffer, never drained: it fills after about 50.
    let d = monitor::testing::frames::dhcp(1, 3, 7, [2, 0, 0, 0, 0, 9], [0; 4], [0; 4], &[]);
    let frame = monitor::testing::frames::udp(
        [2, 0, 0, 0, 0, 9],
        [2, 0, 0, 0, 0, 1],
        ([10, 0, 0, 9], 68),
        ([10, 0, 0, 1], 4011),
        &d,
    );
    let sizes = kernel::MapSizes {
        ring_bytes: 4096,
        ..Default::default()
    };
    for asked in [false, true] {
        let mut ebpf = kernel::load_with(&sizes, asked).unwrap();
        let capture = Capture::default();
        let mut logger = aya_log::EbpfLogger::init_with_logger(&mut ebpf, capture.clone()).unwrap();
        let xdp: &Xdp = ebpf.program(XDP_PROGRAM).unwrap().try_into().unwrap();
        for _ in 0..100 {
            let opts = TestRunOptions {
                data_in: Some(&frame),
                ..Default::default()
            };
            xdp.test_run(opts).unwrap();
        }
        assert!(kernel::read_counters(&ebpf).unwrap().events_lost > 0);
        logger.flush();
        let said = capture.0.lock().unwrap().clone();
        if asked {
            assert!(
                said.iter()
                    .any(|l| l == "WARN ring buffer full: a DHCP event is lost"),
                "{said:?}"
            );
        } else {
            assert_eq!(said, Vec::<String>::new());
        }
    }
}

/// A PXE transaction table smaller than the transactions that start:
/// every new transaction past its size pushed an older one out, and the
/// counters say how many.
#[test]
fn a_full_transaction_table_says_how_many_it_forgot() {
    if !testing::can_load_ebpf() {
        return;
    }
    let sizes = kernel::MapSizes {
        pxe_xids: 16,
        ..Default::default()
    };
    let ebpf = kernel::load_sized(&sizes).unwrap();
    let xdp: &Xdp = ebpf.program(XDP_PROGRAM).unwrap().try_into().unwrap();
    let vendor: &[u8] = b"PXEClient:Arch:00000:UNDI:002001";
    for xid in 0..40u32 {
        let mac = [2, 0, 0, 0, 1, xid as u8];
        let d = monitor::testing::frames::dhcp(1, 1, xid, mac, [0; 4], [0; 4], &[(60, vendor)]);
        let frame = monitor::testing::frames::udp(mac, [0xff; 6], ([0; 4], 68), ([255; 4], 67), &d);
        let opts = TestRunOptions {
            data_in: Some(&frame),
            ..Default::default()
        };
        xdp.test_run(opts).unwrap();
    }
    let c = kernel::read_counters(&ebpf).unwrap();
    assert_eq!((c.new_xids, c.xids_size), (40, 16));
    assert_eq!(c.table_evictions(), (24, 0));
}

/// Two clients that picked the same client port (a boot storm makes that
/// common) fetching from one server at the same time: the first transfer
/// takes the port's slot, the second goes to the overflow table, and both
/// are followed to their last block, as the host follows them.
#[test]
fn two_clients_on_one_client_port_are_both_followed() {
    if !testing::can_load_ebpf() {
        return;
    }
    use monitor::testing::frames::{SERVER_MAC, rrq, tftp_ack, tftp_data, udp};
    use monitor_common::wire::tftp;
    let server = [10, 0, 0, 1];
    let (a, b) = ([10, 0, 0, 5], [10, 0, 0, 6]);
    let (mac_a, mac_b) = ([2, 0, 0, 0, 0, 5], [2, 0, 0, 0, 0, 6]);
    let from = |mac, ip, payload: &[u8]| udp(mac, SERVER_MAC, (ip, 2070), (server, 69), payload);
    let to =
        |mac, ip, sport, payload: &[u8]| udp(SERVER_MAC, mac, (server, sport), (ip, 2070), payload);
    let ack = |mac, ip, sport, block| {
        udp(
            mac,
            SERVER_MAC,
            (ip, 2070),
            (server, sport),
            &tftp_ack(block),
        )
    };
    let block = [0x55u8; 512];
    let frames = [
        from(mac_a, a, &rrq(b"a.efi")),
        from(mac_b, b, &rrq(b"b.efi")),
        to(mac_a, a, 40001, &tftp_data(1, &block)),
        to(mac_b, b, 40002, &tftp_data(1, &block)),
        ack(mac_a, a, 40001, 1),
        ack(mac_b, b, 40002, 1),
        to(mac_a, a, 40001, &tftp_data(2, &block[..100])),
        to(mac_b, b, 40002, &tftp_data(2, &block[..7])),
        ack(mac_a, a, 40001, 2),
        ack(mac_b, b, 40002, 2),
    ];
    let mut pair = Pair::new();
    for f in &frames {
        pair.run(f);
    }
    pair.assert_agree("two transfers on one client port");
    let c = pair.kernel_counters();
    assert_eq!(c.tftp(Direction::Ingress, tftp::DATA), 4);
    assert_eq!(c.tftp(Direction::Ingress, tftp::ACK), 4);
    assert_eq!((c.new_flows, c.new_overflow), (2, 1));
    assert_eq!(c.table_evictions(), (0, 0));
}

/// A boot client's web connection (learned from its PXE ACK), followed
/// segment by segment: SYN with options, SYN-ACK, a request with the head
/// split, the response head, the body in segments (one resent), FIN, the
/// server's sequence numbers wrapping; a segment larger than the MTU as GRO
/// hands them over (2,900 bytes: the test harness takes up to 3,000); a client that no PXE ACK named is not
/// followed; a truncated TCP header is counted as a parse error; kernel ==
/// host throughout.
#[test]
fn a_boot_clients_web_connection_is_followed_like_the_host_does() {
    if !testing::can_load_ebpf() {
        return;
    }
    use monitor::testing::frames::{SERVER_MAC, dhcp, tcp, udp, with_ipv4_options};
    use monitor_common::wire::tcp::flags::{ACK, FIN, PSH, SYN};
    use monitor_common::{
        counters::WebSegment,
        wire::{ParseError, tcp::Web},
    };
    let server = [10, 0, 0, 1];
    let (client, stranger) = ([10, 0, 0, 50], [10, 0, 0, 51]);
    let (cmac, smac2) = ([2, 0, 0, 0, 0, 0x50], [2, 0, 0, 0, 0, 0x51]);
    let vendor: &[u8] = b"PXEClient:Arch:00000:UNDI:002001";
    let ack = udp(
        SERVER_MAC,
        [0xff; 6],
        (server, 67),
        ([255; 4], 68),
        &dhcp(
            2,
            5,
            0x1234,
            cmac,
            client,
            server,
            &[(60, vendor), (54, &server)],
        ),
    );
    let c2s = |seq, flags, payload: &[u8]| {
        tcp(
            cmac,
            SERVER_MAC,
            (client, 49152),
            (server, 80),
            seq,
            flags,
            &[],
            payload,
        )
    };
    let s2c = |seq, flags, payload: &[u8]| {
        tcp(
            SERVER_MAC,
            cmac,
            (server, 80),
            (client, 49152),
            seq,
            flags,
            &[],
            payload,
        )
    };
    let request = b"GET /stage2.ipxe HTTP/1.1\r\nConnection: keep-alive\r\nUser-Agent: iPXE/1.0.0+\r\nHost: 10.0.0.1\r\n\r\n";
    let head =
        b"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\nContent-Length: 3000\r\n\r\n";
    let body = [0x42u8; 1460];
    // MSS, SACK permitted, timestamps, window scale: 20 option bytes.
    let syn_options = [
        2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
    ];
    let c_isn = 1000u32;
    let s_isn = u32::MAX - 100; // the server's sequence numbers wrap
    let big = vec![0x43u8; 60_000];
    let frames = vec![
        ack,
        tcp(
            cmac,
            SERVER_MAC,
            (client, 49152),
            (server, 80),
            c_isn,
            SYN,
            &syn_options,
            &[],
        ),
        tcp(
            SERVER_MAC,
            cmac,
            (server, 80),
            (client, 49152),
            s_isn,
            SYN | ACK,
            &syn_options,
            &[],
        ),
        c2s(c_isn + 1, ACK, &[]),
        c2s(c_isn + 1, ACK | PSH, &request[..20]),
        c2s(c_isn + 21, ACK | PSH, &request[20..]),
        s2c(s_isn.wrapping_add(1), ACK | PSH, head),
        s2c(s_isn.wrapping_add(1 + head.len() as u32), ACK, &body),
        // Resent: counted once.
        s2c(s_isn.wrapping_add(1 + head.len() as u32), ACK, &body),
        s2c(
            s_isn.wrapping_add(1 + head.len() as u32 + 1460),
            ACK | PSH | FIN,
            &body[..80],
        ),
        c2s(c_isn + 1 + request.len() as u32, ACK | FIN, &[]),
        // A second connection: a 60 KB segment as GRO hands it over.
        tcp(
            cmac,
            SERVER_MAC,
            (client, 49153),
            (server, 80),
            5,
            SYN,
            &[],
            &[],
        ),
        tcp(
            SERVER_MAC,
            cmac,
            (server, 80),
            (client, 49153),
            9,
            SYN | ACK,
            &[],
            &[],
        ),
        tcp(
            SERVER_MAC,
            cmac,
            (server, 80),
            (client, 49153),
            10,
            ACK,
            &[],
            &big[..2900],
        ),
        // A third connection whose SYN carries IPv4 options (NOP, NOP, and
        // a 4-byte router alert, RFC 2113; then 4 bytes of end of list):
        // the TCP header is found past them.
        with_ipv4_options(
            &tcp(
                cmac,
                SERVER_MAC,
                (client, 49154),
                (server, 80),
                77,
                SYN,
                &[],
                &[],
            ),
            &[1, 1, 0x94, 0x04, 0, 0, 0, 0],
        ),
        // Not a boot client: not followed.
        tcp(
            smac2,
            SERVER_MAC,
            (stranger, 40000),
            (server, 80),
            1,
            SYN,
            &[],
            &[],
        ),
        // A web port's TCP header cut short.
        c2s(c_isn, SYN, &[])[..14 + 20 + 12].to_vec(),
    ];
    let mut pair = Pair::new();
    for f in &frames {
        pair.run(f);
    }
    pair.assert_agree("a web connection");
    let c = pair.kernel_counters();
    let seg = |k| c.web_segment(Direction::Ingress, Web::Http, k);
    assert_eq!(
        (
            seg(WebSegment::Syn),
            seg(WebSegment::SynAck),
            seg(WebSegment::Fin)
        ),
        (3, 2, 2)
    );
    assert_eq!(seg(WebSegment::Data), 6);
    assert_eq!((c.new_conns, c.new_clients), (3, 1));
    assert_eq!(
        c.parse_error(Direction::Ingress, ParseError::TruncatedTcp),
        1
    );
    let https = pair.kernel_counters();
    assert_eq!(
        https.web_segment(Direction::Ingress, Web::Https, WebSegment::Syn),
        0
    );
    // The events: SYN, SYN-ACK, request, response, the server's FIN (after
    // its last bytes, counted once each), the client's FIN; SYN and
    // SYN-ACK of the second connection; the third's SYN.
    let events: Vec<_> = pair
        .host
        .events
        .iter()
        .filter_map(|(d, e)| match e {
            // Each frame also ran through TC egress (the same maps).
            Event::Http(h) if *d == Direction::Ingress => Some(*h),
            _ => None,
        })
        .collect();
    let moments: Vec<u8> = events.iter().map(|e| e.moment).collect();
    assert_eq!(moments, [1, 2, 3, 4, 5, 5, 1, 2, 1], "{events:#?}");
    assert_eq!(events[8].client_port, 49154u16.to_be_bytes());
    let last_of_first = &events[4];
    assert_eq!(last_of_first.server_bytes, (head.len() + 1460 + 80) as u64);
    assert_eq!(events[3].offset, 0);
    assert!(
        monitor_common::wire::http::parse_response(event::http_payload(&events[3]))
            .is_some_and(|r| r.content_length == Some(3000))
    );
    assert_eq!(events[2].client_mac, cmac);
}

/// UEFI HTTP Boot over IPv6: the DHCPv6 Reply of an HTTPClient exchange
/// teaches the kernel the client's address (its IA_NA) and MAC (its
/// DUID); the client's connection to the web server over IPv6 is then
/// followed as over IPv4 (a hop-by-hop header before TCP too), a stranger's
/// is not, TCP over IPv6 between other ports is settled in stage one, and
/// a cut TCP header is counted: kernel == host, the events carry the
/// IPv6 addresses and the MAC.
#[test]
fn http_over_ipv6_is_followed_like_over_ipv4() {
    if !testing::can_load_ebpf() {
        return;
    }
    use monitor::testing::frames::{SERVER_MAC, dhcpv6, dhcpv6_exchange, pxe_vendor_class6, tcp6};
    use monitor_common::wire::tcp::flags::{ACK, FIN, PSH, SYN};
    use monitor_common::{
        counters::WebSegment,
        wire::{ParseError, tcp::Web},
    };
    let v6 = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
    let (server, client, stranger) = (v6("fd77:10::1"), v6("fd77:10::1c5"), v6("fd77:10::99"));
    let link_local = v6("fe80::5054:ff:fe12:3456");
    let cmac = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
    let duid = [
        0, 1, 0, 1, 0x2e, 0x1a, 0x2b, 0x3c, 0x52, 0x54, 0, 0x12, 0x34, 0x56,
    ];
    let vendor = pxe_vendor_class6(b"HTTPClient:Arch:00016:UNDI:003000");
    // IA_NA: IAID, T1, T2, then a status code (success) before the IAADDR
    // (address, preferred and valid lifetimes).
    let mut ia_na = vec![0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    ia_na.extend_from_slice(&[0, 13, 0, 2, 0, 0]);
    ia_na.extend_from_slice(&[0, 5, 0, 24]);
    ia_na.extend_from_slice(&client);
    ia_na.extend_from_slice(&[0, 0, 0x0e, 0x10, 0, 0, 0x1c, 0x20]);
    let request = dhcpv6(3, 0x424242, &[(1, &duid), (3, &ia_na), (16, &vendor)]);
    let reply = dhcpv6(
        7,
        0x424242,
        &[
            (1, &duid),
            (3, &ia_na),
            (16, &vendor),
            (59, b"http://[fd77:10::1]/boot.efi"),
        ],
    );
    let frames_dhcp = dhcpv6_exchange(cmac, link_local, server, (&request, &reply));
    let c2s = |port, seq, flags, payload: &[u8]| {
        tcp6(
            cmac,
            SERVER_MAC,
            (client, port),
            (server, 80),
            &[],
            seq,
            flags,
            payload,
        )
    };
    let s2c = |port, seq, flags, payload: &[u8]| {
        tcp6(
            SERVER_MAC,
            cmac,
            (server, 80),
            (client, port),
            &[],
            seq,
            flags,
            payload,
        )
    };
    let get =
        b"GET /boot.efi HTTP/1.1\r\nUser-Agent: UefiHttpBoot/1.0\r\nHost: [fd77:10::1]\r\n\r\n";
    let head = b"HTTP/1.0 200 OK\r\nContent-Length: 2000\r\n\r\n";
    let body = [0x42u8; 1000];
    let hop_by_hop = (0u8, vec![0u8, 0, 1, 4, 0, 0, 0, 0]);
    let mut frames = frames_dhcp.to_vec();
    frames.extend([
        c2s(49152, 100, SYN, &[]),
        s2c(49152, 5000, SYN | ACK, &[]),
        c2s(49152, 101, ACK | PSH, get),
        s2c(49152, 5001, ACK | PSH, head),
        s2c(49152, 5001 + head.len() as u32, ACK, &body),
        // Resent: counted once.
        s2c(49152, 5001 + head.len() as u32, ACK, &body),
        s2c(49152, 5001 + head.len() as u32 + 1000, ACK | FIN, &body),
        // A second connection whose SYN comes after a hop-by-hop header.
        tcp6(
            cmac,
            SERVER_MAC,
            (client, 49153),
            (server, 80),
            &[hop_by_hop],
            7,
            SYN,
            &[],
        ),
        // Not a boot client: not followed.
        tcp6(
            [2, 0, 0, 0, 0, 0x99],
            SERVER_MAC,
            (stranger, 40000),
            (server, 80),
            &[],
            1,
            SYN,
            &[],
        ),
        // Not a web port: settled in stage one.
        tcp6(
            cmac,
            SERVER_MAC,
            (client, 40001),
            (server, 22),
            &[],
            1,
            SYN,
            &[],
        ),
        // A web port's TCP header cut short.
        c2s(49154, 1, SYN, &[])[..14 + 40 + 12].to_vec(),
    ]);
    let mut pair = Pair::new();
    for f in &frames {
        pair.run(f);
    }
    pair.assert_agree("a web connection over IPv6");
    let c = pair.kernel_counters();
    let seg = |k| c.web_segment(Direction::Ingress, Web::Http, k);
    assert_eq!(
        (
            seg(WebSegment::Syn),
            seg(WebSegment::SynAck),
            seg(WebSegment::Fin)
        ),
        (2, 1, 1)
    );
    assert_eq!((c.new_conns6, c.new_clients6), (2, 1));
    assert_eq!((c.new_conns, c.new_clients), (0, 0));
    assert_eq!(
        c.parse_error(Direction::Ingress, ParseError::TruncatedTcp),
        1
    );
    let events: Vec<_> = pair
        .host
        .events
        .iter()
        .filter_map(|(d, e)| match e {
            Event::Http(h) if *d == Direction::Ingress => Some(*h),
            _ => None,
        })
        .collect();
    let moments: Vec<u8> = events.iter().map(|e| e.moment).collect();
    // SYN, SYN-ACK, request, response, the server's FIN; the second SYN.
    assert_eq!(moments, [1, 2, 3, 4, 5, 1], "{events:#?}");
    assert!(
        events
            .iter()
            .all(|e| e.client_ip == client && e.server_ip == server)
    );
    assert!(events.iter().all(|e| e.client_mac == cmac));
    assert_eq!(events[4].server_bytes, (head.len() + 2000) as u64);
    assert_eq!(events[5].client_port, 49153u16.to_be_bytes());
    assert!(
        monitor_common::wire::http::parse_response(event::http_payload(&events[3]))
            .is_some_and(|r| r.content_length == Some(2000))
    );
}

/// A PXE client's DHCPv6 exchange as EDK2 sends it (vendor class 343
/// `PXEClient`, a server's Advertise and Reply known by the transaction),
/// the same Solicit relayed, a non-PXE client, extension headers at and
/// beyond the walk's bound, a later fragment, and cut messages: kernel ==
/// host, each counted where a user would look for it.
/// TFTP over IPv6 (EDK2's PXEv6): the read request learns the transfer in
/// the IPv6 table, the server's blocks from its ephemeral port and the
/// client's ACKs are followed, an ERROR for a second file is counted by
/// code; kernel == host, the events carry the IPv6 addresses.
#[test]
fn tftp_over_ipv6_is_followed_like_over_ipv4() {
    if !testing::can_load_ebpf() {
        return;
    }
    use monitor::testing::frames::{
        SERVER_MAC, icmp6_port_unreachable, rrq, tftp_ack, tftp_data, tftp_error, udp6,
    };
    use monitor_common::{
        flow::{TftpFlow, TftpKey6, TftpMoment},
        wire::tftp,
    };
    let cmac = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
    let addr = |last: u8| {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[0xfd, 0x77, 0, 0x10]);
        a[14..].copy_from_slice(&[1, last]);
        a
    };
    let (client, server) = (addr(0xc5), addr(1));
    let up = |sport, dport, ext: &[(u8, Vec<u8>)], p: &[u8]| {
        udp6(cmac, SERVER_MAC, (client, sport), (server, dport), ext, p)
    };
    let down =
        |sport, dport, p: &[u8]| udp6(SERVER_MAC, cmac, (server, sport), (client, dport), &[], p);
    let dest_opts = (60u8, vec![0u8, 0, 1, 4, 0, 0, 0, 0]);
    let frames = [
        // The request behind a destination options header: walked.
        up(1500, 69, &[dest_opts], &rrq(b"tiny.efi")),
        down(40000, 1500, &tftp_data(1, &[0xaa; 512])),
        up(1500, 40000, &[], &tftp_ack(1)),
        down(40000, 1500, &tftp_data(2, &[0xbb; 100])),
        up(1500, 40000, &[], &tftp_ack(2)),
        up(1501, 69, &[], &rrq(b"missing.efi")),
        down(40001, 1501, &tftp_error(1, b"File not found")),
        // Other UDP over IPv6 between other ports: not TFTP.
        up(5353, 5353, &[], &[0u8; 40]),
        // The client refusing a resent block of the transfer (its port
        // closed): ICMPv6 about a followed transfer.
        icmp6_port_unreachable(
            cmac,
            SERVER_MAC,
            client,
            server,
            &down(40000, 1500, &tftp_data(2, &[0xbb; 100])),
        ),
    ];
    let mut pair = Pair::new();
    for f in &frames {
        pair.run(f);
    }
    pair.assert_agree("TFTP over IPv6");
    let icmp: Vec<_> = pair
        .host
        .events
        .iter()
        .filter_map(|(dir, e)| match e {
            monitor::event::Event::Icmp(e) if *dir == Direction::Ingress => Some(*e),
            _ => None,
        })
        .collect();
    assert_eq!(
        icmp.iter()
            .map(|e| (e.transfer, e.reporter, e.quoted_dst))
            .collect::<Vec<_>>(),
        [(1, client, client)],
        "the refused block belongs to a followed transfer"
    );
    let c = pair.kernel_counters();
    let d = Direction::Ingress;
    assert_eq!(
        (
            c.tftp(d, tftp::RRQ),
            c.tftp(d, tftp::DATA),
            c.tftp(d, tftp::ACK),
            c.tftp_error(d, true, 1)
        ),
        (2, 2, 2, 1)
    );
    assert_eq!(c.packets(d, Class::TftpRequest6), 2);
    assert_eq!(
        (c.new_flows6, c.new_flows),
        (2, 0),
        "learned in the IPv6 table"
    );
    let events: Vec<_> = pair
        .host
        .events
        .iter()
        .filter_map(|(dir, e)| match e {
            monitor::event::Event::Tftp(e) if *dir == d => Some(*e),
            _ => None,
        })
        .collect();
    let moments: Vec<u8> = events.iter().map(|e| e.moment).collect();
    assert_eq!(
        moments,
        [
            TftpMoment::Request as u8,
            TftpMoment::FirstData as u8,
            TftpMoment::LastData as u8,
            TftpMoment::Request as u8,
            TftpMoment::Error as u8
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| (e.client_ip, e.server_ip) == (client, server))
    );
    // Each frame runs through ingress and egress, which share the table:
    // the last block's ingress event comes after three DATA packets.
    assert_eq!(
        (events[2].data_packets, events[2].data_bytes),
        (3, 512 * 2 + 100)
    );
    let line = monitor::event::describe_tftp(&events[0]);
    assert!(line.contains("client=[fd77:10::1c5]:1500"), "{line}");
    // The kernel's IPv6 table holds the transfer, as it stood at the end.
    let flows: aya::maps::HashMap<_, TftpKey6, TftpFlow> = pair
        .ebpf
        .map(monitor_common::counters::maps::TFTP_FLOWS6)
        .unwrap()
        .try_into()
        .unwrap();
    let key = TftpKey6 {
        client_ip: client,
        server_ip: server,
        client_port: 1500u16.to_be_bytes(),
        _reserved: [0; 2],
    };
    let flow = flows.get(&key, 0).unwrap();
    assert_eq!(
        (
            flow.data_packets,
            flow.acks,
            flow.highest_block,
            flow.server_port
        ),
        (4, 4, 2, 40000u16.to_be_bytes())
    );
    // Every truncation of the request and of a block: still kernel == host.
    let mut cut = Pair::new();
    for f in [&frames[0], &frames[1]] {
        for len in 54..f.len().min(200) {
            cut.run(&f[..len]);
        }
    }
    cut.assert_agree("TFTP over IPv6 cut short");
}

#[test]
fn dhcpv6_is_counted_like_the_host_does() {
    if !testing::can_load_ebpf() {
        return;
    }
    use monitor::testing::frames::{
        SERVER_MAC, dhcpv6, dhcpv6_relay, icmp6_port_unreachable, pxe_vendor_class6, udp6,
    };
    use monitor_common::{counters::Dhcp6Type, wire::ParseError};
    let cmac = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
    let link_local = {
        let mut a = [0u8; 16];
        a[..2].copy_from_slice(&[0xfe, 0x80]);
        a[10..].copy_from_slice(&[0x50, 0x54, 0, 0xff, 0xfe, 0x12]);
        a
    };
    let all_servers = {
        let mut a = [0u8; 16];
        a[..2].copy_from_slice(&[0xff, 0x02]);
        a[13..].copy_from_slice(&[1, 0, 2]);
        a
    };
    let server = {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[0xfd, 0x77, 0, 0x10]);
        a[15] = 1;
        a
    };
    let vendor = pxe_vendor_class6(b"PXEClient:Arch:00007:UNDI:003000");
    let duid = [
        0, 1, 0, 1, 0x2e, 0x1a, 0x2b, 0x3c, 0x52, 0x54, 0, 0x12, 0x34, 0x56,
    ];
    let solicit = dhcpv6(1, 0xabcdef, &[(1, &duid), (16, &vendor), (61, &[0, 7])]);
    let advertise = dhcpv6(
        2,
        0xabcdef,
        &[(1, &duid), (59, b"tftp://[fd77:10::1]/tiny.efi")],
    );
    let reply = dhcpv6(7, 0xabcdef, &[(1, &duid)]);
    let plain = dhcpv6(1, 0x111111, &[(1, &duid)]);
    let to_server = |ext: &[(u8, Vec<u8>)], m: &[u8]| {
        udp6(
            cmac,
            [0x33, 0x33, 0, 1, 0, 2],
            (link_local, 546),
            (all_servers, 547),
            ext,
            m,
        )
    };
    let to_client = |m: &[u8]| udp6(SERVER_MAC, cmac, (server, 547), (link_local, 546), &[], m);
    let opts = |n: u8| (n, vec![0u8, 0, 1, 4, 0, 0, 0, 0]);
    let frag_later = (44u8, vec![0u8, 0, 0x05, 0xc8, 0, 0, 0, 9]);
    let relayed = dhcpv6_relay(12, server, link_local, &solicit);
    let relay3 = dhcpv6_relay(
        12,
        server,
        server,
        &dhcpv6_relay(12, server, server, &relayed),
    );
    let frames = vec![
        to_server(&[], &solicit),
        to_client(&advertise),
        to_server(&[], &dhcpv6(3, 0xabcdef, &[(1, &duid), (16, &vendor)])),
        to_client(&reply),
        to_server(&[], &plain),
        to_server(&[], &relayed),
        // Hop-by-hop then destination options: walked.
        to_server(&[opts(0), opts(60)], &plain),
        // Four option headers (the bound), then five: the last is
        // other_ipv6 with ipv6_extension_chain.
        to_server(&[opts(0), opts(60), opts(43), opts(60)], &plain),
        to_server(&[opts(0), opts(60), opts(43), opts(60), opts(60)], &plain),
        to_server(&[frag_later], &plain),
        // A message of two bytes, and a relay chain of three.
        to_server(&[], &[1, 0]),
        to_server(&[], &relay3),
    ];
    // The boot server request over IPv6 to port 4011 that nothing takes,
    // and the server's port unreachable about it; one about a datagram to
    // port 547 behind a hop-by-hop header; one cut in the quoted header.
    let to_4011 = udp6(
        cmac,
        SERVER_MAC,
        (link_local, 4011),
        (server, 4011),
        &[],
        &solicit,
    );
    let hbh_547 = to_server(&[opts(0)], &plain);
    let unreachable = |q: &[u8]| icmp6_port_unreachable(SERVER_MAC, cmac, server, link_local, q);
    let frames = [
        frames,
        vec![
            to_4011.clone(),
            unreachable(&to_4011),
            unreachable(&hbh_547),
            unreachable(&to_4011)[..14 + 40 + 8 + 20].to_vec(),
        ],
    ]
    .concat();
    let mut pair = Pair::new();
    for f in &frames {
        pair.run(f);
    }
    pair.assert_agree("DHCPv6");
    let c = pair.kernel_counters();
    let d = Direction::Ingress;
    assert_eq!(c.dhcp6_pxe(d, true, Dhcp6Type::ADVERTISE), 1);
    assert_eq!(c.dhcp6_pxe(d, true, Dhcp6Type::REQUEST), 1);
    assert_eq!(c.dhcp6_pxe(d, true, Dhcp6Type::REPLY), 1);
    assert_eq!(c.dhcp6_pxe(d, true, Dhcp6Type::RELAY_FORW), 1);
    // The plain Solicit: alone, behind two headers, behind four; the
    // relay chain of three, counted by its type, not PXE.
    assert_eq!(c.dhcp6_pxe(d, false, Dhcp6Type::SOLICIT), 3);
    assert_eq!(c.dhcp6_pxe(d, false, Dhcp6Type::RELAY_FORW), 1);
    assert_eq!(c.parse_error(d, ParseError::Ipv6ExtensionChain), 1);
    assert_eq!(c.icmp(d, Class::ProxyDhcp6), 1, "ICMPv6 about 4011");
    assert_eq!(c.icmp(d, Class::Dhcpv6Server), 1, "ICMPv6 about 547");
    assert_eq!(c.parse_error(d, ParseError::TruncatedIcmp), 1);
    assert_eq!(
        c.dhcp6_pxe(d, true, Dhcp6Type::SOLICIT),
        2,
        "and the one to 4011"
    );
    assert_eq!(c.parse_error(d, ParseError::Dhcpv6RelayChain), 1);
    assert!(c.parse_error(d, ParseError::TruncatedDhcpv6) >= 1);
    assert_eq!(c.new_xids6, 1, "one PXE transaction learned");
    // An event for each PXE message on each hook, the relayed Solicit's
    // with the relay's addresses and the Solicit itself.
    let events: Vec<_> = pair
        .host
        .events
        .iter()
        .filter_map(|(dir, e)| match e {
            monitor::event::Event::Dhcp6(e) if *dir == d => Some(*e),
            _ => None,
        })
        .collect();
    let types: Vec<(u8, u8)> = events.iter().map(|e| (e.msg_type, e.inner_type)).collect();
    assert_eq!(types, [(1, 1), (2, 2), (3, 3), (7, 7), (12, 1), (1, 1)]);
    let relayed = events[4];
    assert_eq!(
        (relayed.relay_link, relayed.relay_peer),
        (server, link_local)
    );
    assert_eq!(monitor::event::dhcp6_message(&relayed), &solicit[..]);
    assert_eq!(relayed.src_mac, cmac);
    // The ICMPv6 unreachables about 4011 and 547 send an event each (the
    // one cut short, none), the reporter and the quoted addresses whole.
    let icmp: Vec<_> = pair
        .host
        .events
        .iter()
        .filter_map(|(dir, e)| match e {
            monitor::event::Event::Icmp(e) if *dir == d => Some(*e),
            _ => None,
        })
        .collect();
    let quoted: Vec<(u16, [u8; 16], [u8; 16])> = icmp
        .iter()
        .map(|e| {
            (
                u16::from_be_bytes(e.quoted_dst_port),
                e.reporter,
                e.quoted_dst,
            )
        })
        .collect();
    assert_eq!(quoted, [(4011, server, server), (547, server, all_servers)]);
    let line = monitor::event::describe_icmp(&icmp[0]);
    assert!(line.contains("-> [fd77:10::1]:4011"), "{line}");
    let line = monitor::event::describe_dhcp6(d as u8, &events[1]);
    assert!(
        line.contains("advertise") && line.contains("tftp://[fd77:10::1]/tiny.efi"),
        "{line}"
    );
    // Every truncation of the relayed Solicit: still kernel == host.
    let mut cut = Pair::new();
    for len in 54..frames[5].len() {
        cut.run(&frames[5][..len]);
    }
    cut.assert_agree("DHCPv6 cut short");
    let c = cut.kernel_counters();
    // Cut in the UDP header (8 lengths) and in the relay's header (34).
    assert_eq!(c.parse_error(d, ParseError::TruncatedUdp), 8);
    assert!(c.parse_error(d, ParseError::TruncatedDhcpv6) >= 34);
    println!(
        "DHCPv6: {} frames through XDP and TC egress, kernel == host",
        frames.len() + frames[5].len() - 54
    );
}
