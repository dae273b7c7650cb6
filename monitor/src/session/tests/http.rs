//! The HTTP stage on hand-built event sequences: keep-alive with several
//! GETs on one connection, a HEAD refused before a GET that works, iPXE's
//! `autoexec.ipxe` probe, a retried request, a chunked response, and each
//! failure.

use monitor_common::{
    conn::{HttpMoment, seen},
    event::HttpEvent,
    wire::tcp::Web,
};

use super::*;

const PORT: u16 = 49152;

/// An event of the client's connection from `port`.
pub(super) fn ev(
    port: u16,
    moment: HttpMoment,
    from_server: bool,
    offset: u64,
    server_bytes: u64,
    payload: &[u8],
) -> Event {
    let mut e = HttpEvent::zeroed();
    e.client_ip = v4_mapped(CLIENT);
    e.server_ip = v4_mapped(SERVER);
    e.client_port = port.to_be_bytes();
    e.server_port = 80u16.to_be_bytes();
    e.moment = moment as u8;
    e.from_server = from_server as u8;
    e.offset = offset;
    e.server_bytes = server_bytes;
    e.web = Web::Http as u8;
    e.client_mac = MAC;
    e.syns = 1;
    e.seen = seen::SYN
        | if moment == HttpMoment::Syn {
            0
        } else {
            seen::SYN_ACK
        };
    e.payload[..payload.len()].copy_from_slice(payload);
    e.payload_len = payload.len() as u32;
    Event::Http(e)
}

pub(super) fn get(path: &str, method: &str) -> Vec<u8> {
    format!("{method} {path} HTTP/1.1\r\nUser-Agent: iPXE/1.0.0+\r\nHost: 10.77.10.1\r\n\r\n")
        .into_bytes()
}

pub(super) fn response(status: &str, len: u64) -> Vec<u8> {
    format!("HTTP/1.1 {status}\r\nContent-Length: {len}\r\n\r\n").into_bytes()
}

/// The healthy TFTP boot, then a connection at 4 s.
fn chain(rest: Vec<(u64, Event)>) -> Vec<(u64, Event)> {
    let mut events = healthy();
    events.push((4 * S, ev(PORT, HttpMoment::Syn, false, 0, 0, &[])));
    events.push((4 * S + 1, ev(PORT, HttpMoment::SynAck, true, 0, 0, &[])));
    events.extend(rest);
    events
}

fn verdict(events: &[(u64, Event)]) -> Verdict {
    let v = run(events, None);
    assert_eq!(v.len(), 1, "{v:#?}");
    v.into_iter().next().unwrap()
}

#[test]
fn keep_alive_fetches_are_each_followed_to_their_last_byte() {
    let (h1, h2) = (response("200 OK", 100), response("200 OK", 5000));
    let second_at = h1.len() as u64 + 100;
    let events = chain(vec![
        (
            4 * S + 2,
            ev(
                PORT,
                HttpMoment::Request,
                false,
                0,
                0,
                &get("/boot.ipxe", "GET"),
            ),
        ),
        (
            4 * S + 3,
            ev(PORT, HttpMoment::Response, true, 0, h1.len() as u64, &h1),
        ),
        // The same request resent: one fetch.
        (
            4 * S + 4,
            ev(
                PORT,
                HttpMoment::Request,
                false,
                0,
                0,
                &get("/boot.ipxe", "GET"),
            ),
        ),
        (
            5 * S,
            ev(
                PORT,
                HttpMoment::Request,
                false,
                80,
                second_at,
                &get("/vmlinuz", "GET"),
            ),
        ),
        (
            5 * S + 1,
            ev(
                PORT,
                HttpMoment::Response,
                true,
                second_at,
                second_at + 1000,
                &h2,
            ),
        ),
    ]);
    // The connection stops at 1,000 of the kernel's 5,000 bytes: a cut,
    // once it was closed.
    let mut cut = events.clone();
    let mut fin = ev(
        PORT,
        HttpMoment::Fin,
        true,
        0,
        second_at + h2.len() as u64 + 1000,
        &[],
    );
    if let Event::Http(e) = &mut fin {
        e.seen |= seen::SERVER_FIN;
    }
    cut.push((6 * S, fin));
    let v = verdict(&cut);
    assert_eq!(v.code.map(FailureCode::label), Some("HTTP-CUT"), "{v:#?}");
    assert!(
        v.cause
            .as_deref()
            .unwrap()
            .contains("after 1000 of its 5000 bytes"),
        "{v:?}"
    );
    assert_eq!(v.boot_file.as_deref(), Some("http://10.77.10.1/vmlinuz"));
    // Both fetches are listed, with the TFTP transfer.
    let http: Vec<_> = v.transfers.iter().filter_map(|t| t.http.as_ref()).collect();
    assert_eq!(http.len(), 2, "{:?}", v.transfers);
    assert_eq!((http[0].bytes, http[0].content_length), (100, Some(100)));
    // All 5,000 bytes arrived: booted, the kernel the last file.
    let mut whole = events;
    let mut fin = ev(
        PORT,
        HttpMoment::Fin,
        true,
        0,
        second_at + h2.len() as u64 + 5000,
        &[],
    );
    if let Event::Http(e) = &mut fin {
        e.seen |= seen::SERVER_FIN;
    }
    whole.push((6 * S, fin));
    let v = verdict(&whole);
    assert_eq!(
        (v.outcome, v.boot_file.as_deref()),
        (Outcome::Booted, Some("http://10.77.10.1/vmlinuz"))
    );
}

#[test]
fn what_is_not_a_failure_and_what_is() {
    let not_found = response("404 Not Found", 0);
    let ok = response("200 OK", 10);
    // iPXE's autoexec.ipxe probe answered 404, then the script: booted.
    let probe = chain(vec![
        (
            4 * S + 2,
            ev(
                PORT,
                HttpMoment::Request,
                false,
                0,
                0,
                &get("/autoexec.ipxe", "GET"),
            ),
        ),
        (
            4 * S + 3,
            ev(PORT, HttpMoment::Response, true, 0, 40, &not_found),
        ),
        (
            4 * S + 4,
            ev(
                PORT,
                HttpMoment::Request,
                false,
                60,
                40,
                &get("/boot.ipxe", "GET"),
            ),
        ),
        (
            4 * S + 5,
            ev(
                PORT,
                HttpMoment::Response,
                true,
                40,
                40 + ok.len() as u64 + 10,
                &ok,
            ),
        ),
    ]);
    assert_eq!(verdict(&probe).outcome, Outcome::Booted);
    // A HEAD refused, then a GET of the same file that works: booted.
    let head = chain(vec![
        (
            4 * S + 2,
            ev(
                PORT,
                HttpMoment::Request,
                false,
                0,
                0,
                &get("/boot.efi", "HEAD"),
            ),
        ),
        (
            4 * S + 3,
            ev(
                PORT,
                HttpMoment::Response,
                true,
                0,
                40,
                &response("405 Method Not Allowed", 0),
            ),
        ),
        (
            4 * S + 4,
            ev(
                PORT,
                HttpMoment::Request,
                false,
                60,
                40,
                &get("/boot.efi", "GET"),
            ),
        ),
        (
            4 * S + 5,
            ev(
                PORT,
                HttpMoment::Response,
                true,
                40,
                40 + ok.len() as u64 + 10,
                &ok,
            ),
        ),
    ]);
    assert_eq!(verdict(&head).outcome, Outcome::Booted);
    // A chunked response closed by the server: whole.
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut fin = ev(PORT, HttpMoment::Fin, true, 0, 500, &[]);
    if let Event::Http(e) = &mut fin {
        e.seen |= seen::SERVER_FIN;
    }
    let c = chain(vec![
        (
            4 * S + 2,
            ev(
                PORT,
                HttpMoment::Request,
                false,
                0,
                0,
                &get("/boot.ipxe", "GET"),
            ),
        ),
        (
            4 * S + 3,
            ev(PORT, HttpMoment::Response, true, 0, 100, chunked),
        ),
        (4 * S + 4, fin),
    ]);
    assert_eq!(verdict(&c).outcome, Outcome::Booted);
    // The last file missing: HTTP-404 with iPXE's BIOS wording.
    let missing = chain(vec![
        (
            4 * S + 2,
            ev(
                PORT,
                HttpMoment::Request,
                false,
                0,
                0,
                &get("/stage2.ipxe", "GET"),
            ),
        ),
        (
            4 * S + 3,
            ev(PORT, HttpMoment::Response, true, 0, 40, &not_found),
        ),
    ]);
    let v = verdict(&missing);
    assert_eq!(v.code.map(FailureCode::label), Some("HTTP-404"));
    assert!(
        v.fix
            .as_deref()
            .unwrap()
            .contains("http://10.77.10.1/stage2.ipxe"),
        "{v:?}"
    );
    // A 404 followed by another URL that works (`chain a || chain b`).
    let mut fallback = missing.clone();
    fallback.push((
        4 * S + 4,
        ev(
            PORT,
            HttpMoment::Request,
            false,
            60,
            40,
            &get("/other.ipxe", "GET"),
        ),
    ));
    fallback.push((
        4 * S + 5,
        ev(
            PORT,
            HttpMoment::Response,
            true,
            40,
            40 + ok.len() as u64 + 10,
            &ok,
        ),
    ));
    assert_eq!(verdict(&fallback).outcome, Outcome::Booted);
    // A SYN answered with RST: refused.
    let mut refused = healthy();
    refused.push((4 * S, ev(PORT, HttpMoment::Syn, false, 0, 0, &[])));
    let mut rst = ev(PORT, HttpMoment::Rst, true, 0, 0, &[]);
    if let Event::Http(e) = &mut rst {
        e.seen = seen::SYN | seen::SERVER_RST;
    }
    refused.push((4 * S + 1, rst));
    let v = verdict(&refused);
    assert_eq!(
        v.code.map(FailureCode::label),
        Some("HTTP-REFUSED"),
        "{v:?}"
    );
    assert!(
        v.cause.as_deref().unwrap().contains("refused (RST)"),
        "{v:?}"
    );
    // Who fetched is not known (no request, no iPXE DHCP): no console text
    // is guessed.
    assert_eq!(v.console, None);
}

#[test]
fn live_a_chain_is_decided_once_quiet() {
    let ok = response("200 OK", 10);
    let events = chain(vec![
        (
            4 * S + 2,
            ev(
                PORT,
                HttpMoment::Request,
                false,
                0,
                0,
                &get("/boot.ipxe", "GET"),
            ),
        ),
        (
            4 * S + 3,
            ev(
                PORT,
                HttpMoment::Response,
                true,
                0,
                ok.len() as u64 + 10,
                &ok,
            ),
        ),
    ]);
    let mut t = Tracker::new(16, Timeouts::default()).with_early_verdicts();
    for (at, e) in &events {
        t.on_event(e, *at);
    }
    t.on_tick(10 * S);
    assert!(
        t.take_decided().is_empty(),
        "decided before the settle time"
    );
    t.on_tick(20 * S);
    let v = t.take_decided();
    assert_eq!(v[0].outcome, Outcome::Booted);
    assert_eq!(
        v[0].boot_file.as_deref(),
        Some("http://10.77.10.1/boot.ipxe")
    );
}

#[test]
fn range_requests_are_fetches_of_their_parts_and_error_statuses_are_named() {
    // A file in two Range requests on one connection (206 Partial
    // Content): each part followed to its Content-Length; booted.
    let range = |from: u64, to: u64| {
        format!(
            "GET /initrd.img HTTP/1.1\r\nUser-Agent: iPXE/1.0.0+\r\nHost: 10.77.10.1\r\nRange: bytes={from}-{to}\r\n\r\n"
        )
        .into_bytes()
    };
    let part = |from: u64, to: u64| {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {from}-{to}/200\r\nContent-Length: {}\r\n\r\n",
            to - from + 1
        )
        .into_bytes()
    };
    let (r1, r2) = (range(0, 99), range(100, 199));
    let (p1, p2) = (part(0, 99), part(100, 199));
    let second = p1.len() as u64 + 100;
    let ranged = chain(vec![
        (4 * S + 2, ev(PORT, HttpMoment::Request, false, 0, 0, &r1)),
        (
            4 * S + 3,
            ev(PORT, HttpMoment::Response, true, 0, second, &p1),
        ),
        (
            4 * S + 4,
            ev(
                PORT,
                HttpMoment::Request,
                false,
                r1.len() as u64,
                second,
                &r2,
            ),
        ),
        (
            4 * S + 5,
            ev(
                PORT,
                HttpMoment::Response,
                true,
                second,
                second + p2.len() as u64 + 100,
                &p2,
            ),
        ),
    ]);
    let v = verdict(&ranged);
    assert_eq!(v.outcome, Outcome::Booted, "{v:#?}");
    let parts: Vec<_> = v.transfers.iter().filter_map(|t| t.http.as_ref()).collect();
    assert_eq!(
        parts
            .iter()
            .map(|h| (h.status, h.bytes, h.content_length))
            .collect::<Vec<_>>(),
        [(Some(206), 100, Some(100)), (Some(206), 100, Some(100))]
    );
    // The status names the failure.
    for (status, code) in [
        ("403 Forbidden", "HTTP-403"),
        ("401 Unauthorized", "HTTP-403"),
        ("410 Gone", "HTTP-4XX"),
        ("500 Internal Server Error", "HTTP-5XX"),
        ("503 Service Unavailable", "HTTP-5XX"),
    ] {
        let head = response(status, 0);
        let events = chain(vec![
            (
                4 * S + 2,
                ev(
                    PORT,
                    HttpMoment::Request,
                    false,
                    0,
                    0,
                    &get("/vmlinuz", "GET"),
                ),
            ),
            (
                4 * S + 3,
                ev(
                    PORT,
                    HttpMoment::Response,
                    true,
                    0,
                    head.len() as u64,
                    &head,
                ),
            ),
        ]);
        let v = verdict(&events);
        assert_eq!(
            v.code.map(FailureCode::label),
            Some(code),
            "{status}: {v:#?}"
        );
        assert!(
            v.cause.as_deref().unwrap().contains(&status[..3]),
            "{status}: {:?}",
            v.cause
        );
    }
}

#[test]
fn a_connection_without_a_request_is_judged_by_what_it_did() {
    // HTTPS: established and answered is all there is to see: booted, the
    // URL the connection's; reset by the server: cut.
    let https = |moment, from_server, server_bytes, seen_bits| {
        let mut e = ev(PORT, moment, from_server, 0, server_bytes, &[]);
        if let Event::Http(h) = &mut e {
            h.web = Web::Https as u8;
            h.server_port = 443u16.to_be_bytes();
            h.seen |= seen_bits;
        }
        e
    };
    let mut events = healthy();
    events.extend([
        (4 * S, https(HttpMoment::Syn, false, 0, 0)),
        (4 * S + 1, https(HttpMoment::SynAck, true, 0, 0)),
        (
            5 * S,
            https(HttpMoment::Fin, true, 90_000, seen::SERVER_FIN),
        ),
    ]);
    let v = verdict(&events);
    assert_eq!(
        (v.outcome, v.boot_file.as_deref()),
        (Outcome::Booted, Some("https://10.77.10.1:443/")),
        "{v:#?}"
    );
    events.pop();
    events.push((
        5 * S,
        https(HttpMoment::Rst, true, 90_000, seen::SERVER_RST),
    ));
    assert_eq!(
        verdict(&events).code.map(FailureCode::label),
        Some("HTTP-CUT")
    );
    // Live, four SYNs and no SYN-ACK: the server does not answer, in
    // iPXE's words (its DHCP said user class iPXE).
    let mut events = healthy();
    if let (_, Event::Dhcp(d)) = &mut events[0] {
        d.flags |= monitor_common::event::dhcp_flags::USER_CLASS_IPXE;
    }
    for i in 0..4u16 {
        let mut syn = ev(PORT, HttpMoment::Syn, false, 0, 0, &[]);
        if let Event::Http(h) = &mut syn {
            h.syns = i + 1;
        }
        events.push((4 * S + u64::from(i) * S, syn));
    }
    let mut t = Tracker::new(16, Timeouts::default()).with_early_verdicts();
    for (at, e) in &events {
        t.on_event(e, *at);
    }
    t.on_tick(30 * S);
    let v = t.take_decided();
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(
        v[0].code.map(FailureCode::label),
        Some("HTTP-TIMEOUT"),
        "{:#?}",
        v[0]
    );
    assert!(
        v[0].cause.as_deref().unwrap().contains("10.77.10.1:80"),
        "{:?}",
        v[0].cause
    );
    assert!(v[0].console.is_some(), "iPXE's text: {:#?}", v[0]);
}
