//! What the session layer says about one client: the [`Verdict`] and its
//! vocabularies ([`Outcome`], [`FailureCode`], [`WarningKind`],
//! [`TransferStatus`], [`Basis`]). A leaf: it imports nothing of the agent.
//!
//! Every vocabulary is an enum with `label()` (its name in JSON, logs and
//! metric labels) and `ALL` (every value, for metric label sets that start
//! at zero), so each list exists once.

use std::net::{IpAddr, Ipv4Addr};

/// How a boot ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The boot file named by DHCP or the proxy was transferred to its last
    /// block.
    Booted,
    /// A failure, with its firmware code.
    Failed,
    /// The evidence ran out before a decision (e.g. a capture ends
    /// mid-transfer).
    Unfinished,
    /// The part that would decide cannot be seen from here.
    Unknown,
    /// Not a boot: a client seen only reading files over TFTP (an IP phone,
    /// a switch, a firmware upgrade), with no PXE or HTTP-boot DHCP
    /// exchange seen here. Its transfers are reported, not judged.
    TftpOnly,
    /// Not a boot: a client MAC that appeared during a DHCP flood (more new
    /// client MACs a second than any boot storm brings) and sent one
    /// DISCOVER and nothing else, as the forged clients of a starvation
    /// tool do. Counted, not logged or listed one by one.
    Flood,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Booted,
        Outcome::Failed,
        Outcome::Unfinished,
        Outcome::Unknown,
        Outcome::TftpOnly,
        Outcome::Flood,
    ];

    /// Its name in JSON, logs, metric labels and `?outcome=`.
    pub const fn label(self) -> &'static str {
        match self {
            Outcome::Booted => "booted",
            Outcome::Failed => "failed",
            Outcome::Unfinished => "unfinished",
            Outcome::Unknown => "unknown",
            Outcome::TftpOnly => "tftp_only",
            Outcome::Flood => "flood",
        }
    }

    pub fn from_label(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.label() == s)
    }
}

/// The firmware's name for a failure: the classic PXE ROM's codes (EDK2
/// prints its own, see [`crate::diagnosis::console_message`]), and for the
/// HTTP stage the status or what the connection did (`HTTP-404`,
/// `HTTP-REFUSED`; iPXE's and EDK2's console text is in the verdict).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureCode {
    /// No offer at all.
    E51,
    /// Only a proxyDHCP offered.
    E52,
    /// An address, and no boot file from anyone.
    E53,
    /// Nothing answers on the boot server's port 4011.
    E55,
    /// A boot file, and no TFTP server address the client uses.
    E7B,
    /// Nothing answers the TFTP read request.
    E32,
    /// The transfer's blocks stopped.
    E35,
    /// The TFTP server answered with an error other than 1 and 2.
    E36,
    /// The TFTP server has no such file (error 1).
    E3B,
    /// The TFTP server refused access (error 2).
    E3C,
    /// The DHCP server refused the address (DHCPNAK).
    Nak,
    /// The web server has no such file (HTTP 404).
    Http404,
    /// The web server refused the file (HTTP 401 or 403).
    Http403,
    /// Another HTTP 4xx.
    Http4xx,
    /// An HTTP 5xx.
    Http5xx,
    /// The web server's host answered the SYN with RST: nothing listens.
    HttpRefused,
    /// No answer to the SYN.
    HttpNoAnswer,
    /// The connection ended (reset, closed, or went silent) before the
    /// file's Content-Length.
    HttpCut,
    /// UEFI HTTP Boot: offers came, and none echoed option 60
    /// `HTTPClient` (the firmware ignores such offers).
    HttpBootNoEcho,
    /// UEFI HTTP Boot: an offer echoed `HTTPClient` but named no URI
    /// (option 67 or the `file` field).
    HttpBootNoUri,
}

impl FailureCode {
    pub const ALL: [FailureCode; 20] = [
        FailureCode::E51,
        FailureCode::E52,
        FailureCode::E53,
        FailureCode::E55,
        FailureCode::E7B,
        FailureCode::E32,
        FailureCode::E35,
        FailureCode::E36,
        FailureCode::E3B,
        FailureCode::E3C,
        FailureCode::Nak,
        FailureCode::Http404,
        FailureCode::Http403,
        FailureCode::Http4xx,
        FailureCode::Http5xx,
        FailureCode::HttpRefused,
        FailureCode::HttpNoAnswer,
        FailureCode::HttpCut,
        FailureCode::HttpBootNoEcho,
        FailureCode::HttpBootNoUri,
    ];

    /// As the firmware prints it, e.g. `PXE-E55`.
    pub const fn label(self) -> &'static str {
        match self {
            FailureCode::E51 => "PXE-E51",
            FailureCode::E52 => "PXE-E52",
            FailureCode::E53 => "PXE-E53",
            FailureCode::E55 => "PXE-E55",
            FailureCode::E7B => "PXE-E7B",
            FailureCode::E32 => "PXE-E32",
            FailureCode::E35 => "PXE-E35",
            FailureCode::E36 => "PXE-E36",
            FailureCode::E3B => "PXE-E3B",
            FailureCode::E3C => "PXE-E3C",
            FailureCode::Nak => "NAK",
            FailureCode::Http404 => "HTTP-404",
            FailureCode::Http403 => "HTTP-403",
            FailureCode::Http4xx => "HTTP-4XX",
            FailureCode::Http5xx => "HTTP-5XX",
            FailureCode::HttpRefused => "HTTP-REFUSED",
            FailureCode::HttpNoAnswer => "HTTP-TIMEOUT",
            FailureCode::HttpCut => "HTTP-CUT",
            FailureCode::HttpBootNoEcho => "HTTP-NO-ECHO",
            FailureCode::HttpBootNoUri => "HTTP-NO-URI",
        }
    }

    pub fn from_label(s: &str) -> Option<FailureCode> {
        FailureCode::ALL.into_iter().find(|c| c.label() == s)
    }

    /// How far into the boot a failure with this code got: 0, nothing
    /// answered; 1, a DHCP server answered with nothing the client could
    /// use; 2, the client was sent to a boot server that did not answer;
    /// 3, the client asked for its file (TFTP, HTTP). Of a boot whose
    /// attempts all failed, the one that got furthest is the one to fix:
    /// the others fail because nothing serves their boot option.
    pub const fn reach(self) -> u8 {
        match self {
            FailureCode::E51 => 0,
            FailureCode::E52
            | FailureCode::E53
            | FailureCode::E7B
            | FailureCode::Nak
            | FailureCode::HttpBootNoEcho
            | FailureCode::HttpBootNoUri => 1,
            FailureCode::E55 => 2,
            FailureCode::E32
            | FailureCode::E35
            | FailureCode::E36
            | FailureCode::E3B
            | FailureCode::E3C
            | FailureCode::Http404
            | FailureCode::Http403
            | FailureCode::Http4xx
            | FailureCode::Http5xx
            | FailureCode::HttpRefused
            | FailureCode::HttpNoAnswer
            | FailureCode::HttpCut => 3,
        }
    }
}

/// A condition on the servers that did not decide the boot but is worth
/// fixing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WarningKind {
    /// Several DHCP servers offered the client an address.
    MultipleDhcpServers,
    /// A DHCP server sends option 60 PXEClient with its addresses and does
    /// not answer on 4011 (Microsoft KB 259670).
    Option60OnDhcpServer,
    /// The boot file is for the other firmware family (BIOS / UEFI).
    ArchitectureMismatch,
}

impl WarningKind {
    pub const ALL: [WarningKind; 3] = [
        WarningKind::MultipleDhcpServers,
        WarningKind::Option60OnDhcpServer,
        WarningKind::ArchitectureMismatch,
    ];

    /// The label of `pxe_warnings_total{kind}` and `pxe_server_warnings{kind}`.
    pub const fn label(self) -> &'static str {
        match self {
            WarningKind::MultipleDhcpServers => "multiple_dhcp_servers",
            WarningKind::Option60OnDhcpServer => "option60_on_dhcp_server",
            WarningKind::ArchitectureMismatch => "architecture_mismatch",
        }
    }
}

/// One warning: its kind and the sentence a user reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub kind: WarningKind,
    pub text: String,
}

/// How one TFTP transfer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferStatus {
    /// Its last block was seen.
    Complete,
    /// The server refused it with a TFTP ERROR.
    Error,
    /// Nothing answered the read request.
    Unanswered,
    /// Answered, and the last block was not seen.
    Incomplete,
}

impl TransferStatus {
    pub const ALL: [TransferStatus; 4] = [
        TransferStatus::Complete,
        TransferStatus::Error,
        TransferStatus::Unanswered,
        TransferStatus::Incomplete,
    ];

    pub const fn label(self) -> &'static str {
        match self {
            TransferStatus::Complete => "complete",
            TransferStatus::Error => "error",
            TransferStatus::Unanswered => "unanswered",
            TransferStatus::Incomplete => "incomplete",
        }
    }
}

/// The boot option a firmware attempt used: EDK2 tries them in this order
/// on one NIC (`>>Start PXE over IPv4`, ... IPv6, `>>Start HTTP Boot over
/// IPv4`, ... IPv6), each after the one before failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BootProtocol {
    PxeIpv4,
    PxeIpv6,
    HttpIpv4,
    HttpIpv6,
}

impl BootProtocol {
    pub const ALL: [BootProtocol; 4] = [
        BootProtocol::PxeIpv4,
        BootProtocol::PxeIpv6,
        BootProtocol::HttpIpv4,
        BootProtocol::HttpIpv6,
    ];

    /// The label of `pxe_boot_attempts_total{protocol}` and in JSON.
    pub const fn label(self) -> &'static str {
        match self {
            BootProtocol::PxeIpv4 => "pxe_ipv4",
            BootProtocol::PxeIpv6 => "pxe_ipv6",
            BootProtocol::HttpIpv4 => "http_ipv4",
            BootProtocol::HttpIpv6 => "http_ipv6",
        }
    }

    /// As EDK2's boot manager names it.
    pub const fn text(self) -> &'static str {
        match self {
            BootProtocol::PxeIpv4 => "PXE over IPv4",
            BootProtocol::PxeIpv6 => "PXE over IPv6",
            BootProtocol::HttpIpv4 => "HTTP Boot over IPv4",
            BootProtocol::HttpIpv6 => "HTTP Boot over IPv6",
        }
    }
}

/// Another attempt of the same boot than the one the verdict is about: the
/// firmware tried several boot options in turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub protocol: BootProtocol,
    pub outcome: Outcome,
    pub code: Option<FailureCode>,
    pub cause: Option<String>,
    pub first_seen_ns: u64,
    pub last_seen_ns: u64,
}

impl Attempt {
    /// The time the attempt cost: from its first message to the next
    /// attempt's.
    pub fn duration_ns(&self) -> u64 {
        self.last_seen_ns.saturating_sub(self.first_seen_ns)
    }
}

/// What the verdict rests on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Basis {
    /// A PXE or HTTP-boot DHCP exchange of this client was seen.
    #[default]
    PxeExchange,
    /// Only the client's TFTP traffic was seen (a monitor that cannot see
    /// DHCP, e.g. on a TFTP-only server): a boot inferred from TFTP alone
    /// (`--tftp-only-clients boots`), or no boot at all
    /// ([`Outcome::TftpOnly`]).
    TftpAlone,
}

impl Basis {
    pub const fn label(self) -> &'static str {
        match self {
            Basis::PxeExchange => "pxe_exchange",
            Basis::TftpAlone => "tftp_only",
        }
    }
}

/// One TFTP transfer of the client and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferResult {
    pub file: String,
    pub server: IpAddr,
    pub status: TransferStatus,
    pub error_code: Option<u16>,
    pub requests: u32,
    /// `None` for TFTP; an HTTP fetch's details.
    pub http: Option<HttpTransfer>,
}

/// What an HTTP fetch of a boot file showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTransfer {
    /// `GET`, `HEAD`, ...
    pub method: &'static str,
    pub url: String,
    /// The response's status, `None` without a response.
    pub status: Option<u16>,
    /// Body bytes seen, and the Content-Length announced.
    pub bytes: u64,
    pub content_length: Option<u64>,
    pub duration_ns: u64,
    pub user_agent: Option<String>,
}

/// What the session showed about one DHCP server that offered the client
/// an address (`pxe_server_warnings`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpServerSeen {
    pub server: Ipv4Addr,
    /// It sent option 60 `PXEClient` with its address and did not answer
    /// the client on port 4011 (Microsoft KB 259670).
    pub option60: bool,
    /// Another server offered this client an address too.
    pub alongside_others: bool,
}

/// What the tracker reports for one client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub client_mac: [u8; 6],
    pub outcome: Outcome,
    /// `Some` exactly when the outcome is [`Outcome::Failed`].
    pub code: Option<FailureCode>,
    /// The server the verdict is about (the one that failed, or the boot
    /// file's server).
    pub server: Option<IpAddr>,
    pub boot_file: Option<String>,
    pub cause: Option<String>,
    pub fix: Option<String>,
    /// Conditions on the servers worth fixing even though they did not
    /// decide this boot.
    pub warnings: Vec<Warning>,
    pub basis: Basis,
    pub first_seen_ns: u64,
    pub last_seen_ns: u64,
    /// One line per step, time relative to the first. Lines hold strings
    /// from the wire as they came: text sinks escape them.
    pub timeline: Vec<(u64, String)>,
    /// Every TFTP transfer of the client, in order.
    pub transfers: Vec<TransferResult>,
    /// The DHCP servers that offered the client an address.
    pub dhcp_servers: Vec<DhcpServerSeen>,
    /// What the client's firmware prints for this failure, where known.
    pub console: Option<&'static str>,
    /// The boot option of the attempt the verdict is about (`None`: no
    /// DISCOVER or Solicit of it was seen), and when that attempt started.
    /// A boot that booted is about its last attempt; one whose attempts all
    /// failed, about the failure that got furthest
    /// ([`FailureCode::reach`]).
    pub protocol: Option<BootProtocol>,
    pub attempt_started_ns: u64,
    /// The boot's other attempts, in order (those before the verdict's
    /// start before [`attempt_started_ns`](Self::attempt_started_ns)).
    pub attempts: Vec<Attempt>,
}

impl Verdict {
    /// From the boot's first message to the start of the attempt the
    /// verdict is about: what the attempts before it cost.
    pub fn time_lost_ns(&self) -> u64 {
        if self.attempts.is_empty() {
            return 0;
        }
        self.attempt_started_ns.saturating_sub(self.first_seen_ns)
    }

    /// The attempts before the one the verdict is about.
    pub fn attempts_before(&self) -> impl Iterator<Item = &Attempt> {
        self.attempts
            .iter()
            .filter(|a| a.first_seen_ns < self.attempt_started_ns)
    }
}

impl Verdict {
    /// A verdict with only its outcome, code and server set.
    pub fn new(
        client_mac: [u8; 6],
        outcome: Outcome,
        code: Option<FailureCode>,
        server: Option<IpAddr>,
    ) -> Verdict {
        Verdict {
            client_mac,
            outcome,
            code,
            server,
            boot_file: None,
            cause: None,
            fix: None,
            warnings: Vec::new(),
            basis: Basis::PxeExchange,
            first_seen_ns: 0,
            last_seen_ns: 0,
            timeline: Vec::new(),
            transfers: Vec::new(),
            dhcp_servers: Vec::new(),
            console: None,
            protocol: None,
            attempt_started_ns: 0,
            attempts: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_and_read_back() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::from_label(o.label()), Some(o));
        }
        for c in FailureCode::ALL {
            assert_eq!(FailureCode::from_label(c.label()), Some(c));
        }
        let mut kinds: Vec<&str> = WarningKind::ALL.iter().map(|k| k.label()).collect();
        kinds.dedup();
        assert_eq!(kinds.len(), WarningKind::ALL.len());
        let mut protocols: Vec<&str> = BootProtocol::ALL.iter().map(|p| p.label()).collect();
        protocols.dedup();
        assert_eq!(protocols.len(), BootProtocol::ALL.len());
        let mut statuses: Vec<&str> = TransferStatus::ALL.iter().map(|s| s.label()).collect();
        statuses.dedup();
        assert_eq!(statuses.len(), TransferStatus::ALL.len());
    }
}
