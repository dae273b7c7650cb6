//! The DHCPv6 stage of PXE over IPv6: the client's Solicits, the
//! Advertises and the Reply (the address in IA_NA, option 59 the boot file
//! URL), and what they decide: no DHCPv6 server answered (EDK2:
//! `PXE-E16`), an answer without a `tftp://` boot file URL (`PXE-E16`), or
//! the TFTP stage's turn.

use std::net::{IpAddr, Ipv6Addr};

use monitor_common::{
    event::Dhcp6Event,
    wire::{dhcp::VendorClass, dhcpv6::msg, udp},
};

use super::{
    decide::{Live, Step},
    proxy,
    state::{MAX_OFFERS, Offer6, Session},
    timeline::note,
};
use crate::{
    diagnosis,
    event::{
        dhcp6_address, dhcp6_arch, dhcp6_boot_url, dhcp6_echoes_http_client, dhcp6_user_class_ipxe,
    },
    verdict::BootProtocol,
};

/// A DHCPv6 message of the client's PXE exchange (inside any relays); the
/// boot server's exchange on port 4011 goes to its stage.
pub fn on_dhcp6(s: &mut Session, e: &Dhcp6Event, now: u64) {
    if dhcp6_user_class_ipxe(e) {
        s.ipxe = true;
    }
    let t = s.rel(now);
    let answer = || Offer6 {
        from: Some(Ipv6Addr::from(e.src_ip)),
        address: dhcp6_address(e),
        boot_url: dhcp6_boot_url(e),
        vendor_pxe: VendorClass::from_u8(e.vendor) == VendorClass::PxeClient,
        vendor_http: dhcp6_echoes_http_client(e),
    };
    let to_boot_server = u16::from_be_bytes(e.dst_port) == udp::PORT_PXE;
    // EDK2 asks from 4011 too (4011 -> 4011): the type tells which way.
    let from_boot_server = u16::from_be_bytes(e.src_port) == udp::PORT_PXE;
    match e.inner_type {
        msg::REQUEST if to_boot_server => proxy::on_request6(s, e, now),
        msg::REPLY if from_boot_server => proxy::on_reply6(s, answer(), now),
        msg::SOLICIT => {
            if let Some(a) = dhcp6_arch(e) {
                s.arch = Some(a);
            }
            s.solicits += 1;
            s.first_solicit_ns.get_or_insert(now);
            note!(s, t, {
                let arch = s.arch.map_or(String::new(), |a| format!(", arch {a}"));
                format!("DHCPv6 Solicit #{}{arch}", s.solicits)
            });
        }
        msg::ADVERTISE => {
            let o = answer();
            note!(s, t, format!("DHCPv6 Advertise {}", describe(&o)));
            if s.advertises.len() < MAX_OFFERS {
                s.advertises.push(o);
            }
        }
        msg::REQUEST => {
            s.requests6 += 1;
            note!(s, t, "DHCPv6 Request".into());
        }
        msg::REPLY => {
            let o = answer();
            note!(s, t, format!("DHCPv6 Reply {}", describe(&o)));
            if let Some(a) = o.address {
                s.client_ip = Some(IpAddr::V6(a));
            }
            s.reply6 = Some(o);
        }
        _ => {}
    }
}

/// An Advertise or Reply in a few words: who sent it, the address, the
/// boot file URL.
fn describe(o: &Offer6) -> String {
    let mut parts = Vec::new();
    if let Some(f) = o.from {
        parts.push(format!("from {f}"));
    }
    if let Some(a) = o.address {
        parts.push(format!("address {a}"));
    }
    match &o.boot_url {
        Some(u) => parts.push(format!("boot file URL {u}")),
        None => parts.push("no boot file URL".into()),
    }
    if o.vendor_pxe {
        parts.push("option 16 PXEClient".into());
    }
    if o.vendor_http {
        parts.push("option 16 HTTPClient".into());
    }
    parts.join(", ")
}

/// What the DHCPv6 exchange decides once the later stages had nothing to
/// say; `Pass` when the attempt has none (it is over IPv4).
pub fn decide(s: &Session, now: u64, live: Option<&Live<'_>>) -> Step {
    if s.solicits == 0 && s.advertises.is_empty() && s.reply6.is_none() {
        return Step::Pass;
    }
    let timeouts = live.map(|l| l.timeouts);
    let quiet = timeouts.is_some_and(|t| now.saturating_sub(s.last_ns) >= t.no_answer_ns);
    // A proxy announced itself (option 16 PXEClient without an address)
    // or the client went to a boot server on 4011: its stage decides.
    let proxied = s.proxy_target.is_some()
        || s.proxy_reply6.is_some()
        || s.advertises.iter().any(|a| a.vendor_pxe);
    let http = s.protocol == Some(BootProtocol::HttpIpv6);
    if let Some(r) = &s.reply6 {
        if r.names_tftp_file() || r.vendor_pxe || proxied || http {
            // (UEFI HTTP Boot requests only an answer it can boot from: the
            // HTTP stage decides once it fetches.)
            // The TFTP stage (or the boot server on 4011) decides once the
            // client asks; live, long silence means a path not seen here.
            if quiet {
                let (file, server) = s.boot_target();
                return Step::Decided(diagnosis::unseen_transfer(s.mac, file, server));
            }
            return Step::Wait;
        }
        return Step::Decided(diagnosis::no_boot_url6(
            s.mac,
            r.from.map(IpAddr::V6),
            r.boot_url.as_deref(),
        ));
    }
    // No Reply: the Advertises (or their absence) decide once the client
    // has given up on them (the no-offer timeout, or its next attempt).
    // UEFI HTTP Boot takes the Advertises it has within seconds and sends
    // no Solicit after them: with none it can use, it gave up (measured
    // with OVMF: 5 s after the Advertise).
    let gave_up = timeouts.is_some_and(|t| {
        s.first_solicit_ns
            .is_some_and(|f| now.saturating_sub(f) >= t.no_offer_ns)
            || (http && s.requests6 == 0 && !s.advertises.is_empty() && quiet)
    });
    if !gave_up {
        return Step::Wait;
    }
    if s.advertises.is_empty() {
        return Step::Decided(diagnosis::no_advertise(s.mac, s.solicits));
    }
    // UEFI HTTP Boot requests only an answer that echoes HTTPClient and
    // names a URL; it requested none, so none did.
    if http && !s.advertises.iter().any(Offer6::http_bootable) {
        let from = |o: &Offer6| o.from.map(IpAddr::V6);
        return Step::Decided(match s.advertises.iter().find(|o| o.vendor_http) {
            Some(o) => diagnosis::http_boot_no_uri6(s.mac, from(o)),
            None => {
                diagnosis::http_boot_no_echo6(s.mac, from(&s.advertises[0]), s.advertises.len())
            }
        });
    }
    if !http
        && !s
            .advertises
            .iter()
            .any(|o| o.names_tftp_file() || o.vendor_pxe)
    {
        let o = &s.advertises[0];
        return Step::Decided(diagnosis::no_boot_url6(
            s.mac,
            o.from.map(IpAddr::V6),
            o.boot_url.as_deref(),
        ));
    }
    Step::Wait
}
