//! The lab's PXE client: qemu with real firmware, and what its console
//! says about the boot.

use std::path::Path;

use anyhow::{Context as _, Result};

use super::{BOOT_OK_MARKER, CLIENT_TAP};

/// The network-boot firmware of a lab client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Firmware {
    /// SeaBIOS with the iPXE ROM of ipxe-qemu (e1000).
    Bios,
    /// OVMF (EDK2) and its own PXE stack: virtio-net with no option ROM,
    /// so EDK2's PxeBcDxe boots, not iPXE's EFI driver.
    Uefi,
}

impl Firmware {
    pub fn label(self) -> &'static str {
        match self {
            Firmware::Bios => "bios",
            Firmware::Uefi => "uefi",
        }
    }
}

/// Where OVMF lives (Debian's ovmf package).
const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// iPXE lines after which it will not boot any more.
const IPXE_FAILURE_LINES: &[&str] = &[
    "Nothing to boot",
    "No configuration methods succeeded",
    "Connection timed out",
    "No such file or directory",
    "No more network devices",
    "No bootable device",
];

/// EDK2: the IPv4 PXE boot option downloaded its boot file.
const EDK2_BOOTED: &str = "NBP file downloaded successfully";
/// EDK2 lines that end the IPv4 PXE attempt: its error codes, or the next
/// boot option starting.
const EDK2_FAILURE_LINES: &[&str] = &["PXE-E", ">>Start PXE over IPv6", ">>Start HTTP Boot"];

/// What the client's console said about its boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Console {
    pub booted: bool,
    /// The line that said so ("" when the console said nothing decisive
    /// before the timeout or qemu's exit).
    pub line: String,
}

/// Reads a serial console log (`None`: nothing decisive yet). `booted`:
/// the line that says the boot went through, when not the firmware's own
/// (a loader further down the chain prints it).
pub fn read_console(firmware: Firmware, text: &str, booted: Option<&str>) -> Option<Console> {
    let (ok, failures) = match firmware {
        Firmware::Bios => (BOOT_OK_MARKER, IPXE_FAILURE_LINES),
        Firmware::Uefi => (EDK2_BOOTED, EDK2_FAILURE_LINES),
    };
    let ok = booted.unwrap_or(ok);
    let text = plain(text);
    // Line by line, first decisive line wins.
    for line in text.split(['\r', '\n']) {
        let line = line.trim();
        if line.contains(ok) {
            return Some(Console {
                booted: true,
                line: line.to_owned(),
            });
        }
        if failures.iter().any(|f| line.contains(f)) {
            return Some(Console {
                booted: false,
                line: line.to_owned(),
            });
        }
    }
    None
}

/// The console text as a screen shows it: ANSI control sequences removed,
/// a cursor move to another row read as a line break (EFI loaders such as
/// syslinux.efi place each character with one).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut row: Option<u32> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        if chars.peek() != Some(&'[') {
            continue;
        }
        chars.next();
        let mut params = String::new();
        let mut fin = None;
        for c in chars.by_ref() {
            if ('\u{40}'..='\u{7e}').contains(&c) {
                fin = Some(c);
                break;
            }
            params.push(c);
        }
        if matches!(fin, Some('H' | 'f')) {
            let r = params
                .split(';')
                .next()
                .and_then(|r| r.parse().ok())
                .unwrap_or(1);
            if row.is_some_and(|old| old != r) {
                out.push('\n');
            }
            row = Some(r);
        }
    }
    out
}

/// qemu's arguments for a client with `firmware` and `mac`; UEFI's
/// variable store is copied to `vars` (each boot starts from the default).
pub fn qemu_args(
    serial: &Path,
    mac: &str,
    firmware: Firmware,
    vars: Option<&Path>,
) -> Result<Vec<String>> {
    let mut a: Vec<String> = [
        "-name",
        "pxe-lab-client",
        "-accel",
        "tcg",
        "-m",
        "256",
        "-nographic",
        "-monitor",
        "none",
        "-nodefaults",
        "-serial",
        &format!("file:{}", serial.display()),
        "-no-reboot",
        "-netdev",
        &format!("tap,id=n0,ifname={CLIENT_TAP},script=no,downscript=no"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    match firmware {
        Firmware::Bios => a.extend([
            "-boot".to_owned(),
            "n".to_owned(),
            "-device".to_owned(),
            format!("e1000,netdev=n0,mac={mac}"),
        ]),
        Firmware::Uefi => {
            let vars = vars.context("UEFI needs a variable store path")?;
            std::fs::copy(OVMF_VARS, vars).with_context(|| {
                format!("copying {OVMF_VARS} (package ovmf) to {}", vars.display())
            })?;
            a.extend([
                "-drive".to_owned(),
                format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}"),
                "-drive".to_owned(),
                format!("if=pflash,format=raw,file={}", vars.display()),
                "-device".to_owned(),
                format!("virtio-net-pci,netdev=n0,mac={mac},bootindex=1,romfile="),
            ]);
        }
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consoles_are_read_per_firmware() {
        let ipxe = "Configuring (net0 52:54:00:77:00:10)...... ok\r\n\
                    Nothing to boot: No such file or directory (2d03e13b)\r\n";
        assert_eq!(
            read_console(Firmware::Bios, ipxe, None),
            Some(Console {
                booted: false,
                line: "Nothing to boot: No such file or directory (2d03e13b)".into()
            })
        );
        let edk2 = ">>Start PXE over IPv4.\r\n  Station IP address is 10.77.10.100\r\n\
                    \r\n  PXE-E16: No valid offer received.\r\nBdsDxe: failed to load Boot0001\r\n";
        let c = read_console(Firmware::Uefi, edk2, None).unwrap();
        assert!(!c.booted);
        assert_eq!(c.line, "PXE-E16: No valid offer received.");
        let ok = " Downloading NBP file...\r\n\r\n  NBP file downloaded successfully.\r\n";
        assert!(read_console(Firmware::Uefi, ok, None).unwrap().booted);
        assert_eq!(
            read_console(Firmware::Uefi, ">>Start PXE over IPv4.", None),
            None
        );
        // syslinux.efi places each character, then the firmware goes on.
        let efi = "My IP is 10.77.10.145\r\n\u{1b}[17;01HO\u{1b}[17;02H\u{1b}[17;02HK\
                   \u{1b}[18;01HBdsDxe: failed to start Boot0001: Load Error\r\n";
        assert_eq!(
            read_console(Firmware::Uefi, efi, Some("OK")),
            Some(Console {
                booted: true,
                line: "OK".into()
            })
        );
    }
}
