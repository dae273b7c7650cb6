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

pub mod agent;
pub mod alert;
pub mod capture;
pub mod cli;
pub mod counters;
pub mod diagnosis;
pub mod event;
pub mod host;
pub mod http;
pub mod kernel;
pub mod live;
pub mod metrics;
pub mod netns;
pub mod page;
pub mod privilege;
pub mod recent;
pub mod replay;
pub mod report;
pub mod session;
pub mod testing;
pub mod verdict;
pub mod web;
