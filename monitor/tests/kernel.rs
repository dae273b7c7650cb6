//! The real eBPF programs run with `BPF_PROG_TEST_RUN` (aya `TestRun`).
//!
//! Needs root (skipped with a message otherwise, failed when CI=true) and
//! the fixture captures (same policy).

mod common;

use aya::{
    Ebpf,
    programs::{SchedClassifier, TestRun, TestRunOptions, Xdp},
};
use monitor::{
    counters::Counters,
    probe::{self, TC_PROGRAM, XDP_PROGRAM},
    testing,
};
use monitor_common::{
    Direction,
    counters::maps::{DHCP_TYPES, PARSE_ERRORS, TRAFFIC},
};

const XDP_PASS: u32 = 2;
const TC_ACT_OK: u32 = 0;

/// The fixtures directory, when the test can run: root and ../shared
/// (otherwise skipped with a message, or failed when CI=true).
fn prerequisites() -> Option<std::path::PathBuf> {
    if !testing::can_load_ebpf() {
        return None;
    }
    testing::fixtures_dir()
}

/// A freshly loaded object (zeroed maps).
fn load() -> Ebpf {
    probe::load().unwrap_or_else(|e| panic!("{e}"))
}

fn kernel_counters(ebpf: &Ebpf) -> Counters {
    probe::read_counters(
        &probe::map(ebpf, TRAFFIC).unwrap(),
        &probe::map(ebpf, DHCP_TYPES).unwrap(),
        &probe::map(ebpf, PARSE_ERRORS).unwrap(),
    )
    .unwrap()
}

/// Runs one frame through XDP and TC, checks that each lets it pass, and
/// counts it in `host` for each hook that ran.
///
/// The skb test harness (TC) refuses, with EINVAL, an IPv4 or IPv6 frame
/// too short for the fixed IP header; only XDP runs those. Real egress
/// skbs always hold that header.
fn run(ebpf: &Ebpf, frame: &[u8], host: &mut Counters) {
    assert!(
        TEST_RUN_LEN.contains(&frame.len()),
        "test frame of {} bytes",
        frame.len()
    );
    let xdp: &Xdp = ebpf.program(XDP_PROGRAM).unwrap().try_into().unwrap();
    let r = xdp
        .test_run(TestRunOptions {
            data_in: Some(frame),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("XDP test run of a {}-byte frame: {e:?}", frame.len()));
    assert_eq!(
        r.return_value, XDP_PASS,
        "XDP must pass every frame ({frame:02x?})"
    );
    host.observe(frame, Direction::Ingress);

    let tc: &SchedClassifier = ebpf.program(TC_PROGRAM).unwrap().try_into().unwrap();
    match tc.test_run(TestRunOptions {
        data_in: Some(frame),
        ..Default::default()
    }) {
        Ok(r) => {
            assert_eq!(
                r.return_value, TC_ACT_OK,
                "TC must pass every frame ({frame:02x?})"
            );
            host.observe(frame, Direction::Egress);
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

/// Frames the test harness takes whole: at least an Ethernet header, and
/// linear (XDP test runs split larger frames into fragments, which a
/// program without frags support reads only the first part of).
const TEST_RUN_LEN: std::ops::RangeInclusive<usize> = 14..=3000;

#[test]
fn kernel_counts_match_tshark_for_netboot_and_lab_captures() {
    let Some(dir) = prerequisites() else {
        return;
    };
    for e in common::EXPECTED {
        let ebpf = load();
        let mut host = Counters::default();
        for f in common::frames(&common::fixture(&dir, e.file)) {
            run(&ebpf, &f, &mut host);
        }
        let got = kernel_counters(&ebpf);
        // XDP counts as ingress, TC as egress: the same frames, the same numbers.
        common::assert_matches("kernel", Direction::Ingress, &got, e);
        common::assert_matches("kernel", Direction::Egress, &got, e);
    }
}

#[test]
fn kernel_and_host_agree_on_every_fixture_frame() {
    let Some(dir) = prerequisites() else {
        return;
    };
    for path in common::all_captures(&dir) {
        let Ok(packets) = monitor::capture::read_file(&path) else {
            continue;
        };
        let ebpf = load();
        let mut host = Counters::default();
        for p in packets
            .iter()
            .filter(|p| p.is_ethernet() && TEST_RUN_LEN.contains(&p.data.len()))
        {
            run(&ebpf, &p.data, &mut host);
        }
        assert_eq!(kernel_counters(&ebpf), host, "{}", path.display());
    }
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
    // (DHCP with options, 4011, TFTP, ARP, IPv6, ICMP).
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
            // Corrupt 1-4 bytes, biased towards the headers, and sometimes
            // the length fields the parser trusts least.
            for _ in 0..=(rng.next() % 4) {
                let at = (rng.next() as usize) % f.len().min(300);
                f[at] = rng.next() as u8;
            }
            cases.push(f);
        }
    }
    // Hand-made oddities: zero IHL, IHL beyond the frame, UDP length 0,
    // a frame of nothing but VLAN tags, and a DHCP option 53 with length 0.
    let vlan_only: Vec<u8> = [[0xffu8; 12].as_slice(), &[0x81, 0x00, 0, 1].repeat(10)].concat();
    cases.push(vlan_only);
    let ebpf = load();
    let mut host = Counters::default();
    for f in &cases {
        run(&ebpf, f, &mut host);
    }
    let kernel = kernel_counters(&ebpf);
    assert_eq!(kernel, host, "kernel and host disagree on malformed frames");
    let errors: u64 = kernel.parse_errors.iter().sum();
    assert!(
        errors > 1000,
        "the malformed cases should be counted as parse errors, got {errors}"
    );
    println!(
        "{} frames run through XDP and TC, all passed; {errors} parse errors counted",
        cases.len()
    );
}
