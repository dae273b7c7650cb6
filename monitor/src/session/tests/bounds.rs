//! The tracker's bounds and what it does at them: random sequences, the
//! timeline's length, sessions closed to make room, clients seen only over
//! TFTP, and a DHCP flood.

use super::*;

/// Any sequence of events: no panic, every table within its bound.
#[test]
fn random_sequences_stay_within_bounds() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..200 {
        let mut t = Tracker::new(8, Timeouts::default());
        let mut now = 0;
        for _ in 0..300 {
            now += next() % (2 * S);
            let r = next();
            let mut ev = match r % 3 {
                0 => {
                    let mut e = dhcp(
                        (r >> 8) as u8 % 9,
                        Class::ALL[(r >> 16) as usize % 7],
                        (r >> 24) as u16,
                    );
                    e.chaddr[5] = (r >> 40) as u8 % 16;
                    e.yiaddr = [10, 0, 0, (r >> 48) as u8];
                    Event::Dhcp(e)
                }
                1 => {
                    let moment = [
                        TftpMoment::Request,
                        TftpMoment::Oack,
                        TftpMoment::Error,
                        TftpMoment::LastData,
                    ][(r >> 8) as usize % 4];
                    tftp(
                        moment,
                        &[0, (r >> 16) as u8 % 7, 0, (r >> 24) as u8 % 9],
                        r & 1 == 0,
                    )
                }
                _ => Event::Icmp(IcmpEvent {
                    quoted_src: monitor_common::wire::ipv6::v4_mapped([10, 0, 0, (r >> 8) as u8]),
                    quoted_dst_port: [[0, 69], [0x0f, 0xab]][(r >> 16) as usize % 2],
                    ..IcmpEvent::default()
                }),
            };
            if let Event::Tftp(e) = &mut ev {
                e.client_ip = v4_mapped([10, 0, 0, (r >> 32) as u8]);
                e.client_mac = [0, 0, 0, 0, 0, (r >> 56) as u8 % 32];
            }
            t.on_event(&ev, now);
            assert!(t.active() <= 8);
            assert_eq!(t.tables().over_bound(8), None, "{:?}", t.tables());
            if r % 17 == 0 {
                t.on_tick(now);
            }
        }
        let _ = t.finish();
        assert_eq!(t.active(), 0);
    }
}

#[test]
fn the_timeline_is_kept_only_when_asked_and_stays_bounded() {
    let mut events = healthy();
    // A client that loops on DISCOVER far longer than any firmware does.
    for i in 0..400u64 {
        events.push((4 * S + i, discover()));
    }
    let v = run(&events, None);
    assert!(!v[0].timeline.is_empty());
    assert!(
        v[0].timeline.len() <= state::MAX_TIMELINE,
        "{} lines",
        v[0].timeline.len()
    );
    // Live use keeps no timeline: no line is formatted or stored, the
    // DISCOVER and ACK lines included.
    let mut t = Tracker::new(16, Timeouts::default()).without_timeline();
    for (at, e) in &events {
        t.on_event(e, *at);
    }
    let v = t.finish();
    assert_eq!(v[0].timeline, Vec::new());
}

#[test]
fn a_session_closed_to_make_room_still_gets_its_verdict() {
    let mut t = Tracker::new(2, Timeouts::default());
    let client = |last: u8| {
        let mut e = dhcp(1, Class::DhcpServer, f::VENDOR_PXE_CLIENT);
        e.chaddr[5] = last;
        Event::Dhcp(e)
    };
    // Client 1 gives up (four DISCOVERs: PXE-E51), client 2 starts, client
    // 3 needs room: client 1, the oldest, is closed with its verdict;
    // client 4 then closes client 2, undecided.
    for i in 0..4 {
        t.on_event(&client(1), i * S);
    }
    t.on_event(&client(2), 5 * S);
    t.on_event(&client(3), 6 * S);
    t.on_event(&client(4), 7 * S);
    assert_eq!(t.evicted, 2);
    let v = t.finish();
    let of = |last: u8| v.iter().find(|v| v.client_mac[5] == last).unwrap();
    assert_eq!(of(1).code, Some(FailureCode::E51));
    assert_eq!(of(2).outcome, Outcome::Unfinished);
    assert!(
        of(2)
            .cause
            .as_deref()
            .unwrap()
            .contains("more than 2 clients")
    );
    assert_eq!(v.len(), 4, "every client has its verdict: {v:?}");
}

/// `e` (a TFTP event) as sent from a client with this Ethernet address.
fn with_mac(e: &Event, mac: [u8; 6]) -> Event {
    let mut e = *e;
    if let Event::Tftp(t) = &mut e {
        t.client_mac = mac;
    }
    e
}

#[test]
fn tftp_alone_is_no_boot_unless_asked() {
    // A client that only reads a file: no PXE exchange of its own seen.
    let mac = [2, 0, 0, 0, 0, 9];
    let events = [
        (
            0,
            tftp(
                TftpMoment::Request,
                b"\0\x01SEP0002.cnf.xml\0octet\0",
                false,
            ),
        ),
        (
            S,
            tftp(TftpMoment::Error, b"\0\x05\0\x01File not found\0", true),
        ),
    ];
    let judge = |mode| {
        let mut t = Tracker::new(16, Timeouts::default()).with_tftp_only(mode);
        for (at, e) in &events {
            t.on_event(&with_mac(e, mac), *at);
        }
        t.finish()
    };
    let v = judge(TftpOnlyClients::Transfers);
    assert_eq!((v[0].outcome, v[0].code), (Outcome::TftpOnly, None));
    assert_eq!(v[0].transfers.len(), 1);
    // Live, the transfers are reported once the client is quiet for the
    // no-answer timeout (10 s), not at the 5-minute idle close.
    let mut t = Tracker::new(16, Timeouts::default()).with_early_verdicts();
    for (at, e) in &events {
        t.on_event(&with_mac(e, mac), *at);
    }
    t.on_tick(10 * S);
    assert!(t.take_decided().is_empty());
    t.on_tick(11 * S);
    let v = t.take_decided();
    assert_eq!((v.len(), v[0].outcome), (1, Outcome::TftpOnly));
    assert_eq!(t.active(), 1, "still followed until idle");
    let v = judge(TftpOnlyClients::Boots);
    assert_eq!(v[0].code, Some(FailureCode::E3B));
    assert_eq!(v[0].basis, crate::verdict::Basis::TftpAlone);
    // Auto infers boots until DHCP shows up.
    let v = judge(TftpOnlyClients::Auto);
    assert_eq!(v[0].code, Some(FailureCode::E3B));
    let mut t = Tracker::new(16, Timeouts::default()).with_tftp_only(TftpOnlyClients::Auto);
    t.dhcp_seen();
    for (at, e) in &events {
        t.on_event(&with_mac(e, mac), *at);
    }
    assert_eq!(t.finish()[0].outcome, Outcome::TftpOnly);
    // The same client starting a PXE exchange afterwards: a new session,
    // judged as a boot on its own.
    let mut t = Tracker::new(16, Timeouts::default());
    for (at, e) in &events {
        t.on_event(&with_mac(e, MAC), *at);
    }
    for (at, e) in healthy() {
        t.on_event(&e, 10 * S + at);
    }
    let v = t.finish();
    assert_eq!(
        v.iter().map(|v| v.outcome).collect::<Vec<_>>(),
        [Outcome::TftpOnly, Outcome::Booted]
    );
}

#[test]
fn a_flood_is_counted_as_such_and_real_boots_in_it_are_judged() {
    let mut t = Tracker::new(100_000, Timeouts::default()).with_flood_bound(1000);
    let forged = |i: u32| {
        let mut e = dhcp(1, Class::DhcpServer, f::VENDOR_PXE_CLIENT);
        let [_, a, b, c] = i.to_be_bytes();
        e.chaddr = [0x0e, 0xf1, 0, a, b, c];
        e.xid = i.to_be_bytes();
        Event::Dhcp(e)
    };
    // 20,000 forged clients in two seconds, one DISCOVER each; a real boot
    // (the healthy exchange) and a real client nobody answers (four
    // DISCOVERs: PXE-E51) during it.
    let mut events: Vec<(u64, Event)> = (0..20_000u32)
        .map(|i| (10 * S + u64::from(i) * S / 10_000, forged(i)))
        .collect();
    for (at, e) in healthy() {
        events.push((10 * S + at / 4, e));
    }
    let mut unanswered = dhcp(1, Class::DhcpServer, f::VENDOR_PXE_CLIENT);
    unanswered.chaddr = [2, 0, 0, 0, 0, 0x51];
    for i in 0..4 {
        events.push((10 * S + i * S / 3, Event::Dhcp(unanswered)));
    }
    events.sort_by_key(|(at, _)| *at);
    for (at, e) in &events {
        t.on_event(e, *at);
    }
    assert!(t.flooding().is_some());
    // The flood stops; the forged clients are done with once quiet.
    t.on_tick(25 * S);
    assert!(t.flooding().is_none());
    assert_eq!(
        t.active(),
        2,
        "the forged clients' memory is gone; the real ones stay until idle"
    );
    let mut v = t.take_finished();
    v.extend(t.finish());
    let count = |o: Outcome| v.iter().filter(|v| v.outcome == o).count();
    assert_eq!(count(Outcome::Flood), 20_000);
    assert_eq!(count(Outcome::Booted), 1);
    let e51: Vec<_> = v
        .iter()
        .filter(|v| v.code == Some(FailureCode::E51))
        .collect();
    assert_eq!(e51.len(), 1, "only the real client's");
    assert_eq!(e51[0].client_mac, [2, 0, 0, 0, 0, 0x51]);

    // A storm at the bound is no flood: 1,000 new clients a second.
    let mut t = Tracker::new(100_000, Timeouts::default()).with_flood_bound(1000);
    for i in 0..5_000u32 {
        t.on_event(&forged(i), u64::from(i) * S / 1000);
    }
    assert!(t.flooding().is_none());
    t.on_tick(120 * S);
    let v = t.take_finished();
    assert!(v.iter().all(|v| v.outcome != Outcome::Flood));
}

/// A client whose requests come from ever new addresses (a TFTP request
/// names its client by its Ethernet source): the address table keeps the
/// client's latest [`MAX_ADDRESSES`] and no more. It kept every one before:
/// an entry left the table only with its session.
#[test]
fn a_client_at_ever_new_addresses_keeps_its_latest_few() {
    let mut t = Tracker::new(8, Timeouts::default());
    for i in 0..200u8 {
        let mut ev = tftp(
            TftpMoment::Request,
            b"\x00\x01pxelinux.0\x00octet\x00",
            false,
        );
        if let Event::Tftp(e) = &mut ev {
            e.client_ip = v4_mapped([10, 0, 1, i]);
            e.client_mac = [2, 0, 0, 0, 0, 1];
        }
        t.on_event(&ev, u64::from(i) * S);
        assert_eq!(
            t.tables().over_bound(8),
            None,
            "after {} requests: {:?}",
            i + 1,
            t.tables()
        );
    }
    assert_eq!(t.active(), 1);
    assert_eq!(t.tables().by_ip, MAX_ADDRESSES);
}
