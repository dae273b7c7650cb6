//! TFTP (RFC 1350, options RFC 2347-2349, 7440): the 2-byte opcode and the
//! 2-byte block number or error code that follows it.

use crate::{Frame, ParseError};

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
