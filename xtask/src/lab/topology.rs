//! The lab's network: the namespace names of each lab instance, the
//! client-segment bridge and the veths that plug a namespace into a
//! segment, the boot storm's light clients, and which lab namespaces exist.

use anyhow::{Result, bail};

use super::{BRIDGE, Lab, PLANT_IF, PLANT_TX};
use crate::sys::{ip, ns_exists};

/// The namespace names of one lab instance. Instance 0 is the lab of `lab
/// up`, the demo and the tests ([`CLIENT_NS`], [`SERVER_NS`], ...); the
/// e2e matrix runs instances 1, 2, ... side by side (`pxe1-cli`, ...).
/// Interface names and addresses are the same in every instance: each has
/// its own namespaces, so its own segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    pub cli: String,
    pub srv: String,
    pub rtr: String,
    pub srv2: String,
    /// The routed upstream link (relay scenarios): a bridge joining the
    /// router's [`UPSTREAM_IF`] and the servers.
    pub up: String,
    /// The sender of planted traffic (the boot storm's synthesised
    /// clients), on its own link to the server.
    pub plant: String,
}

impl Names {
    pub fn of(instance: u16) -> Names {
        let p = match instance {
            0 => "pxe".to_owned(),
            n => format!("pxe{n}"),
        };
        Names {
            cli: format!("{p}-cli"),
            srv: format!("{p}-srv"),
            rtr: format!("{p}-rtr"),
            srv2: format!("{p}-srv2"),
            up: format!("{p}-up"),
            plant: format!("{p}-plant"),
        }
    }

    /// The namespace of light client `i` (boot storms).
    pub fn client(&self, i: usize) -> String {
        format!("{}-c{i}", self.cli.trim_end_matches("-cli"))
    }

    fn all(&self) -> [&str; 6] {
        [
            &self.cli,
            &self.srv,
            &self.rtr,
            &self.srv2,
            &self.up,
            &self.plant,
        ]
    }
}

/// Whether `ns` names a namespace of some lab instance (`pxe-cli`,
/// `pxe3-srv2`, ...).
fn is_lab_ns(ns: &str) -> bool {
    let Some(rest) = ns.strip_prefix("pxe") else {
        return false;
    };
    let role = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let light_client = role
        .strip_prefix("-c")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    light_client || matches!(role, "-cli" | "-srv" | "-rtr" | "-srv2" | "-up" | "-plant")
}

impl Lab {
    /// A link of its own from a namespace ([`Names::plant`], interface
    /// [`PLANT_TX`]) to the server ([`PLANT_IF`]), for planted traffic:
    /// the server's daemons listen on [`SERVER_IF`] only, so what arrives
    /// here is seen by a monitor watching [`PLANT_IF`] and by nothing else.
    pub fn add_planted_link(&mut self) -> Result<String> {
        let ns = self.names.plant.clone();
        self.add_ns(&ns)?;
        ip(
            Some(&ns),
            &[
                "link",
                "add",
                PLANT_TX,
                "type",
                "veth",
                "peer",
                "name",
                PLANT_IF,
                "netns",
                &self.names.srv,
            ],
        )?;
        ip(Some(&ns), &["link", "set", PLANT_TX, "up"])?;
        ip(Some(&self.names.srv), &["link", "set", PLANT_IF, "up"])?;
        Ok(ns)
    }

    /// `n` light clients for a boot storm: namespaces [`Names::client`],
    /// each with `eth0` (MAC `52:54:00:77:01:<i>`, no address) on the
    /// segment. Removed with the lab.
    pub fn add_light_clients(&mut self, n: usize) -> Result<Vec<(String, String)>> {
        let cli = self.names.cli.clone();
        let mut out = Vec::new();
        for i in 0..n {
            let ns = self.names.client(i);
            self.add_ns(&ns)?;
            let port = format!("br-c{i}");
            let mac = format!("52:54:00:77:01:{i:02x}");
            ip(
                Some(&cli),
                &[
                    "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
                ],
            )?;
            ip(Some(&cli), &["link", "set", &port, "master", BRIDGE, "up"])?;
            ip(Some(&ns), &["link", "set", "eth0", "address", &mac, "up"])?;
            out.push((ns, mac));
        }
        Ok(out)
    }
}

/// A switch in namespace `ns`: bridge [`BRIDGE`], up, forwarding at once
/// (STP off, no forward delay), flooding multicast (no snooping).
pub(super) fn add_bridge(ns: &str) -> Result<()> {
    ip(
        Some(ns),
        &[
            "link",
            "add",
            BRIDGE,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
            "mcast_snooping",
            "0",
        ],
    )?;
    ip(Some(ns), &["link", "set", BRIDGE, "up"])?;
    Ok(())
}

/// Connects namespace `ns` to the client segment: a veth whose bridge end
/// `port` joins the bridge in the client namespace and whose other end `ifname`
/// gets `addr`/24 in `ns`.
pub(super) fn plug_into_segment(
    cli: &str,
    ns: &str,
    port: &str,
    ifname: &str,
    addr: &str,
) -> Result<()> {
    ip(
        Some(cli),
        &[
            "link", "add", port, "type", "veth", "peer", "name", ifname, "netns", ns,
        ],
    )?;
    ip(Some(cli), &["link", "set", port, "master", BRIDGE, "up"])?;
    ip(
        Some(ns),
        &["addr", "add", &format!("{addr}/24"), "dev", ifname],
    )?;
    ip(Some(ns), &["link", "set", ifname, "up"])?;
    Ok(())
}

/// Namespaces of lab instances 1 and up (the e2e runs) that exist now.
pub fn leftover_namespaces() -> Vec<String> {
    let zero = Names::of(0);
    lab_namespaces()
        .into_iter()
        .filter(|ns| !zero.all().contains(&ns.as_str()))
        .collect()
}

/// The namespaces of every lab instance that exist now.
pub(super) fn lab_namespaces() -> Vec<String> {
    ip(None, &["netns", "list"])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|ns| is_lab_ns(ns))
        .map(str::to_owned)
        .collect()
}

/// Fails, naming them, when any of the instance's namespaces exist.
pub(super) fn refuse_if_up(names: &Names) -> Result<()> {
    let existing: Vec<&str> = names.all().into_iter().filter(|ns| ns_exists(ns)).collect();
    if !existing.is_empty() {
        bail!(
            "network namespace(s) {} already exist: a lab is already up (or was left \
             behind); run `cargo xtask lab down` first",
            existing.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{CLIENT_NS, ROUTER_NS, SERVER_NS, SERVER2_NS};
    use super::*;

    #[test]
    fn instance_names() {
        let zero = Names::of(0);
        assert_eq!(
            zero.all(),
            [
                CLIENT_NS,
                SERVER_NS,
                ROUTER_NS,
                SERVER2_NS,
                "pxe-up",
                "pxe-plant"
            ],
            "instance 0 is the lab of `lab up`"
        );
        assert_eq!(Names::of(12).srv2, "pxe12-srv2");
        assert_eq!(Names::of(3).client(49), "pxe3-c49");
        assert!(is_lab_ns(&Names::of(0).client(7)));
        for ns in zero.all().into_iter().chain(Names::of(7).all()) {
            assert!(is_lab_ns(ns), "{ns}");
        }
        for other in ["pxe-bench-tx", "pxe", "pxe7", "lab-cli", "pxe-cli2"] {
            assert!(!is_lab_ns(other), "{other}");
        }
    }
}
