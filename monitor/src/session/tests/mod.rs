//! The tracker on hand-built event sequences: here the builders and each
//! stage's decisions; in `bounds` the tables' bounds, eviction, the
//! timeline, clients seen only over TFTP, and floods.

use monitor_common::{
    Class,
    event::{DhcpEvent, IcmpEvent, TftpEvent, dhcp_flags as f},
    flow::TftpMoment,
    wire::{ipv6::v4_mapped, tftp},
};

use super::state::ip;
use super::*;
use crate::verdict::{DhcpServerSeen, FailureCode, Outcome, WarningKind};

const MAC: [u8; 6] = [0x52, 0x54, 0, 0x77, 0, 0x10];
const SERVER: [u8; 4] = [10, 77, 10, 1];
const CLIENT: [u8; 4] = [10, 77, 10, 100];
const S: u64 = 1_000_000_000;

fn dhcp(ty: u8, class: Class, flags: u16) -> DhcpEvent {
    let mut e = DhcpEvent::zeroed();
    e.message_type = ty;
    e.class = class as u8;
    e.chaddr = MAC;
    e.flags = flags | f::PXE;
    e.xid = [1, 2, 3, 4];
    e
}

fn discover() -> Event {
    Event::Dhcp(dhcp(
        1,
        Class::DhcpServer,
        f::VENDOR_PXE_CLIENT | f::CLIENT_ARCH,
    ))
}

/// An OFFER or ACK from SERVER with an address, next-server and a file.
fn reply(ty: u8, file: Option<&str>) -> Event {
    let mut e = dhcp(ty, Class::DhcpClient, f::SERVER_ID);
    e.src_ip = SERVER;
    e.server_id = SERVER;
    e.yiaddr = CLIENT;
    e.siaddr = SERVER;
    if let Some(file) = file {
        e.flags |= f::BOOTFILE;
        e.bootfile[..file.len()].copy_from_slice(file.as_bytes());
        e.bootfile_len = file.len() as u8;
    }
    Event::Dhcp(e)
}

fn tftp(moment: TftpMoment, payload: &[u8], from_server: bool) -> Event {
    let mut e = TftpEvent::zeroed();
    e.client_ip = v4_mapped(CLIENT);
    e.server_ip = v4_mapped(SERVER);
    e.client_port = 2000u16.to_be_bytes();
    e.moment = moment as u8;
    e.from_server = from_server as u8;
    e.payload[..payload.len()].copy_from_slice(payload);
    e.payload_len = payload.len() as u16;
    if moment == TftpMoment::Error {
        e.opcode = tftp::ERROR.to_be_bytes();
        e.arg = [payload[2], payload[3]];
    }
    Event::Tftp(e)
}

fn run(events: &[(u64, Event)], tick: Option<u64>) -> Vec<Verdict> {
    let mut t = Tracker::new(16, Timeouts::default());
    for (at, e) in events {
        t.on_event(e, *at);
    }
    if let Some(at) = tick {
        t.on_tick(at);
    }
    t.finish()
}

fn healthy() -> Vec<(u64, Event)> {
    vec![
        (0, discover()),
        (S / 100, reply(2, Some("boot.ipxe"))),
        (
            3 * S,
            Event::Dhcp(dhcp(3, Class::DhcpServer, f::VENDOR_PXE_CLIENT)),
        ),
        (3 * S + 1, reply(5, Some("boot.ipxe"))),
        (
            3 * S + 2,
            tftp(TftpMoment::Request, b"\0\x01boot.ipxe\0octet\0", false),
        ),
        (
            3 * S + 3,
            tftp(TftpMoment::LastData, b"\0\x03\0\x01#!ipxe", true),
        ),
    ]
}

#[test]
fn healthy_boot_and_what_is_not_a_failure() {
    let v = run(&healthy(), None);
    assert_eq!(
        (v.len(), v[0].outcome, v[0].boot_file.as_deref()),
        (1, Outcome::Booted, Some("boot.ipxe"))
    );
    // A size probe aborted by the client, then the real download: booted.
    let mut probe = healthy();
    probe.insert(
        5,
        (3 * S + 2, tftp(TftpMoment::Error, b"\0\x05\0\x08", false)),
    );
    assert_eq!(run(&probe, None)[0].outcome, Outcome::Booted);
    // pxelinux's config probes after the boot file: still booted.
    let mut probes = healthy();
    for i in 0..9 {
        probes.push((
            4 * S + i,
            tftp(
                TftpMoment::Request,
                b"\0\x01pxelinux.cfg/01-x\0octet\0",
                false,
            ),
        ));
        probes.push((
            4 * S + i,
            tftp(TftpMoment::Error, b"\0\x05\0\x01not found\0", true),
        ));
    }
    assert_eq!(run(&probes, None)[0].outcome, Outcome::Booted);
}

#[test]
fn no_offer_decides_after_four_discovers_or_the_timeout() {
    let four: Vec<_> = [0, 1, 3, 7].iter().map(|s| (s * S, discover())).collect();
    assert_eq!(
        run(&four, None)[0].code.map(FailureCode::label),
        Some("PXE-E51")
    );
    // Three DISCOVERs and the capture ends: not decided.
    assert_eq!(run(&four[..3], None)[0].outcome, Outcome::Unfinished);
    // Live: one DISCOVER, then silence up to the timeout exactly.
    let t = Timeouts::default().no_offer_ns;
    assert_eq!(run(&four[..1], Some(t - 1))[0].outcome, Outcome::Unfinished);
    assert_eq!(
        run(&four[..1], Some(t))[0].code.map(FailureCode::label),
        Some("PXE-E51")
    );
}

#[test]
fn tftp_refusals_decide_at_once() {
    let mut missing = healthy();
    missing[5] = (
        3 * S + 3,
        tftp(TftpMoment::Error, b"\0\x05\0\x01File not found\0", true),
    );
    let v = &run(&missing, None)[0];
    assert_eq!(
        (v.code.map(FailureCode::label), v.server),
        (Some("PXE-E3B"), Some(IpAddr::from(SERVER)))
    );
    assert!(v.cause.as_deref().unwrap().contains("File not found"));
    missing[5] = (3 * S + 3, tftp(TftpMoment::Error, b"\0\x05\0\x02\0", true));
    assert_eq!(
        run(&missing, None)[0].code.map(FailureCode::label),
        Some("PXE-E3C")
    );
    missing[5] = (3 * S + 3, tftp(TftpMoment::Error, b"\0\x05\0\x04\0", true));
    assert_eq!(
        run(&missing, None)[0].code.map(FailureCode::label),
        Some("PXE-E36")
    );
    // Nothing on port 69: ICMP port unreachable.
    let mut dead = healthy();
    let mut icmp = IcmpEvent::default();
    (icmp.reporter, icmp.quoted_src, icmp.quoted_dst) =
        (v4_mapped(SERVER), v4_mapped(CLIENT), v4_mapped(SERVER));
    icmp.quoted_dst_port = 69u16.to_be_bytes();
    dead[5] = (3 * S + 3, Event::Icmp(icmp));
    assert_eq!(
        run(&dead, None)[0].code.map(FailureCode::label),
        Some("PXE-E32")
    );
}

#[test]
fn kb259670_and_a_nak() {
    let mut e = dhcp(
        5,
        Class::DhcpClient,
        f::SERVER_ID | f::VENDOR_PXE_CLIENT | f::BOOTFILE,
    );
    (e.src_ip, e.server_id, e.yiaddr) = (SERVER, SERVER, CLIENT);
    let mut req = dhcp(3, Class::ProxyDhcp, f::VENDOR_PXE_CLIENT);
    (req.src_ip, req.dst_ip) = (CLIENT, SERVER);
    let mut events = vec![(0, discover()), (S, Event::Dhcp(e))];
    for i in 0..3 {
        events.push((2 * S + i * S / 4, Event::Dhcp(req)));
    }
    // Three unanswered requests: the client has not given up yet.
    assert_eq!(run(&events, None)[0].outcome, Outcome::Unfinished);
    events.push((3 * S, Event::Dhcp(req)));
    let v = &run(&events, None)[0];
    assert_eq!(v.code.map(FailureCode::label), Some("PXE-E55"));
    assert!(v.cause.as_deref().unwrap().contains("KB 259670"));
    // The server behind it, for pxe_server_warnings.
    assert_eq!(
        v.dhcp_servers,
        [DhcpServerSeen {
            server: ip(SERVER),
            option60: true,
            alongside_others: false
        }]
    );
    // The same server answering on 4011 (WDS on the DHCP server): option
    // 60 is how that is set up, no warning.
    let mut ack = dhcp(5, Class::ProxyDhcp, f::SERVER_ID | f::VENDOR_PXE_CLIENT);
    (ack.src_ip, ack.server_id) = (SERVER, SERVER);
    let mut answered = events[..3].to_vec();
    answered.push((2 * S + 10, Event::Dhcp(ack)));
    let v = &run(&answered, None)[0];
    assert!(!v.dhcp_servers[0].option60, "{v:?}");
    assert!(
        !v.warnings
            .iter()
            .any(|w| w.kind == WarningKind::Option60OnDhcpServer)
    );
    let nak = Event::Dhcp(dhcp(6, Class::DhcpClient, 0));
    assert_eq!(
        run(&[(0, discover()), (S, nak)], None)[0]
            .code
            .map(FailureCode::label),
        Some("NAK")
    );
}

#[test]
fn offer_waits_transfers_and_servers_are_measured() {
    let mut t = Tracker::new(16, Timeouts::default()).with_measurements();
    let mut last = tftp(TftpMoment::LastData, b"\0\x03\0\x01#!ipxe", true);
    if let Event::Tftp(e) = &mut last {
        (e.elapsed_ms, e.data_bytes) = (250, 3000);
    }
    let second_stage = Event::Dhcp(dhcp(
        1,
        Class::DhcpServer,
        f::VENDOR_PXE_CLIENT | f::USER_CLASS_IPXE,
    ));
    // A retried DISCOVER, offers from two servers (one with option 60),
    // the transfer (its last block seen twice, as by two hooks), then
    // iPXE's second stage and its offer.
    let mut rogue = reply(2, None);
    if let Event::Dhcp(e) = &mut rogue {
        (e.src_ip, e.server_id) = ([10, 77, 10, 9], [10, 77, 10, 9]);
        e.flags |= f::VENDOR_PXE_CLIENT;
    }
    let events = [
        (0, discover()),
        (4 * S, discover()),
        (4 * S + S / 10, reply(2, Some("boot.ipxe"))),
        (4 * S + S / 5, rogue),
        (5 * S, reply(5, Some("boot.ipxe"))),
        (
            5 * S + 1,
            tftp(TftpMoment::Request, b"\0\x01boot.ipxe\0octet\0", false),
        ),
        (6 * S, last),
        (6 * S + 1, last),
        (7 * S, second_stage),
        (7 * S + S / 50, reply(2, Some("boot.ipxe"))),
    ];
    for (at, e) in &events {
        t.on_event(e, *at);
    }
    let offer = |last: u8, wait_ns| Measurement::Offer {
        server: Ipv4Addr::new(10, 77, 10, last),
        wait_ns,
    };
    assert_eq!(
        t.take_measurements(),
        [
            // From the first DISCOVER, across its retry.
            offer(1, Some(4 * S + S / 10)),
            offer(9, None),
            Measurement::Transfer {
                server: IpAddr::from(SERVER),
                duration_ns: 250_000_000,
                bytes: 3000,
            },
            offer(1, Some(S / 50)),
        ]
    );
    assert!(t.take_measurements().is_empty());
    let v = t.finish();
    assert_eq!(v[0].outcome, Outcome::Booted);
    let seen = |last, option60| DhcpServerSeen {
        server: Ipv4Addr::new(10, 77, 10, last),
        option60,
        alongside_others: true,
    };
    assert_eq!(v[0].dhcp_servers, [seen(1, false), seen(9, true)]);
    // Without with_measurements nothing is kept.
    let mut quiet = Tracker::new(16, Timeouts::default());
    for (at, e) in &events {
        quiet.on_event(e, *at);
    }
    assert!(quiet.take_measurements().is_empty());
}

#[test]
fn offers_the_client_never_takes_and_offers_this_interface_cannot_see() {
    // UEFI firmware (EDK2) ignores offers without a boot file: four
    // DISCOVERs, each answered, and never a REQUEST: PXE-E53.
    let mut events = Vec::new();
    for (i, at) in [0, 4, 12, 28].into_iter().enumerate() {
        events.push((at * S, discover()));
        events.push((at * S + i as u64 + 1, reply(2, None)));
    }
    assert_eq!(run(&events[..6], None)[0].outcome, Outcome::Unfinished);
    let v = &run(&events, None)[0];
    assert_eq!(
        (v.outcome, v.code.map(FailureCode::label), v.server),
        (Outcome::Failed, Some("PXE-E53"), Some(IpAddr::from(SERVER)))
    );
    // The client asks for the offer of a server whose answers do not
    // pass here: unknown, once the answer had its time, never a failure.
    let mut req = dhcp(3, Class::DhcpServer, f::VENDOR_PXE_CLIENT | f::SERVER_ID);
    req.server_id = [10, 77, 10, 3];
    let events = [
        (0, discover()),
        (S / 100, reply(2, Some("boot.ipxe"))),
        (S, Event::Dhcp(req)),
    ];
    assert_eq!(run(&events, Some(5 * S))[0].outcome, Outcome::Unfinished);
    let v = &run(&events, Some(11 * S))[0];
    assert_eq!(
        (v.outcome, v.code.map(FailureCode::label), v.server),
        (Outcome::Unknown, None, Some(IpAddr::from([10, 77, 10, 3])))
    );
    assert!(
        v.cause
            .as_deref()
            .unwrap()
            .contains("did not pass this interface")
    );
}

#[test]
fn a_message_seen_on_two_interfaces_counts_once() {
    // A router sees the client's broadcast DISCOVER, then its relayed
    // copy (giaddr, hops, addresses changed): two DISCOVERs, not four.
    let relayed = |at| {
        let Event::Dhcp(mut e) = discover() else {
            unreachable!()
        };
        (e.giaddr, e.hops, e.src_ip) = ([10, 77, 10, 254], 1, [10, 77, 10, 254]);
        (at + 2_000_000, Event::Dhcp(e))
    };
    let events = [(0, discover()), relayed(0), (S, discover()), relayed(S)];
    assert_eq!(run(&events, None)[0].outcome, Outcome::Unfinished);
    // The same DISCOVER as a retry a second later does count.
    let retries: Vec<_> = (0..4).map(|i| (i * S, discover())).collect();
    assert_eq!(
        run(&retries, None)[0].code.map(FailureCode::label),
        Some("PXE-E51")
    );
}

#[test]
fn option_overload_is_read_not_taken_for_a_file_name() {
    // Option 52 = 1: the `file` field carries options, 67 among them.
    let overloaded = |file: &[u8]| {
        let Event::Dhcp(mut e) = reply(5, None) else {
            unreachable!()
        };
        e.flags |= f::OVERLOAD;
        e.overload = 1;
        e.file[..file.len()].copy_from_slice(file);
        Event::Dhcp(e)
    };
    let events = |ack| [(0, discover()), (S / 100, reply(2, None)), (S, ack)];
    let v = &run(&events(overloaded(b"\x43\x09boot.ipxe\xff")), Some(20 * S))[0];
    assert_eq!(v.boot_file.as_deref(), Some("boot.ipxe"), "{v:?}");
    assert_ne!(v.code.map(FailureCode::label), Some("PXE-E53"));
    // Option 67 beyond what the event holds: no claim of a missing file.
    let v = &run(&events(overloaded(b"\x0c\x04host\xff")), None)[0];
    assert_eq!(v.outcome, Outcome::Unfinished, "{v:?}");
    // Without option 52 the same ACK has no boot file: PXE-E53.
    let v = &run(&events(reply(5, None)), None)[0];
    assert_eq!(v.code.map(FailureCode::label), Some("PXE-E53"));
}

#[test]
fn a_client_that_starts_over_is_one_session() {
    let mut events = healthy();
    // iPXE's second stage: DISCOVER again with user class iPXE.
    events.push((
        5 * S,
        Event::Dhcp(dhcp(
            1,
            Class::DhcpServer,
            f::VENDOR_PXE_CLIENT | f::USER_CLASS_IPXE,
        )),
    ));
    let v = run(&events, None);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].outcome, Outcome::Booted);
}

#[test]
fn a_transfer_this_monitor_cannot_see_is_unknown_never_failed() {
    let dhcp_only = &healthy()[..4];
    // The capture ends after the ACK: the evidence ran out.
    assert_eq!(run(dhcp_only, None)[0].outcome, Outcome::Unfinished);
    // Live: the boot information, then five minutes of silence here.
    let v = &run(dhcp_only, Some(3 * S + Timeouts::default().idle_ns + 1))[0];
    assert_eq!((v.outcome, v.code), (Outcome::Unknown, None));
    assert_eq!(v.boot_file.as_deref(), Some("boot.ipxe"));
}

#[test]
fn a_transfer_that_stops_is_e35() {
    let mut events = healthy();
    events[5] = (
        3 * S + 3,
        tftp(TftpMoment::FirstData, b"\0\x03\0\x01", true),
    );
    let stalled = |k: &FamilyKey| {
        matches!(k, FamilyKey::V4(k) if k.client_ip == CLIENT).then_some(TftpFlow {
            data_packets: 40,
            data_bytes: 40 * 512,
            highest_block: 40,
            last_ns: 4 * S,
            ..TftpFlow::default()
        })
    };
    let mut t = Tracker::new(16, Timeouts::default()).with_early_verdicts();
    for (at, e) in &events {
        t.on_event(e, *at);
    }
    // Blocks stopped at 4 s: not yet at 33 s, E35 from 34 s on.
    let stalled = Progress {
        tftp: &stalled,
        http: &|_| None,
    };
    t.on_tick_with(33 * S, &stalled);
    assert!(t.take_decided().is_empty());
    t.on_tick_with(34 * S, &stalled);
    let v = t.take_decided();
    assert_eq!(v[0].code.map(FailureCode::label), Some("PXE-E35"), "{v:?}");
    assert!(v[0].cause.as_deref().unwrap().contains("40 block(s)"));
    // Without progress information (a capture that ends): unfinished.
    assert_eq!(run(&events, None)[0].outcome, Outcome::Unfinished);
}

#[test]
fn a_reboot_minutes_later_is_a_new_session() {
    let mut events = healthy();
    for (t, e) in healthy() {
        events.push((t + 120 * S, e));
    }
    let v = run(&events, None);
    assert_eq!(v.len(), 2, "two boots");
    assert!(v.iter().all(|v| v.outcome == Outcome::Booted));
    assert!(v[1].first_seen_ns >= 120 * S);
    // A loop of boots keeps each session small.
    let mut many = Vec::new();
    for i in 0..500 {
        many.extend(healthy().into_iter().map(|(t, e)| (t + i * 120 * S, e)));
    }
    let v = run(&many, None);
    assert_eq!(v.len(), 500);
    assert!(v.iter().all(|v| v.transfers.len() == 1));
}

#[test]
fn a_machine_started_again_right_after_its_failure_is_a_new_boot() {
    // The KB 259670 set-up: PXE-E55, decided at the ICMP port unreachable
    // that answers the request to 4011 (the firmware gives up at once).
    let mut offer = dhcp(
        2,
        Class::DhcpClient,
        f::SERVER_ID | f::VENDOR_PXE_CLIENT | f::BOOTFILE,
    );
    (offer.src_ip, offer.server_id, offer.yiaddr) = (SERVER, SERVER, CLIENT);
    let mut req = dhcp(3, Class::ProxyDhcp, f::VENDOR_PXE_CLIENT);
    (req.src_ip, req.dst_ip) = (CLIENT, SERVER);
    let unreachable = IcmpEvent {
        reporter: v4_mapped(SERVER),
        quoted_src: v4_mapped(CLIENT),
        quoted_dst: v4_mapped(SERVER),
        quoted_src_port: 68u16.to_be_bytes(),
        quoted_dst_port: 4011u16.to_be_bytes(),
        code: 3,
        quoted_class: Class::ProxyDhcp as u8,
        ..IcmpEvent::default()
    };
    let failed = vec![
        (0, discover()),
        (S / 100, Event::Dhcp(offer)),
        (S, Event::Dhcp(req)),
        (S + 1, Event::Icmp(unreachable)),
    ];
    assert_eq!(
        run(&failed, None)[0].code.map(FailureCode::label),
        Some("PXE-E55")
    );
    // Seconds later the fix is in and the machine is reset: a DISCOVER of
    // a new transaction, and it boots. Two boots, each with its verdict.
    let mut events = failed.clone();
    for (t, mut e) in healthy() {
        if let Event::Dhcp(d) = &mut e {
            d.xid = [9, 9, 9, 9];
        }
        events.push((t + 6 * S, e));
    }
    let v = run(&events, None);
    let outcomes: Vec<_> = v
        .iter()
        .map(|v| (v.outcome, v.code.map(FailureCode::label)))
        .collect();
    assert_eq!(
        outcomes,
        [(Outcome::Failed, Some("PXE-E55")), (Outcome::Booted, None)]
    );
    // The failed attempt's own DISCOVER sent again (its transaction kept)
    // stays in the failed boot.
    let mut resent = failed.clone();
    resent.push((2 * S, discover()));
    assert_eq!(run(&resent, None).len(), 1);
}

#[test]
fn events_a_few_ms_out_of_order() {
    let mut events = healthy();
    events.swap(4, 5);
    events[4].0 = 3 * S + 5;
    events[5].0 = 3 * S + 2;
    // The DATA before its request is not linked; the request alone does
    // not decide: unfinished, never a failure.
    assert_ne!(run(&events, None)[0].outcome, Outcome::Failed);
}

mod bounds;
mod http;
mod http_boot;
mod http_boot6;
mod ipv6;
