//! Prometheus metrics: the kernel's counters read at scrape time
//! (`kernel`), the session layer's (`sessions`), the per-server ones with a
//! bounded label (`servers`), the alert delivery's (`alerts`), and the
//! agent's own (build, what is attached).

pub mod alerts;
pub mod kernel;
pub mod servers;
pub mod sessions;

use prometheus::{IntGaugeVec, Opts, Registry};

use crate::kernel::Attachment;

/// The agent's own metrics: build info and what is attached where
/// (interface, attachment).
pub fn agent_registry(attachments: &[(String, Attachment)]) -> prometheus::Result<Registry> {
    let registry = Registry::new();
    let build = IntGaugeVec::new(
        Opts::new(
            "pxe_monitor_build_info",
            "pxe-monitor build; the value is always 1.",
        ),
        &["version"],
    )?;
    build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    registry.register(Box::new(build))?;
    let attached = IntGaugeVec::new(
        Opts::new(
            "pxe_program_attached",
            "1 for each kernel program attached, by interface, hook and mode.",
        ),
        &["interface", "hook", "mode"],
    )?;
    for (interface, a) in attachments {
        attached
            .with_label_values(&[interface.as_str(), a.hook, a.mode])
            .set(1);
    }
    registry.register(Box::new(attached))?;
    Ok(registry)
}
