//! TFTP (RFC 1350, options RFC 2347-2349, 7440): the 2-byte opcode and the
//! 2-byte block number or error code that follows it.

use super::ParseError;
use crate::frame::Frame;

pub const RRQ: u16 = 1;
pub const WRQ: u16 = 2;
pub const DATA: u16 = 3;
pub const ACK: u16 = 4;
pub const ERROR: u16 = 5;
pub const OACK: u16 = 6;

/// Opcode, and for DATA/ACK/ERROR the block number or error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub opcode: u16,
    /// Block number (DATA, ACK) or error code (ERROR); 0 when the datagram
    /// is too short to hold one.
    pub arg: u16,
}

impl Header {
    #[inline(always)]
    pub fn new_checked<F: Frame + ?Sized>(frame: &F, offset: usize) -> Result<Self, ParseError> {
        let op = frame.array::<2>(offset).ok_or(ParseError::TruncatedTftp)?;
        let arg = frame
            .array::<2>(offset + 2)
            .map_or(0, |a| u16::from_be_bytes(*a));
        Ok(Header {
            opcode: u16::from_be_bytes(*op),
            arg,
        })
    }
}

/// Counter slot of an opcode: 1..=6, 0 for any other value.
pub const fn opcode_slot(opcode: u16) -> usize {
    if opcode >= 1 && opcode <= 6 {
        opcode as usize
    } else {
        0
    }
}

pub const OPCODE_SLOTS: usize = 7;

pub const fn opcode_label(slot: usize) -> &'static str {
    match slot {
        1 => "rrq",
        2 => "wrq",
        3 => "data",
        4 => "ack",
        5 => "error",
        6 => "oack",
        _ => "unknown",
    }
}

/// Counter slot of an error code: 0..=8 (RFC 1350 and 2347), 9 for others.
pub const fn error_slot(code: u16) -> usize {
    if code <= 8 { code as usize } else { 9 }
}

pub const ERROR_SLOTS: usize = 10;

pub const fn error_label(slot: usize) -> &'static str {
    match slot {
        0 => "0_not_defined",
        1 => "1_file_not_found",
        2 => "2_access_violation",
        3 => "3_disk_full",
        4 => "4_illegal_operation",
        5 => "5_unknown_transfer_id",
        6 => "6_file_exists",
        7 => "7_no_such_user",
        8 => "8_option_refused",
        _ => "other",
    }
}

/// Options of a request or an OACK (RFC 2347-2349, 7440) the monitor
/// understands; others are skipped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub blksize: Option<u32>,
    pub tsize: Option<u64>,
    pub timeout: Option<u32>,
    pub windowsize: Option<u32>,
}

/// A read or write request: file name, mode and options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub opcode: u16,
    pub filename: &'a [u8],
    pub mode: &'a [u8],
    pub options: Options,
}

/// Splits `bytes` at NULs: the next NUL-terminated string and the rest.
fn cstr(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = bytes.iter().position(|b| *b == 0)?;
    Some((&bytes[..end], &bytes[end + 1..]))
}

fn number<T: core::str::FromStr>(v: &[u8]) -> Option<T> {
    core::str::from_utf8(v).ok()?.trim().parse().ok()
}

/// Name/value pairs after the fixed part; an unterminated last pair (a
/// payload cut short) ends the list.
fn options(mut rest: &[u8]) -> Options {
    let mut o = Options::default();
    while let Some((name, after)) = cstr(rest) {
        let Some((value, after)) = cstr(after) else {
            break;
        };
        rest = after;
        if name.eq_ignore_ascii_case(b"blksize") {
            o.blksize = number(value);
        } else if name.eq_ignore_ascii_case(b"tsize") {
            o.tsize = number(value);
        } else if name.eq_ignore_ascii_case(b"timeout") {
            o.timeout = number(value);
        } else if name.eq_ignore_ascii_case(b"windowsize") {
            o.windowsize = number(value);
        }
    }
    o
}

/// A UDP payload that is an RRQ or WRQ; `None` otherwise or when the file
/// name or mode is not NUL-terminated.
pub fn parse_request(payload: &[u8]) -> Option<Request<'_>> {
    let opcode = u16::from_be_bytes([*payload.first()?, *payload.get(1)?]);
    if opcode != RRQ && opcode != WRQ {
        return None;
    }
    let (filename, rest) = cstr(&payload[2..])?;
    let (mode, rest) = cstr(rest)?;
    Some(Request {
        opcode,
        filename,
        mode,
        options: options(rest),
    })
}

/// The options an OACK acknowledges.
pub fn parse_oack(payload: &[u8]) -> Option<Options> {
    (u16::from_be_bytes([*payload.first()?, *payload.get(1)?]) == OACK)
        .then(|| options(&payload[2..]))
}

/// Code and message of an ERROR (the message without its NUL; all that is
/// there if the payload was cut).
pub fn parse_error(payload: &[u8]) -> Option<(u16, &[u8])> {
    if u16::from_be_bytes([*payload.first()?, *payload.get(1)?]) != ERROR {
        return None;
    }
    let code = u16::from_be_bytes([*payload.get(2)?, *payload.get(3)?]);
    let msg = &payload[4..];
    Some((code, cstr(msg).map_or(msg, |(m, _)| m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_with_options() {
        let rrq = b"\0\x01boot.ipxe\0octet\0blksize\x001432\0tsize\x000\0";
        let r = parse_request(rrq).unwrap();
        assert_eq!(
            (r.opcode, r.filename, r.mode),
            (RRQ, &b"boot.ipxe"[..], &b"octet"[..])
        );
        assert_eq!(
            r.options,
            Options {
                blksize: Some(1432),
                tsize: Some(0),
                ..Options::default()
            }
        );
        // EDK2's request, options in capitals.
        let r = parse_request(
            b"\0\x01bootx64.efi\0octet\0TSIZE\x000\0BLKSIZE\x001468\0WINDOWSIZE\x004\0",
        )
        .unwrap();
        assert_eq!(
            r.options,
            Options {
                blksize: Some(1468),
                tsize: Some(0),
                windowsize: Some(4),
                timeout: None
            }
        );
        // tftp-hpa sends no options; a request cut before its mode is none.
        assert_eq!(
            parse_request(b"\0\x01pxelinux.0\0octet\0").unwrap().options,
            Options::default()
        );
        assert_eq!(parse_request(b"\0\x01pxelinux.0\0oct"), None);
        assert_eq!(parse_request(b"\0\x03data"), None);
        assert_eq!(parse_request(b"\0"), None);
    }

    #[test]
    fn oack_and_error() {
        assert_eq!(
            parse_oack(b"\0\x06blksize\x001432\0tsize\x0024\0")
                .unwrap()
                .tsize,
            Some(24)
        );
        assert_eq!(
            parse_oack(b"\0\x06blksize\0abc\0").unwrap().blksize,
            None,
            "not a number"
        );
        let (code, msg) = parse_error(b"\0\x05\0\x01File not found\0").unwrap();
        assert_eq!((code, msg), (1, &b"File not found"[..]));
        assert_eq!(parse_error(b"\0\x05\0\x08cut"), Some((8, &b"cut"[..])));
        assert_eq!(parse_error(b"\0\x05\0"), None);
    }
}
