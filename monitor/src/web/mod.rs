//! The HTTP server's security, configured by `--web.config.file` in the
//! format of Prometheus's exporter-toolkit: TLS (rustls, ring), client
//! certificates, HTTP basic auth and response headers. The routes stay in
//! [`crate::http`]; this module only stands in front of them.
//!
//! - [`config`]: the file's format and its checks;
//! - [`tls`]: the certificates and keys it names, made into a rustls
//!   configuration;
//! - [`reload`]: the configuration in force, read again when a file changes;
//! - [`auth`]: basic auth with bcrypt and a cache of successful checks;
//! - [`serve`]: the listener (TLS handshakes, plain HTTP refused) and the
//!   layer that checks users and adds headers.

pub mod auth;
pub mod config;
pub mod reload;
pub mod serve;
pub mod tls;

pub use reload::WebState;
pub use serve::serve;
