//! UEFI HTTP Boot's DHCP on hand-built event sequences: the offer must
//! echo option 60 `HTTPClient` and name a URI (EDK2 HttpBootDxe takes no
//! other), the URL needs no TFTP server, and HEAD then GET of it boots.

use monitor_common::{
    Class,
    conn::HttpMoment,
    event::{DhcpEvent, dhcp_flags as f},
};

use super::http::{ev, get, response};
use super::*;

const URL: &str = "http://10.77.10.1/boot.efi";
const PORT: u16 = 49200;

/// EDK2's DISCOVER for x64 HTTP Boot: option 60 `HTTPClient:Arch:00016`,
/// option 93 = 16.
pub(super) fn http_discover() -> Event {
    let mut e = dhcp(
        1,
        Class::DhcpServer,
        f::VENDOR_HTTP_CLIENT | f::VENDOR_CLASS | f::CLIENT_ARCH,
    );
    e.client_arch = 16u16.to_be_bytes();
    Event::Dhcp(e)
}

/// An OFFER or ACK with an address, no next-server; `echo`: option 60
/// `HTTPClient`.
fn http_reply(ty: u8, file: Option<&str>, echo: bool) -> Event {
    let Event::Dhcp(mut e) = reply(ty, file) else {
        unreachable!()
    };
    e.siaddr = [0; 4];
    if echo {
        e.flags |= f::VENDOR_HTTP_CLIENT | f::VENDOR_CLASS;
    }
    Event::Dhcp(e)
}

fn request() -> Event {
    let mut e: DhcpEvent = dhcp(3, Class::DhcpServer, f::VENDOR_HTTP_CLIENT | f::SERVER_ID);
    e.server_id = SERVER;
    Event::Dhcp(e)
}

/// Four DISCOVERs, each answered by `offer`: the firmware took none.
fn ignored(offer: impl Fn() -> Event) -> Vec<(u64, Event)> {
    (0..4u64)
        .flat_map(|i| [(i * 8 * S, http_discover()), (i * 8 * S + S / 100, offer())])
        .collect()
}

#[test]
fn an_offer_the_firmware_cannot_take_fails_with_what_it_lacks() {
    // An address and a URL, but no HTTPClient echo: ignored.
    let v = run(&ignored(|| http_reply(2, Some(URL), false)), None);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(
        (v[0].outcome, v[0].code),
        (Outcome::Failed, Some(FailureCode::HttpBootNoEcho))
    );
    let cause = v[0].cause.as_deref().unwrap();
    assert!(
        cause.contains("HTTPClient") && cause.contains("10.77.10.1"),
        "{cause}"
    );
    assert!(
        v[0].fix.as_deref().unwrap().contains("60"),
        "{:?}",
        v[0].fix
    );
    // What OVMF printed when it discarded them (`cargo xtask e2e`).
    assert_eq!(
        v[0].console,
        Some("Error: Could not retrieve NBP file size from HTTP server.")
    );
    // The echo, but no URI.
    let v = run(&ignored(|| http_reply(2, None, true)), None);
    assert_eq!(v[0].code, Some(FailureCode::HttpBootNoUri), "{:#?}", v[0]);
    // The same offers to a PXE client are PXE-E53 as before.
    let pxe: Vec<_> = (0..4u64)
        .flat_map(|i| [(i * 8 * S, discover()), (i * 8 * S + 1, reply(2, None))])
        .collect();
    assert_eq!(run(&pxe, None)[0].code, Some(FailureCode::E53));
}

/// UEFI HTTP Boot over IPv4 from `at`: DHCP with the echo and a URL, then
/// HEAD and GET of it on one connection (the first four events are DHCP).
pub(super) fn booted_over_http(at: u64) -> Vec<(u64, Event)> {
    let head = response("200 OK", 3000);
    let body = response("200 OK", 3000);
    let (h, g) = (uefi_request("HEAD"), uefi_request("GET"));
    let events = vec![
        (0, http_discover()),
        (S / 100, http_reply(2, Some(URL), true)),
        (S, request()),
        (S + 1, http_reply(5, Some(URL), true)),
        (2 * S, ev(PORT, HttpMoment::Syn, false, 0, 0, &[])),
        (2 * S + 1, ev(PORT, HttpMoment::SynAck, true, 0, 0, &[])),
        (2 * S + 2, ev(PORT, HttpMoment::Request, false, 0, 0, &h)),
        (
            2 * S + 3,
            ev(
                PORT,
                HttpMoment::Response,
                true,
                0,
                head.len() as u64,
                &head,
            ),
        ),
        (
            2 * S + 4,
            ev(PORT, HttpMoment::Request, false, h.len() as u64, 0, &g),
        ),
        (
            2 * S + 5,
            ev(
                PORT,
                HttpMoment::Response,
                true,
                head.len() as u64,
                (head.len() + body.len()) as u64 + 3000,
                &body,
            ),
        ),
    ];
    events.into_iter().map(|(t, e)| (at + t, e)).collect()
}

/// EDK2 HttpBootDxe's request for the URL's path.
fn uefi_request(method: &str) -> Vec<u8> {
    String::from_utf8(get("/boot.efi", method))
        .unwrap()
        .replace("iPXE/1.0.0+", "UefiHttpBoot/1.0")
        .into_bytes()
}

#[test]
fn a_url_boot_file_needs_no_tftp_server_and_head_then_get_boots() {
    let events = booted_over_http(0);
    let dhcp = events[..4].to_vec();
    // Nothing fetched (the web server is elsewhere): no PXE-E7B for the
    // missing next-server, only what can be said.
    let v = run(&dhcp, None);
    assert_ne!(v[0].outcome, Outcome::Failed, "{:#?}", v[0]);
    assert_eq!(v[0].boot_file.as_deref(), Some(URL));
    // Live, quiet after the ACK: unknown, and the web server (not a TFTP
    // server) is what did not pass here.
    let v = run(&dhcp, Some(30 * S));
    assert_eq!(v[0].outcome, Outcome::Unknown, "{:#?}", v[0]);
    let cause = v[0].cause.as_deref().unwrap();
    assert!(cause.contains("no connection to the web server"), "{cause}");
    // HEAD, then GET of the URL on the same connection: booted.
    let (h, g) = (uefi_request("HEAD"), uefi_request("GET"));
    let v = run(&events, None);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(
        (v[0].outcome, v[0].boot_file.as_deref()),
        (Outcome::Booted, Some(URL)),
        "{:#?}",
        v[0]
    );
    let fetches: Vec<_> = v[0]
        .transfers
        .iter()
        .filter_map(|t| t.http.as_ref())
        .collect();
    assert_eq!(
        fetches.iter().map(|h| h.method).collect::<Vec<_>>(),
        ["HEAD", "GET"]
    );
    assert_eq!(fetches[1].bytes, 3000);
    // A 404 to the HEAD and to the GET: EDK2's console text.
    let nf = response("404 Not Found", 0);
    let mut missing = events[..6].to_vec();
    missing.extend([
        (
            2 * S + 3,
            ev(PORT, HttpMoment::Response, true, 0, nf.len() as u64, &nf),
        ),
        (
            2 * S + 4,
            ev(PORT, HttpMoment::Request, false, h.len() as u64, 0, &g),
        ),
        (
            2 * S + 5,
            ev(
                PORT,
                HttpMoment::Response,
                true,
                nf.len() as u64,
                2 * nf.len() as u64,
                &nf,
            ),
        ),
    ]);
    let v = run(&missing, None);
    assert_eq!(v[0].code, Some(FailureCode::Http404), "{:#?}", v[0]);
    assert_eq!(
        v[0].console,
        Some("Client Error: 404 Not Found"),
        "{:#?}",
        v[0]
    );
}
