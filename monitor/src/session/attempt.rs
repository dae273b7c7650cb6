//! Attempts: which boot option a DISCOVER or Solicit starts
//! ([`attempt_of`]), and the firmware going on from one attempt to its
//! next ([`Tracker::attempt`]): the attempt that ended is judged with
//! every timeout expired, and the stages start afresh.

use monitor_common::{
    event::dhcp_flags as f,
    wire::{dhcp::VendorClass, dhcpv6::msg},
};

use super::{
    Tracker,
    decide::{Closed, attempt_ended},
    state::Session,
    timeline::note,
};
use crate::{
    event::{Event, dhcp6_user_class_ipxe, on_proxy_port},
    verdict::{BootProtocol, Outcome},
};

impl Tracker {
    /// A DISCOVER or Solicit of `protocol`: the session's first attempt,
    /// or, of another boot option than the current attempt's and not from
    /// iPXE, the firmware going on to its next one. An attempt that booted
    /// has none after it (a loader's DHCP is the chain going on).
    pub(super) fn attempt(
        &mut self,
        mac: [u8; 6],
        protocol: BootProtocol,
        from_ipxe: bool,
        now_ns: u64,
    ) {
        let Some(s) = self.sessions.get_mut(&mac) else {
            return;
        };
        let current = match s.protocol {
            None => {
                s.protocol = Some(protocol);
                s.attempt_first_ns = now_ns;
                return;
            }
            Some(p) if p == protocol || from_ipxe => return,
            Some(p) => p,
        };
        let Some(ended) = attempt_ended(s, &self.timeouts, now_ns) else {
            return;
        };
        // Its failure was reported on its own (a client not known to fall
        // back): what follows is a boot of its own.
        if s.reported {
            self.close(mac, Closed::End);
            self.open(mac, now_ns);
            if let Some(s) = self.sessions.get_mut(&mac) {
                s.protocol = Some(protocol);
                s.attempt_first_ns = now_ns;
            }
            return;
        }
        let t = s.rel(now_ns);
        note!(s, t, {
            let a = &ended.summary;
            let how = a.code.map_or(a.outcome.label(), |c| c.label());
            format!(
                "{} ended ({how}) after {:.1} s; {} starts",
                current.text(),
                a.duration_ns() as f64 / 1e9,
                protocol.text()
            )
        });
        s.next_attempt(ended, protocol, now_ns);
    }
}

/// The boot option a DISCOVER or Solicit starts an attempt of, and whether
/// iPXE sent it (user class `iPXE`).
pub(super) fn attempt_of(ev: &Event) -> Option<(BootProtocol, bool)> {
    match ev {
        Event::Dhcp(e) if e.message_type == 1 && !on_proxy_port(e) => {
            let http = e.flags & f::VENDOR_HTTP_CLIENT != 0;
            let protocol = if http {
                BootProtocol::HttpIpv4
            } else {
                BootProtocol::PxeIpv4
            };
            Some((protocol, e.flags & f::USER_CLASS_IPXE != 0))
        }
        Event::Dhcp6(e) if e.inner_type == msg::SOLICIT => {
            let http = VendorClass::from_u8(e.vendor) == VendorClass::HttpClient;
            let protocol = if http {
                BootProtocol::HttpIpv6
            } else {
                BootProtocol::PxeIpv6
            };
            Some((protocol, dhcp6_user_class_ipxe(e)))
        }
        _ => None,
    }
}

/// The transaction a DISCOVER or Solicit starts (DHCPv6's 3 bytes in the
/// first 3): its retransmissions keep it, a new boot draws a new one.
pub(super) fn attempt_xid(ev: &Event) -> Option<[u8; 4]> {
    match ev {
        Event::Dhcp(e) => Some(e.xid),
        Event::Dhcp6(e) => Some(e.xid),
        _ => None,
    }
}

/// Whether `ev` is the client starting over after its boot failed: a
/// DISCOVER or Solicit of a new transaction once the failure is decided.
/// The firmware gave up (a failure is decided at once only where it does:
/// UEFI's wait until its next boot option has had its chance), so this is
/// the machine started again — a reset, or the fix being tried — however
/// soon: a boot of its own, not the failed one's next stage (only a file
/// that arrived has a next stage). Retransmissions of the failed attempt's
/// own DISCOVER keep its transaction and stay in it.
pub(super) fn started_over(s: &Session, ev: &Event) -> bool {
    attempt_of(ev).is_some()
        && s.verdict
            .as_ref()
            .is_some_and(|v| v.outcome == Outcome::Failed)
        && attempt_xid(ev) != s.attempt_xid
}
