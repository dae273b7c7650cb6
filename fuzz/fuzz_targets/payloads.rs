//! The parsers of what events carry, on arbitrary payloads: TFTP requests,
//! OACKs and errors, HTTP request and response heads, the DHCPv6 message
//! walk (through relays) and its options, and the escaping of wire text.
//! What each returns lies inside the payload, keeps its own rules (no NUL
//! in a TFTP string, a status in 100..=599, a range that runs forward), a
//! request rebuilt from what was parsed parses the same, and escaped text
//! holds nothing a terminal acts on and survives escaping again unchanged.
#![no_main]

use std::borrow::Cow;

use libfuzzer_sys::fuzz_target;
use monitor::event::escape;
use monitor_common::wire::{dhcpv6, http, tftp};

/// Whether `part` is a slice of `whole`.
fn inside(whole: &[u8], part: &[u8]) -> bool {
    let (w, p) = (whole.as_ptr_range(), part.as_ptr_range());
    w.start <= p.start && p.end <= w.end
}

fuzz_target!(|p: &[u8]| {
    if let Some(r) = tftp::parse_request(p) {
        assert!(inside(p, r.filename) && inside(p, r.mode));
        assert!(!r.filename.contains(&0) && !r.mode.contains(&0));
        // The same request, rebuilt, parses the same.
        let mut again = r.opcode.to_be_bytes().to_vec();
        for part in [r.filename, r.mode] {
            again.extend_from_slice(part);
            again.push(0);
        }
        let back = tftp::parse_request(&again).expect("a rebuilt request parses");
        assert_eq!((back.filename, back.mode), (r.filename, r.mode));
    }
    let _ = tftp::parse_oack(p);
    if let Some((_, msg)) = tftp::parse_error(p) {
        assert!(inside(p, msg) && !msg.contains(&0));
    }

    if let Some(r) = http::parse_request(p) {
        assert!(!r.target.is_empty() && inside(p, r.target));
        assert!(r.host.is_none_or(|h| inside(p, h)));
        assert!(r.user_agent.is_none_or(|u| inside(p, u)));
        assert!(r.head_len.is_none_or(|n| n <= p.len()));
        if let Some(range) = r.range {
            assert!(range.first.is_some() || range.last.is_some());
            if let (Some(f), Some(l)) = (range.first, range.last) {
                assert!(f <= l, "a range running backwards: {range:?}");
            }
        }
    }
    if let Some(r) = http::parse_response(p) {
        assert!((100..=599).contains(&r.status));
        assert!(inside(p, r.reason));
        assert!(r.head_len.is_none_or(|n| n <= p.len()));
        if let Some(c) = r.content_range {
            assert!(c.first <= c.last && c.complete_length.is_none_or(|n| c.last < n));
        }
    }

    if let Ok(m) = dhcpv6::inner(p, 0, p.len()) {
        assert!(
            m.at <= m.end && m.end <= p.len(),
            "the message outside the datagram"
        );
        assert!(usize::from(m.relays) <= dhcpv6::MAX_RELAY_DEPTH);
        for at in m.options.raw().into_iter().filter(|a| *a != 0) {
            assert!(
                usize::from(at) + 4 <= p.len(),
                "an option header past the datagram"
            );
        }
        for slot in [
            dhcpv6::Slot::ClientId,
            dhcpv6::Slot::ServerId,
            dhcpv6::Slot::IaNa,
            dhcpv6::Slot::UserClass,
            dhcpv6::Slot::VendorClass,
            dhcpv6::Slot::BootFileUrl,
            dhcpv6::Slot::ClientArch,
        ] {
            // (A relay's own options share the table: a value may lie in
            // a relay header, but never past the datagram.)
            if let Some((at, len)) = m.options.value(p, slot) {
                assert!(at + len <= p.len(), "{slot:?}'s value past the datagram");
            }
        }
        let _ = (
            dhcpv6::client_mac(p, &m.options),
            dhcpv6::ia_na_address(p, &m.options),
            dhcpv6::vendor_class(p, &m.options),
            dhcpv6::echoes_http_client(p, &m.options),
        );
    }
    let _ = dhcpv6::duid_mac(p);

    let text = String::from_utf8_lossy(p);
    let escaped = escape(&text);
    assert!(
        matches!(escape(&escaped), Cow::Borrowed(_)),
        "escaped text still holds what a terminal acts on: {escaped:?}"
    );
    assert!(!escaped.chars().any(char::is_control));
    if let Cow::Borrowed(same) = escaped {
        assert_eq!(same, &*text, "text with nothing to escape changed");
    }
});
