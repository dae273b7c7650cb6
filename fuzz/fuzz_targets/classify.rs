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
    if c.class == Class::NonIp {
        assert!(c.dhcp.is_none() && c.dhcp6.is_none());
    }
    if let Some(u) = &c.icmp6 {
        assert!(c.class == Class::OtherIpv6 && c.icmp.is_none());
        assert!(!matches!(
            u.quoted_class,
            Class::NonIp | Class::OtherIpv4 | Class::OtherIpv6
        ));
    }
    if c.dhcp6_type.is_some() {
        assert!(c.class.is_dhcpv6(), "a DHCPv6 type only on a DHCPv6 port");
    }
    if let Some(loc) = &c.dhcp6 {
        assert!(c.class.is_dhcpv6());
        assert!(loc.relays as usize <= monitor_common::wire::dhcpv6::MAX_RELAY_DEPTH);
        // Every option recorded lies inside the frame and its message.
        assert!(usize::from(loc.inner_at) + 4 <= frame.len());
        for at in loc.options.raw().into_iter().filter(|a| *a != 0) {
            assert!(
                usize::from(at) + 4 <= frame.len(),
                "option header in the frame"
            );
            assert!(
                usize::from(at) < usize::from(loc.at.end),
                "option inside the datagram"
            );
        }
    }
});
