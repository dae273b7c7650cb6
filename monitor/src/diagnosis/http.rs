//! The words for boots over HTTP: UEFI HTTP Boot's DHCP answers it cannot
//! use, and each failure of a fetch (an error status, a refused or silent
//! connection, a cut download), with what the fetcher's console prints.

use std::net::{IpAddr, SocketAddr};

use super::{failed, is_efi};
use crate::verdict::{FailureCode, Verdict};

/// UEFI HTTP Boot: the client's offers did not echo option 60
/// `HTTPClient`, so the firmware ignored them.
pub fn http_boot_no_echo(mac: [u8; 6], server: impl Into<IpAddr>, offers: usize) -> Verdict {
    let server: IpAddr = server.into();
    let s = server;
    failed(
        mac,
        FailureCode::HttpBootNoEcho,
        Some(server),
        format!(
            "the client asked for UEFI HTTP Boot (option 60 HTTPClient); DHCP server {s} offered an address without echoing option 60 HTTPClient ({offers} offer(s) seen), and the firmware takes no offer without it"
        ),
        format!(
            "on {s}, answer HTTPClient clients with option 60 HTTPClient and the boot file's URL in option 67 (dnsmasq: dhcp-vendorclass=set:httpboot,HTTPClient, dhcp-option-force=tag:httpboot,60,HTTPClient, dhcp-boot=tag:httpboot,http://SERVER/FILE; ISC: option vendor-class-identifier \"HTTPClient\" and filename in a class matching it)"
        ),
    )
}

/// UEFI HTTP Boot: an offer echoed `HTTPClient` and named no URI.
pub fn http_boot_no_uri(mac: [u8; 6], server: impl Into<IpAddr>) -> Verdict {
    let server: IpAddr = server.into();
    let s = server;
    failed(
        mac,
        FailureCode::HttpBootNoUri,
        Some(server),
        format!(
            "DHCP server {s} answered the UEFI HTTP Boot client with option 60 HTTPClient but no boot file URI (option 67 or the file field)"
        ),
        format!(
            "set the boot file on {s} to the full URL of the boot file for HTTPClient clients, e.g. http://SERVER/path/bootx64.efi"
        ),
    )
}

/// Who fetched a file over HTTP, from its User-Agent: whose console text
/// a failure prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fetcher {
    /// iPXE (`User-Agent: iPXE/...`); `efi`: an EFI build (its error
    /// numbers differ from the BIOS build's).
    Ipxe {
        efi: bool,
    },
    /// EDK2's HTTP Boot (`User-Agent: UefiHttpBoot/...`).
    Edk2,
    Other,
}

impl Fetcher {
    pub fn from_user_agent(ua: Option<&str>, arch: Option<u16>) -> Fetcher {
        match ua {
            Some(u) if u.starts_with("iPXE") => Fetcher::Ipxe {
                efi: arch.is_some_and(is_efi),
            },
            Some(u) if u.starts_with("UefiHttpBoot") => Fetcher::Edk2,
            _ => Fetcher::Other,
        }
    }

    pub const ALL: [Fetcher; 3] = [Fetcher::Edk2, Fetcher::Ipxe { efi: false }, Fetcher::Other];

    /// The boot stage that fetched: the `stage` label of
    /// `pxe_http_fetches_total`.
    pub const fn label(self) -> &'static str {
        match self {
            Fetcher::Ipxe { .. } => "ipxe",
            Fetcher::Edk2 => "uefi_http_boot",
            Fetcher::Other => "other",
        }
    }
}

/// What the fetcher's console prints for an HTTP failure, where measured
/// (../shared/docs/boot-past-tftp.md and `cargo xtask e2e`: Debian's iPXE
/// ROM and ipxe.efi; iPXE's errno.h, httpcore.c, tcp.c).
pub fn http_console(fetcher: Fetcher, code: FailureCode) -> Option<&'static str> {
    match (fetcher, code) {
        (Fetcher::Ipxe { efi: false }, FailureCode::Http404) => {
            Some("No such file or directory (http://ipxe.org/2d0c613b)")
        }
        (Fetcher::Ipxe { efi: true }, FailureCode::Http404) => {
            Some("No such file or directory (http://ipxe.org/2d0c618e)")
        }
        (Fetcher::Ipxe { efi: false }, FailureCode::HttpRefused) => {
            Some("Connection reset (http://ipxe.org/0f0a6039)")
        }
        (Fetcher::Ipxe { efi: true }, FailureCode::HttpRefused) => {
            Some("Connection reset (http://ipxe.org/0f0a6095)")
        }
        (Fetcher::Ipxe { efi: false }, FailureCode::HttpCut) => {
            Some("Input/output error (http://ipxe.org/1d0c6239)")
        }
        (Fetcher::Ipxe { efi: true }, FailureCode::HttpCut) => {
            Some("Input/output error (http://ipxe.org/1d0c6298)")
        }
        (Fetcher::Ipxe { .. }, FailureCode::HttpNoAnswer) => {
            Some("Connection timed out (http://ipxe.org/4c0a6035)")
        }
        (Fetcher::Edk2, FailureCode::Http404) => Some("Client Error: 404 Not Found"),
        (Fetcher::Edk2, FailureCode::HttpRefused | FailureCode::HttpNoAnswer) => {
            Some("Error: Could not establish connection with HTTP server.")
        }
        _ => None,
    }
}

/// A file an HTTP fetch asked for, and where.
#[derive(Clone, Copy, Debug)]
pub struct Fetched<'a> {
    pub url: &'a str,
    pub server: IpAddr,
    pub port: u16,
    pub fetcher: Fetcher,
}

fn http_failed(
    f: &Fetched<'_>,
    mac: [u8; 6],
    code: FailureCode,
    cause: String,
    fix: String,
) -> Verdict {
    Verdict {
        boot_file: Some(f.url.to_owned()),
        console: http_console(f.fetcher, code),
        ..failed(mac, code, Some(f.server), cause, fix)
    }
}

/// The web server answered the fetch with an error status.
pub fn http_status(f: &Fetched<'_>, mac: [u8; 6], status: u16, reason: &str) -> Verdict {
    let at = SocketAddr::new(f.server, f.port);
    let (code, fix) = match status {
        404 => (
            FailureCode::Http404,
            format!(
                "put the file where {at} serves {:?} (its document root), or correct the URL in the DHCP option or boot script that names it",
                f.url
            ),
        ),
        401 | 403 => (
            FailureCode::Http403,
            format!(
                "let the web server on {at} serve {:?} to boot clients (file permissions, allow/deny rules, authentication)",
                f.url
            ),
        ),
        400..=499 => (
            FailureCode::Http4xx,
            format!("see why the web server on {at} refuses the request in its log"),
        ),
        _ => (
            FailureCode::Http5xx,
            format!("see the web server's error log on {at} for {:?}", f.url),
        ),
    };
    let cause = format!(
        "the web server on {at} answered {status} {reason} for {:?}",
        f.url
    );
    http_failed(f, mac, code, cause, fix)
}

/// The SYN was answered with RST: nothing listens on the port.
pub fn http_refused(f: &Fetched<'_>, mac: [u8; 6]) -> Verdict {
    let at = SocketAddr::new(f.server, f.port);
    let cause = format!(
        "the client's connection to {at} for {:?} was refused (RST): nothing listens on that port",
        f.url
    );
    let fix = format!(
        "start the web server on {at} (and open TCP {} in its firewall), or point the URL at the host that serves it",
        f.port
    );
    http_failed(f, mac, FailureCode::HttpRefused, cause, fix)
}

/// The SYN got no answer.
pub fn http_no_answer(f: &Fetched<'_>, mac: [u8; 6], syns: u16) -> Verdict {
    let (s, at) = (f.server, SocketAddr::new(f.server, f.port));
    let cause = format!("the client sent {syns} SYN(s) to {at} and got no answer");
    let fix = format!(
        "check that {s} is up and routed from the client's network, and that no firewall drops TCP {}",
        f.port
    );
    http_failed(f, mac, FailureCode::HttpNoAnswer, cause, fix)
}

/// The connection ended before the body's Content-Length.
pub fn http_cut(
    f: &Fetched<'_>,
    mac: [u8; 6],
    bytes: u64,
    content_length: u64,
    how: &str,
) -> Verdict {
    let (s, at) = (f.server, SocketAddr::new(f.server, f.port));
    let cause = format!(
        "the download of {:?} from {at} {how} after {bytes} of its {content_length} bytes",
        f.url
    );
    let fix = format!(
        "see the web server's log on {s} for the aborted response, and look for packet loss, a proxy or a load balancer timeout between the client and {s}"
    );
    http_failed(f, mac, FailureCode::HttpCut, cause, fix)
}
