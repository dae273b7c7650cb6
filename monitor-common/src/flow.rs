//! TFTP transfers followed across the server's ephemeral port: learned from
//! each read or write request, aggregated per transfer (no event per DATA
//! packet). The same logic runs on the kernel's LRU map and on the host's
//! hash map.

use crate::{
    Class, Frame, ParseError,
    wire::{ipv4, tftp, udp},
};

/// A transfer: the client's address and port (from the request) and the
/// server's address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct TftpKey {
    pub client_ip: [u8; 4],
    pub server_ip: [u8; 4],
    pub client_port: [u8; 2],
    pub _reserved: [u8; 2],
}

const _: () = assert!(core::mem::size_of::<TftpKey>() == 12);

/// What is known of a transfer so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct TftpFlow {
    pub first_ns: u64,
    pub last_ns: u64,
    /// Payload bytes of the DATA packets (blocks resent count again).
    pub data_bytes: u64,
    pub data_packets: u32,
    pub acks: u32,
    /// Largest DATA payload seen (the block size in use).
    pub max_data_len: u16,
    pub highest_block: u16,
    /// The server's transfer port (from its first reply), 0 until then.
    pub server_port: [u8; 2],
    /// RRQ or WRQ.
    pub request: u8,
    pub _reserved: u8,
}

const _: () = assert!(core::mem::size_of::<TftpFlow>() == 40);

#[cfg(feature = "user")]
// SAFETY: repr(C), no padding (size asserted), all bit patterns valid.
unsafe impl aya::Pod for TftpKey {}
#[cfg(feature = "user")]
// SAFETY: as above.
unsafe impl aya::Pod for TftpFlow {}

/// The transfer table: the kernel's LRU map or a host hash map.
pub trait TftpFlows {
    /// The transfer under `first`, else under `second`; `true` when it was
    /// `first`. One lookup per key at most (each costs a map lookup in the
    /// kernel).
    fn get_either(&mut self, first: &TftpKey, second: &TftpKey) -> Option<(bool, &mut TftpFlow)>;
    fn insert(&mut self, key: &TftpKey, flow: &TftpFlow);
}

/// Which packets of a transfer deserve an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TftpMoment {
    Request = 1,
    Oack = 2,
    Error = 3,
    FirstData = 4,
    /// A DATA shorter than the largest one before it: the transfer's last
    /// block (userspace also checks the first DATA against the block size
    /// from the OACK, which the kernel does not parse).
    ShortData = 5,
}

/// What one TFTP packet was, for counters and the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TftpSeen {
    pub key: TftpKey,
    pub header: tftp::Header,
    pub from_server: bool,
    pub server_port: u16,
    pub payload_len: u16,
    pub moment: Option<TftpMoment>,
    /// The transfer after this packet.
    pub flow: TftpFlow,
}

/// Follows one UDP datagram of class `TftpRequest` (to port 69) or
/// `OtherUdp` (maybe a transfer's): `Ok(None)` when it is not TFTP.
#[inline(always)]
pub fn observe_tftp<F: Frame + ?Sized, T: TftpFlows>(
    frame: &F,
    ip_at: usize,
    udp_at: usize,
    class: Class,
    now_ns: u64,
    flows: &mut T,
) -> Result<Option<TftpSeen>, ParseError> {
    let ip = ipv4::Header::new_checked(frame, ip_at)?;
    let u = udp::Header::new_checked(frame, udp_at)?;
    let payload_at = udp_at + udp::HEADER_LEN;
    let (src, dst) = (ip.source(), ip.destination());
    let (sport, dport) = (u.source_port(), u.destination_port());
    let payload_len = u.length().saturating_sub(udp::HEADER_LEN) as u16;
    if class == Class::TftpRequest {
        let header = tftp::Header::new_checked(frame, payload_at)?;
        let key = TftpKey {
            client_ip: src,
            server_ip: dst,
            client_port: sport.to_be_bytes(),
            _reserved: [0; 2],
        };
        let mut moment = None;
        let mut flow = TftpFlow::default();
        if header.opcode == tftp::RRQ || header.opcode == tftp::WRQ {
            flow = TftpFlow {
                first_ns: now_ns,
                last_ns: now_ns,
                request: header.opcode as u8,
                ..TftpFlow::default()
            };
            flows.insert(&key, &flow);
            moment = Some(TftpMoment::Request);
        }
        return Ok(Some(TftpSeen {
            key,
            header,
            from_server: false,
            server_port: dport,
            payload_len,
            moment,
            flow,
        }));
    }
    if class != Class::OtherUdp {
        return Ok(None);
    }
    // A server's reply goes to the client's port; the client's ACK comes
    // from it.
    let to_client = TftpKey {
        client_ip: dst,
        server_ip: src,
        client_port: dport.to_be_bytes(),
        _reserved: [0; 2],
    };
    let from_client = TftpKey {
        client_ip: src,
        server_ip: dst,
        client_port: sport.to_be_bytes(),
        _reserved: [0; 2],
    };
    let Some((from_server, flow)) = flows.get_either(&to_client, &from_client) else {
        return Ok(None);
    };
    let key = if from_server { to_client } else { from_client };
    let header = tftp::Header::new_checked(frame, payload_at)?;
    flow.last_ns = now_ns;
    let server_port = if from_server { sport } else { dport };
    if from_server && flow.server_port == [0, 0] {
        flow.server_port = sport.to_be_bytes();
    }
    let mut moment = None;
    match (from_server, header.opcode) {
        (true, tftp::DATA) => {
            let len = payload_len.saturating_sub(4);
            flow.data_packets += 1;
            flow.data_bytes += u64::from(len);
            if header.arg > flow.highest_block {
                flow.highest_block = header.arg;
            }
            if flow.data_packets == 1 {
                moment = Some(TftpMoment::FirstData);
            } else if len < flow.max_data_len {
                moment = Some(TftpMoment::ShortData);
            }
            if len > flow.max_data_len {
                flow.max_data_len = len;
            }
        }
        (true, tftp::OACK) => moment = Some(TftpMoment::Oack),
        (_, tftp::ERROR) => moment = Some(TftpMoment::Error),
        (false, tftp::ACK) => flow.acks += 1,
        _ => {}
    }
    let flow = *flow;
    Ok(Some(TftpSeen {
        key,
        header,
        from_server,
        server_port,
        payload_len,
        moment,
        flow,
    }))
}
