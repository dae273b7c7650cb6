//! Why the kernel refused a `bpf()` call with EPERM, as far as this process
//! can tell from its own `/proc/self/status`: missing capabilities, or
//! capabilities present under a seccomp filter (a container runtime's
//! default profile), which need different fixes.

use std::fmt;

/// CAP_NET_ADMIN, CAP_PERFMON and CAP_BPF (linux/capability.h).
const NEEDED_CAPS: u64 = 1 << 12 | 1 << 38 | 1 << 39;

/// What most likely refused a load or an attach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PermissionCause {
    /// The process lacks CAP_BPF, CAP_NET_ADMIN or CAP_PERFMON.
    Capabilities,
    /// The process has all three and runs under a seccomp filter: a
    /// container runtime's default profile that allows `bpf()` only with
    /// CAP_SYS_ADMIN (Podman's and CRI-O's, from containers-common).
    Seccomp,
}

impl PermissionCause {
    /// Reads this process's capabilities and seccomp mode.
    pub fn of_this_process() -> Self {
        std::fs::read_to_string("/proc/self/status")
            .map_or(PermissionCause::Capabilities, |s| Self::from_status(&s))
    }

    /// From the text of `/proc/PID/status` (`CapEff:` in hex, `Seccomp:` 2
    /// for a filter).
    pub fn from_status(status: &str) -> Self {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
        };
        let effective = field("CapEff:")
            .and_then(|v| u64::from_str_radix(v, 16).ok())
            .unwrap_or(0);
        let filtered = field("Seccomp:") == Some("2");
        if effective & NEEDED_CAPS == NEEDED_CAPS && filtered {
            PermissionCause::Seccomp
        } else {
            PermissionCause::Capabilities
        }
    }
}

impl fmt::Display for PermissionCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PermissionCause::Capabilities => f.write_str(
                "loading and attaching eBPF programs needs root, or the capabilities CAP_BPF, \
                 CAP_NET_ADMIN and CAP_PERFMON \
                 (e.g. `sudo setcap cap_bpf,cap_net_admin,cap_perfmon+ep $(which pxe-monitor)`)",
            ),
            PermissionCause::Seccomp => f.write_str(
                "pxe-monitor has CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON but runs under a seccomp \
                 filter, which most likely refused bpf(): the default profiles of Podman and \
                 CRI-O allow bpf() only with CAP_SYS_ADMIN. Give the container a seccomp profile \
                 that allows bpf and perf_event_open (containerd's and Docker's defaults do, \
                 with CAP_BPF and CAP_PERFMON; see the README, \"Container and Kubernetes\")",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(cap_eff: &str, seccomp: &str) -> String {
        format!(
            "Name:\tpxe-monitor\nUid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\n\
             CapPrm:\t{cap_eff}\nCapEff:\t{cap_eff}\nCapBnd:\t{cap_eff}\n\
             NoNewPrivs:\t1\nSeccomp:\t{seccomp}\nSeccomp_filters:\t1\n"
        )
    }

    #[test]
    fn the_three_capabilities_under_a_filter_name_seccomp() {
        // Measured in a container: BPF, NET_ADMIN and PERFMON only, seccomp 2.
        let s = status("000000c000001000", "2");
        assert_eq!(PermissionCause::from_status(&s), PermissionCause::Seccomp);
        // With the setuid/setgid pair of the DaemonSet as well.
        let s = status("000000c0000010c0", "2");
        assert_eq!(PermissionCause::from_status(&s), PermissionCause::Seccomp);
        assert!(
            PermissionCause::Seccomp
                .to_string()
                .contains("perf_event_open")
        );
    }

    #[test]
    fn a_missing_capability_names_the_capabilities() {
        // No PERFMON, under a filter: the capability is what is missing.
        let s = status("0000008000001000", "2");
        assert_eq!(
            PermissionCause::from_status(&s),
            PermissionCause::Capabilities
        );
        // All capabilities, no filter: not seccomp.
        let s = status("000001ffffffffff", "0");
        assert_eq!(
            PermissionCause::from_status(&s),
            PermissionCause::Capabilities
        );
        // Unreadable fields: the general advice.
        assert_eq!(
            PermissionCause::from_status(""),
            PermissionCause::Capabilities
        );
    }
}
