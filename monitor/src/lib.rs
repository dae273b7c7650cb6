//! pxe-monitor's agent: loading the kernel programs, reading their
//! counters, capture files, and the HTTP/Prometheus side.

pub mod alert;
pub mod capture;
pub mod cli;
pub mod counters;
pub mod diagnosis;
pub mod events;
pub mod http;
pub mod live;
pub mod metrics;
pub mod netns;
pub mod probe;
pub mod replay;
pub mod servers;
pub mod testing;
pub mod tracker;
