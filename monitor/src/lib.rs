//! pxe-monitor's agent: loading the kernel programs, reading their
//! counters, capture files, and the HTTP/Prometheus side.

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
pub mod replay;
pub mod servers;
pub mod testing;
pub mod tracker;
