//! The shared classifier on the host, against what tshark shows for the
//! fixture captures. Skipped (with a message) when ../shared is absent;
//! fails instead when CI=true.

mod common;

use monitor::{capture, counters::Counters, testing};
use monitor_common::Direction;

#[test]
fn host_classifier_matches_tshark_counts() {
    let Some(dir) = testing::fixtures_dir() else {
        return;
    };
    for e in common::EXPECTED {
        let mut c = Counters::default();
        for f in common::frames(&common::fixture(&dir, e.file)) {
            c.observe(&f, Direction::Ingress);
        }
        common::assert_matches("host", Direction::Ingress, &c, e);
    }
}

#[test]
fn every_peer_capture_reads_and_classifies_without_panic() {
    let Some(dir) = testing::fixtures_dir() else {
        return;
    };
    let files = common::all_captures(&dir);
    assert!(
        files.len() >= 20,
        "expected the fixture captures, found {}",
        files.len()
    );
    let mut frames = 0usize;
    for path in files {
        let packets = match capture::read_file(&path) {
            Ok(p) => p,
            // A damaged capture must be reported as such, never panic.
            Err(e @ capture::CaptureError::Damaged { .. }) => {
                eprintln!("{e}");
                continue;
            }
            Err(e) => panic!("{e}"),
        };
        let mut c = Counters::default();
        for p in packets.iter().filter(|p| p.is_ethernet()) {
            c.observe(&p.data, Direction::Ingress);
            frames += 1;
        }
    }
    assert!(frames > 10_000, "read {frames} frames");
}

#[test]
fn pcapng_is_read() {
    let Some(dir) = testing::fixtures_dir() else {
        return;
    };
    // nDPI's fuzzed DHCP frame: one frame, message type 106 (INDEX.md).
    let p = capture::read_file(&dir.join("peer-pcaps/ndpi/dhcp-fuzz.pcapng")).unwrap();
    assert_eq!(p.len(), 1);
    let mut c = Counters::default();
    c.observe(&p[0].data, Direction::Ingress);
    let unknown = monitor_common::DhcpType::from_option(106);
    assert_eq!(unknown.label(), "unknown");
    assert_eq!(c.dhcp(Direction::Ingress, unknown), 1);
}
