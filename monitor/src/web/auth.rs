//! HTTP basic authentication against `basic_auth_users` (bcrypt hashes).
//!
//! bcrypt is slow on purpose (cost 10: tens of milliseconds of CPU), and
//! Prometheus sends the same user and password at every scrape, so a
//! successful check is remembered, as exporter-toolkit does: in a bounded
//! cache of keyed digests (HMAC-SHA256 under a key made at start-up) of
//! user, hash and password; neither the password nor a plain digest of it
//! is kept. A changed hash in the file does not match old entries. A
//! failed check is not remembered.
//!
//! bcrypt runs off the async thread, one check at a time (a flood of wrong
//! passwords takes one core, not all). An unknown user costs a bcrypt too,
//! so that timing does not tell which users exist; the cache is searched in
//! constant time.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::Mutex,
};

use axum::http::HeaderValue;
use base64::Engine as _;
use ring::hmac;
use subtle::ConstantTimeEq as _;

/// Successful checks remembered.
pub const CACHE_ENTRIES: usize = 100;

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No `Authorization: Basic` header, or one that does not decode.
    Missing,
    /// The user is not in the file, or the password does not match.
    Wrong,
}

/// Checks credentials; lives as long as the server (the cache survives a
/// reload of the file).
pub struct BasicAuth {
    key: hmac::Key,
    cache: Mutex<VecDeque<hmac::Tag>>,
    /// One bcrypt at a time.
    bcrypt: tokio::sync::Semaphore,
}

impl Default for BasicAuth {
    fn default() -> Self {
        Self::new()
    }
}

impl BasicAuth {
    pub fn new() -> BasicAuth {
        let rng = ring::rand::SystemRandom::new();
        BasicAuth {
            key: hmac::Key::generate(hmac::HMAC_SHA256, &rng)
                .expect("the system random generator works"),
            cache: Mutex::new(VecDeque::with_capacity(CACHE_ENTRIES)),
            bcrypt: tokio::sync::Semaphore::new(1),
        }
    }

    /// Whether the request's `Authorization` header names one of `users`
    /// with its password. No users: everyone is let in.
    pub async fn check(
        &self,
        users: &BTreeMap<String, String>,
        authorization: Option<&HeaderValue>,
    ) -> Result<(), Denied> {
        if users.is_empty() {
            return Ok(());
        }
        let (user, password) = authorization
            .and_then(|h| parse_basic(h.as_bytes()))
            .ok_or(Denied::Missing)?;
        let known = std::str::from_utf8(&user)
            .ok()
            .and_then(|u| users.get(u));
        // An unknown user is checked against a real hash all the same (and
        // refused whatever the result): the same cost as a known one.
        let hash = match known {
            Some(h) => h.clone(),
            None => users.values().next().cloned().unwrap_or_default(),
        };
        let tag = hmac::sign(&self.key, &cache_message(&user, &hash, &password));
        if known.is_some() && self.cached(&tag) {
            return Ok(());
        }
        let ok = {
            let _one = self.bcrypt.acquire().await.map_err(|_| Denied::Wrong)?;
            tokio::task::spawn_blocking(move || bcrypt::verify(&password, &hash))
                .await
                .is_ok_and(|r| r.unwrap_or(false))
        };
        if ok && known.is_some() {
            self.remember(tag);
            Ok(())
        } else {
            Err(Denied::Wrong)
        }
    }

    /// Whether `tag` is cached; every entry is compared, each in constant
    /// time.
    fn cached(&self, tag: &hmac::Tag) -> bool {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let found = cache.iter().fold(subtle::Choice::from(0), |found, t| {
            found | t.as_ref().ct_eq(tag.as_ref())
        });
        found.into()
    }

    /// Adds `tag`, dropping the oldest entry when full.
    fn remember(&self, tag: hmac::Tag) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            cache.pop_front();
        }
        cache.push_back(tag);
    }

    /// Entries in the cache (for tests).
    pub fn cache_len(&self) -> usize {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// The digested message: each part preceded by its length, so that no two
/// triples give the same bytes.
fn cache_message(user: &[u8], hash: &str, password: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(24 + user.len() + hash.len() + password.len());
    for part in [user, hash.as_bytes(), password] {
        m.extend_from_slice(&(part.len() as u64).to_be_bytes());
        m.extend_from_slice(part);
    }
    m
}

/// (user, password) of an `Authorization: Basic` value (the scheme is
/// case-insensitive; the user ends at the first ':').
pub fn parse_basic(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, credentials) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials.trim())
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}
