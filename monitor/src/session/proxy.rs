//! The boot-server stage: the client's requests to port 4011 (a DHCP
//! REQUEST over IPv4, a DHCPv6 Request over IPv6), the boot server's ACK
//! or Reply, ICMP port unreachable for 4011, and what they decide
//! (PXE-E55, with Microsoft KB 259670 named where the DHCP server itself
//! announced proxyDHCP).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use monitor_common::{
    event::{Dhcp6Event, DhcpEvent, IcmpEvent},
    wire::udp,
};

use super::{
    decide::{Live, Step},
    state::{Offer, Offer6, Session, ip},
    timeline::{self, describe, note},
};
use crate::diagnosis;

/// A REQUEST to port 4011.
pub fn on_request(s: &mut Session, e: &DhcpEvent, now: u64) {
    s.proxy_requests += 1;
    s.proxy_target = Some(e.dst_ip.into());
    s.proxy_first_ns.get_or_insert(now);
    if e.src_ip != [0; 4] {
        s.client_ip.get_or_insert(e.src_ip.into());
    }
    let t = s.rel(now);
    note!(
        s,
        t,
        format!(
            "boot-server REQUEST #{} to {}:4011",
            s.proxy_requests,
            ip(e.dst_ip)
        ),
    );
}

/// An ACK from port 4011.
pub fn on_ack(s: &mut Session, e: &DhcpEvent, now: u64) {
    let o = Offer::from_event(e);
    let t = s.rel(now);
    note!(
        s,
        t,
        format!("boot-server ACK from {} ({})", ip(e.src_ip), describe(&o))
    );
    s.proxy_ack = Some(o);
}

/// A DHCPv6 Request to port 4011 (EDK2 asks the boot server a proxy
/// Advertise named).
pub fn on_request6(s: &mut Session, e: &Dhcp6Event, now: u64) {
    s.proxy_requests += 1;
    let to = IpAddr::V6(Ipv6Addr::from(e.dst_ip));
    s.proxy_target = Some(to);
    s.proxy_first_ns.get_or_insert(now);
    let t = s.rel(now);
    note!(
        s,
        t,
        format!(
            "boot-server Request #{} to {}",
            s.proxy_requests,
            SocketAddr::new(to, udp::PORT_PXE)
        ),
    );
}

/// The boot server's DHCPv6 Reply from port 4011.
pub fn on_reply6(s: &mut Session, o: Offer6, now: u64) {
    let t = s.rel(now);
    note!(s, t, {
        let url = o.boot_url.as_deref().unwrap_or("no boot file URL");
        let from = o.from.map_or(String::new(), |f| format!(" from {f}"));
        format!("boot-server Reply{from} ({url})")
    });
    s.proxy_reply6 = Some(o);
}

/// ICMP destination unreachable quoting a datagram to port 4011.
pub fn on_unreachable(s: &mut Session, e: &IcmpEvent, now: u64) {
    s.proxy_unreachable += 1;
    let t = s.rel(now);
    note!(s, t, timeline::unreachable(e, udp::PORT_PXE));
}

/// Whether an ICMP unreachable is about port 4011.
pub fn is_about(e: &IcmpEvent) -> bool {
    u16::from_be_bytes(e.quoted_dst_port) == udp::PORT_PXE
}

/// What the 4011 exchange decides: `Pass` when the client asked no boot
/// server or got its answer.
pub fn decide(s: &Session, now: u64, live: Option<&Live<'_>>) -> Step {
    let Some(target) = s.proxy_target else {
        return Step::Pass;
    };
    if s.proxy_ack.is_some() || s.proxy_reply6.is_some() {
        return Step::Pass;
    }
    let timed_out = live.is_some_and(|l| {
        s.proxy_first_ns
            .is_some_and(|f| now.saturating_sub(f) >= l.timeouts.no_answer_ns)
    });
    if s.proxy_unreachable == 0 && s.proxy_requests < 4 && !timed_out {
        return Step::Wait;
    }
    let assigned_by = s.ack.as_ref().map(|a| IpAddr::from(a.server));
    // Over IPv6 the DHCPv6 server answers from its link-local address and
    // the client asks the boot server's global one: a Reply that gave the
    // address and announced PXEClient is the same misconfiguration.
    let kb259670 = match target {
        IpAddr::V4(t) => s
            .ack
            .as_ref()
            .is_some_and(|a| a.vendor_pxe && a.server == t.octets()),
        IpAddr::V6(_) => s
            .reply6
            .as_ref()
            .is_some_and(|r| r.vendor_pxe && r.address.is_some()),
    };
    Step::Decided(diagnosis::proxy_silent(
        s.mac,
        target,
        s.proxy_requests,
        s.proxy_unreachable > 0,
        kb259670,
        assigned_by,
    ))
}
