//! The boot-server stage: the client's requests to port 4011, the
//! boot server's ACK, ICMP port unreachable for 4011, and what they decide
//! (PXE-E55, with Microsoft KB 259670 named where the DHCP server itself
//! announced proxyDHCP).

use monitor_common::{
    event::{DhcpEvent, IcmpEvent},
    wire::udp,
};

use super::{
    decide::{Live, Step},
    state::{Offer, Session, ip},
    timeline::{self, describe, note},
};
use crate::diagnosis;

/// A REQUEST to port 4011.
pub fn on_request(s: &mut Session, e: &DhcpEvent, now: u64) {
    s.proxy_requests += 1;
    s.proxy_target = Some(e.dst_ip);
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
    if s.proxy_ack.is_some() {
        return Step::Pass;
    }
    let timed_out = live.is_some_and(|l| {
        s.proxy_first_ns
            .is_some_and(|f| now.saturating_sub(f) >= l.timeouts.no_answer_ns)
    });
    if s.proxy_unreachable == 0 && s.proxy_requests < 4 && !timed_out {
        return Step::Wait;
    }
    let assigned_by = s.ack.as_ref().map(|a| a.server);
    let kb259670 = s
        .ack
        .as_ref()
        .is_some_and(|a| a.vendor_pxe && a.server == target);
    Step::Decided(diagnosis::proxy_silent(
        s.mac,
        target,
        s.proxy_requests,
        s.proxy_unreachable > 0,
        kb259670,
        assigned_by,
    ))
}
