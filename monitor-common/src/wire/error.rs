//! Why parsing a frame stopped, one reason per layer: what every parser in
//! `crate::wire` returns and what `crate::counters` counts. Imports nothing,
//! so the parsers do not depend on the counters.

/// Why a frame could not be fully parsed. The frame is still counted in a
/// class and passed on; this only says where parsing stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ParseError {
    /// Fewer than 14 bytes.
    TruncatedEthernet = 0,
    /// An 802.1Q/802.1ad tag cut short.
    TruncatedVlan = 1,
    /// IPv4 header (including its options) cut short.
    TruncatedIpv4 = 2,
    /// IPv4 version field not 4, header length under 20 bytes, or total
    /// length shorter than the header.
    BadIpv4Header = 3,
    /// UDP header cut short.
    TruncatedUdp = 4,
    /// UDP length field under 8.
    BadUdpLength = 5,
    /// BOOTP fixed header (236 bytes) cut short on a DHCP port.
    TruncatedBootp = 6,
    /// DHCP option 53 empty or running past the end of the frame.
    BadDhcpOption = 7,
    /// ICMP header, or the datagram a destination-unreachable quotes, cut
    /// short.
    TruncatedIcmp = 8,
    /// A TFTP datagram without its 2-byte opcode.
    TruncatedTftp = 9,
    /// A TCP header (with its options) cut short, on a web port.
    TruncatedTcp = 10,
    /// A TCP data offset under 5 words, on a web port.
    BadTcpHeader = 11,
    /// IPv6 header, or one of its extension headers, cut short.
    TruncatedIpv6 = 12,
    /// IPv6 version field not 6.
    BadIpv6Header = 13,
    /// More extension headers than the walk steps over
    /// (`ipv6::MAX_EXTENSIONS`): the upper layer was not read.
    Ipv6ExtensionChain = 14,
    /// A DHCPv6 message (or a relay's header) cut short on a DHCPv6 port.
    TruncatedDhcpv6 = 15,
    /// A DHCPv6 relay message without the relayed message (option 9).
    BadDhcpv6Option = 16,
    /// More relay headers than the walk steps through
    /// (`dhcpv6::MAX_RELAY_DEPTH`).
    Dhcpv6RelayChain = 17,
}

impl ParseError {
    pub const COUNT: usize = 18;
    pub const ALL: [ParseError; Self::COUNT] = [
        ParseError::TruncatedEthernet,
        ParseError::TruncatedVlan,
        ParseError::TruncatedIpv4,
        ParseError::BadIpv4Header,
        ParseError::TruncatedUdp,
        ParseError::BadUdpLength,
        ParseError::TruncatedBootp,
        ParseError::BadDhcpOption,
        ParseError::TruncatedIcmp,
        ParseError::TruncatedTftp,
        ParseError::TruncatedTcp,
        ParseError::BadTcpHeader,
        ParseError::TruncatedIpv6,
        ParseError::BadIpv6Header,
        ParseError::Ipv6ExtensionChain,
        ParseError::TruncatedDhcpv6,
        ParseError::BadDhcpv6Option,
        ParseError::Dhcpv6RelayChain,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            ParseError::TruncatedEthernet => "truncated_ethernet",
            ParseError::TruncatedVlan => "truncated_vlan",
            ParseError::TruncatedIpv4 => "truncated_ipv4",
            ParseError::BadIpv4Header => "bad_ipv4_header",
            ParseError::TruncatedUdp => "truncated_udp",
            ParseError::BadUdpLength => "bad_udp_length",
            ParseError::TruncatedBootp => "truncated_bootp",
            ParseError::BadDhcpOption => "bad_dhcp_option",
            ParseError::TruncatedIcmp => "truncated_icmp",
            ParseError::TruncatedTftp => "truncated_tftp",
            ParseError::TruncatedTcp => "truncated_tcp",
            ParseError::BadTcpHeader => "bad_tcp_header",
            ParseError::TruncatedIpv6 => "truncated_ipv6",
            ParseError::BadIpv6Header => "bad_ipv6_header",
            ParseError::Ipv6ExtensionChain => "ipv6_extension_chain",
            ParseError::TruncatedDhcpv6 => "truncated_dhcpv6",
            ParseError::BadDhcpv6Option => "bad_dhcpv6_option",
            ParseError::Dhcpv6RelayChain => "dhcpv6_relay_chain",
        }
    }
}
