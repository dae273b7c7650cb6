//! The DHCP stage: DISCOVERs, offers, the REQUEST and the ACK or NAK (port
//! 67/68), and what they decide: no offer (PXE-E51), only a proxy
//! (PXE-E52), no boot file (PXE-E53), no TFTP server (PXE-E7B), a NAK, or
//! an exchange this interface cannot see the end of.

use monitor_common::{
    DhcpType,
    event::{DhcpEvent, dhcp_flags as f},
};

use super::{
    Measurement,
    decide::{Live, Step},
    proxy,
    state::{MAX_OFFERS, Offer, Session, ip, is_url, server_of},
    timeline::{describe, note},
};
use crate::{diagnosis, event::on_proxy_port};

/// A DHCP message of the client's exchange (the 4011 ones go to the boot
/// server stage).
pub fn on_dhcp(s: &mut Session, e: &DhcpEvent, now: u64) -> Option<Measurement> {
    let ty = DhcpType::from_option(e.message_type);
    if e.flags & f::USER_CLASS_IPXE != 0 {
        s.ipxe = true;
    }
    if e.flags & f::CLIENT_ARCH != 0 {
        s.arch = Some(u16::from_be_bytes(e.client_arch));
    }
    let t = s.rel(now);
    match (ty, on_proxy_port(e)) {
        (DhcpType::DISCOVER, _) => {
            if e.flags & f::VENDOR_HTTP_CLIENT != 0 {
                s.http_boot = true;
            }
            s.discovers += 1;
            s.first_discover_ns.get_or_insert(now);
            s.awaiting_offer_ns.get_or_insert(now);
            note!(s, t, {
                let arch = s.arch.map_or(String::new(), |a| format!(", arch {a}"));
                format!("DISCOVER #{}{arch}", s.discovers)
            });
        }
        (DhcpType::OFFER, false) => {
            let o = Offer::from_event(e);
            let what = if o.is_proxy() {
                "proxyDHCP OFFER"
            } else {
                "OFFER"
            };
            note!(
                s,
                t,
                format!("{what} from {} ({})", ip(o.server), describe(&o))
            );
            let server = ip(o.server);
            if s.offers.len() < MAX_OFFERS {
                s.offers.push(o);
            }
            return Some(Measurement::Offer {
                server,
                wait_ns: s.awaiting_offer_ns.take().map(|t0| now.saturating_sub(t0)),
            });
        }
        (DhcpType::REQUEST, false) => {
            if e.flags & f::SERVER_ID != 0 {
                s.requested = Some((e.server_id, now));
            }
            note!(s, t, "REQUEST".into())
        }
        (DhcpType::ACK, false) => {
            let o = Offer::from_event(e);
            if o.yiaddr != [0; 4] {
                s.client_ip = Some(o.yiaddr.into());
            }
            note!(
                s,
                t,
                format!("ACK from {} ({})", ip(o.server), describe(&o))
            );
            s.ack = Some(o);
        }
        (DhcpType::REQUEST, true) => proxy::on_request(s, e, now),
        (DhcpType::ACK, true) => proxy::on_ack(s, e, now),
        (DhcpType::NAK, _) => {
            s.nak_from = Some(server_of(e));
            note!(s, t, format!("NAK from {}", ip(e.src_ip)));
        }
        _ => {}
    }
    None
}

/// What the DHCP exchange decides, once the later stages had nothing to
/// say.
pub fn decide(s: &Session, now: u64, live: Option<&Live<'_>>) -> Step {
    let timeouts = live.map(|l| l.timeouts);
    if let Some(server) = s.nak_from {
        return Step::Decided(diagnosis::nak(s.mac, server));
    }
    let proxy_offered = s.offers.iter().any(Offer::is_proxy);
    // Live: the client has its boot information and nothing more of its
    // boot passed here for a while (its boot-server and TFTP exchanges go
    // to a server this interface does not carry): unknown, never a failure.
    let quiet = timeouts.is_some_and(|t| now.saturating_sub(s.last_ns) >= t.no_answer_ns);
    let unseen_or_wait = || {
        if quiet {
            let (file, server) = s.boot_target();
            Step::Decided(diagnosis::unseen_transfer(s.mac, file, server))
        } else {
            Step::Wait
        }
    };
    if let Some(ack) = &s.ack {
        // The client will ask a proxy (an offer said so): wait for it.
        if proxy_offered || ack.vendor_pxe || s.proxy_target.is_some() {
            return unseen_or_wait();
        }
        let offered_file = s
            .offers
            .iter()
            .filter(|o| o.server == ack.server)
            .find_map(|o| o.boot_file.clone());
        return match ack.boot_file.clone().or(offered_file) {
            // Option 52 hid part of the answer: no claim about its file.
            None if ack.boot_file_unseen => unseen_or_wait(),
            None => Step::Decided(diagnosis::no_boot_file(s.mac, ack.server, s.offers.len())),
            // A URL: fetched over HTTP (the HTTP stage decides once the
            // client connects), no TFTP server needed.
            Some(file) if is_url(&file) => unseen_or_wait(),
            Some(file) if ack.siaddr == [0; 4] && (ack.tftp_server.is_none() || s.ipxe) => {
                Step::Decided(diagnosis::no_tftp_server(
                    s.mac,
                    ack.server,
                    &file,
                    ack.tftp_server.as_deref(),
                ))
            }
            Some(_) => unseen_or_wait(),
        };
    }
    // No ACK yet: the offers (or their absence) decide once the client has
    // given up (four DISCOVERs), or after the timeout.
    let gave_up = s.discovers >= 4
        || timeouts.is_some_and(|t| {
            s.first_discover_ns
                .is_some_and(|f| now.saturating_sub(f) >= t.no_offer_ns)
        });
    if gave_up {
        let address_offers = s.offers.iter().filter(|o| o.yiaddr != [0; 4]).count();
        if address_offers == 0 && proxy_offered {
            let proxy = s.offers.iter().find(|o| o.is_proxy()).map(|o| o.server);
            return Step::Decided(diagnosis::proxy_only(s.mac, proxy, s.discovers));
        }
        if s.offers.is_empty() {
            return Step::Decided(diagnosis::no_offers(s.mac, s.discovers));
        }
        // UEFI HTTP Boot takes an offer only if it echoes `HTTPClient`
        // and names a URI; it asked for none, so none did.
        if s.http_boot && s.requested.is_none() && address_offers > 0 {
            let echoed = |o: &&Offer| o.yiaddr != [0; 4] && o.vendor_http;
            return Step::Decided(match s.offers.iter().find(echoed) {
                Some(o) => diagnosis::http_boot_no_uri(s.mac, o.server),
                None => {
                    let o = s.offers.iter().find(|o| o.yiaddr != [0; 4]);
                    let server = o.map_or([0; 4], |o| o.server);
                    diagnosis::http_boot_no_echo(s.mac, server, address_offers)
                }
            });
        }
        // Offers came, and the client asked for none of them: none was
        // good enough (UEFI firmware wants a boot file or a proxy).
        if s.requested.is_none()
            && !proxy_offered
            && s.offers
                .iter()
                .all(|o| o.boot_file.is_none() && !o.boot_file_unseen)
        {
            let server = s.offers[0].server;
            return Step::Decided(diagnosis::no_boot_file(s.mac, server, s.offers.len()));
        }
    }
    // The client asked for another server's offer, and neither that offer
    // nor the answer passed here (unicast to the client on another port of
    // the segment): this interface cannot tell how it went.
    if let (Some(t), Some((server, at))) = (timeouts, s.requested)
        && !s.offers.iter().any(|o| o.server == server)
        && now.saturating_sub(at) >= t.no_answer_ns
    {
        return Step::Decided(diagnosis::unseen_dhcp_server(s.mac, server));
    }
    Step::Wait
}
