//! One frame in, one class (and, for DHCP, one message type) out.

use crate::{
    Class, DhcpType, Frame, ParseError,
    wire::{
        dhcp,
        ethernet::{self, EtherType},
        ipv4::{self, Protocol},
        udp,
    },
};

/// What the classifier learned from one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classification {
    pub class: Class,
    /// Set for frames of a DHCP class whose BOOTP header could be read.
    pub dhcp_type: Option<DhcpType>,
    /// Where parsing stopped early, if it did.
    pub error: Option<ParseError>,
}

impl Classification {
    #[inline(always)]
    const fn new(class: Class) -> Self {
        Classification {
            class,
            dhcp_type: None,
            error: None,
        }
    }

    #[inline(always)]
    const fn failed(class: Class, error: ParseError) -> Self {
        Classification {
            class,
            dhcp_type: None,
            error: Some(error),
        }
    }
}

/// Classifies one Ethernet frame. Never fails: malformed frames get the
/// class of the last layer that could be read, plus the reason.
#[inline(always)]
pub fn classify<F: Frame + ?Sized>(frame: &F) -> Classification {
    let l3 = match ethernet::l3(frame) {
        Ok(l3) => l3,
        Err(e) => return Classification::failed(Class::NonIpv4, e),
    };
    if l3.ethertype != EtherType::Ipv4 {
        return Classification::new(Class::NonIpv4);
    }
    let ip = match ipv4::Header::new_checked(frame, l3.offset) {
        Ok(ip) => ip,
        Err(e) => return Classification::failed(Class::OtherIpv4, e),
    };
    if ip.protocol() != Protocol::Udp || ip.fragment_offset() != 0 {
        return Classification::new(Class::OtherIpv4);
    }
    let udp_at = l3.offset + ip.header_len();
    let udp = match udp::Header::new_checked(frame, udp_at) {
        Ok(udp) => udp,
        Err(e) => return Classification::failed(Class::OtherIpv4, e),
    };
    let class = port_class(udp.source_port(), udp.destination_port());
    if !class.is_dhcp() {
        return Classification::new(class);
    }
    let bootp_at = udp_at + udp::HEADER_LEN;
    let bootp = match dhcp::Header::new_checked(frame, bootp_at) {
        Ok(h) => h,
        Err(e) => return Classification::failed(class, e),
    };
    if !bootp.has_options() {
        return Classification {
            class,
            dhcp_type: Some(DhcpType::BOOTP),
            error: None,
        };
    }
    match dhcp::message_type(frame, bootp_at + dhcp::field::OPTIONS) {
        Ok(Some(t)) => Classification {
            class,
            dhcp_type: Some(DhcpType::from_option(t)),
            error: None,
        },
        Ok(None) => Classification {
            class,
            dhcp_type: Some(DhcpType::BOOTP),
            error: None,
        },
        Err(e) => Classification::failed(class, e),
    }
}

/// The class of a UDP datagram from its ports. Port 4011 on either side is
/// proxyDHCP (replies go 4011 -> 68 for iPXE, 4011 -> 4011 for EDK2).
#[inline(always)]
pub const fn port_class(src: u16, dst: u16) -> Class {
    if src == udp::PORT_PXE || dst == udp::PORT_PXE {
        Class::ProxyDhcp
    } else if dst == udp::PORT_DHCP_SERVER {
        Class::DhcpServer
    } else if dst == udp::PORT_DHCP_CLIENT {
        Class::DhcpClient
    } else if dst == udp::PORT_TFTP {
        Class::TftpRequest
    } else {
        Class::OtherUdp
    }
}
