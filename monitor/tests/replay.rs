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

use std::process::{Output, Stdio};

use monitor::testing::frames::{self, SERVER_MAC, TempFile};

fn run_replay(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pxe-monitor"))
        .arg("replay")
        .args(args)
        .output()
        .expect("running pxe-monitor")
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The captures written by Wireshark's tools in pcapng (editcap: the
/// default microsecond resolution, and nanoseconds from a nanosecond
/// pcap), and by pcap-file at resolutions those tools do not write
/// (milliseconds with an `if_tsoffset`, 2^-20 s), give the verdicts and
/// times of the same capture as pcap.
#[test]
fn pcapng_at_any_timestamp_resolution_gives_the_pcap_verdicts() {
    let Some(dir) = testing::fixtures_dir() else {
        return;
    };
    if !testing::has_program("editcap", "wireshark-common") {
        return;
    }
    let editcap = |args: &[&std::ffi::OsStr]| {
        let out = Command::new("editcap").args(args).output().unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    for name in [
        "e-no-dhcp-server",
        "a-healthy-dnsmasq",
        "b-kb259670-option60-no-proxy",
        "h-tftp-no-server",
    ] {
        let pcap = dir.join(format!("lab-pcaps/{name}.pcap"));
        let want = replay(&[&pcap]);
        let usec = TempFile::new(&format!("{name}-usec.pcapng"));
        editcap(&[
            "-F".as_ref(),
            "pcapng".as_ref(),
            pcap.as_os_str(),
            usec.0.as_os_str(),
        ]);
        let nsec_pcap = TempFile::new(&format!("{name}-nsec.pcap"));
        editcap(&[
            "-F".as_ref(),
            "nsecpcap".as_ref(),
            pcap.as_os_str(),
            nsec_pcap.0.as_os_str(),
        ]);
        let nsec = TempFile::new(&format!("{name}-nsec.pcapng"));
        editcap(&[
            "-F".as_ref(),
            "pcapng".as_ref(),
            nsec_pcap.0.as_os_str(),
            nsec.0.as_os_str(),
        ]);
        for f in [&usec, &nsec] {
            assert_eq!(replay(&[&f.0]), want, "{name}: {}", f.0.display());
        }
        // Milliseconds from an offset of 1,000,000,000 s, and 2^-20 s units.
        for (resol, offset_s) in [(3u8, 1_000_000_000i64), (0x80 | 20, 0)] {
            let f = TempFile::new(&format!("{name}-{resol}.pcapng"));
            write_pcapng(&pcap, &f.0, resol, offset_s);
            let got = replay(&[&f.0]);
            assert_eq!(got.len(), want.len(), "{name} at resolution {resol:#x}");
            for (g, w) in got.iter().zip(&want) {
                for field in ["outcome", "code", "client_mac", "boot_file"] {
                    assert_eq!(g[field], w[field], "{name} at {resol:#x}: {field}");
                }
                // The same second (the units are coarser than the pcap's).
                let secs =
                    |v: &serde_json::Value| v["first_seen"].as_str().unwrap()[..19].to_owned();
                assert_eq!(secs(g), secs(w), "{name} at {resol:#x}");
            }
        }
    }
}

/// Rewrites a pcap as pcapng with one interface counting time in `resol`
/// units (pcapng `if_tsresol`) from `offset_s` (`if_tsoffset`).
fn write_pcapng(pcap: &Path, out: &Path, resol: u8, offset_s: i64) {
    use pcap_file::{
        DataLink,
        pcapng::{
            PcapNgWriter,
            blocks::{
                enhanced_packet::EnhancedPacketBlock,
                interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption},
            },
        },
    };
    let mut w = PcapNgWriter::new(std::fs::File::create(out).unwrap()).unwrap();
    w.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 0,
        options: vec![
            InterfaceDescriptionOption::IfTsResol(resol),
            InterfaceDescriptionOption::IfTsOffset(offset_s as u64),
        ],
    })
    .unwrap();
    for p in monitor::capture::read_file(pcap).unwrap() {
        let ns = p.timestamp.as_nanos() - offset_s as u128 * 1_000_000_000;
        let units = if resol & 0x80 == 0 {
            ns / 10u128.pow(9 - u32::from(resol))
        } else {
            (ns << (resol & 0x7f)) / 1_000_000_000
        };
        // pcap-file writes the timestamp's nanoseconds as the raw count.
        w.write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: std::time::Duration::from_nanos(units as u64),
            original_len: p.orig_len,
            data: p.data.into(),
            options: vec![],
        })
        .unwrap();
    }
}

const PHONE_MAC: [u8; 6] = [0x00, 0x1b, 0x54, 0xaa, 0xbb, 0xcc];

/// What a Cisco IP phone does at start-up, built by hand (no phone
/// firmware runs here): DHCP with its own vendor class, then its normal
/// TFTP probes: CTLSEP<mac>.tlv is not found, SEP<mac>.cnf.xml arrives.
fn phone_frames() -> Vec<(u64, Vec<u8>)> {
    let (server, phone) = ([10, 9, 0, 1], [10, 9, 0, 50]);
    let (any, bcast) = ([0, 0, 0, 0], [255; 4]);
    let vendor: &[u8] = b"Cisco Systems, Inc. IP Phone CP-7911G";
    let to_server = |p: Vec<u8>| frames::udp(PHONE_MAC, [0xff; 6], (any, 68), (bcast, 67), &p);
    let to_phone = |p: Vec<u8>| frames::udp(SERVER_MAC, [0xff; 6], (server, 67), (bcast, 68), &p);
    let opts: &[(u8, &[u8])] = &[(54, &server), (150, &server)];
    let ms = 1_000_000;
    vec![
        (
            0,
            to_server(frames::dhcp(1, 1, 7, PHONE_MAC, any, any, &[(60, vendor)])),
        ),
        (
            ms,
            to_phone(frames::dhcp(2, 2, 7, PHONE_MAC, phone, any, opts)),
        ),
        (
            2 * ms,
            to_server(frames::dhcp(
                1,
                3,
                7,
                PHONE_MAC,
                any,
                any,
                &[(60, vendor), (54, &server)],
            )),
        ),
        (
            3 * ms,
            to_phone(frames::dhcp(2, 5, 7, PHONE_MAC, phone, any, opts)),
        ),
        (
            10 * ms,
            frames::udp(
                PHONE_MAC,
                SERVER_MAC,
                (phone, 50000),
                (server, 69),
                &frames::rrq(b"CTLSEP001B54AABBCC.tlv"),
            ),
        ),
        (
            11 * ms,
            frames::udp(
                SERVER_MAC,
                PHONE_MAC,
                (server, 40000),
                (phone, 50000),
                &frames::tftp_error(1, b"File not found"),
            ),
        ),
        (
            20 * ms,
            frames::udp(
                PHONE_MAC,
                SERVER_MAC,
                (phone, 50001),
                (server, 69),
                &frames::rrq(b"SEP001B54AABBCC.cnf.xml"),
            ),
        ),
        (
            21 * ms,
            frames::udp(
                SERVER_MAC,
                PHONE_MAC,
                (server, 40001),
                (phone, 50001),
                &frames::tftp_data(1, &[b'x'; 100]),
            ),
        ),
        (
            22 * ms,
            frames::udp(
                PHONE_MAC,
                SERVER_MAC,
                (phone, 50001),
                (server, 40001),
                &frames::tftp_ack(1),
            ),
        ),
    ]
}

#[test]
fn tftp_clients_that_are_not_booting_get_no_boot_verdict() {
    let phone = TempFile::new("phone.pcap");
    frames::write_pcap(&phone.0, 1_800_000_000, &phone_frames());
    let s = json_lines(&run_replay(&[
        "--format".as_ref(),
        "json".as_ref(),
        phone.0.as_os_str(),
    ]));
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!(s[0]["outcome"], "tftp_only", "{}", s[0]);
    assert_eq!(s[0]["code"], serde_json::Value::Null);
    assert_eq!(s[0]["basis"], "tftp_only");
    let t = s[0]["transfers"].as_array().unwrap();
    assert_eq!(
        (
            t[0]["file"].as_str(),
            t[0]["result"].as_str(),
            t[0]["error_code"].as_u64()
        ),
        (Some("CTLSEP001B54AABBCC.tlv"), Some("error"), Some(1))
    );
    assert_eq!(
        (t[1]["file"].as_str(), t[1]["result"].as_str()),
        (Some("SEP001B54AABBCC.cnf.xml"), Some("complete"))
    );
    let text = run_replay(&[phone.0.as_os_str()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("TFTP ONLY (not a PXE boot)"), "{text}");
    assert!(!text.contains("FAILED"), "{text}");
    // The same with `auto`: DHCP is visible in this capture.
    let s = json_lines(&run_replay(&[
        "--format".as_ref(),
        "json".as_ref(),
        "--tftp-only-clients".as_ref(),
        "auto".as_ref(),
        phone.0.as_os_str(),
    ]));
    assert_eq!(s[0]["outcome"], "tftp_only", "{}", s[0]);

    // A peer capture of TFTP alone (reads, writes, one unanswered read):
    // transfers, no boot verdict.
    let Some(dir) = testing::fixtures_dir() else {
        return;
    };
    let ndpi = dir.join("peer-pcaps/ndpi/tftp.pcap");
    let s = replay(&[&ndpi]);
    assert!(!s.is_empty());
    for v in &s {
        assert_eq!(v["outcome"], "tftp_only", "{v}");
    }
    let files: Vec<&str> = s
        .iter()
        .flat_map(|v| v["transfers"].as_array().unwrap())
        .filter_map(|t| t["file"].as_str())
        .collect();
    assert!(files.contains(&"rfc1350.txt"), "{files:?}");
    // On a TFTP-only server a user can ask for boots inferred from TFTP.
    let out = run_replay(&[
        "--tftp-only-clients".as_ref(),
        "boots".as_ref(),
        ndpi.as_os_str(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("BOOTED"), "{text}");
    assert!(text.contains("inferred from TFTP alone"), "{text}");
    let s = json_lines(&run_replay(&[
        "--format".as_ref(),
        "json".as_ref(),
        "--tftp-only-clients".as_ref(),
        "auto".as_ref(),
        ndpi.as_os_str(),
    ]));
    assert!(
        s.iter()
            .any(|v| v["outcome"] == "booted" && v["basis"] == "tftp_only"),
        "no DHCP at all in this capture: auto infers boots: {s:?}"
    );
}

/// A crafted capture: the boot file name and the TFTP error message carry
/// terminal escape sequences and a line break that would print a fake
/// line. Text output escapes them; JSON keeps the name (JSON-escaped).
#[test]
fn strings_from_the_wire_are_escaped_in_text_output() {
    let Some(dir) = testing::fixtures_dir() else {
        return;
    };
    let mut bytes = std::fs::read(dir.join("lab-pcaps/d-tftp-file-missing.pcap")).unwrap();
    let name = b"missing-boot.ipxe";
    let evil = b"\x1b[2J\x1b[32mBOOTED!\n";
    assert_eq!(name.len(), evil.len());
    let mut replaced = 0;
    let mut i = 0;
    while let Some(at) = bytes[i..].windows(name.len()).position(|w| w == name) {
        bytes[i + at..i + at + name.len()].copy_from_slice(evil);
        replaced += 1;
        i += at + name.len();
    }
    assert!(replaced >= 3, "the OFFER, the ACK and the request name it");
    let crafted = TempFile::new("escapes.pcap");
    std::fs::write(&crafted.0, &bytes).unwrap();
    let out = run_replay(&[crafted.0.as_os_str()]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.stdout.contains(&0x1b),
        "a raw ESC reached the terminal: {text}"
    );
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("BOOTED!")),
        "a line break from the wire started a line: {text}"
    );
    assert!(text.contains("FAILED PXE-E3B"), "{text}");
    assert!(text.contains("\\u{1b}[2J"), "{text}");
    let s = json_lines(&run_replay(&[
        "--format".as_ref(),
        "json".as_ref(),
        crafted.0.as_os_str(),
    ]));
    assert_eq!(
        s[0]["boot_file"].as_str(),
        Some(std::str::from_utf8(evil).unwrap())
    );
}

/// More clients at once than the live session bound (65,536): replay
/// follows them all; with --max-sessions every client still gets a
/// verdict and stderr says how many were closed early.
#[test]
fn replay_gives_every_client_a_verdict() {
    const CLIENTS: u32 = 70_000;
    let flood = TempFile::new("flood.pcap");
    let vendor: &[u8] = b"PXEClient:Arch:00000:UNDI:002001";
    let frames: Vec<(u64, Vec<u8>)> = (0..CLIENTS)
        .map(|i| {
            let [_, a, b, c] = i.to_be_bytes();
            let mac = [0x02, 0x77, 0, a, b, c];
            let d = frames::dhcp(1, 1, i, mac, [0; 4], [0; 4], &[(60, vendor)]);
            let f = frames::udp(mac, [0xff; 6], ([0; 4], 68), ([255; 4], 67), &d);
            (u64::from(i) * 1_000, f)
        })
        .collect();
    frames::write_pcap(&flood.0, 1_800_000_000, &frames);
    let json = ["--format".as_ref(), "json".as_ref(), flood.0.as_os_str()];
    let s = json_lines(&run_replay(&json));
    assert_eq!(s.len(), CLIENTS as usize, "one verdict per client");
    let out = run_replay(&[
        "--format".as_ref(),
        "json".as_ref(),
        "--max-sessions".as_ref(),
        "1000".as_ref(),
        flood.0.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let s = json_lines(&out);
    let macs: std::collections::HashSet<&str> =
        s.iter().filter_map(|v| v["client_mac"].as_str()).collect();
    assert_eq!(macs.len(), CLIENTS as usize, "every client has a verdict");
    assert!(
        stderr.contains("69000 client(s) were closed early")
            && stderr.contains("--max-sessions 1000"),
        "{stderr}"
    );
    // A reader that goes away early (`| head`) is a normal end.
    let mut child = Command::new(env!("CARGO_BIN_EXE_pxe-monitor"))
        .arg("replay")
        .arg(&flood.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
}

#[test]
fn unreadable_inputs_say_what_is_wrong() {
    let empty = TempFile::new("empty.pcap");
    std::fs::write(&empty.0, b"").unwrap();
    let out = run_replay(&[empty.0.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("is empty"), "{stderr}");
    // 802.11 (link type 105), which pxe-monitor does not read.
    let wifi = TempFile::new("wifi.pcap");
    frames::write_pcap_link(
        &wifi.0,
        pcap_file::DataLink::IEEE802_11,
        1_800_000_000,
        &phone_frames(),
    );
    let out = run_replay(&[wifi.0.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("link type 105") && stderr.contains("not supported"),
        "{stderr}"
    );
}

/// The planted storm (the clients of `cargo xtask bench storm`) through
/// replay: every client gets exactly its planted verdict; and a DHCP flood
/// with real boots in it: the forged clients count as `flood`, the real
/// boots get theirs.
#[test]
fn planted_storm_and_flood_get_their_verdicts() {
    use monitor::testing::planted;
    let check = |clients: &[planted::Client], s: &[serde_json::Value]| {
        let by_mac: std::collections::HashMap<&str, &serde_json::Value> = s
            .iter()
            .map(|v| (v["client_mac"].as_str().unwrap(), v))
            .collect();
        for c in clients {
            let v = by_mac
                .get(planted::mac_text(c.mac).as_str())
                .unwrap_or_else(|| panic!("no verdict for {:?}", c.plant));
            let (outcome, code) = c.plant.expected();
            assert_eq!(
                (v["outcome"].as_str(), v["code"].as_str()),
                (Some(outcome), code),
                "{:?}: {v}",
                c.plant
            );
        }
    };
    // 2,000 clients over 2 s: a storm, no flood.
    let (clients, frames) = planted::storm(2_000, 2_000_000_000);
    let storm = TempFile::new("storm.pcap");
    frames::write_pcap(&storm.0, 1_800_000_000, &frames);
    let s = json_lines(&run_replay(&[
        "--format".as_ref(),
        "json".as_ref(),
        storm.0.as_os_str(),
    ]));
    assert_eq!(s.len(), clients.len(), "one verdict per client, no other");
    check(&clients, &s);

    // 50,000 forged DISCOVERs in half a second, five real boots in it.
    let real: Vec<planted::Client> = (0..5)
        .map(|i| planted::client(i, planted::Plant::of(i)))
        .collect();
    let mut all: Vec<(u64, Vec<u8>)> = (0..50_000u64)
        .map(|i| (i * 10_000, planted::forged_discover(i)))
        .collect();
    for (k, c) in real.iter().enumerate() {
        let t0 = 50_000_000 + k as u64 * 80_000_000;
        all.extend(c.frames.iter().map(|(t, b)| (t0 + t, b.clone())));
    }
    all.sort_by_key(|(t, _)| *t);
    let flood = TempFile::new("flood-boots.pcap");
    frames::write_pcap(&flood.0, 1_800_000_000, &all);
    let s = json_lines(&run_replay(&[
        "--format".as_ref(),
        "json".as_ref(),
        flood.0.as_os_str(),
    ]));
    check(&real, &s);
    let flooded = s.iter().filter(|v| v["outcome"] == "flood").count();
    assert_eq!(flooded, 50_000, "every forged client counts as flood");
    assert!(
        !s.iter().any(|v| v["code"] == "PXE-E51"),
        "no PXE-E51 for a forged client"
    );
}

/// A PXE client whose boot file is a URL on port 8000, and its fetch of it.
fn http_port_frames() -> Vec<(u64, Vec<u8>)> {
    use monitor_common::wire::tcp::flags::{ACK, FIN, PSH, SYN};
    const MAC: [u8; 6] = [0x52, 0x54, 0, 0x77, 0, 0x42];
    let (server, client) = ([10, 9, 0, 1], [10, 9, 0, 60]);
    let (any, bcast) = ([0, 0, 0, 0], [255; 4]);
    let url: &[u8] = b"http://10.9.0.1:8000/boot.ipxe";
    let pxe: &[u8] = b"PXEClient:Arch:00000:UNDI:002001";
    let dhcp = |op, ty, yiaddr, opts: &[(u8, &[u8])]| {
        let p = frames::dhcp(op, ty, 0x4242, MAC, yiaddr, any, opts);
        if op == 1 {
            frames::udp(MAC, [0xff; 6], (any, 68), (bcast, 67), &p)
        } else {
            frames::udp(SERVER_MAC, [0xff; 6], (server, 67), (bcast, 68), &p)
        }
    };
    let reply: &[(u8, &[u8])] = &[(54, &server), (67, url)];
    let (c, s) = ((client, 49200), (server, 8000));
    let get = b"GET /boot.ipxe HTTP/1.1\r\nUser-Agent: iPXE/1.21.1+\r\nHost: 10.9.0.1:8000\r\n\r\n";
    let ok = b"HTTP/1.0 200 OK\r\nContent-Length: 11\r\n\r\n#!ipxe\necho";
    let ms = 1_000_000;
    vec![
        (0, dhcp(1, 1, any, &[(60, pxe), (93, &[0, 0])])),
        (10 * ms, dhcp(2, 2, client, reply)),
        (1000 * ms, dhcp(1, 3, any, &[(60, pxe), (54, &server)])),
        (1010 * ms, dhcp(2, 5, client, reply)),
        (
            1100 * ms,
            frames::tcp(MAC, SERVER_MAC, c, s, 100, SYN, &[], &[]),
        ),
        (
            1101 * ms,
            frames::tcp(SERVER_MAC, MAC, s, c, 900, SYN | ACK, &[], &[]),
        ),
        (
            1102 * ms,
            frames::tcp(MAC, SERVER_MAC, c, s, 101, ACK | PSH, &[], get),
        ),
        (
            1103 * ms,
            frames::tcp(SERVER_MAC, MAC, s, c, 901, ACK | PSH, &[], ok),
        ),
        (
            1104 * ms,
            frames::tcp(
                SERVER_MAC,
                MAC,
                s,
                c,
                901 + ok.len() as u32,
                ACK | FIN,
                &[],
                &[],
            ),
        ),
    ]
}

/// `--http-port` applies to replay as to the live agent: a boot file served
/// on port 8000 is followed only when the port is named.
#[test]
fn replay_follows_the_http_ports_it_is_given() {
    let pcap = TempFile::new("http-port.pcap");
    frames::write_pcap(&pcap.0, 1_800_000_000, &http_port_frames());
    let json = ["--format".as_ref(), "json".as_ref()];
    let without = json_lines(&run_replay(&[json[0], json[1], pcap.0.as_os_str()]));
    assert_eq!(without.len(), 1, "{without:?}");
    assert_ne!(without[0]["outcome"], "booted", "{}", without[0]);
    assert_ne!(without[0]["outcome"], "failed", "{}", without[0]);
    let with = json_lines(&run_replay(&[
        json[0],
        json[1],
        "--http-port".as_ref(),
        "8000".as_ref(),
        pcap.0.as_os_str(),
    ]));
    assert_eq!(with.len(), 1, "{with:?}");
    assert_eq!(
        (&with[0]["outcome"], &with[0]["boot_file"]),
        (&"booted".into(), &"http://10.9.0.1:8000/boot.ipxe".into()),
        "{}",
        with[0]
    );
    let fetch = &with[0]["transfers"][0];
    assert_eq!(
        (
            &fetch["protocol"],
            &fetch["http"]["status"],
            &fetch["http"]["bytes"]
        ),
        (&"http".into(), &200.into(), &11.into()),
        "{fetch}"
    );
}
