//! UEFI HTTP Boot over IPv6 on hand-built event sequences: the DHCPv6
//! exchange of an HTTPClient (the echo EDK2 needs, a URL in option 59),
//! then HTTP over IPv6 from the address the Reply gave, and what EDK2
//! refuses.

use std::net::Ipv6Addr;

use monitor_common::wire::dhcp::VendorClass;

use super::http_boot::booted_over_http;
use super::ipv6::{CLIENT6, SERVER6, option, pxe6, v6};
use super::*;
use crate::verdict::BootProtocol;

/// UEFI HTTP Boot over IPv6's DHCPv6 exchange answered with `url`:
/// the client's messages with vendor class HTTPClient, the server's echoing
/// it when `echo` as dnsmasq does (option 16 with an enterprise number of
/// its own, 161913, measured in the lab: EDK2 reads only the class data).
fn http6_dhcp(url: Option<&str>, echo: bool) -> Vec<(u64, Event)> {
    let mut events = pxe6(0, url)[..4].to_vec();
    for (_, e) in &mut events {
        if let Event::Dhcp6(d) = e {
            if d.inner_type == 1 || d.inner_type == 3 {
                d.vendor = VendorClass::HttpClient as u8;
                // Architecture 16: x64 UEFI HTTP Boot.
                let n = usize::from(d.payload_len);
                if let Some(at) = d.payload[..n]
                    .windows(6)
                    .position(|w| w == [0, 61, 0, 2, 0, 7])
                {
                    d.payload[at + 5] = 16;
                }
            } else if echo {
                let mut vc = 161913u32.to_be_bytes().to_vec();
                vc.extend(10u16.to_be_bytes());
                vc.extend(b"HTTPClient");
                let o = option(16, &vc);
                let n = usize::from(d.payload_len);
                d.payload[n..n + o.len()].copy_from_slice(&o);
                d.payload_len += o.len() as u16;
                d.msg_len = d.payload_len;
            }
        }
    }
    events
}

/// The HTTP events of [`booted_over_http`] (HEAD then GET of a 3000-byte
/// file), over IPv6 between [`CLIENT6`] and [`SERVER6`], `status` answering
/// the GET.
fn fetch6(status: &str) -> Vec<(u64, Event)> {
    let mut events = booted_over_http(0)[4..].to_vec();
    for (_, e) in &mut events {
        if let Event::Http(h) = e {
            h.client_ip = v6(CLIENT6);
            h.server_ip = v6(SERVER6);
            let n = h.payload_len as usize;
            let head =
                String::from_utf8_lossy(&h.payload[..n]).replace("10.77.10.1", "[fd77:10::1]");
            h.payload[..head.len()].copy_from_slice(head.as_bytes());
            h.payload_len = head.len() as u32;
            if status != "200 OK" && h.from_server != 0 && h.offset > 0 {
                let r = super::http::response(status, 0);
                h.payload[..r.len()].copy_from_slice(&r);
                h.payload_len = r.len() as u32;
            }
        }
    }
    events
}

#[test]
fn http_boot_over_ipv6_is_followed_to_its_file() {
    let url = "http://[fd77:10::1]/boot.efi";
    let mut events = http6_dhcp(Some(url), true);
    events.extend(fetch6("200 OK"));
    let v = &run(&events, None)[0];
    assert_eq!(v.protocol, Some(BootProtocol::HttpIpv6));
    assert_eq!(v.outcome, Outcome::Booted, "{v:#?}");
    assert_eq!(v.boot_file.as_deref(), Some(url));
    assert_eq!(v.server, Some(v6(SERVER6).into()));
    // A missing file: named with the server as a URL names it.
    let mut events = http6_dhcp(Some(url), true);
    events.extend(fetch6("404 Not Found"));
    let v = &run(&events, None)[0];
    assert_eq!(v.code, Some(FailureCode::Http404), "{v:#?}");
    let cause = v.cause.as_deref().unwrap();
    assert!(cause.contains("[fd77:10::1]:80"), "{cause}");
    assert_eq!(v.console, Some("Client Error: 404 Not Found"));
}

#[test]
fn http_boot_over_ipv6_takes_only_an_answer_that_echoes_httpclient_with_a_url() {
    const NO_NBP: &str = "Error: Could not retrieve NBP file size from HTTP server.";
    let cases = [
        (
            Some("http://[fd77:10::1]/boot.efi"),
            false,
            FailureCode::HttpBootNoEcho,
            "without echoing vendor class HTTPClient",
            Some(NO_NBP),
        ),
        // (Not measured over IPv6: no console text claimed.)
        (
            None,
            true,
            FailureCode::HttpBootNoUri,
            "no boot file URL (option 59)",
            None,
        ),
    ];
    for (url, echo, code, says, console) in cases {
        // Solicit and Advertise only: the firmware requested nothing and
        // sent no Solicit again. Live, it gave up once quiet for the
        // no-answer timeout, and the verdict waits the settle time for its
        // next boot option.
        let mut t = Tracker::new(16, Timeouts::default()).with_early_verdicts();
        for (at, e) in &http6_dhcp(url, echo)[..2] {
            t.on_event(e, *at);
        }
        t.on_tick(9 * S);
        assert!(t.take_decided().is_empty(), "decided before the timeout");
        t.on_tick(24 * S);
        assert!(
            t.take_decided().is_empty(),
            "decided before the settle time"
        );
        t.on_tick(26 * S);
        let v = &t.take_decided()[0];
        assert_eq!(v.protocol, Some(BootProtocol::HttpIpv6));
        assert_eq!((v.code, v.console), (Some(code), console), "{v:#?}");
        assert!(v.cause.as_deref().unwrap().contains(says), "{v:#?}");
        assert_eq!(v.server, Some(Ipv6Addr::from(v6("fe80::1")).into()));
    }
    // No DHCPv6 server: what HttpBootDxe prints, not PXE's PXE-E16.
    let mut t = Tracker::new(16, Timeouts::default()).with_early_verdicts();
    for at in [0, 5, 14, 31] {
        t.on_event(&http6_dhcp(None, false)[0].1, at * S);
    }
    t.on_tick(76 * S);
    let v = &t.take_decided()[0];
    assert_eq!(
        (v.code, v.console),
        (Some(FailureCode::E51), Some(NO_NBP)),
        "{v:#?}"
    );
}
