//! The shared classifier on arbitrary bytes: it must never panic, and what
//! it reports must hold together.
#![no_main]

use libfuzzer_sys::fuzz_target;
use monitor_common::{Class, classify, event::DhcpEvent, report::fill_dhcp_event};

fuzz_target!(|frame: &[u8]| {
    let c = classify(frame);
    if c.dhcp_type.is_some() {
        assert!(c.class.is_dhcp(), "a message type only on a DHCP port");
    }
    if let Some(loc) = &c.dhcp {
        assert!(c.class.is_dhcp());
        assert!(
            usize::from(loc.bootp_at) + 236 <= frame.len(),
            "the BOOTP header was read"
        );
        let mut ev = DhcpEvent::zeroed();
        assert!(
            fill_dhcp_event(frame, loc, c.class, true, &mut ev),
            "headers read twice agree"
        );
        assert!(ev.class == c.class as u8);
        // Option values are never copied past their length.
        let copied = usize::from(ev.bootfile_len).min(ev.bootfile.len());
        assert!(ev.bootfile[copied..].iter().all(|b| *b == 0));
        let copied = usize::from(ev.tftp_server_len).min(ev.tftp_server.len());
        assert!(ev.tftp_server[copied..].iter().all(|b| *b == 0));
    }
    // The userspace parsers of TFTP payloads, on anything.
    let _ = monitor_common::wire::tftp::parse_request(frame);
    let _ = monitor_common::wire::tftp::parse_oack(frame);
    let _ = monitor_common::wire::tftp::parse_error(frame);
    if c.class == Class::NonIpv4 {
        assert!(c.dhcp.is_none());
    }
});
