//! The shared classifier on the host, against what tshark shows for the
//! fixture captures. Skipped (with a message) when ../shared is absent;
//! fails instead when CI=true.

mod common;

use std::net::IpAddr;

use monitor::{capture, event::addr, host::HostObserver, testing};
use monitor_common::Direction;

#[test]
fn host_classifier_matches_tshark_counts() {
    let Some(dir) = testing::fixtures_dir() else {
        return;
    };
    for e in common::EXPECTED {
        let mut host = HostObserver::default();
        for f in common::frames(&common::fixture(&dir, e.file)) {
            host.observe(&f, Direction::Ingress);
        }
        common::assert_matches("host", Direction::Ingress, &host.counters, e);
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
        let mut host = HostObserver::default();
        for p in packets.iter().filter(|p| p.is_ethernet()) {
            host.observe(&p.data, Direction::Ingress);
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
    let mut host = HostObserver::default();
    host.observe(&p[0].data, Direction::Ingress);
    let c = host.counters;
    let unknown = monitor_common::DhcpType::from_option(106);
    assert_eq!(unknown.label(), "unknown");
    assert_eq!(c.dhcp(Direction::Ingress, unknown), 1);
}

/// The events of a capture, as the host replica of the kernel programs
/// builds them.
fn host_events(path: &std::path::Path) -> Vec<monitor::event::Event> {
    let mut host = HostObserver::default();
    for f in common::frames(path) {
        host.observe(&f, Direction::Ingress);
    }
    host.events.into_iter().map(|(_, e)| e).collect()
}

/// The DHCP events of a capture (messages of a PXE exchange).
fn pxe_events(path: &std::path::Path) -> Vec<monitor_common::event::DhcpEvent> {
    let dhcp = |e| match e {
        monitor::event::Event::Dhcp(e) => Some(e),
        _ => None,
    };
    host_events(path).into_iter().filter_map(dhcp).collect()
}

fn text(bytes: &[u8], len: u8) -> &str {
    std::str::from_utf8(&bytes[..usize::from(len).min(bytes.len())]).unwrap()
}

fn cstr(bytes: &[u8]) -> &str {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    std::str::from_utf8(&bytes[..end]).unwrap()
}

/// What the lab captures show (tshark, `dhcp.*` fields), read through the
/// event records the tracker will get.
#[test]
fn dhcp_events_carry_what_the_servers_sent() {
    use monitor_common::{Class, event::dhcp_flags as f};
    let Some(dir) = testing::fixtures_dir() else {
        return;
    };
    let server = [10, 77, 10, 1];

    // dnsmasq with boot information: iPXE's DISCOVERs (PXEClient, arch 0),
    // OFFERs with siaddr and option 67, no option 60 from the server.
    let ev = pxe_events(&dir.join("lab-pcaps/a-healthy-dnsmasq.pcap"));
    let types: Vec<u8> = ev.iter().map(|e| e.message_type).collect();
    assert_eq!(
        types,
        [1, 2, 1, 2, 3, 5],
        "every message of the exchange is PXE"
    );
    let discover = &ev[0];
    assert_eq!(
        discover.flags & (f::VENDOR_PXE_CLIENT | f::CLIENT_ARCH),
        f::VENDOR_PXE_CLIENT | f::CLIENT_ARCH
    );
    assert_eq!(discover.client_arch, [0, 0], "BIOS");
    assert_eq!(discover.chaddr, [0x52, 0x54, 0, 0x77, 0, 0x10]);
    let offer = &ev[1];
    assert_eq!(
        offer.flags & f::VENDOR_CLASS,
        0,
        "dnsmasq sends no option 60"
    );
    assert_ne!(offer.flags & f::PXE, 0, "known as PXE by its xid");
    assert_eq!(offer.xid, discover.xid);
    assert_eq!(
        (offer.src_ip, offer.yiaddr, offer.siaddr, offer.server_id),
        (server, [10, 77, 10, 115], server, server)
    );
    // dnsmasq NUL-terminates option 67 (length 10): readers must strip it.
    assert_eq!(text(&offer.bootfile, offer.bootfile_len), "boot.ipxe\0");
    assert_eq!(offer.flags & f::TFTP_SERVER, 0);

    // KB 259670: the DHCP server itself sends option 60 PXEClient with 66
    // and 67 and no siaddr; the client then asks 10.77.10.1:4011 four times.
    let ev = pxe_events(&dir.join("lab-pcaps/b-kb259670-option60-no-proxy.pcap"));
    let offer = ev.iter().find(|e| e.message_type == 2).unwrap();
    assert_ne!(offer.flags & f::VENDOR_PXE_CLIENT, 0);
    assert_eq!(offer.siaddr, [0; 4]);
    assert_eq!(
        text(&offer.tftp_server, offer.tftp_server_len),
        "10.77.10.1"
    );
    assert_eq!(text(&offer.bootfile, offer.bootfile_len), "boot.ipxe");
    let to_4011: Vec<_> = ev
        .iter()
        .filter(|e| e.class == Class::ProxyDhcp as u8)
        .collect();
    assert_eq!(
        to_4011.len(),
        4,
        "the four proxy requests (ICMP errors quoting them are not DHCP)"
    );
    assert!(
        to_4011.iter().all(|e| e.message_type == 3
            && e.dst_ip == server
            && e.dst_port == 4011u16.to_be_bytes())
    );

    // proxyDHCP: the proxy's OFFER (no address, option 60 + 43, file
    // field), the DHCP server's plain OFFER, and the proxy's ACK from 4011.
    let ev = pxe_events(&dir.join("lab-pcaps/f-healthy-proxydhcp.pcap"));
    let proxy = [10, 77, 10, 2];
    let proxy_offer = ev
        .iter()
        .find(|e| e.message_type == 2 && e.src_ip == proxy)
        .unwrap();
    assert_eq!(proxy_offer.yiaddr, [0; 4]);
    assert_eq!(
        proxy_offer.flags & (f::VENDOR_PXE_CLIENT | f::VENDOR_SPECIFIC),
        f::VENDOR_PXE_CLIENT | f::VENDOR_SPECIFIC
    );
    assert_eq!(cstr(&proxy_offer.file), "boot.ipxe");
    let dhcp_offer = ev
        .iter()
        .find(|e| e.message_type == 2 && e.src_ip == server)
        .unwrap();
    assert_eq!(
        (dhcp_offer.yiaddr, dhcp_offer.flags & f::VENDOR_CLASS),
        ([10, 77, 10, 100], 0)
    );
    let proxy_ack = ev
        .iter()
        .find(|e| e.message_type == 5 && e.src_ip == proxy)
        .unwrap();
    assert_eq!(proxy_ack.class, Class::ProxyDhcp as u8);
    assert_eq!(proxy_ack.src_port, 4011u16.to_be_bytes());
    assert_eq!(cstr(&proxy_ack.file), "boot.ipxe");
}

/// The TFTP events of a capture.
fn tftp_events(path: &std::path::Path) -> Vec<monitor_common::event::TftpEvent> {
    let tftp = |e| match e {
        monitor::event::Event::Tftp(e) => Some(e),
        _ => None,
    };
    host_events(path).into_iter().filter_map(tftp).collect()
}

/// What tshark shows of the TFTP exchanges (`-e tftp.opcode -e
/// tftp.source_file -e tftp.error.code -e tftp.error.message -e
/// udp.length`), read through the events the tracker will get.
#[test]
fn tftp_events_follow_the_transfer() {
    use monitor_common::{flow::TftpMoment, wire::tftp};
    let Some(dir) = testing::fixtures_dir() else {
        return;
    };

    // Healthy: RRQ boot.ipxe from 10.77.10.115:9081, OACK (blksize 1432)
    // from the server's port 44496, one DATA block of 84 - 8 - 4 = 72
    // bytes: shorter than the block size, so the first DATA is the last.
    let ev = tftp_events(&dir.join("lab-pcaps/a-healthy-dnsmasq.pcap"));
    let moments: Vec<u8> = ev.iter().map(|e| e.moment).collect();
    assert_eq!(
        moments,
        [
            TftpMoment::Request as u8,
            TftpMoment::Oack as u8,
            TftpMoment::LastData as u8
        ]
    );
    let rrq = &ev[0];
    assert_eq!(
        (addr(rrq.client_ip), u16::from_be_bytes(rrq.client_port)),
        (IpAddr::from([10, 77, 10, 115]), 9081)
    );
    assert!(
        rrq.payload.starts_with(b"\0\x01boot.ipxe\0octet\0"),
        "{:?}",
        &rrq.payload[..]
    );
    let req = tftp::parse_request(&rrq.payload[..usize::from(rrq.payload_len)]).unwrap();
    assert_eq!(
        (req.options.blksize, req.options.tsize),
        (Some(1432), Some(0))
    );
    let oack = tftp::parse_oack(&ev[1].payload[..usize::from(ev[1].payload_len)]).unwrap();
    assert_eq!(oack.blksize, Some(1432));
    let data = &ev[2];
    assert_eq!(
        (data.from_server, u16::from_be_bytes(data.server_port)),
        (1, 44496)
    );
    assert_eq!(
        (data.data_packets, data.data_bytes, data.highest_block),
        (1, 72, 1)
    );
    // The client's Ethernet address (the VM's), from its request (source)
    // and from the server's DATA (destination) alike.
    for e in &ev {
        assert_eq!(e.client_mac, [0x52, 0x54, 0, 0x77, 0, 0x10]);
    }

    // Missing boot file: the server answers the RRQ with ERROR 1.
    let ev = tftp_events(&dir.join("lab-pcaps/d-tftp-file-missing.pcap"));
    assert_eq!(ev.len(), 2);
    assert!(ev[0].payload.starts_with(b"\0\x01missing-boot.ipxe\0"));
    let err = &ev[1];
    assert_eq!(
        (err.moment, err.from_server, u16::from_be_bytes(err.arg)),
        (TftpMoment::Error as u8, 1, 1)
    );
    let (code, msg) = tftp::parse_error(&err.payload[..usize::from(err.payload_len)]).unwrap();
    assert_eq!(code, 1);
    assert_eq!(
        msg,
        b"file /srv/tftp/pxe-boot/missing-boot.ipxe not found for 10.77.10.115"
    );

    // No TFTP server: six RRQs, nothing else of TFTP (the ICMP port
    // unreachables are their own events).
    let ev = tftp_events(&dir.join("lab-pcaps/h-tftp-no-server.pcap"));
    assert_eq!(ev.len(), 6);
    assert!(ev.iter().all(|e| e.moment == TftpMoment::Request as u8
        && addr(e.server_ip) == IpAddr::from([10, 77, 10, 2])));
}
