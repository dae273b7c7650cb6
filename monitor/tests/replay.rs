//! `pxe-monitor replay` on the lab captures: the verdict of the captures'
//! README table for each, through the binary and its JSON output.
//! Skipped (with a message) when ../shared is absent; fails when CI=true.

use std::{path::Path, process::Command};

use monitor::testing;

/// The sessions `pxe-monitor replay --format json` prints for `files`.
fn replay(files: &[&Path]) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_pxe-monitor"))
        .args(["replay", "--format", "json"])
        .args(files)
        .output()
        .expect("running pxe-monitor");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// ../shared/fixtures/lab-pcaps/README.md, "Expected verdicts": one session
/// per capture, the VM's MAC, this outcome and code (where the README
/// accepts two codes, the first one listed that the monitor gives).
const VERDICTS: &[(&str, &str, Option<&str>)] = &[
    ("a-healthy-dnsmasq", "booted", None),
    ("b-kb259670-option60-no-proxy", "failed", Some("PXE-E55")),
    ("b2-kb259670-kea", "failed", Some("PXE-E55")),
    ("b3-option60-with-next-server", "booted", None),
    ("c-no-bootfile", "failed", Some("PXE-E53")),
    ("d-tftp-file-missing", "failed", Some("PXE-E3B")),
    ("e-no-dhcp-server", "failed", Some("PXE-E51")),
    ("f-healthy-proxydhcp", "booted", None),
    ("f2-proxydhcp-no-pxe-service", "failed", Some("PXE-E53")),
    ("g-relay-ip-helper", "booted", None),
    ("g-relay-ip-helper-upstream", "booted", None),
    ("h-tftp-no-server", "failed", Some("PXE-E32")),
    ("i-options-66-67-only-no-siaddr", "failed", Some("PXE-E7B")),
    ("p-pxelinux-chain", "booted", None),
];

#[test]
fn every_lab_capture_gives_its_readme_verdict() {
    let Some(dir) = testing::fixtures_dir() else {
        return;
    };
    for (name, outcome, code) in VERDICTS {
        let s = replay(&[&dir.join(format!("lab-pcaps/{name}.pcap"))]);
        assert_eq!(s.len(), 1, "{name}: one PXE client, got {s:?}");
        let s = &s[0];
        assert_eq!(s["client_mac"], "52:54:00:77:00:10", "{name}");
        assert_eq!(s["outcome"], *outcome, "{name}: {s}");
        assert_eq!(s["code"].as_str(), *code, "{name}: {s}");
        if *outcome == "failed" {
            assert!(
                s["cause"].as_str().is_some_and(|c| !c.is_empty()),
                "{name}: a cause"
            );
            assert!(
                s["fix"].as_str().is_some_and(|c| !c.is_empty()),
                "{name}: a fix"
            );
        }
        for field in ["first_seen", "last_seen"] {
            let t = s[field].as_str().unwrap();
            assert!(
                humantime::parse_rfc3339(t).is_ok(),
                "{name}: {field} {t} is RFC 3339"
            );
        }
    }
}

#[test]
fn kb259670_is_named_with_its_fix() {
    let Some(dir) = testing::fixtures_dir() else {
        return;
    };
    for name in ["b-kb259670-option60-no-proxy", "b2-kb259670-kea"] {
        let s = &replay(&[&dir.join(format!("lab-pcaps/{name}.pcap"))])[0];
        let cause = s["cause"].as_str().unwrap();
        let fix = s["fix"].as_str().unwrap();
        assert_eq!(s["server"], "10.77.10.1", "{name}");
        for part in [
            "DHCP server 10.77.10.1 sends option 60 PXEClient",
            "10.77.10.1:4011",
            "KB 259670",
            "4 request(s)",
        ] {
            assert!(
                cause.contains(part),
                "{name}: cause {cause:?} lacks {part:?}"
            );
        }
        for part in [
            "remove options 60, 66 and 67 from the DHCP server 10.77.10.1",
            "IP helper",
        ] {
            assert!(fix.contains(part), "{name}: fix {fix:?} lacks {part:?}");
        }
    }
    // Option 60 on the DHCP server while the client still boots: a warning.
    let s = &replay(&[&dir.join("lab-pcaps/b3-option60-with-next-server.pcap")])[0];
    let w = s["warnings"].as_array().unwrap();
    assert!(
        w.iter()
            .any(|w| w.as_str().unwrap().contains("sends option 60 PXEClient")),
        "{w:?}"
    );
}

#[test]
fn peer_captures() {
    let Some(dir) = testing::fixtures_dir() else {
        return;
    };
    // proxyDHCP on 4011, the capture ends after the RRQs: not a failure.
    let s = replay(&[&dir.join("peer-pcaps/netboot/pcap/usec.pcap")]);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["outcome"], "unfinished", "{}", s[0]);
    // DHCP without any PXE client: no session.
    for f in [
        "zeek/dhcp/dhcp_inform.pcap",
        "spicy-dhcp/dhcp.pcap",
        "pcapplusplus/Dhcp2.pcap",
    ] {
        assert_eq!(
            replay(&[&dir.join("peer-pcaps").join(f)]),
            Vec::<serde_json::Value>::new(),
            "{f}"
        );
    }
    // TFTP only: the transfer and how it ended (INDEX.md: RRQ, DATA x49,
    // ACK x49).
    let s = replay(&[&dir.join("peer-pcaps/spicy-tftp/tftp_rrq.pcap")]);
    assert_eq!(s.len(), 1);
    let t = &s[0]["transfers"][0];
    assert_eq!(
        (t["file"].as_str(), t["result"].as_str()),
        (Some("rfc1350.txt"), Some("complete"))
    );
    // pxelinux: the boot file arrived, then 9 config probes answered
    // "file not found" and the config that exists: not failures.
    let s = &replay(&[&dir.join("lab-pcaps/p-pxelinux-chain.pcap")])[0];
    let transfers = s["transfers"].as_array().unwrap();
    let errors = transfers.iter().filter(|t| t["error_code"] == 1).count();
    assert_eq!(errors, 9, "{transfers:?}");
    assert_eq!(s["boot_file"], "pxelinux.0");
}

#[test]
fn a_capture_cut_short_still_gives_its_verdict_with_a_warning() {
    let Some(dir) = testing::fixtures_dir() else {
        return;
    };
    // The capturing program was killed while writing its last record.
    let whole = std::fs::read(dir.join("lab-pcaps/b-kb259670-option60-no-proxy.pcap")).unwrap();
    let cut = std::env::temp_dir().join(format!("pxe-cut-{}.pcap", std::process::id()));
    std::fs::write(&cut, &whole[..whole.len() - 7]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pxe-monitor"))
        .args(["replay", "--format", "json"])
        .arg(&cut)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&cut);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("damaged after"), "{stderr}");
    let s: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(s["code"], "PXE-E55", "{s}");
}
