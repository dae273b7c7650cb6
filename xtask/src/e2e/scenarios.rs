//! The scenarios of the matrix: the servers of each failure mode, what each
//! firmware's console printed and the verdict that names it, and where the
//! monitors run.

use crate::lab::{self, Firmware, Lab, Servers};

/// What a scenario must show with one firmware.
#[derive(Clone, Copy, Debug)]
pub struct Expect {
    /// A piece of the console line that says how the boot went.
    pub console: &'static str,
    /// The verdict: outcome and firmware code.
    pub outcome: &'static str,
    pub code: Option<&'static str>,
    /// A piece of a warning the verdict must carry.
    pub warning: Option<&'static str>,
    /// The boot's attempts before the one the verdict is about, each as
    /// `protocol code` (or `protocol outcome`), comma-separated; "" for
    /// none.
    pub attempts: &'static str,
}

const fn booted(console: &'static str) -> Expect {
    Expect {
        console,
        outcome: "booted",
        code: None,
        warning: None,
        attempts: "",
    }
}

const fn failed(console: &'static str, code: &'static str) -> Expect {
    Expect {
        console,
        outcome: "failed",
        code: Some(code),
        warning: None,
        attempts: "",
    }
}

impl Expect {
    const fn warning(self, w: &'static str) -> Expect {
        Expect {
            warning: Some(w),
            ..self
        }
    }

    const fn after(self, attempts: &'static str) -> Expect {
        Expect { attempts, ..self }
    }
}

/// The warning texts the scenarios look for.
const SEVERAL_SERVERS: &str = "several DHCP servers offered this client an address";
const OPTION60: &str = "sends option 60 PXEClient";

/// iPXE's last line when it booted the lab's boot.ipxe.
const IPXE_BOOTED: &str = lab::BOOT_OK_MARKER;
/// EDK2's line when it downloaded its boot file.
const EDK2_BOOTED: &str = "NBP file downloaded successfully";

/// EDK2 HttpBootDxe's first line when its DHCP found no offer to boot from
/// (then `Error: Server response timeout.`).
const EDK2_NO_NBP: &str = "Error: Could not retrieve NBP file size from HTTP server.";

/// Where a monitor runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// On the DHCP server's interface.
    DhcpServer,
    /// On the proxyDHCP / boot server's interface.
    ProxyServer,
    /// On the router that relays DHCP: both its interfaces.
    Router,
}

impl Placement {
    pub fn label(self) -> &'static str {
        match self {
            Placement::DhcpServer => "on the DHCP server",
            Placement::ProxyServer => "on the proxyDHCP server",
            Placement::Router => "on the router",
        }
    }

    /// The namespace and interfaces the monitor attaches to.
    pub(super) fn at(self, lab: &Lab) -> (String, &'static [&'static str]) {
        match self {
            Placement::DhcpServer => (lab.names.srv.clone(), &[lab::SERVER_IF]),
            Placement::ProxyServer => (lab.names.srv2.clone(), &[lab::SERVER_IF]),
            Placement::Router => (lab.names.rtr.clone(), &[lab::ROUTER_IF, lab::UPSTREAM_IF]),
        }
    }

    /// Where a datagram from the monitor's namespace crosses its
    /// interfaces (see [`clock_frame`]).
    pub(super) fn clock_target(self) -> &'static str {
        match self {
            Placement::Router => lab::UPSTREAM_SERVER_IP,
            _ => lab::ROUTER_IP,
        }
    }
}

/// A monitor of a scenario, and whether the traffic that decides the boot
/// passes where it runs (if not, its verdict must be `unknown`: never a
/// wrong failure).
#[derive(Clone, Copy, Debug)]
pub struct Watch {
    pub at: Placement,
    pub sees_all: bool,
}

const ON_THE_DHCP_SERVER: &[Watch] = &[Watch {
    at: Placement::DhcpServer,
    sees_all: true,
}];

const ON_THE_DHCP_SERVER_AND_THE_ROUTER: &[Watch] = &[
    Watch {
        at: Placement::DhcpServer,
        sees_all: true,
    },
    Watch {
        at: Placement::Router,
        sees_all: true,
    },
];

pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub servers: Servers,
    /// What each firmware must show; `None`: the scenario does not run
    /// with it.
    pub bios: Option<Expect>,
    pub uefi: Option<Expect>,
    pub uefi_http: Option<Expect>,
    pub uefi6: Option<Expect>,
    pub uefi_http6: Option<Expect>,
    pub uefi_chain: Option<Expect>,
    /// The monitors, each run live during the same boot.
    pub watch: &'static [Watch],
}

impl Scenario {
    pub(super) fn expect(&self, fw: Firmware) -> Option<Expect> {
        match fw {
            Firmware::Bios => self.bios,
            Firmware::Uefi => self.uefi,
            Firmware::UefiHttp => self.uefi_http,
            Firmware::Uefi6 => self.uefi6,
            Firmware::UefiHttp6 => self.uefi_http6,
            Firmware::UefiChain => self.uefi_chain,
        }
    }
}

/// The matrix. The expectations are what each firmware's console printed
/// in the lab, and the code that names that failure.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "healthy-dnsmasq",
        about: "dnsmasq: DHCP with next-server and boot file, TFTP",
        servers: Servers::Dnsmasq,
        bios: Some(booted(IPXE_BOOTED)),
        uefi: Some(booted(EDK2_BOOTED)),
        uefi_http: None,
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "kb259670-isc",
        about: "isc-dhcp-server with option 60 PXEClient, 66, 67; nothing on 4011 (Microsoft KB 259670)",
        servers: Servers::IscKb259670,
        bios: Some(failed("Nothing to boot", "PXE-E55")),
        uefi: Some(failed("PXE-E16: No valid offer received", "PXE-E55")),
        uefi_http: None,
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "kb259670-kea",
        about: "the same misconfiguration served by Kea",
        servers: Servers::KeaKb259670,
        bios: Some(failed("Nothing to boot", "PXE-E55")),
        uefi: Some(failed("PXE-E16: No valid offer received", "PXE-E55")),
        uefi_http: None,
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "option60-next-server",
        about: "isc-dhcp-server with option 60 PXEClient and next-server + file; TFTP by dnsmasq",
        servers: Servers::IscOption60NextServer,
        // iPXE skips 4011 when the offer has next-server and a file; the
        // risk is still named.
        bios: Some(booted(IPXE_BOOTED).warning(OPTION60)),
        uefi: Some(failed("PXE-E16: No valid offer received", "PXE-E55")),
        uefi_http: None,
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "no-bootfile",
        about: "dnsmasq: addresses and TFTP, no boot file",
        servers: Servers::DnsmasqNoBootFile,
        bios: Some(failed("Nothing to boot", "PXE-E53")),
        uefi: Some(failed("PXE-E16: No valid offer received", "PXE-E53")),
        uefi_http: None,
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "bootfile-missing",
        about: "dnsmasq names a boot file its TFTP root lacks",
        servers: Servers::DnsmasqFileMissing,
        bios: Some(failed("No such file or directory", "PXE-E3B")),
        uefi: Some(failed(
            "PXE-E23: Client received TFTP error from server",
            "PXE-E3B",
        )),
        uefi_http: None,
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "no-dhcp-server",
        about: "no DHCP server on the segment",
        servers: Servers::NoDhcp,
        bios: Some(failed("Nothing to boot", "PXE-E51")),
        uefi: Some(failed("PXE-E18: Server response timeout", "PXE-E51")),
        uefi_http: None,
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "tftp-server-down",
        about: "dnsmasq names itself as TFTP server; no TFTP server runs",
        servers: Servers::DnsmasqNoTftp,
        bios: Some(failed("Connection timed out", "PXE-E32")),
        uefi: Some(failed("PXE-E99: Unexpected network error", "PXE-E32")),
        uefi_http: None,
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "options-66-67-only",
        about: "isc-dhcp-server with options 66/67 only: no next-server, no option 60 (Windows DHCP style)",
        servers: Servers::IscOptions6667Only,
        bios: Some(failed("Nothing to boot", "PXE-E7B")),
        // EDK2 takes option 66 as the TFTP server.
        uefi: Some(booted(EDK2_BOOTED)),
        uefi_http: None,
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "two-dhcp-servers",
        about: "dnsmasq, and a second DHCP server without boot information answering a second later",
        servers: Servers::TwoDhcpServers,
        // iPXE takes the last of equal offers; EDK2 prefers one with a
        // boot file.
        bios: Some(failed("Nothing to boot", "PXE-E53").warning(SEVERAL_SERVERS)),
        uefi: Some(booted(EDK2_BOOTED).warning(SEVERAL_SERVERS)),
        uefi_http: None,
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "pxelinux-chain",
        about: "dnsmasq serves pxelinux.0 / syslinux.efi, which fetch ldlinux and probe pxelinux.cfg/ before default",
        servers: Servers::PxelinuxChain,
        // The loader prints the marker from pxelinux.cfg/default: the whole
        // chain ran.
        bios: Some(booted(lab::PXELINUX_OK_MARKER)),
        uefi: Some(booted(lab::PXELINUX_OK_MARKER)),
        uefi_http: None,
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "relay-ip-helper",
        about: "the router relays DHCP (its IP helper) to dnsmasq behind it; TFTP is routed",
        servers: Servers::Relay,
        bios: Some(booted(IPXE_BOOTED)),
        uefi: Some(booted(EDK2_BOOTED)),
        uefi_http: None,
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER_AND_THE_ROUTER,
    },
    Scenario {
        name: "relay-missing-pxe-server",
        about: "the router relays to the DHCP server (addresses only) but not to the PXE server behind it",
        servers: Servers::RelayMissingPxeServer,
        bios: Some(failed("Nothing to boot", "PXE-E53")),
        uefi: Some(failed("PXE-E16: No valid offer received", "PXE-E53")),
        uefi_http: None,
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER_AND_THE_ROUTER,
    },
    Scenario {
        name: "healthy-proxydhcp",
        about: "isc-dhcp-server gives addresses; dnsmasq at 10.77.10.2 is proxyDHCP (67, 4011) and TFTP",
        servers: Servers::ProxyDhcp,
        bios: Some(booted(IPXE_BOOTED)),
        uefi: Some(booted(EDK2_BOOTED)),
        uefi_http: None,
        // The boot-server exchange and the transfer go to 10.77.10.2 only.
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: &[
            Watch {
                at: Placement::ProxyServer,
                sees_all: true,
            },
            Watch {
                at: Placement::DhcpServer,
                sees_all: false,
            },
        ],
    },
    Scenario {
        name: "proxydhcp-no-boot-service",
        about: "the same, the proxy configured without a boot service (it stays silent)",
        servers: Servers::ProxyDhcpNoBootService,
        bios: Some(failed("Nothing to boot", "PXE-E53")),
        uefi: Some(failed("PXE-E16: No valid offer received", "PXE-E53")),
        uefi_http: None,
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "http-chain",
        about: "dnsmasq hands iPXE (BIOS: a script over TFTP; UEFI: ipxe.efi) a chain to stage2.ipxe on a web server",
        servers: Servers::HttpChain,
        // stage2.ipxe prints the marker: the HTTP stage ran.
        bios: Some(booted(IPXE_BOOTED)),
        uefi: Some(booted(IPXE_BOOTED)),
        uefi_http: None,
        // The web server is at the DHCP server's address.
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "http-chain-missing",
        about: "the same, the chained stage2.ipxe missing on the web server (404)",
        servers: Servers::HttpChainMissing,
        // The BIOS console wraps this line at 80 columns; the console
        // reader joins it again.
        bios: Some(failed(
            "http://10.77.10.1/stage2.ipxe... No such file or directory (http://ipxe.org/2d0c613b)",
            "HTTP-404",
        )),
        uefi: Some(failed(
            "http://10.77.10.1/stage2.ipxe... No such file or directory (http://ipxe.org/2d0c618e)",
            "HTTP-404",
        )),
        uefi_http: None,
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "http-chain-no-server",
        about: "the same, no web server running (the server answers the SYN with a RST)",
        servers: Servers::HttpChainNoServer,
        bios: Some(failed(
            "http://10.77.10.1/stage2.ipxe... Connection reset (http://ipxe.org/0f0a6039)",
            "HTTP-REFUSED",
        )),
        // ipxe.efi's first HTTP request, for boot.ipxe, already finds no
        // server.
        uefi: Some(failed(
            "http://10.77.10.1/boot.ipxe... Connection reset (http://ipxe.org/0f0a6095)",
            "HTTP-REFUSED",
        )),
        uefi_http: None,
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "http-chain-cut",
        about: "the same, the web server closing the connection 64 KiB into a 1 MiB stage2.ipxe",
        servers: Servers::HttpChainCut,
        // iPXE's EIO for a connection closed short of its Content-Length.
        bios: Some(failed(
            "http://10.77.10.1/stage2.ipxe... Input/output error (http://ipxe.org/1d0c6239)",
            "HTTP-CUT",
        )),
        uefi: Some(failed(
            "http://10.77.10.1/stage2.ipxe... Input/output error (http://ipxe.org/1d0c6298)",
            "HTTP-CUT",
        )),
        uefi_http: None,
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "http-chain-undionly",
        about: "the same for BIOS, the firmware's iPXE first chain-loading undionly.kpxe over TFTP, whose DHCP and script chain the HTTP stage",
        servers: Servers::HttpChainUndionly,
        bios: Some(booted(IPXE_BOOTED)),
        uefi: None,
        uefi_http: None,
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "http-boot",
        about: "UEFI HTTP Boot: dnsmasq echoes option 60 HTTPClient with the URL of ipxe.efi on a web server; iPXE then chains stage2.ipxe",
        servers: Servers::HttpBoot,
        bios: None,
        uefi: None,
        uefi_http: Some(booted(IPXE_BOOTED)),
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "http-boot-missing",
        about: "the same, the URL naming a file the web server does not have (404)",
        servers: Servers::HttpBootMissing,
        bios: None,
        uefi: None,
        uefi_http: Some(failed("Client Error: 404 Not Found", "HTTP-404")),
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "http-boot-no-echo",
        about: "the same, dnsmasq not echoing option 60 HTTPClient: the firmware ignores its offers",
        servers: Servers::HttpBootNoEcho,
        bios: None,
        uefi: None,
        // EDK2 discards the offer and its DHCP times out (4, 8, 16, 32 s).
        uefi_http: Some(failed(EDK2_NO_NBP, "HTTP-NO-ECHO")),
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "http-boot-no-uri",
        about: "the same, dnsmasq echoing HTTPClient but naming no URL for HTTP Boot clients",
        servers: Servers::HttpBootNoUri,
        bios: None,
        uefi: None,
        uefi_http: Some(failed(EDK2_NO_NBP, "HTTP-NO-URI")),
        uefi6: None,
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "pxe6-healthy",
        about: "dnsmasq: DHCPv6 with option 59 tftp://[fd77:10::1]/boot.ipxe, TFTP over IPv6",
        servers: Servers::DnsmasqIpv6,
        bios: None,
        uefi: None,
        uefi_http: None,
        uefi6: Some(booted(EDK2_BOOTED)),
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "pxe6-bootfile-missing",
        about: "dnsmasq's option 59 names a boot file its TFTP root lacks (over IPv6)",
        servers: Servers::DnsmasqIpv6FileMissing,
        bios: None,
        uefi: None,
        uefi_http: None,
        // OVMF shows PXE-E23, or, when it missed the error and resent its
        // request (some runs), "PXE-E18: Server response timeout": the
        // console check takes the common part, and pxe-monitor's console
        // text must be the one shown.
        uefi6: Some(failed("PXE-E", "PXE-E3B")),
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "pxe6-no-bootfile-url",
        about: "dnsmasq: DHCPv6 addresses, no option 59",
        servers: Servers::DnsmasqIpv6NoBootUrl,
        bios: None,
        uefi: None,
        uefi_http: None,
        uefi6: Some(failed("PXE-E21: Remote boot cancelled", "PXE-E53")),
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "fallback-chain",
        about: "OVMF's whole chain as one boot: PXE over IPv4 gets a missing boot file, PXE over IPv6 no DHCPv6 server, HTTP Boot over IPv4 boots",
        servers: Servers::FallbackChain,
        bios: None,
        uefi: None,
        uefi_http: None,
        uefi6: None,
        uefi_http6: None,
        uefi_chain: Some(booted(IPXE_BOOTED).after("pxe_ipv4 PXE-E3B, pxe_ipv6 PXE-E51")),
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "pxe6-relay",
        about: "the router relays DHCPv6 (isc-dhcp-relay -6) to dnsmasq behind it; TFTP over IPv6 across the router",
        servers: Servers::RelayIpv6,
        bios: None,
        uefi: None,
        uefi_http: None,
        uefi6: Some(booted(EDK2_BOOTED)),
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER_AND_THE_ROUTER,
    },
    Scenario {
        name: "pxe6-tftp-server-down",
        about: "dnsmasq's option 59 names its own TFTP server over IPv6, which is not running (ICMPv6 port unreachable)",
        servers: Servers::DnsmasqIpv6NoTftp,
        bios: None,
        uefi: None,
        uefi_http: None,
        uefi6: Some(failed("PXE-E99: Unexpected network error", "PXE-E32")),
        uefi_http6: None,
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "http6-boot",
        about: "UEFI HTTP Boot over IPv6: dnsmasq's DHCPv6 with option 16 HTTPClient and option 59 http://[fd77:10::1]/ipxe.efi; iPXE then chains stage2.ipxe over IPv4",
        servers: Servers::DnsmasqHttp6,
        bios: None,
        uefi: None,
        uefi_http: None,
        uefi6: None,
        uefi_http6: Some(booted(IPXE_BOOTED)),
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "http6-boot-missing",
        about: "the same, option 59 naming a file the web server does not have (404 to HEAD and GET)",
        servers: Servers::DnsmasqHttp6Missing,
        bios: None,
        uefi: None,
        uefi_http: None,
        uefi6: None,
        // Printed twice (HEAD, then GET), then EDK2_NO_NBP and
        // `Error: Unexpected network error.`
        uefi_http6: Some(failed("Client Error: 404 Not Found", "HTTP-404")),
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
    Scenario {
        name: "http6-boot-no-echo",
        about: "the same, dnsmasq's DHCPv6 without option 16 HTTPClient: the firmware takes no offer and sends no Request",
        servers: Servers::DnsmasqHttp6NoEcho,
        bios: None,
        uefi: None,
        uefi_http: None,
        uefi6: None,
        // Then `Error: Remote boot cancelled.`, 5 s after the Advertise.
        uefi_http6: Some(failed(EDK2_NO_NBP, "HTTP-NO-ECHO")),
        uefi_chain: None,
        watch: ON_THE_DHCP_SERVER,
    },
];
