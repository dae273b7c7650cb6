//! pxe-monitor's agent, in layers that depend one way:
//!
//! - `kernel` (load, attach, read maps; `kernel::ring` reads events) and
//!   `capture` (pcap/pcapng frames) with `host` (the same stages on the
//!   host) are the two sources of [`event`]s;
//! - `session` follows each client and hands out [`verdict`]s, worded by
//!   `diagnosis`;
//! - the sinks: `metrics`, `report` (JSON, text, log lines), `recent`,
//!   `page` (the landing page) and `http` (the routes, behind `web`: TLS
//!   and basic auth), `alert`;
//! - the drivers `live` and `replay` run the same tracker; `agent` wires the
//!   live one up (and has `privilege` drop what it no longer needs once
//!   attached); `cli` holds the flags.
//!
//! The `agent` feature (on by default) holds the live agent: `kernel`, the
//! sinks that serve or send (`metrics`, `page`, `http`, `web`, `alert`),
//! `live`, `agent`, `privilege`, `netns` and `cli`. Without it the library
//! is what reads bytes from outside and judges boots, which is what the
//! fuzz targets build.

#[cfg(feature = "agent")]
pub mod agent;
#[cfg(feature = "agent")]
pub mod alert;
pub mod capture;
#[cfg(feature = "agent")]
pub mod cli;
pub mod counters;
pub mod diagnosis;
pub mod event;
pub mod host;
#[cfg(feature = "agent")]
pub mod http;
#[cfg(feature = "agent")]
pub mod kernel;
#[cfg(feature = "agent")]
pub mod live;
#[cfg(feature = "agent")]
pub mod metrics;
#[cfg(feature = "agent")]
pub mod netns;
#[cfg(feature = "agent")]
pub mod page;
#[cfg(feature = "agent")]
pub mod privilege;
pub mod recent;
pub mod replay;
pub mod report;
pub mod session;
pub mod testing;
pub mod verdict;
#[cfg(feature = "agent")]
pub mod web;
