//! What each outcome means for the person at the console and for the one
//! running the servers: the firmware's code, the cause in one sentence, the
//! fix, what EDK2's console prints, and the warnings about servers. Depends
//! on [`crate::verdict`] only.

use std::net::{IpAddr, Ipv4Addr};

use crate::verdict::{FailureCode, Outcome, Verdict, Warning, WarningKind};

mod http;
mod ipv6;

pub use http::{
    Fetched, Fetcher, http_boot_no_echo, http_boot_no_uri, http_console, http_cut, http_no_answer,
    http_refused, http_status,
};
pub use ipv6::{http_boot_no_echo6, http_boot_no_uri6, no_advertise, no_boot_url6};

fn verdict(
    mac: [u8; 6],
    outcome: Outcome,
    code: Option<FailureCode>,
    server: Option<IpAddr>,
) -> Verdict {
    Verdict::new(mac, outcome, code, server)
}

fn failed(
    mac: [u8; 6],
    code: FailureCode,
    server: Option<IpAddr>,
    cause: String,
    fix: String,
) -> Verdict {
    Verdict {
        cause: Some(cause),
        fix: Some(fix),
        ..verdict(mac, Outcome::Failed, Some(code), server)
    }
}

pub fn booted(mac: [u8; 6], file: &str, server: impl Into<IpAddr>) -> Verdict {
    Verdict {
        boot_file: Some(file.to_owned()),
        ..verdict(mac, Outcome::Booted, None, Some(server.into()))
    }
}

pub fn unfinished(mac: [u8; 6], file: Option<String>, server: Option<IpAddr>) -> Verdict {
    Verdict {
        boot_file: file,
        cause: Some("the traffic seen ends before the boot was decided".into()),
        ..verdict(mac, Outcome::Unfinished, None, server)
    }
}

/// Closed before it was decided because more clients were open at once
/// than the session table holds.
pub fn evicted(
    mac: [u8; 6],
    file: Option<String>,
    server: Option<IpAddr>,
    max_sessions: usize,
) -> Verdict {
    Verdict {
        boot_file: file,
        cause: Some(format!(
            "more than {max_sessions} clients were followed at once, and this one, the oldest, was closed before its boot was decided"
        )),
        fix: Some("raise --max-sessions if this many clients really boot at once; a DHCP flood (random MACs) also fills the table".into()),
        ..verdict(mac, Outcome::Unfinished, None, server)
    }
}

/// A client of a DHCP flood: one DISCOVER, nothing else.
pub fn flood(mac: [u8; 6], bound: u32) -> Verdict {
    Verdict {
        cause: Some(format!(
            "one DISCOVER and nothing else, from a client MAC that appeared while more than {bound} new client MACs a second were seen (a DHCP flood, e.g. a starvation tool with forged MACs)"
        )),
        fix: Some("find the flood's source (the switch port the DISCOVERs enter by) and shut it, or enable DHCP snooping / port security there".into()),
        ..verdict(mac, Outcome::Flood, None, None)
    }
}

/// A client seen only reading files over TFTP: not a boot.
pub fn tftp_only(mac: [u8; 6], server: Option<IpAddr>) -> Verdict {
    Verdict {
        cause: Some(
            "no PXE or HTTP-boot DHCP exchange of this client was seen here (an IP phone, a switch, a firmware upgrade, or a boot whose DHCP passes elsewhere): its TFTP transfers are listed, not judged as a boot"
                .into(),
        ),
        ..verdict(mac, Outcome::TftpOnly, None, server)
    }
}

/// Boot information given, and no TFTP request (for a URL: no connection
/// to its web server) seen from here afterwards.
pub fn unseen_transfer(mac: [u8; 6], file: Option<String>, server: Option<IpAddr>) -> Verdict {
    let url = file.as_deref().filter(|f| {
        let f = f.as_bytes();
        let starts = |p: &[u8]| f.len() >= p.len() && f[..p.len()].eq_ignore_ascii_case(p);
        starts(b"http://") || starts(b"https://")
    });
    let (what, traffic) = match url {
        Some(u) => (format!("no connection to the web server of {u:?}"), "HTTP"),
        None => {
            let to = server.map_or_else(|| "its TFTP server".to_owned(), |s| s.to_string());
            (format!("no TFTP request to {to}"), "TFTP")
        }
    };
    Verdict {
        cause: Some(format!(
            "the client got its boot information, and {what} passed here: it is reached by another path (segment, interface), or the client stopped"
        )),
        fix: Some(format!(
            "watch the interface that carries the {traffic} traffic too (pxe-monitor run --interface ...)"
        )),
        boot_file: file,
        ..verdict(mac, Outcome::Unknown, None, server)
    }
}

/// TFTP ERROR from the server for the boot file: PXE-E3B (1, not found),
/// PXE-E3C (2, access violation), PXE-E36 (any other code).
pub fn tftp_error(
    mac: [u8; 6],
    file: &str,
    server: impl Into<IpAddr>,
    code: u16,
    msg: &str,
) -> Verdict {
    let server: IpAddr = server.into();
    let s = server;
    let said = if msg.is_empty() {
        String::new()
    } else {
        format!(" (\"{msg}\")")
    };
    let (code_name, cause, fix) = match code {
        1 => (
            FailureCode::E3B,
            format!("TFTP server {s} has no file {file:?}{said}"),
            format!(
                "put {file:?} in the TFTP root of {s}, or correct the boot file name (DHCP option 67 / the file field, or the proxy's boot menu)"
            ),
        ),
        2 => (
            FailureCode::E3C,
            format!("TFTP server {s} refused to send {file:?}: access violation{said}"),
            format!(
                "make {file:?} readable by the TFTP server on {s} (file permissions, --secure root, SELinux)"
            ),
        ),
        _ => (
            FailureCode::E36,
            format!("TFTP server {s} answered the request for {file:?} with error {code}{said}"),
            format!("look at the TFTP server's log on {s} for error {code}"),
        ),
    };
    Verdict {
        boot_file: Some(file.to_owned()),
        ..failed(mac, code_name, Some(server), cause, fix)
    }
}

/// How far a stalled transfer got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stalled {
    pub blocks: u32,
    pub bytes: u64,
    pub highest_block: u16,
}

/// PXE-E35: the transfer started and its blocks stopped coming.
pub fn tftp_stalled(
    mac: [u8; 6],
    file: &str,
    server: impl Into<IpAddr>,
    progress: Stalled,
) -> Verdict {
    let server: IpAddr = server.into();
    let s = server;
    let cause = format!(
        "the transfer of {file:?} from {s} stopped after {} block(s), {} bytes (last block number {}), before a short last block",
        progress.blocks, progress.bytes, progress.highest_block
    );
    let fix = format!(
        "look for packet loss or an MTU problem between the client and {s} (a smaller blksize helps on paths that fragment), and at the TFTP server's load"
    );
    Verdict {
        boot_file: Some(file.to_owned()),
        ..failed(mac, FailureCode::E35, Some(server), cause, fix)
    }
}

/// PXE-E32: the read request for the boot file got no answer.
pub fn tftp_no_server(
    mac: [u8; 6],
    file: &str,
    server: impl Into<IpAddr>,
    requests: u32,
    refused: bool,
) -> Verdict {
    let server: IpAddr = server.into();
    let s = server;
    let how = if refused {
        format!("{s} answered with ICMP port unreachable: nothing listens on {s}:69")
    } else {
        format!("no answer from {s}:69")
    };
    let cause = format!("the client asked {s} for {file:?} ({requests} request(s)); {how}");
    let fix = format!(
        "start a TFTP server on {s} (and open UDP 69 and the transfer ports in its firewall), or point next-server / option 66 at the host that serves {file:?}"
    );
    Verdict {
        boot_file: Some(file.to_owned()),
        ..failed(mac, FailureCode::E32, Some(server), cause, fix)
    }
}

/// PXE-E55: the client asked a boot server on port 4011 and nothing
/// answered. With `kb259670`, the server that assigned the address itself
/// announced proxyDHCP with option 60 (over IPv6, the vendor class option
/// 16): Microsoft KB 259670.
pub fn proxy_silent(
    mac: [u8; 6],
    target: IpAddr,
    requests: u32,
    refused: bool,
    kb259670: bool,
    assigned_by: Option<IpAddr>,
) -> Verdict {
    let t = target;
    let at = std::net::SocketAddr::new(t, 4011);
    let how = if refused {
        "ICMP port unreachable: nothing listens there"
    } else {
        "no answer"
    };
    if kb259670 {
        let (announces, remove) = if t.is_ipv6() {
            (
                "the vendor class option 16 PXEClient",
                "the PXEClient vendor class (option 16) from its DHCPv6 answers",
            )
        } else {
            ("option 60 PXEClient", "options 60, 66 and 67")
        };
        let cause = format!(
            "DHCP server {t} sends {announces}, so clients look for a proxyDHCP on {at} where nothing answers ({requests} request(s), {how}) (Microsoft KB 259670)"
        );
        let fix = format!(
            "remove {remove} from the DHCP server {t}, and add the PXE server to the router's IP helper (DHCP relay) list so it receives the clients' broadcasts and answers as a proxyDHCP itself"
        );
        return failed(mac, FailureCode::E55, Some(target), cause, fix);
    }
    let from = assigned_by.map_or(String::new(), |a| format!(" (address from {a})"));
    let cause = format!(
        "the client asked the boot server {at} for its boot file{from}; {how} ({requests} request(s))"
    );
    let fix = format!(
        "start the proxyDHCP / boot-server service on {t} (WDS, dnsmasq pxe-service), or stop announcing it (option 60 PXEClient, option 43; over IPv6 the vendor class option 16) where none runs"
    );
    failed(mac, FailureCode::E55, Some(target), cause, fix)
}

pub fn nak(mac: [u8; 6], server: impl Into<IpAddr>) -> Verdict {
    let server: IpAddr = server.into();
    let s = server;
    failed(
        mac,
        FailureCode::Nak,
        Some(server),
        format!("DHCP server {s} refused the address the client requested (DHCPNAK)"),
        format!(
            "check the scope and reservations on {s}; a second DHCP server on the segment also causes this"
        ),
    )
}

/// PXE-E53: an address, and no boot file from anyone.
pub fn no_boot_file(mac: [u8; 6], server: impl Into<IpAddr>, offers: usize) -> Verdict {
    let server: IpAddr = server.into();
    let s = server;
    failed(
        mac,
        FailureCode::E53,
        Some(server),
        format!(
            "DHCP server {s} gave an address but no boot file, and no proxyDHCP answered ({offers} offer(s) seen)"
        ),
        format!(
            "set the boot file on {s} (option 67 / filename and next-server), or run a proxyDHCP (WDS, dnsmasq with pxe-service) on this segment or in the router's IP helper list"
        ),
    )
}

/// The client took the offer of a server whose offer and answer this
/// interface does not see.
pub fn unseen_dhcp_server(mac: [u8; 6], server: impl Into<IpAddr>) -> Verdict {
    let server: IpAddr = server.into();
    let s = server;
    Verdict {
        cause: Some(format!(
            "the client asked DHCP server {s} for the address it offered; {s}'s offer and answer did not pass this interface (sent to the client directly), so how the boot went cannot be seen from here"
        )),
        fix: Some(format!(
            "if {s} is not meant to serve PXE clients, stop it answering on this segment; to see its answers, watch the client segment or {s}'s interface too"
        )),
        ..verdict(mac, Outcome::Unknown, None, Some(server))
    }
}

/// PXE-E7B: a boot file, but no TFTP server address this client uses.
pub fn no_tftp_server(
    mac: [u8; 6],
    server: impl Into<IpAddr>,
    file: &str,
    option66: Option<&str>,
) -> Verdict {
    let server: IpAddr = server.into();
    let s = server;
    let cause = match option66 {
        Some(o) => format!(
            "DHCP server {s} names the boot file {file:?} and the TFTP server only in option 66 ({o}), with next-server 0.0.0.0; this client uses next-server (siaddr)"
        ),
        None => format!(
            "DHCP server {s} names the boot file {file:?} but no TFTP server (next-server 0.0.0.0, no option 66)"
        ),
    };
    let fix = format!("set next-server (siaddr) on {s} to the TFTP server's address");
    Verdict {
        boot_file: Some(file.to_owned()),
        ..failed(mac, FailureCode::E7B, Some(server), cause, fix)
    }
}

/// PXE-E52: only a proxyDHCP offered.
pub fn proxy_only(mac: [u8; 6], proxy: Option<[u8; 4]>, discovers: u32) -> Verdict {
    let p = proxy.map_or_else(
        || "a proxyDHCP".to_owned(),
        |p| format!("proxyDHCP {}", Ipv4Addr::from(p)),
    );
    failed(
        mac,
        FailureCode::E52,
        proxy.map(IpAddr::from),
        format!("{p} answered but no DHCP server offered an address ({discovers} DISCOVERs)"),
        "check that the DHCP server has a free address in this subnet's scope and receives the broadcasts (router IP helper / DHCP relay)".into(),
    )
}
/// PXE-E51: nothing answered.
pub fn no_offers(mac: [u8; 6], discovers: u32) -> Verdict {
    failed(
        mac,
        FailureCode::E51,
        None,
        format!("no DHCP or proxyDHCP offer after {discovers} DISCOVERs"),
        "check that a DHCP server serves this segment: the server running, the VLAN reaching it, and the router's IP helper (DHCP relay) pointing at it".into(),
    )
}

/// EDK2 gave up waiting. Measured over IPv6: OVMF sometimes misses the
/// TFTP server's ERROR (it comes a fraction of a millisecond after the
/// read request), resends the request six times, 5 s apart, each refused
/// again, and shows this instead of `PXE-E23`.
pub const EDK2_TIMEOUT: &str = "PXE-E18: Server response timeout.";

/// EDK2's HTTP Boot found no DHCP or DHCPv6 answer it could boot from.
const EDK2_HTTP_NO_NBP: &str = "Error: Could not retrieve NBP file size from HTTP server.";

/// EDK2's PXE over IPv6 found no Advertise or Reply it could boot from.
const EDK2_NO_VALID_OFFER: &str = "PXE-E16: No valid offer received.";

/// What UEFI firmware built on EDK2 (most of it; OVMF 2022.11 measured in
/// the lab, `cargo xtask e2e`) prints for a failure, so a user can match
/// the screen in front of them to the verdict. `None` for other firmware:
/// classic BIOS ROMs print the code itself, iPXE its own words.
/// `ipv6`: the failure is PXE over IPv6's (UefiPxeBcDxe's DHCPv6 and
/// MTFTPv6 paths print otherwise).
pub fn console_message(arch: Option<u16>, code: FailureCode, ipv6: bool) -> Option<&'static str> {
    if !arch.is_some_and(is_efi) {
        return None;
    }
    // HttpBootDxe over IPv6 (measured with OVMF): a DHCPv6 exchange that
    // gave it nothing to boot from, whether no server answered or none
    // echoed HTTPClient.
    if ipv6 && arch.is_some_and(is_http_boot) {
        return match code {
            FailureCode::E51 | FailureCode::HttpBootNoEcho => Some(EDK2_HTTP_NO_NBP),
            _ => None,
        };
    }
    if ipv6 {
        return match code {
            FailureCode::E51 => Some(EDK2_NO_VALID_OFFER),
            // Unless it missed the error: `EDK2_TIMEOUT`.
            FailureCode::E3B | FailureCode::E3C | FailureCode::E36 => {
                Some("PXE-E23: Client received TFTP error from server.")
            }
            // ICMPv6 port unreachable from the TFTP server, as over IPv4.
            FailureCode::E32 => Some("PXE-E99: Unexpected network error."),
            _ => None,
        };
    }
    // HttpBootDxe: an offer it cannot boot from is discarded, and its DHCP
    // times out (measured with OVMF: no echo, no URI).
    if arch.is_some_and(is_http_boot) {
        return match code {
            FailureCode::HttpBootNoEcho | FailureCode::HttpBootNoUri => Some(EDK2_HTTP_NO_NBP),
            _ => None,
        };
    }
    match code {
        // Nothing answers on 4011, or no offer names a boot file: EDK2
        // finds no offer it can boot from.
        FailureCode::E55 | FailureCode::E53 => Some("PXE-E16: No valid offer received."),
        FailureCode::E51 => Some(EDK2_TIMEOUT),
        FailureCode::E3B | FailureCode::E3C | FailureCode::E36 => {
            Some("PXE-E23: Client received TFTP error from server.")
        }
        // ICMP port unreachable from the TFTP server.
        FailureCode::E32 => Some("PXE-E99: Unexpected network error."),
        FailureCode::E52 | FailureCode::E7B | FailureCode::E35 | FailureCode::Nak => None,
        // The HTTP stage sets its own, from who fetched (`http_console`).
        FailureCode::Http404
        | FailureCode::Http403
        | FailureCode::Http4xx
        | FailureCode::Http5xx
        | FailureCode::HttpRefused
        | FailureCode::HttpNoAnswer
        | FailureCode::HttpCut
        | FailureCode::HttpBootNoEcho
        | FailureCode::HttpBootNoUri => None,
    }
}

pub fn is_efi(arch: u16) -> bool {
    // RFC 4578 and IANA: 6 EFI IA32, 7/9 EFI x64 (erratum), 10 ARM32,
    // 11 ARM64; HTTP Boot 15 IA32, 16 x64, 17 EBC, 18 ARM32, 19 ARM64.
    matches!(arch, 6 | 7 | 9 | 10 | 11 | 15..=19)
}

/// An architecture of UEFI HTTP Boot (IANA 15 to 19): its console prints
/// HttpBootDxe's texts, not the PXE base code's.
fn is_http_boot(arch: u16) -> bool {
    matches!(arch, 15..=19)
}

/// Conditions on the servers that did not decide this boot but matter.
/// A server condition `pxe_server_warnings` shows (one of
/// [`SERVER_WARNING_KINDS`](crate::verdict::WarningKind)), for a page:
/// what it means and how to fix it.
pub fn server_condition(kind: WarningKind) -> (&'static str, &'static str) {
    match kind {
        WarningKind::Option60OnDhcpServer => (
            "sends option 60 PXEClient with its addresses and does not answer on port 4011: \
             firmware that honours it (UEFI) looks for a proxyDHCP there and fails with \
             PXE-E55 (Microsoft KB 259670)",
            "remove options 60, 66 and 67 from this DHCP server, and let the PXE server answer \
             as a proxyDHCP itself (on another subnet: add it to the router's IP helper list)",
        ),
        WarningKind::MultipleDhcpServers => (
            "is one of several DHCP servers offering PXE clients an address: which offer a client \
             takes depends on its firmware (iPXE takes the last, EDK2 one with a boot file)",
            "serve the boot network from one DHCP server, or give every one the same boot \
             information",
        ),
        WarningKind::ArchitectureMismatch => (
            "named a boot file for the other firmware family (BIOS or UEFI)",
            "hand out the boot file by client architecture (option 93)",
        ),
    }
}

/// `offers`: (server, yiaddr, option 60 PXEClient without an answer on 4011).
pub fn warnings(
    offers: impl Iterator<Item = ([u8; 4], [u8; 4], bool)>,
    arch: Option<u16>,
    boot_file: Option<&str>,
    booted: bool,
) -> Vec<Warning> {
    let mut w = Vec::new();
    let mut push = |kind, text| w.push(Warning { kind, text });
    let mut servers: Vec<[u8; 4]> = Vec::new();
    let mut vendor: Vec<[u8; 4]> = Vec::new();
    for (server, yiaddr, vendor_pxe) in offers {
        if yiaddr != [0; 4] {
            if !servers.contains(&server) {
                servers.push(server);
            }
            if vendor_pxe && !vendor.contains(&server) {
                vendor.push(server);
            }
        }
    }
    if servers.len() > 1 {
        let list: Vec<String> = servers
            .iter()
            .map(|s| Ipv4Addr::from(*s).to_string())
            .collect();
        push(
            WarningKind::MultipleDhcpServers,
            format!(
                "several DHCP servers offered this client an address: {}",
                list.join(", ")
            ),
        );
    }
    if booted {
        for s in vendor {
            push(
                WarningKind::Option60OnDhcpServer,
                format!(
                    "DHCP server {} sends option 60 PXEClient with its addresses: firmware that honours it (UEFI) will look for a proxyDHCP on {}:4011 (Microsoft KB 259670)",
                    Ipv4Addr::from(s),
                    Ipv4Addr::from(s)
                ),
            );
        }
    }
    if let (Some(arch), Some(file)) = (arch, boot_file) {
        let f = file.to_ascii_lowercase();
        let bios_loader =
            f.ends_with(".0") || f.ends_with(".kpxe") || f.ends_with(".pxe") || f.ends_with(".com");
        let efi_loader = f.ends_with(".efi");
        if is_efi(arch) && bios_loader {
            push(
                WarningKind::ArchitectureMismatch,
                format!(
                    "the client is UEFI (architecture {arch}) but the boot file {file:?} is a BIOS loader"
                ),
            );
        } else if arch == 0 && efi_loader {
            push(
                WarningKind::ArchitectureMismatch,
                format!(
                    "the client is BIOS (architecture 0) but the boot file {file:?} is a UEFI loader"
                ),
            );
        }
    }
    w
}
