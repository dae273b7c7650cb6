//! The web configuration in force, read again when its files change.
//!
//! At each new connection and each request, the web config file and the
//! PEM files it names are `stat`ed; when one changed (modification time,
//! size or inode: a renewed certificate moved into place counts), they are
//! all read and checked again. A good result is used from then on (new TLS
//! handshakes, the users and headers of new requests); a bad one is logged
//! and the previous configuration stays in force until the files change
//! again, so a renewal caught half-written (the new certificate beside the
//! old key) does not take the server down. Turning TLS on or off needs a
//! restart, as with exporter-toolkit.

use std::{
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::SystemTime,
};

use rustls::ServerConfig;
use tracing::{error, info};

use super::{
    config::{self, WebConfig},
    tls,
};

/// A web configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] config::Error),
    #[error(transparent)]
    Tls(#[from] tls::Error),
    #[error(
        "web config file {}: TLS was {was} at start-up; turning it {} needs a restart",
        path.display(),
        if *was == "on" { "off" } else { "on" }
    )]
    TlsToggled { path: PathBuf, was: &'static str },
}

/// A checked configuration and what was made of it.
#[derive(Debug)]
pub struct Loaded {
    pub config: WebConfig,
    /// `Some` when TLS is on.
    pub tls: Option<Arc<ServerConfig>>,
}

impl Loaded {
    /// Reads and checks `path` and every file it names; with the stamps of
    /// the files read (or tried), each taken before reading it, so that a
    /// write during the read shows as a change at the next look.
    pub fn read(path: &Path) -> (Vec<(PathBuf, Stamp)>, Result<Loaded, Error>) {
        let mut seen = vec![(path.to_owned(), stamp(path))];
        let config = match WebConfig::load(path) {
            Ok(c) => c,
            Err(e) => return (seen, Err(e.into())),
        };
        seen.extend(
            config
                .tls
                .iter()
                .flat_map(|t| t.files())
                .map(|f| (f.to_owned(), stamp(f))),
        );
        let tls = config
            .tls
            .as_ref()
            .map(|t| tls::server_config(t, path, config.http2))
            .transpose();
        (
            seen,
            tls.map(|tls| Loaded { config, tls }).map_err(Error::from),
        )
    }
}

/// What identifies one version of a file.
pub type Stamp = Option<(SystemTime, u64, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino(), m.dev()))
}

/// The configuration in force, and the files (with their stamps) of the
/// last one read, good or bad.
pub struct WebState {
    path: PathBuf,
    inner: Mutex<Inner>,
}

struct Inner {
    current: Arc<Loaded>,
    seen: Vec<(PathBuf, Stamp)>,
}

impl WebState {
    /// Reads `path` at start-up: any error is returned (nothing runs with a
    /// bad file).
    pub fn load(path: &Path) -> Result<WebState, Error> {
        let (seen, loaded) = Loaded::read(path);
        Ok(WebState {
            path: path.to_owned(),
            inner: Mutex::new(Inner {
                current: Arc::new(loaded?),
                seen,
            }),
        })
    }

    /// The files it watches: the configuration file and those it names.
    pub fn files(&self) -> Vec<PathBuf> {
        self.lock().seen.iter().map(|(p, _)| p.clone()).collect()
    }

    /// Whether TLS is on (fixed for the process's life).
    pub fn tls(&self) -> bool {
        self.lock().current.tls.is_some()
    }

    /// The configuration to use now, read again first if a file changed.
    pub fn current(&self) -> Arc<Loaded> {
        let mut inner = self.lock();
        if inner.seen.iter().all(|(p, s)| stamp(p) == *s) {
            return inner.current.clone();
        }
        let (seen, loaded) = Loaded::read(&self.path);
        inner.seen = seen;
        match loaded.and_then(|new| self.same_tls(&inner.current, new)) {
            Ok(new) => {
                info!(file = %self.path.display(), tls = new.tls.is_some(), users = new.config.users.len(), "web config file read again");
                inner.current = Arc::new(new);
            }
            Err(e) => error!(
                error = %e,
                "web config file changed but cannot be used; the previous configuration stays in force until it changes again"
            ),
        }
        inner.current.clone()
    }

    /// `new`, unless it turns TLS on or off.
    fn same_tls(&self, current: &Loaded, new: Loaded) -> Result<Loaded, Error> {
        if new.tls.is_some() != current.tls.is_some() {
            return Err(Error::TlsToggled {
                path: self.path.clone(),
                was: if current.tls.is_some() { "on" } else { "off" },
            });
        }
        Ok(new)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}
