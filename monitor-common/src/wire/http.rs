//! HTTP/1.x message heads (RFC 9110, RFC 9112): how a TCP payload starts,
//! judged in the kernel from its first 8 bytes ([`message_start`]), and the
//! request and response heads the host reads out of a payload
//! ([`parse_request`]: request line, `Host`, `User-Agent`, `Range`;
//! [`parse_response`]: status line, `Content-Length`, `Transfer-Encoding`,
//! `Connection`, `Content-Range`).
//!
//! Parsing reads nothing past `bytes.len()`, allocates nothing and cannot
//! panic. A head cut anywhere parses as far as it goes: a header line that
//! runs past the end is ignored and absent fields are `None`. Lines end
//! with CRLF or a bare LF; header names are compared case-insensitively and
//! values are trimmed of optional whitespace (SP, HT); obsolete line
//! folding is not supported (a line starting with SP or HT is skipped).
//! Values are returned raw: callers escape them before printing.

/// Request methods (RFC 9110) the module recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Method {
    Get = 1,
    Head = 2,
    Post = 3,
    Put = 4,
    Delete = 5,
    Options = 6,
    Patch = 7,
}

impl Method {
    /// The method token as sent: "GET", "HEAD", ...
    pub const fn label(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Patch => "PATCH",
        }
    }

    /// The method whose `repr(u8)` value is `v`.
    pub const fn from_u8(v: u8) -> Option<Method> {
        match v {
            1 => Some(Method::Get),
            2 => Some(Method::Head),
            3 => Some(Method::Post),
            4 => Some(Method::Put),
            5 => Some(Method::Delete),
            6 => Some(Method::Options),
            7 => Some(Method::Patch),
            _ => None,
        }
    }
}

/// How a TCP segment's payload starts, judged from its first 8 bytes
/// (zero-padded when the payload is shorter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    Request(Method),
    Response,
}

/// `s` left-aligned in a little-endian word, and the mask of its bytes.
/// Evaluated at compile time only (a longer `s` fails the build).
const fn pattern(s: &[u8]) -> (u64, u64) {
    let mut bytes = [0u8; 8];
    let mut mask = [0u8; 8];
    let mut i = 0;
    while i < s.len() {
        bytes[i] = s[i];
        mask[i] = 0xff;
        i += 1;
    }
    (u64::from_le_bytes(bytes), u64::from_le_bytes(mask))
}

const GET: (u64, u64) = pattern(b"GET ");
const HEAD: (u64, u64) = pattern(b"HEAD ");
const POST: (u64, u64) = pattern(b"POST ");
const PUT: (u64, u64) = pattern(b"PUT ");
const DELETE: (u64, u64) = pattern(b"DELETE ");
const OPTIONS: (u64, u64) = pattern(b"OPTIONS ");
const PATCH: (u64, u64) = pattern(b"PATCH ");
const HTTP1: (u64, u64) = pattern(b"HTTP/1.");

#[inline(always)]
const fn starts(word: u64, p: (u64, u64)) -> bool {
    word & p.1 == p.0
}

/// Kernel-callable (eBPF): one 8-byte load and masked comparisons with
/// constants; no loops, no slices, no panics. A method followed by a space
/// ("GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ") is a
/// request, "HTTP/1." a response, anything else `None`.
#[inline(always)]
pub fn message_start(first: &[u8; 8]) -> Option<Start> {
    let w = u64::from_le_bytes(*first);
    let method = if starts(w, GET) {
        Method::Get
    } else if starts(w, HTTP1) {
        return Some(Start::Response);
    } else if starts(w, HEAD) {
        Method::Head
    } else if starts(w, POST) {
        Method::Post
    } else if starts(w, PUT) {
        Method::Put
    } else if starts(w, OPTIONS) {
        Method::Options
    } else if starts(w, DELETE) {
        Method::Delete
    } else if starts(w, PATCH) {
        Method::Patch
    } else {
        return None;
    };
    Some(Start::Request(method))
}

/// A `Range: bytes=first-last` request header (RFC 9110 14.2): `bytes=0-499`
/// gives both, an open range `bytes=500-` has `last` None, a suffix range
/// `bytes=-500` (the last 500 bytes) has `first` None and `last` Some(500).
/// Only the first range of a list is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    pub first: Option<u64>,
    pub last: Option<u64>,
}

/// A request head as far as `bytes` holds it (`bytes` may be a prefix cut
/// anywhere: a header line that runs past the end is ignored, absent
/// fields are None).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: Method,
    /// The request target as sent (origin-form `/path?q` or absolute-form
    /// `http://host/path`); when the request line is cut inside the
    /// target, the part `bytes` holds.
    pub target: &'a [u8],
    /// `HTTP/1.x` minor version, None if the request line is cut before it
    /// (or carries no `HTTP/1.<digit>` version).
    pub minor_version: Option<u8>,
    /// The first `Host` field's value.
    pub host: Option<&'a [u8]>,
    /// The first `User-Agent` field's value.
    pub user_agent: Option<&'a [u8]>,
    /// The first `Range` field, None when absent or not a valid byte range.
    pub range: Option<ByteRange>,
    /// Offset just past the blank line ending the head, when `bytes` holds it.
    pub head_len: Option<usize>,
}

/// A `Content-Range: bytes 0-499/1234` response header (RFC 9110 14.4);
/// `complete_length` is None for `/*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContentRange {
    pub first: u64,
    pub last: u64,
    pub complete_length: Option<u64>,
}

/// A response head as far as `bytes` holds it (see [`Request`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response<'a> {
    pub minor_version: u8,
    /// Three digits, 100..=599.
    pub status: u16,
    /// The reason phrase as sent; may be empty.
    pub reason: &'a [u8],
    /// None when absent, not all digits, overflowing u64, or sent twice
    /// with different values (RFC 9112 6.3: such a message is invalid).
    pub content_length: Option<u64>,
    /// `Transfer-Encoding` whose last coding is `chunked` (case-insensitive).
    pub chunked: bool,
    /// `Connection: close` (a token in the list, case-insensitive).
    pub close: bool,
    /// The first `Content-Range` field, None when absent or invalid
    /// (`bytes */1234` of a 416 included).
    pub content_range: Option<ContentRange>,
    /// Offset just past the blank line ending the head, when `bytes` holds it.
    pub head_len: Option<usize>,
}

impl Response<'_> {
    /// The status class 1..=5 (status / 100).
    pub fn class(&self) -> u8 {
        (self.status / 100) as u8
    }
}

const fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `v` without leading and trailing SP and HT.
fn trim(mut v: &[u8]) -> &[u8] {
    while let [b, rest @ ..] = v {
        if !is_ows(*b) {
            break;
        }
        v = rest;
    }
    while let [rest @ .., b] = v {
        if !is_ows(*b) {
            break;
        }
        v = rest;
    }
    v
}

/// The parts of `v` before and after its first `sep`.
fn split_once(v: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = v.iter().position(|b| *b == sep)?;
    Some((v.get(..i)?, v.get(i + 1..)?))
}

/// A non-empty run of ASCII digits that fits in a u64.
fn digits(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// The complete line starting at `pos`, without its LF or CRLF, and the
/// offset just past its LF; None when the line runs past the end.
fn line(bytes: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = bytes.get(pos..)?;
    let lf = rest.iter().position(|b| *b == b'\n')?;
    let l = rest.get(..lf)?;
    Some((l.strip_suffix(b"\r").unwrap_or(l), pos + lf + 1))
}

/// The start line: complete, with the offset of the first header line, or,
/// when `bytes` ends inside it, all of `bytes`.
fn start_line(bytes: &[u8]) -> (&[u8], Option<usize>) {
    match line(bytes, 0) {
        Some((l, next)) => (l, Some(next)),
        None => (bytes.strip_suffix(b"\r").unwrap_or(bytes), None),
    }
}

/// Calls `field` with the name and trimmed value of each complete header
/// line from `pos` on, up to the blank line ending the head, and returns the
/// offset just past that blank line (None if `bytes` ends before it). Folded
/// continuation lines and lines without a colon are skipped.
fn fields<'a>(
    bytes: &'a [u8],
    mut pos: usize,
    mut field: impl FnMut(&'a [u8], &'a [u8]),
) -> Option<usize> {
    while let Some((l, next)) = line(bytes, pos) {
        pos = next;
        match l {
            [] => return Some(next),
            [b' ' | b'\t', ..] => {}
            _ => {
                if let Some((name, value)) = split_once(l, b':') {
                    field(name, trim(value));
                }
            }
        }
    }
    None
}

/// The comma-separated elements of a list value, trimmed, empty ones
/// skipped (RFC 9110 5.6.1).
fn list(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|b| *b == b',').map(trim).filter(|e| !e.is_empty())
}

/// `HTTP/1.<digit>` exactly: the minor version.
fn http1_minor(v: &[u8]) -> Option<u8> {
    match *v {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', d] if d.is_ascii_digit() => Some(d - b'0'),
        _ => None,
    }
}

/// The first range of a `Range` value with the `bytes` unit.
fn byte_range(v: &[u8]) -> Option<ByteRange> {
    let (unit, set) = split_once(v, b'=')?;
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return None;
    }
    let (first, last) = split_once(list(set).next()?, b'-')?;
    let first = if first.is_empty() {
        None
    } else {
        Some(digits(first)?)
    };
    let last = if last.is_empty() {
        None
    } else {
        Some(digits(last)?)
    };
    match (first, last) {
        (None, None) => None,
        (Some(f), Some(l)) if l < f => None,
        _ => Some(ByteRange { first, last }),
    }
}

/// A `Content-Range` value `bytes first-last/complete` (or `/*`).
fn content_range(v: &[u8]) -> Option<ContentRange> {
    let (unit, rest) = split_once(v, b' ')?;
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return None;
    }
    let (range, complete) = split_once(trim(rest), b'/')?;
    let (first, last) = split_once(range, b'-')?;
    let (first, last) = (digits(first)?, digits(last)?);
    let complete_length = if complete == b"*" {
        None
    } else {
        Some(digits(complete)?)
    };
    if last < first || complete_length.is_some_and(|c| last >= c) {
        return None;
    }
    Some(ContentRange {
        first,
        last,
        complete_length,
    })
}

/// The request head at the start of `bytes`; None when the bytes do not
/// start with a known method and a space, or the target is empty.
pub fn parse_request(bytes: &[u8]) -> Option<Request<'_>> {
    let (start, next) = start_line(bytes);
    let mut first = [0u8; 8];
    for (d, s) in first.iter_mut().zip(start) {
        *d = *s;
    }
    let Start::Request(method) = message_start(&first)? else {
        return None;
    };
    let rest = start.get(method.label().len() + 1..)?;
    let (target, version) = match split_once(rest, b' ') {
        Some((t, v)) => (t, Some(v)),
        None => (rest, None),
    };
    if target.is_empty() {
        return None;
    }
    let mut r = Request {
        method,
        target,
        minor_version: version.and_then(http1_minor),
        host: None,
        user_agent: None,
        range: None,
        head_len: None,
    };
    let mut range_seen = false;
    r.head_len = next.and_then(|pos| {
        fields(bytes, pos, |name, value| {
            if name.eq_ignore_ascii_case(b"host") {
                r.host = r.host.or(Some(value));
            } else if name.eq_ignore_ascii_case(b"user-agent") {
                r.user_agent = r.user_agent.or(Some(value));
            } else if name.eq_ignore_ascii_case(b"range") && !range_seen {
                range_seen = true;
                r.range = byte_range(value);
            }
        })
    });
    Some(r)
}

/// The response head at the start of `bytes`; None unless it starts
/// `HTTP/1.<digit> <3 digits>` with a status in 100..=599, followed by a
/// space, the end of the line or the end of `bytes` (the reason may be
/// absent: "HTTP/1.1 404\r\n").
pub fn parse_response(bytes: &[u8]) -> Option<Response<'_>> {
    let (start, next) = start_line(bytes);
    let [
        b'H',
        b'T',
        b'T',
        b'P',
        b'/',
        b'1',
        b'.',
        minor,
        b' ',
        s0,
        s1,
        s2,
        ref rest @ ..,
    ] = *start
    else {
        return None;
    };
    if !(minor.is_ascii_digit()
        && s0.is_ascii_digit()
        && s1.is_ascii_digit()
        && s2.is_ascii_digit())
    {
        return None;
    }
    let status = u16::from(s0 - b'0') * 100 + u16::from(s1 - b'0') * 10 + u16::from(s2 - b'0');
    if !(100..=599).contains(&status) {
        return None;
    }
    let reason = match rest {
        [] => rest,
        [b' ', reason @ ..] => reason,
        _ => return None,
    };
    let mut r = Response {
        minor_version: minor - b'0',
        status,
        reason,
        content_length: None,
        chunked: false,
        close: false,
        content_range: None,
        head_len: None,
    };
    // None: no Content-Length yet; Some(None): one that cannot be trusted.
    let mut length: Option<Option<u64>> = None;
    let mut content_range_seen = false;
    r.head_len = next.and_then(|pos| {
        fields(bytes, pos, |name, value| {
            if name.eq_ignore_ascii_case(b"content-length") {
                length = match (length, digits(value)) {
                    (None, v) => Some(v),
                    (Some(Some(a)), Some(b)) if a == b => Some(Some(a)),
                    _ => Some(None),
                };
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                // Field lines combine into one list: the last coding of
                // the last non-empty line is the one applied last.
                if let Some(last) = list(value).last() {
                    r.chunked = last.eq_ignore_ascii_case(b"chunked");
                }
            } else if name.eq_ignore_ascii_case(b"connection") {
                r.close |= list(value).any(|t| t.eq_ignore_ascii_case(b"close"));
            } else if name.eq_ignore_ascii_case(b"content-range") && !content_range_seen {
                content_range_seen = true;
                r.content_range = content_range(value);
            }
        })
    });
    r.content_length = length.flatten();
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPXE: &[u8] = b"GET /stage2.ipxe HTTP/1.1\r\n\
        Connection: keep-alive\r\n\
        User-Agent: iPXE/1.0.0+\r\n\
        Host: 10.77.10.1\r\n\r\n";
    const EDK2: &[u8] = b"HEAD /boot.efi HTTP/1.1\r\n\
        Host: 10.77.10.1\r\n\
        Accept: */*\r\n\
        User-Agent: UefiHttpBoot/1.0\r\n\r\n";
    const PYTHON_200: &[u8] = b"HTTP/1.0 200 OK\r\n\
        Server: SimpleHTTP/0.6 Python/3.11.2\r\n\
        Date: Tue, 01 Dec 2026 10:00:00 GMT\r\n\
        Content-type: application/octet-stream\r\n\
        Content-Length: 64\r\n\
        Last-Modified: Tue, 01 Dec 2026 09:00:00 GMT\r\n\r\n";
    const PYTHON_404: &[u8] = b"HTTP/1.0 404 File not found\r\n\
        Server: SimpleHTTP/0.6 Python/3.11.2\r\n\
        Date: Tue, 01 Dec 2026 10:00:00 GMT\r\n\
        Connection: close\r\n\
        Content-Type: text/html;charset=utf-8\r\n\
        Content-Length: 469\r\n\r\n";
    const NGINX_206: &[u8] = b"HTTP/1.1 206 Partial Content\r\n\
        Server: nginx/1.22.1\r\n\
        Date: Tue, 01 Dec 2026 10:00:00 GMT\r\n\
        Content-Type: application/octet-stream\r\n\
        Content-Length: 500\r\n\
        Last-Modified: Tue, 01 Dec 2026 09:00:00 GMT\r\n\
        Connection: keep-alive\r\n\
        ETag: \"6925a2c0-4d2\"\r\n\
        Content-Range: bytes 0-499/1234\r\n\r\n";

    /// The first 8 bytes of `s`, zero-padded.
    fn first8(s: &[u8]) -> [u8; 8] {
        let mut a = [0u8; 8];
        for (d, s) in a.iter_mut().zip(s) {
            *d = *s;
        }
        a
    }

    /// Offset just past the first occurrence of `needle` in `hay`.
    fn end_of(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len())
            .position(|w| w == needle)
            .expect("needle in hay")
            + needle.len()
    }

    fn response(head: &[u8]) -> Response<'_> {
        parse_response(head).expect("response parses")
    }

    fn request(head: &[u8]) -> Request<'_> {
        parse_request(head).expect("request parses")
    }

    const ALL: [Method; 7] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Options,
        Method::Patch,
    ];

    #[test]
    fn method_labels_and_codes() {
        let labels = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];
        for (m, label) in ALL.into_iter().zip(labels) {
            assert_eq!(m.label(), label);
            assert_eq!(Method::from_u8(m as u8), Some(m));
        }
        assert_eq!(Method::from_u8(0), None);
        assert_eq!(Method::from_u8(8), None);
        assert_eq!(Method::from_u8(255), None);
    }

    #[test]
    fn message_start_every_method() {
        let heads: [&[u8]; 7] = [
            b"GET / HTTP/1.1",
            b"HEAD / HTTP/1.1",
            b"POST /x HTTP/1.1",
            b"PUT /x HTTP/1.1",
            b"DELETE /x HTTP/1.1",
            b"OPTIONS * HTTP/1.1",
            b"PATCH /x HTTP/1.1",
        ];
        for (m, head) in ALL.into_iter().zip(heads) {
            assert_eq!(
                message_start(&first8(head)),
                Some(Start::Request(m)),
                "{m:?}"
            );
            // The method and its space alone, zero-padded.
            let mut short = [0u8; 8];
            short[..m.label().len()].copy_from_slice(m.label().as_bytes());
            if m.label().len() < 8 {
                assert_eq!(message_start(&short), None, "{m:?} without its space");
                short[m.label().len()] = b' ';
                assert_eq!(
                    message_start(&short),
                    Some(Start::Request(m)),
                    "{m:?} padded"
                );
            }
            // And the whole request parses with that method.
            assert_eq!(request(head).method, m);
        }
        // "OPTIONS " fills the 8 bytes exactly; "OPTIONS" alone is not one.
        assert_eq!(
            message_start(b"OPTIONS "),
            Some(Start::Request(Method::Options))
        );
        assert_eq!(message_start(b"OPTIONSX"), None);
    }

    #[test]
    fn message_start_responses_and_others() {
        assert_eq!(message_start(b"HTTP/1.1"), Some(Start::Response));
        assert_eq!(message_start(&first8(b"HTTP/1.1 ")), Some(Start::Response));
        assert_eq!(
            message_start(&first8(b"HTTP/1.0 200 OK")),
            Some(Start::Response)
        );
        assert_eq!(message_start(&first8(b"HTTP/1.")), Some(Start::Response));
        assert_eq!(message_start(&first8(b"HTTP/2 200")), None);
        assert_eq!(message_start(&first8(b"HTTP/2.0 ")), None);
        assert_eq!(message_start(&first8(b"HTTP/1")), None);
        assert_eq!(message_start(&first8(b"http/1.1")), None);
        assert_eq!(message_start(&first8(b"get / HTTP/1.1")), None);
        assert_eq!(message_start(&first8(b"GETS /")), None);
        assert_eq!(message_start(&first8(b"CONNECT host:443")), None);
        assert_eq!(
            message_start(&first8(b"\x16\x03\x01\x02\x00\x01\x00\x01")),
            None
        );
        assert_eq!(message_start(&[0; 8]), None);
        assert_eq!(message_start(&first8(b"GET")), None);
        assert_eq!(message_start(&first8(b"G")), None);
        assert_eq!(
            message_start(&first8(b"GET ")),
            Some(Start::Request(Method::Get))
        );
        assert_eq!(
            message_start(&first8(b"PUT ")),
            Some(Start::Request(Method::Put))
        );
    }

    #[test]
    fn ipxe_request() {
        let r = request(IPXE);
        assert_eq!(
            r,
            Request {
                method: Method::Get,
                target: b"/stage2.ipxe",
                minor_version: Some(1),
                host: Some(b"10.77.10.1"),
                user_agent: Some(b"iPXE/1.0.0+"),
                range: None,
                head_len: Some(IPXE.len()),
            }
        );
    }

    #[test]
    fn edk2_head_request() {
        let r = request(EDK2);
        assert_eq!(r.method, Method::Head);
        assert_eq!(r.target, b"/boot.efi");
        assert_eq!(r.minor_version, Some(1));
        assert_eq!(r.host, Some(&b"10.77.10.1"[..]));
        assert_eq!(r.user_agent, Some(&b"UefiHttpBoot/1.0"[..]));
        assert_eq!(r.range, None);
        assert_eq!(r.head_len, Some(EDK2.len()));
    }

    #[test]
    fn python_responses() {
        assert_eq!(
            response(PYTHON_200),
            Response {
                minor_version: 0,
                status: 200,
                reason: b"OK",
                content_length: Some(64),
                chunked: false,
                close: false,
                content_range: None,
                head_len: Some(PYTHON_200.len()),
            }
        );
        let r = response(PYTHON_404);
        assert_eq!(
            (r.minor_version, r.status, r.reason),
            (0, 404, &b"File not found"[..])
        );
        assert_eq!(r.class(), 4);
        assert_eq!(r.content_length, Some(469));
        assert!(r.close);
        assert!(!r.chunked);
        assert_eq!(r.head_len, Some(PYTHON_404.len()));
    }

    #[test]
    fn nginx_partial_content() {
        let r = response(NGINX_206);
        assert_eq!(
            (r.status, r.reason, r.class()),
            (206, &b"Partial Content"[..], 2)
        );
        assert_eq!(r.content_length, Some(500));
        assert!(!r.close, "keep-alive");
        assert_eq!(
            r.content_range,
            Some(ContentRange {
                first: 0,
                last: 499,
                complete_length: Some(1234)
            })
        );
        let cr = |v: &str| {
            let mut head = [0u8; 128];
            let text = [
                b"HTTP/1.1 206 Partial Content\r\nContent-Range: ",
                v.as_bytes(),
                b"\r\n\r\n",
            ];
            let mut n = 0;
            for part in text {
                head[n..n + part.len()].copy_from_slice(part);
                n += part.len();
            }
            let r = response(&head[..n]);
            assert_eq!(r.head_len, Some(n));
            r.content_range
        };
        assert_eq!(
            cr("bytes 500-1233/*"),
            Some(ContentRange {
                first: 500,
                last: 1233,
                complete_length: None
            })
        );
        assert_eq!(
            cr("BYTES 1233-1233/1234"),
            Some(ContentRange {
                first: 1233,
                last: 1233,
                complete_length: Some(1234)
            })
        );
        assert_eq!(cr("bytes */1234"), None, "a 416's unsatisfied range");
        assert_eq!(cr("bytes 5-4/10"), None, "last before first");
        assert_eq!(cr("bytes 0-10/10"), None, "past the complete length");
        assert_eq!(cr("items 0-1/2"), None);
        assert_eq!(cr("bytes 0-499"), None);
        assert_eq!(cr("bytes 0-4x/9"), None);
        assert_eq!(cr("bytes=0-1/2"), None);
    }

    #[test]
    fn chunked_transfer_encoding() {
        let chunked = |head: &[u8]| response(head).chunked;
        assert!(chunked(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
        assert!(chunked(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding:  CHUNKED \r\n\r\n"
        ));
        assert!(chunked(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
        ));
        assert!(chunked(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,chunked,\r\n\r\n"
        ));
        assert!(chunked(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
        assert!(!chunked(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
        ));
        assert!(!chunked(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"
        ));
        assert!(!chunked(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n"
        ));
        assert!(!chunked(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"));
        // A chunked response with its first chunk: the head ends before it.
        let full = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
        let r = response(full);
        assert!(r.chunked);
        assert_eq!(r.content_length, None);
        assert_eq!(r.head_len, Some(end_of(full, b"\r\n\r\n")));
    }

    #[test]
    fn connection_close() {
        let close = |head: &[u8]| response(head).close;
        assert!(close(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"));
        assert!(close(
            b"HTTP/1.1 200 OK\r\nconnection: Keep-Alive, CLOSE\r\n\r\n"
        ));
        assert!(close(
            b"HTTP/1.1 200 OK\r\nConnection: upgrade\r\nConnection: close\r\n\r\n"
        ));
        assert!(
            close(b"HTTP/1.1 200 OK\r\nConnection:close\r\n"),
            "cut after the line"
        );
        assert!(!close(b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n"));
        assert!(!close(b"HTTP/1.1 200 OK\r\nConnection: closed\r\n\r\n"));
        assert!(
            !close(b"HTTP/1.1 200 OK\r\nConnection: close"),
            "line not complete"
        );
        assert!(!close(b"HTTP/1.1 200 OK\r\nX-Connection: close\r\n\r\n"));
    }

    #[test]
    fn every_cut_of_the_ipxe_request() {
        let target_end = end_of(IPXE, b"GET /stage2.ipxe");
        let version_end = end_of(IPXE, b"HTTP/1.1");
        let ua_end = end_of(IPXE, b"User-Agent: iPXE/1.0.0+\r\n");
        let host_end = end_of(IPXE, b"Host: 10.77.10.1\r\n");
        for n in 0..=IPXE.len() {
            let cut = &IPXE[..n];
            let Some(r) = parse_request(cut) else {
                assert!(n < b"GET /".len(), "cut at {n}");
                continue;
            };
            assert!(n >= b"GET /".len(), "cut at {n}");
            assert_eq!(r.method, Method::Get);
            if n >= target_end {
                assert_eq!(r.target, b"/stage2.ipxe", "cut at {n}");
            } else {
                assert_eq!(r.target, &IPXE[4..n], "cut at {n}");
            }
            assert_eq!(
                r.minor_version,
                (n >= version_end).then_some(1),
                "cut at {n}"
            );
            assert_eq!(
                r.user_agent,
                (n >= ua_end).then_some(&b"iPXE/1.0.0+"[..]),
                "cut at {n}"
            );
            assert_eq!(
                r.host,
                (n >= host_end).then_some(&b"10.77.10.1"[..]),
                "cut at {n}"
            );
            assert_eq!(r.range, None);
            assert_eq!(r.head_len, (n == IPXE.len()).then_some(n), "cut at {n}");
        }
    }

    #[test]
    fn every_cut_of_the_python_response() {
        let status_end = end_of(PYTHON_200, b"HTTP/1.0 200");
        let reason_end = end_of(PYTHON_200, b"200 OK");
        let length_end = end_of(PYTHON_200, b"Content-Length: 64\r\n");
        for n in 0..=PYTHON_200.len() {
            let cut = &PYTHON_200[..n];
            let Some(r) = parse_response(cut) else {
                assert!(n < status_end, "cut at {n}");
                continue;
            };
            assert!(n >= status_end, "cut at {n}");
            assert_eq!((r.minor_version, r.status, r.class()), (0, 200, 2));
            if n >= reason_end {
                assert_eq!(r.reason, b"OK", "cut at {n}");
            } else {
                assert!(b"OK".starts_with(r.reason), "cut at {n}");
            }
            assert_eq!(
                r.content_length,
                (n >= length_end).then_some(64),
                "cut at {n}"
            );
            assert!(!r.chunked && !r.close);
            assert_eq!(r.content_range, None);
            assert_eq!(
                r.head_len,
                (n == PYTHON_200.len()).then_some(n),
                "cut at {n}"
            );
        }
        // The 404 and the 206 too, for panics and the head's end.
        for full in [PYTHON_404, NGINX_206, EDK2] {
            for n in 0..full.len() {
                let (req, resp) = (parse_request(&full[..n]), parse_response(&full[..n]));
                assert!(req.is_none() || resp.is_none());
                assert_eq!(req.and_then(|r| r.head_len), None);
                assert_eq!(resp.and_then(|r| r.head_len), None);
            }
        }
    }

    #[test]
    fn lower_case_names_and_bare_lf() {
        let head = b"GET /a HTTP/1.0\n\
            host:10.0.0.1\n\
            USER-AGENT:\t curl/8.5.0 \t\n\
            range: bytes=0-1\n\n\
            body";
        let r = request(head);
        assert_eq!(r.minor_version, Some(0));
        assert_eq!(r.host, Some(&b"10.0.0.1"[..]));
        assert_eq!(r.user_agent, Some(&b"curl/8.5.0"[..]));
        assert_eq!(
            r.range,
            Some(ByteRange {
                first: Some(0),
                last: Some(1)
            })
        );
        assert_eq!(r.head_len, Some(head.len() - b"body".len()));
        // Mixed CRLF and LF.
        let head = b"HTTP/1.1 200 OK\ncontent-length: 7\r\nCONNECTION: Close\n\r\n";
        let r = response(head);
        assert_eq!(
            (r.content_length, r.close, r.head_len),
            (Some(7), true, Some(head.len()))
        );
        // Methods are case-sensitive (RFC 9110 9.1).
        assert_eq!(parse_request(b"get / HTTP/1.1\r\n\r\n"), None);
    }

    #[test]
    fn bad_content_lengths() {
        let length = |v: &str| {
            let mut head = [0u8; 128];
            let text = [
                b"HTTP/1.1 200 OK\r\nContent-Length:",
                v.as_bytes(),
                b"\r\n\r\n",
            ];
            let mut n = 0;
            for part in text {
                head[n..n + part.len()].copy_from_slice(part);
                n += part.len();
            }
            response(&head[..n]).content_length
        };
        assert_eq!(length(" 0"), Some(0));
        assert_eq!(length("  42  "), Some(42));
        assert_eq!(length("007"), Some(7));
        assert_eq!(length("18446744073709551615"), Some(u64::MAX));
        assert_eq!(length("18446744073709551616"), None, "overflow");
        assert_eq!(length("99999999999999999999999"), None, "overflow");
        assert_eq!(length(""), None);
        assert_eq!(length("abc"), None);
        assert_eq!(length("-1"), None);
        assert_eq!(length("+5"), None);
        assert_eq!(length("1 2"), None);
        assert_eq!(length("0x10"), None);
        assert_eq!(length("64, 64"), None);
        assert_eq!(
            length("64\r\nContent-Length: 64"),
            Some(64),
            "same value twice"
        );
        assert_eq!(length("64\r\nContent-Length: 65"), None, "two values");
        assert_eq!(
            length("64\r\nContent-Length: 65\r\nContent-Length: 64"),
            None,
            "stays untrusted"
        );
        assert_eq!(length("x\r\nContent-Length: 64"), None, "stays untrusted");
    }

    #[test]
    fn range_requests() {
        let range = |v: &str| {
            let mut head = [0u8; 128];
            let text = [
                b"GET /boot.efi HTTP/1.1\r\nRange: ",
                v.as_bytes(),
                b"\r\n\r\n",
            ];
            let mut n = 0;
            for part in text {
                head[n..n + part.len()].copy_from_slice(part);
                n += part.len();
            }
            request(&head[..n]).range
        };
        let br = |first, last| Some(ByteRange { first, last });
        assert_eq!(range("bytes=0-499"), br(Some(0), Some(499)));
        assert_eq!(range("bytes=500-"), br(Some(500), None));
        assert_eq!(range("bytes=-500"), br(None, Some(500)));
        assert_eq!(range("bytes=7-7"), br(Some(7), Some(7)));
        assert_eq!(range("Bytes=1-2"), br(Some(1), Some(2)));
        assert_eq!(
            range("bytes=0-1, 5-9"),
            br(Some(0), Some(1)),
            "first of a list"
        );
        assert_eq!(
            range("bytes= , 3-4,"),
            br(Some(3), Some(4)),
            "empty elements"
        );
        assert_eq!(range("bytes=5-1"), None);
        assert_eq!(range("bytes=-"), None);
        assert_eq!(range("bytes="), None);
        assert_eq!(range("bytes=a-b"), None);
        assert_eq!(range("bytes=1"), None);
        assert_eq!(range("items=0-1"), None);
        assert_eq!(range("bytes 0-1"), None);
        assert_eq!(range("bytes=0-99999999999999999999"), None);
        assert_eq!(
            range("bytes=0-1\r\nRange: bytes=2-3"),
            br(Some(0), Some(1)),
            "first field"
        );
        assert_eq!(
            range("bytes=x\r\nRange: bytes=2-3"),
            None,
            "first field only"
        );
        // EDK2 and iPXE send none.
        assert_eq!(request(EDK2).range, None);
    }

    #[test]
    fn status_lines() {
        let r = response(b"HTTP/1.1 404\r\n\r\n");
        assert_eq!((r.status, r.reason, r.head_len), (404, &b""[..], Some(16)));
        let r = response(b"HTTP/1.1 500 \r\n");
        assert_eq!((r.status, r.reason, r.class()), (500, &b""[..], 5));
        assert_eq!(response(b"HTTP/1.1 100 Continue\r\n\r\n").class(), 1);
        assert_eq!(response(b"HTTP/1.1 301 Moved Permanently\r\n").class(), 3);
        assert_eq!(response(b"HTTP/1.1 599").status, 599);
        assert_eq!(response(b"HTTP/1.9 200 OK").minor_version, 9);
        assert_eq!(response(b"HTTP/1.1 200 OK\r").reason, b"OK");
        assert_eq!(parse_response(b"HTTP/1.1 099 Low\r\n"), None);
        assert_eq!(parse_response(b"HTTP/1.1 600 High\r\n"), None);
        assert_eq!(parse_response(b"HTTP/1.1 20\r\n"), None);
        assert_eq!(parse_response(b"HTTP/1.1 2000 OK\r\n"), None);
        assert_eq!(parse_response(b"HTTP/1.1 200OK\r\n"), None);
        assert_eq!(parse_response(b"HTTP/1.1 2x0 OK\r\n"), None);
        assert_eq!(parse_response(b"HTTP/1.1  200 OK\r\n"), None);
        assert_eq!(parse_response(b"HTTP/1.x 200 OK\r\n"), None);
        assert_eq!(parse_response(b"HTTP/2 200\r\n"), None);
        assert_eq!(parse_response(b"HTTP/1.1\r\n"), None);
        assert_eq!(parse_response(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(parse_response(b""), None);
    }

    #[test]
    fn request_lines() {
        let head = b"GET http://10.77.10.1/boot.ipxe?mac=52:54:00:12:34:56 HTTP/1.1\r\n\r\n";
        let r = request(head);
        assert_eq!(
            r.target,
            b"http://10.77.10.1/boot.ipxe?mac=52:54:00:12:34:56"
        );
        assert_eq!(r.head_len, Some(head.len()));
        assert_eq!(request(b"OPTIONS * HTTP/1.1\r\n").target, b"*");
        // HTTP/0.9-style and unknown versions: no minor version.
        let r = request(b"GET /x\r\n\r\n");
        assert_eq!(
            (r.target, r.minor_version, r.head_len),
            (&b"/x"[..], None, Some(10))
        );
        assert_eq!(request(b"GET /x HTTP/1.10\r\n").minor_version, None);
        assert_eq!(request(b"GET /x HTTP/2.0\r\n").minor_version, None);
        assert_eq!(request(b"GET /x HTTP/1.\r\n").minor_version, None);
        assert_eq!(request(b"GET /x HTTP/1.1\r").minor_version, Some(1));
        assert_eq!(parse_request(b"GET  / HTTP/1.1\r\n"), None, "empty target");
        assert_eq!(parse_request(b"GET \r\n"), None);
        assert_eq!(parse_request(b"GET "), None);
        assert_eq!(parse_request(b"GET"), None);
        assert_eq!(parse_request(b""), None);
        assert_eq!(parse_request(b"BREW /pot HTTP/1.1\r\n"), None);
        assert_eq!(parse_request(b"CONNECT a:443 HTTP/1.1\r\n"), None);
        assert_eq!(parse_request(b"HTTP/1.1 200 OK\r\n"), None);
    }

    #[test]
    fn skipped_lines_and_the_end_of_the_head() {
        let head = b"GET / HTTP/1.1\r\n\
            Host: a\r\n  b\r\n\tUser-Agent: folded\r\n\
            no colon here\r\n\
            Host: second\r\n\
            Host : spaced\r\n\
            User-Agent: x\r\n\r\n\
            Host: body\r\n";
        let r = request(head);
        assert_eq!(r.host, Some(&b"a"[..]), "first Host, folding ignored");
        assert_eq!(r.user_agent, Some(&b"x"[..]));
        assert_eq!(r.head_len, Some(end_of(head, b"x\r\n\r\n")));
        // Empty value; a value with inner spaces kept.
        let r = request(b"GET / HTTP/1.1\r\nHost:\r\nUser-Agent: a  b\r\n\r\n");
        assert_eq!((r.host, r.user_agent), (Some(&b""[..]), Some(&b"a  b"[..])));
        // Bytes past the head are not read as fields.
        let r = response(b"HTTP/1.1 200 OK\r\n\r\nContent-Length: 5\r\n\r\n");
        assert_eq!((r.content_length, r.head_len), (None, Some(19)));
        // Raw, unprintable values are returned as sent.
        let r = request(b"GET / HTTP/1.1\r\nUser-Agent: \x1b[31m\xff\r\n\r\n");
        assert_eq!(r.user_agent, Some(&b"\x1b[31m\xff"[..]));
    }
}
