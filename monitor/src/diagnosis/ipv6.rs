//! The words for boots over IPv6: a DHCPv6 exchange that gave the
//! client nothing to boot from, for PXE (vendor class `PXEClient`) and for
//! UEFI HTTP Boot (`HTTPClient`).

use std::net::IpAddr;

use super::failed;
use crate::verdict::{FailureCode, Verdict};

/// PXE over IPv6: no DHCPv6 server answered the client's Solicits (EDK2:
/// `PXE-E16`, [`console_message`]).
pub fn no_advertise(mac: [u8; 6], solicits: u32) -> Verdict {
    failed(
        mac,
        FailureCode::E51,
        None,
        format!("no DHCPv6 server answered: no Advertise after {solicits} Solicit(s)"),
        "check that a DHCPv6 server serves this segment with a range for it (dnsmasq dhcp-range=<prefix>::,..., Kea's dhcp6 subnet), and that the router's DHCPv6 relay points at it; a network that boots over IPv4 only can turn PXE over IPv6 off in the firmware setup to save the client the wait".into(),
    )
}

/// PXE over IPv6: the DHCPv6 server answered without a boot file URL the
/// client can fetch (option 59 missing, or not `tftp://`; EDK2 refuses
/// both). Without option 59 OVMF prints `PXE-E21: Remote boot cancelled.`
/// (measured, `cargo xtask e2e`); what it prints for another scheme was
/// not measured, so no console text is claimed.
pub fn no_boot_url6(mac: [u8; 6], server: Option<IpAddr>, url: Option<&str>) -> Verdict {
    let from = server.map_or(String::new(), |s| format!(" {s}"));
    let (cause, fix) = match url {
        None => (
            format!("DHCPv6 server{from} answered without a boot file URL (option 59)"),
            "set option 59 to tftp://[server]/file on the DHCPv6 server (dnsmasq: dhcp-option=option6:bootfile-url,tftp://[addr]/file; Kea: bootfile-url in the dhcp6 option-data), or run a proxy answering PXEClient on 4011".to_owned(),
        ),
        Some(u) => (
            format!(
                "DHCPv6 server{from} named boot file URL {u:?}: PXE over IPv6 fetches only tftp:// URLs"
            ),
            "give PXE clients (vendor class PXEClient) a tftp:// URL in option 59; an http:// URL is for HTTP Boot clients (vendor class HTTPClient), which need it echoed in option 16".to_owned(),
        ),
    };
    Verdict {
        console: url.is_none().then_some("PXE-E21: Remote boot cancelled."),
        ..failed(mac, FailureCode::E53, server, cause, fix)
    }
}

/// UEFI HTTP Boot over IPv6: no Advertise echoed vendor class
/// `HTTPClient` (option 16), so the firmware ignored them all.
pub fn http_boot_no_echo6(mac: [u8; 6], server: Option<IpAddr>, offers: usize) -> Verdict {
    let on = server.map_or_else(|| "the DHCPv6 server".to_owned(), |s| s.to_string());
    failed(
        mac,
        FailureCode::HttpBootNoEcho,
        server,
        format!(
            "the client asked for UEFI HTTP Boot over IPv6 (vendor class HTTPClient); DHCPv6 server {on} answered without echoing vendor class HTTPClient in option 16 ({offers} Advertise(s) seen), and the firmware takes no answer without it"
        ),
        format!(
            "on {on}, answer HTTPClient clients with option 16 (vendor class HTTPClient) beside the boot file's URL in option 59 (Kea: vendor-class option-data with enterprise 343 and data HTTPClient in a client class matching HTTPClient; dnsmasq writes no enterprise 343, but EDK2 reads only the class data: dhcp-vendorclass=set:httpboot6,enterprise:343,HTTPClient, dhcp-option-force=tag:httpboot6,option6:16,xy,HTTPClient, dhcp-option=tag:httpboot6,option6:bootfile-url,http://[SERVER]/FILE)"
        ),
    )
}

/// UEFI HTTP Boot over IPv6: an Advertise echoed `HTTPClient` and named
/// no boot file URL (option 59).
pub fn http_boot_no_uri6(mac: [u8; 6], server: Option<IpAddr>) -> Verdict {
    let on = server.map_or_else(|| "the DHCPv6 server".to_owned(), |s| s.to_string());
    failed(
        mac,
        FailureCode::HttpBootNoUri,
        server,
        format!(
            "DHCPv6 server {on} answered the UEFI HTTP Boot client with vendor class HTTPClient but no boot file URL (option 59)"
        ),
        format!(
            "on {on}, set option 59 to the boot file's full URL for HTTPClient clients, e.g. http://[SERVER]/path/bootx64.efi"
        ),
    )
}
