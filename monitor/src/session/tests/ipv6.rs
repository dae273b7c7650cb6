//! PXE over IPv6 and the firmware's fallback chain on hand-built event
//! sequences: DHCPv6 (Solicit, Advertise, Request, Reply with option 59)
//! then TFTP over IPv6, what EDK2 refuses, and OVMF's PXE over IPv4 →
//! PXE over IPv6 → HTTP Boot over IPv4 as one boot with three attempts.

use std::net::Ipv6Addr;

use monitor_common::{
    event::{Dhcp6Event, IcmpEvent, TftpEvent},
    wire::dhcp::VendorClass,
};

use super::http_boot::{booted_over_http, http_discover};
use super::*;
use crate::verdict::BootProtocol;

pub(super) const SERVER6: &str = "fd77:10::1";
pub(super) const CLIENT6: &str = "fd77:10::1c5";
const URL6: &str = "tftp://[fd77:10::1]/tiny.efi";

pub(super) fn v6(a: &str) -> [u8; 16] {
    a.parse::<Ipv6Addr>().unwrap().octets()
}

pub(super) fn option(code: u16, value: &[u8]) -> Vec<u8> {
    let mut o = code.to_be_bytes().to_vec();
    o.extend((value.len() as u16).to_be_bytes());
    o.extend(value);
    o
}

/// A DHCPv6 message of the client's exchange as the kernel sends it: the
/// client id a DUID-LLT with [`MAC`] (servers echo it), EDK2's vendor class
/// and arch in the client's messages; `answer`: the Reply's or Advertise's
/// IA_NA address and option 59.
fn dhcp6(ty: u8, answer: Option<(Option<&str>, Option<&str>)>) -> Event {
    let mut e = Dhcp6Event::zeroed();
    e.msg_type = ty;
    e.inner_type = ty;
    e.xid = [0, 0x12, 0x34, 0x56];
    e.pxe = 1;
    let mut duid = vec![0, 1, 0, 1, 0x2c, 0x3d, 0x4e, 0x5f];
    duid.extend(MAC);
    let mut m = vec![ty, 0x12, 0x34, 0x56];
    m.extend(option(1, &duid));
    match answer {
        None => {
            e.src_ip = v6("fe80::5054:ff:fe77:10");
            e.dst_ip = v6("ff02::1:2");
            e.src_mac = MAC;
            e.vendor = VendorClass::PxeClient as u8;
            let mut vc = 343u32.to_be_bytes().to_vec();
            let data = b"PXEClient:Arch:00007:UNDI:003000";
            vc.extend((data.len() as u16).to_be_bytes());
            vc.extend(data);
            m.extend(option(16, &vc));
            m.extend(option(61, &7u16.to_be_bytes()));
        }
        Some((address, url)) => {
            e.src_ip = v6("fe80::1");
            e.src_mac = [2, 0, 0, 0, 0, 1];
            if let Some(a) = address {
                let mut ia = vec![0; 12];
                let mut addr = v6(a).to_vec();
                addr.extend([0; 8]);
                ia.extend(option(5, &addr));
                m.extend(option(3, &ia));
            }
            if let Some(u) = url {
                m.extend(option(59, u.as_bytes()));
            }
        }
    }
    e.payload[..m.len()].copy_from_slice(&m);
    e.payload_len = m.len() as u16;
    e.msg_len = m.len() as u16;
    Event::Dhcp6(e)
}

fn solicit() -> Event {
    dhcp6(1, None)
}

/// A TFTP event over IPv6 between [`CLIENT6`] and [`SERVER6`].
fn tftp6(moment: TftpMoment, payload: &[u8], from_server: bool) -> Event {
    let Event::Tftp(mut e) = tftp(moment, payload, from_server) else {
        unreachable!()
    };
    e.client_ip = v6(CLIENT6);
    e.server_ip = v6(SERVER6);
    Event::Tftp(TftpEvent { ..e })
}

/// EDK2's PXE over IPv6 from `at`, answered by `url`, up to its read
/// request.
pub(super) fn pxe6(at: u64, url: Option<&str>) -> Vec<(u64, Event)> {
    let answer = Some((Some(CLIENT6), url));
    [
        (0, solicit()),
        (S / 100, dhcp6(2, answer)),
        (S, dhcp6(3, None)),
        (S + S / 100, dhcp6(7, answer)),
        (
            2 * S,
            tftp6(TftpMoment::Request, b"\0\x01tiny.efi\0octet\0", false),
        ),
    ]
    .into_iter()
    .map(|(t, e)| (at + t, e))
    .collect()
}

#[test]
fn pxe_over_ipv6_boots_and_its_tftp_error_is_named_as_ovmf_shows_it() {
    let mut events = pxe6(0, Some(URL6));
    events.push((
        2 * S + 1,
        tftp6(TftpMoment::LastData, b"\0\x03\0\x01MZ", true),
    ));
    let v = run(&events, None);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(
        (v[0].outcome, v[0].boot_file.as_deref(), v[0].server),
        (
            Outcome::Booted,
            Some("tiny.efi"),
            Some(SERVER6.parse().unwrap())
        ),
        "{:#?}",
        v[0]
    );
    assert_eq!(v[0].protocol, Some(BootProtocol::PxeIpv6));
    assert!(v[0].attempts.is_empty());
    assert!(
        v[0].timeline
            .iter()
            .any(|(_, l)| l.contains("DHCPv6 Reply") && l.contains(CLIENT6) && l.contains(URL6)),
        "{:#?}",
        v[0].timeline
    );

    // The file is not on the server: PXE-E3B, with what OVMF shows.
    let mut events = pxe6(0, Some(URL6));
    events.push((
        2 * S + 1,
        tftp6(TftpMoment::Error, b"\0\x05\0\x01File not found\0", true),
    ));
    let v = run(&events, None);
    assert_eq!(
        (v[0].outcome, v[0].code, v[0].console),
        (
            Outcome::Failed,
            Some(FailureCode::E3B),
            Some("PXE-E23: Client received TFTP error from server.")
        ),
        "{:#?}",
        v[0]
    );
    // OVMF missed the error and asked again, 5 s later, six times in all
    // (measured): it shows a timeout.
    for i in 1..6 {
        let at = 2 * S + i * 5 * S;
        events.extend([
            (
                at,
                tftp6(TftpMoment::Request, b"\0\x01tiny.efi\0octet\0", false),
            ),
            (
                at + 1,
                tftp6(TftpMoment::Error, b"\0\x05\0\x01File not found\0", true),
            ),
        ]);
    }
    let v = run(&events, None);
    assert_eq!(
        (v[0].code, v[0].console),
        (
            Some(FailureCode::E3B),
            Some("PXE-E18: Server response timeout.")
        ),
        "{:#?}",
        v[0]
    );
    // Five requests, the fifth error taken (a CI run: the next attempt
    // came 50 ms after it).
    let mut took = events[..events.len() - 2].to_vec();
    took.extend(
        booted_over_http(2 * S + 4 * 5 * S + 50_000_000)
            .into_iter()
            .take(1),
    );
    let v = run(&took, None);
    assert_eq!(
        (v[0].code, v[0].console),
        (
            Some(FailureCode::E3B),
            Some("PXE-E23: Client received TFTP error from server.")
        ),
        "{:#?}",
        v[0]
    );
}

#[test]
fn an_answer_without_a_tftp_url_and_no_answer_at_all_fail_as_edk2_says() {
    // No option 59 (OVMF's console measured), and an http:// URL: EDK2
    // takes neither.
    for (url, console) in [
        (None, Some("PXE-E21: Remote boot cancelled.")),
        (Some("http://[fd77:10::1]/tiny.efi"), None),
    ] {
        let v = run(&pxe6(0, url)[..4], None);
        assert_eq!(
            (v[0].outcome, v[0].code, v[0].console),
            (Outcome::Failed, Some(FailureCode::E53), console),
            "{url:?}: {:#?}",
            v[0]
        );
        let cause = v[0].cause.as_deref().unwrap();
        assert!(
            cause.contains("option 59") || cause.contains("tftp://"),
            "{cause}"
        );
    }
    // Solicits nobody answers: live, after the no-offer timeout.
    let solicits: Vec<_> = [0, 4, 12, 28].map(|t| (t * S, solicit())).into();
    let mut t = Tracker::new(16, Timeouts::default()).with_early_verdicts();
    for (at, e) in &solicits {
        t.on_event(e, *at);
    }
    t.on_tick(59 * S);
    assert!(t.take_decided().is_empty(), "decided before the timeout");
    // UEFI firmware gives up at the timeout and goes on to its next boot
    // option: the verdict waits the settle time for it.
    t.on_tick(61 * S);
    assert!(
        t.take_decided().is_empty(),
        "decided before the settle time"
    );
    t.on_tick(74 * S);
    assert!(
        t.take_decided().is_empty(),
        "decided before the settle time"
    );
    t.on_tick(76 * S);
    let v = t.take_decided();
    assert_eq!(
        (v.len(), v[0].code, v[0].console),
        (
            1,
            Some(FailureCode::E51),
            Some("PXE-E16: No valid offer received.")
        ),
        "{v:#?}"
    );
    assert!(v[0].cause.as_deref().unwrap().contains("4 Solicit"));
}

/// OVMF's PXE over IPv4 failing fast: the boot file is not on the TFTP
/// server (PXE-E3B).
fn pxe4_file_missing() -> Vec<(u64, Event)> {
    let mut d = dhcp(1, Class::DhcpServer, f::VENDOR_PXE_CLIENT | f::CLIENT_ARCH);
    d.client_arch = 7u16.to_be_bytes();
    vec![
        (0, Event::Dhcp(d)),
        (S / 100, reply(2, Some("tiny.efi"))),
        (
            S,
            Event::Dhcp(dhcp(3, Class::DhcpServer, f::VENDOR_PXE_CLIENT)),
        ),
        (S + 1, reply(5, Some("tiny.efi"))),
        (
            2 * S,
            tftp(TftpMoment::Request, b"\0\x01tiny.efi\0octet\0", false),
        ),
        (
            2 * S + 1,
            tftp(TftpMoment::Error, b"\0\x05\0\x01File not found\0", true),
        ),
    ]
}

#[test]
fn the_fallback_chain_is_one_boot_whose_verdict_lists_the_time_lost() {
    // PXE over IPv4 fails (2 s), PXE over IPv6 gets no answer (61 s), HTTP
    // Boot over IPv4 boots.
    let mut events = pxe4_file_missing();
    events.extend([3, 7, 15, 31].map(|t| (t * S, solicit())));
    events.extend(booted_over_http(64 * S));
    let v = run(&events, None);
    assert_eq!(v.len(), 1, "one boot: {v:#?}");
    let v = &v[0];
    assert_eq!(
        (v.outcome, v.protocol),
        (Outcome::Booted, Some(BootProtocol::HttpIpv4)),
        "{v:#?}"
    );
    let attempts: Vec<_> = v
        .attempts
        .iter()
        .map(|a| (a.protocol, a.outcome, a.code, a.duration_ns() / S))
        .collect();
    assert_eq!(
        attempts,
        [
            (
                BootProtocol::PxeIpv4,
                Outcome::Failed,
                Some(FailureCode::E3B),
                3
            ),
            (
                BootProtocol::PxeIpv6,
                Outcome::Failed,
                Some(FailureCode::E51),
                61
            ),
        ]
    );
    assert!(
        v.attempts[1]
            .cause
            .as_deref()
            .unwrap()
            .contains("no DHCPv6 server answered")
    );
    assert_eq!(v.time_lost_ns(), 64 * S);
    // The transfers are the last attempt's; its verdict knows nothing of
    // the earlier TFTP error but the attempt.
    assert!(v.transfers.iter().all(|t| t.http.is_some()), "{v:#?}");
    assert!(
        v.timeline
            .iter()
            .any(|(_, l)| l
                == "PXE over IPv6 ended (PXE-E51) after 61.0 s; HTTP Boot over IPv4 starts"),
        "{:#?}",
        v.timeline
    );

    // Live: the PXE-over-IPv4 failure is not reported on its own while
    // the firmware goes on (it waits the settle time), and the boot is
    // reported once, booted.
    let mut t = Tracker::new(16, Timeouts::default()).with_early_verdicts();
    let mut reported = Vec::new();
    let mut clock = 0;
    for (at, e) in &events {
        // A tick a second, as the agent does.
        while clock < *at {
            t.on_tick(clock);
            reported.extend(t.take_decided());
            clock += S;
        }
        t.on_event(e, *at);
        reported.extend(t.take_decided());
    }
    t.on_tick(90 * S);
    reported.extend(t.take_decided());
    reported.extend(t.finish());
    assert_eq!(
        reported
            .iter()
            .map(|v| (v.outcome, v.attempts.len()))
            .collect::<Vec<_>>(),
        [(Outcome::Booted, 2)]
    );
}

#[test]
fn ipxe_running_dhcpv4_and_dhcpv6_side_by_side_is_one_attempt() {
    // iPXE (user class iPXE) solicits over IPv6 while its DHCPv4 goes on:
    // no new attempt, the boot over IPv4 decides.
    let mut events = healthy();
    let Event::Dhcp6(mut s6) = solicit() else {
        unreachable!()
    };
    let mut m = s6.payload[..usize::from(s6.payload_len)].to_vec();
    m.extend(option(15, b"\0\x04iPXE"));
    s6.payload[..m.len()].copy_from_slice(&m);
    s6.payload_len = m.len() as u16;
    events.insert(1, (S / 200, Event::Dhcp6(s6)));
    let v = run(&events, None);
    assert_eq!(
        (v.len(), v[0].outcome, v[0].attempts.len()),
        (1, Outcome::Booted, 0),
        "{v:#?}"
    );
    // A boot file that arrived ends the attempt's story: a DHCP of another
    // kind after it (a loader's) is no new attempt.
    let mut chain = healthy();
    chain.push((5 * S, solicit()));
    let v = run(&chain, None);
    assert_eq!((v[0].outcome, v[0].attempts.len()), (Outcome::Booted, 0));
}

#[test]
fn a_boot_whose_attempts_all_failed_is_judged_by_the_failure_that_got_furthest() {
    // PXE over IPv6 gets a TFTP error, then HTTP Boot over IPv4 starts and
    // the capture ends (the machine was switched off): the TFTP error is
    // the boot's verdict, the cut-short attempt listed after it.
    let mut events = pxe6(0, Some(URL6));
    events.push((
        2 * S + 1,
        tftp6(TftpMoment::Error, b"\0\x05\0\x01File not found\0", true),
    ));
    events.extend(booted_over_http(3 * S).into_iter().take(1));
    let v = run(&events, None);
    assert_eq!(v.len(), 1, "{v:#?}");
    let v = &v[0];
    assert_eq!(
        (v.outcome, v.code, v.protocol, v.server),
        (
            Outcome::Failed,
            Some(FailureCode::E3B),
            Some(BootProtocol::PxeIpv6),
            Some(SERVER6.parse().unwrap())
        ),
        "{v:#?}"
    );
    assert_eq!(
        v.console,
        Some("PXE-E23: Client received TFTP error from server.")
    );
    let others: Vec<_> = v.attempts.iter().map(|a| (a.protocol, a.outcome)).collect();
    assert_eq!(others, [(BootProtocol::HttpIpv4, Outcome::Unfinished)]);
    assert_eq!(v.attempts_before().count(), 0);
    assert_eq!(v.time_lost_ns(), 0);
    let json = crate::report::SessionJson::new(v);
    assert_eq!(json.attempts[0].when, "after");

    // PXE over IPv4 finds no DHCP server at all (four DISCOVERs), PXE over
    // IPv6 gets a TFTP error, HTTP Boot over IPv4 gets offers it cannot
    // use: the TFTP error, with one attempt before and one after.
    let mut d = dhcp(1, Class::DhcpServer, f::VENDOR_PXE_CLIENT | f::CLIENT_ARCH);
    d.client_arch = 7u16.to_be_bytes();
    let mut events: Vec<_> = [0, 4, 12, 28].map(|t| (t * S, Event::Dhcp(d))).into();
    let mut v6 = pxe6(60 * S, Some(URL6));
    v6.push((
        62 * S + 1,
        tftp6(TftpMoment::Error, b"\0\x05\0\x01File not found\0", true),
    ));
    events.extend(v6);
    // Offers without the HTTPClient echo.
    for i in 0..4 {
        let at = 63 * S + i * 8 * S;
        events.extend([(at, http_discover()), (at + 1, reply(2, Some("boot.ipxe")))]);
    }
    let v = &run(&events, None)[0];
    assert_eq!(
        (v.code, v.protocol),
        (Some(FailureCode::E3B), Some(BootProtocol::PxeIpv6))
    );
    let others: Vec<_> = v.attempts.iter().map(|a| (a.protocol, a.code)).collect();
    assert_eq!(
        others,
        [
            (BootProtocol::PxeIpv4, Some(FailureCode::E51)),
            (BootProtocol::HttpIpv4, Some(FailureCode::HttpBootNoEcho)),
        ]
    );
    assert_eq!(v.time_lost_ns(), 60 * S);
}

#[test]
fn a_boot_server_on_4011_over_ipv6_answers_or_is_pxe_e55() {
    const BOOT_SERVER: &str = "fd77:10::2";
    // The DHCPv6 server gives the address; a proxy advertises PXEClient
    // with no address; the client asks the boot server on 4011.
    let proxy_advertise = || {
        let Event::Dhcp6(mut e) = dhcp6(2, Some((None, None))) else {
            unreachable!()
        };
        e.vendor = VendorClass::PxeClient as u8;
        e.src_ip = v6(BOOT_SERVER);
        Event::Dhcp6(e)
    };
    let to_boot_server = || {
        let Event::Dhcp6(mut e) = dhcp6(3, None) else {
            unreachable!()
        };
        e.src_ip = v6(CLIENT6);
        e.dst_ip = v6(BOOT_SERVER);
        e.src_port = 4011u16.to_be_bytes();
        e.dst_port = 4011u16.to_be_bytes();
        Event::Dhcp6(e)
    };
    let mut events = pxe6(0, None)[..4].to_vec();
    events.insert(2, (S / 50, proxy_advertise()));
    for i in 0..4 {
        events.push((2 * S + i * 4 * S, to_boot_server()));
    }
    let v = &run(&events, None)[0];
    assert_eq!(
        (v.outcome, v.code, v.server),
        (
            Outcome::Failed,
            Some(FailureCode::E55),
            Some(BOOT_SERVER.parse().unwrap())
        ),
        "{v:#?}"
    );
    assert!(
        v.cause.as_deref().unwrap().contains("[fd77:10::2]:4011"),
        "{:?}",
        v.cause
    );
    // The boot server answers with option 59: the client reads the file.
    let Event::Dhcp6(mut reply) = dhcp6(7, Some((None, Some(URL6)))) else {
        unreachable!()
    };
    reply.src_ip = v6(BOOT_SERVER);
    reply.src_port = 4011u16.to_be_bytes();
    reply.dst_port = 4011u16.to_be_bytes();
    let mut answered = events[..6].to_vec();
    answered.extend([
        (2 * S + 1, Event::Dhcp6(reply)),
        (
            3 * S,
            tftp6(TftpMoment::Request, b"\0\x01tiny.efi\0octet\0", false),
        ),
        (
            3 * S + 1,
            tftp6(TftpMoment::LastData, b"\0\x03\0\x01MZ", true),
        ),
    ]);
    let v = &run(&answered, None)[0];
    assert_eq!(
        (v.outcome, v.boot_file.as_deref()),
        (Outcome::Booted, Some("tiny.efi")),
        "{v:#?}"
    );
}

#[test]
fn a_dhcpv6_message_and_its_relayed_copy_count_once() {
    // On a router: the client's Request, then the relay's Relay-forw
    // carrying it, whose walk (deeper in the frame) did not reach the
    // vendor class.
    let Event::Dhcp6(direct) = dhcp6(3, None) else {
        unreachable!()
    };
    let mut relayed = direct;
    relayed.msg_type = 12;
    relayed.relays = 1;
    relayed.vendor = VendorClass::None as u8;
    relayed.src_ip = v6("fd77:20::fe");
    relayed.src_mac = [2, 0, 0, 0, 0, 0xfe];
    let mut events = pxe6(0, Some(URL6))[..2].to_vec();
    events.extend([
        (S, Event::Dhcp6(direct)),
        (S + 300_000, Event::Dhcp6(relayed)),
    ]);
    let v = &run(&events, None)[0];
    let requests = v
        .timeline
        .iter()
        .filter(|(_, l)| l == "DHCPv6 Request")
        .count();
    assert_eq!(requests, 1, "{:#?}", v.timeline);
}

#[test]
fn an_attempt_this_monitor_cannot_see_the_end_of_keeps_the_boot_unknown() {
    // On the DHCP server only: PXE over IPv4 got its ACK and its file went
    // by a path not seen here (a proxy, TFTP elsewhere); then the firmware
    // tried PXE over IPv6, which nobody answered. It may have been the
    // IPv4 attempt that mattered: unknown, never a failure.
    let mut d = dhcp(1, Class::DhcpServer, f::VENDOR_PXE_CLIENT | f::CLIENT_ARCH);
    d.client_arch = 7u16.to_be_bytes();
    let mut events = vec![
        (0, Event::Dhcp(d)),
        (S / 100, reply(2, Some("tiny.efi"))),
        (
            S,
            Event::Dhcp(dhcp(3, Class::DhcpServer, f::VENDOR_PXE_CLIENT)),
        ),
        (S + 1, reply(5, Some("tiny.efi"))),
    ];
    events.extend([10, 14, 22, 38].map(|t| (t * S, solicit())));
    let mut t = Tracker::new(16, Timeouts::default()).with_early_verdicts();
    for (at, e) in &events {
        t.on_event(e, *at);
    }
    for at in 39..100 {
        t.on_tick(at * S);
    }
    let v = t.take_decided();
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(v[0].outcome, Outcome::Unknown, "{:#?}", v[0]);
    let others: Vec<_> = v[0].attempts.iter().map(|a| (a.protocol, a.code)).collect();
    assert_eq!(others, [(BootProtocol::PxeIpv6, Some(FailureCode::E51))]);
}

/// ICMPv6 port unreachable from `from` about a datagram from [`CLIENT6`]
/// to `to`:`port`.
fn unreachable6(from: &str, to: &str, port: u16) -> Event {
    Event::Icmp(IcmpEvent {
        reporter: v6(from),
        quoted_src: v6(CLIENT6),
        quoted_dst: v6(to),
        quoted_src_port: 2000u16.to_be_bytes(),
        quoted_dst_port: port.to_be_bytes(),
        code: 4,
        ..IcmpEvent::default()
    })
}

#[test]
fn icmpv6_port_unreachable_decides_on_evidence() {
    // Nothing listens on port 69 over IPv6: PXE-E32 at once, in replay too.
    let mut events = pxe6(0, Some(URL6));
    events.push((2 * S + 1, unreachable6(SERVER6, SERVER6, 69)));
    let v = &run(&events, None)[0];
    assert_eq!(
        (v.outcome, v.code, v.console),
        (
            Outcome::Failed,
            Some(FailureCode::E32),
            Some("PXE-E99: Unexpected network error.")
        ),
        "{v:#?}"
    );
    assert!(
        v.timeline
            .iter()
            .any(|(_, l)| l.contains("nothing listens on [fd77:10::1]:69")),
        "{:#?}",
        v.timeline
    );
}
