//! The session tracker fed arbitrary event sequences at arbitrary times
//! (the clock may stand still, jump, or run backwards, as the timestamps
//! of a merged capture do), its table bound small so eviction runs: after
//! every step each table is within its bound and every session started is
//! either open or has its verdict; every verdict stands on evidence (its
//! client is a MAC an event named, a failure has its code and nothing
//! else does, its first moment is not after its last); its text and JSON
//! carry no raw control character; and the same input gives the same
//! verdicts.
//!
//! Input: `monitor::testing::steps` (events, ticks and clients cut short,
//! each moving the clock by a signed step). Seeded with the fixture
//! captures' events in that format (`cargo xtask fuzz`).
#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use monitor::{
    event::{self, Event, Record},
    report,
    session::{Timeouts, Tracker},
    testing::steps::{Step, steps},
    verdict::{Outcome, Verdict},
};
use monitor_common::event::{
    Dhcp6Record, DhcpRecord, EventHeader, EventKind, HttpRecord, IcmpRecord, TftpRecord,
};

/// Sessions followed at once: small, so the table fills and evicts.
const MAX_SESSIONS: usize = 4;

/// One of eight clients (`k & 7`) at one of 32 addresses (`k >> 3`):
/// clients meet again, and addresses move between them.
fn client(k: u8) -> ([u8; 6], [u8; 4]) {
    ([0x52, 0x54, 0, 0, 0, k & 7], [10, 0, 0, 10 + (k >> 3)])
}

/// The event of kind `kind` whose bytes start with `body`.
fn event_of(kind: EventKind, body: &[u8], normalize: Option<u8>) -> Option<Event> {
    let size = match kind {
        EventKind::Dhcp => size_of::<DhcpRecord>(),
        EventKind::IcmpUnreachable => size_of::<IcmpRecord>(),
        EventKind::Tftp => size_of::<TftpRecord>(),
        EventKind::Http => size_of::<HttpRecord>(),
        EventKind::Dhcp6 => size_of::<Dhcp6Record>(),
    };
    let header = size_of::<EventHeader>();
    let mut bytes = vec![0u8; size];
    bytes[std::mem::offset_of!(EventHeader, kind)] = kind as u8;
    let n = body.len().min(size - header);
    bytes[header..header + n].copy_from_slice(&body[..n]);
    let mut ev = event::decode(&bytes).map(|r: Record| r.event())?;
    if let Some(k) = normalize {
        let (mac, ip) = client(k);
        let mapped = {
            let mut a = [0u8; 16];
            a[10] = 0xff;
            a[11] = 0xff;
            a[12..].copy_from_slice(&ip);
            a
        };
        match &mut ev {
            Event::Dhcp(e) => {
                e.chaddr = mac;
                e.yiaddr = ip;
            }
            Event::Tftp(e) => {
                e.client_mac = mac;
                e.client_ip = mapped;
            }
            Event::Http(e) => {
                e.client_mac = mac;
                e.client_ip = mapped;
            }
            Event::Icmp(e) => e.quoted_src = mapped,
            Event::Dhcp6(e) => e.src_mac = mac,
        }
    }
    Some(ev)
}

/// The MACs an event names (what may open a session).
fn named(ev: &Event, into: &mut BTreeSet<[u8; 6]>) {
    match ev {
        Event::Dhcp(e) => {
            into.insert(e.chaddr);
        }
        Event::Tftp(e) => {
            into.insert(e.client_mac);
        }
        Event::Http(e) => {
            into.insert(e.client_mac);
        }
        Event::Dhcp6(e) => {
            into.insert(e.src_mac);
            into.extend(event::dhcp6_client_mac(e));
        }
        Event::Icmp(_) => {}
    }
}

/// Runs the steps; the verdicts, in order.
fn run(input: &[u8]) -> Vec<Verdict> {
    let mut t = Tracker::new(MAX_SESSIONS, Timeouts::default());
    let mut now: u64 = 1_000_000_000_000;
    let mut verdicts = Vec::new();
    let mut macs = BTreeSet::new();
    for (step, s) in steps(input) {
        now = now.saturating_add_signed(step);
        match s {
            Step::Event {
                kind,
                body,
                normalize,
            } => {
                let normalize = normalize.then(|| body.first().copied().unwrap_or(0));
                if let Some(ev) = event_of(kind, body, normalize) {
                    named(&ev, &mut macs);
                    t.on_event(&ev, now);
                }
            }
            Step::Tick => t.on_tick(now),
            Step::CutShort(k) => {
                let (mac, _) = client(k);
                macs.insert(mac);
                t.dhcp_cut_short(mac);
            }
        }
        verdicts.extend(t.take_finished());
        let tables = t.tables();
        if let Some((table, n, bound)) = tables.over_bound(MAX_SESSIONS) {
            panic!("table {table} holds {n} entries, over its bound {bound}: {tables:?}");
        }
        assert_eq!(
            t.started,
            (verdicts.len() + t.active()) as u64,
            "a session started is neither open nor judged"
        );
    }
    verdicts.extend(t.finish());
    assert_eq!(t.active(), 0);
    assert_eq!(
        t.started,
        verdicts.len() as u64,
        "a session ended without a verdict"
    );
    for v in &verdicts {
        assert!(
            macs.contains(&v.client_mac),
            "a verdict on a client no event named: {v:?}"
        );
        assert_eq!(v.code.is_some(), v.outcome == Outcome::Failed, "{v:?}");
        assert!(
            v.first_seen_ns <= v.last_seen_ns,
            "first seen after last: {v:?}"
        );
    }
    verdicts
}

fuzz_target!(|input: &[u8]| {
    let verdicts = run(input);
    assert!(
        run(input) == verdicts,
        "the same events gave other verdicts"
    );
    let mut text = Vec::new();
    report::write_text(&mut text, &verdicts).unwrap();
    let text = String::from_utf8(text).expect("text output is UTF-8");
    for line in text.lines() {
        assert!(
            !line.chars().any(|c| c.is_control() && c != '\t'),
            "a raw control character in the text output: {line:?}"
        );
    }
    // One object a line, strings escaped: no raw control byte but the
    // line ends (serde_json writes them so; a hand-built field would not).
    let mut json = Vec::new();
    report::write_json(&mut json, &verdicts).unwrap();
    assert_eq!(json.iter().filter(|b| **b == b'\n').count(), verdicts.len());
    for line in json.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        assert!(line.starts_with(b"{") && line.ends_with(b"}"));
        assert!(
            !line.iter().any(|b| *b < 0x20),
            "a raw control byte in JSON"
        );
    }
});
