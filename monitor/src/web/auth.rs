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
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
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
    bcrypt_runs: AtomicU64,
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
            bcrypt_runs: AtomicU64::new(0),
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
        let known = std::str::from_utf8(&user).ok().and_then(|u| users.get(u));
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
            self.bcrypt_runs.fetch_add(1, Ordering::Relaxed);
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

    /// bcrypt verifications run so far.
    pub fn bcrypt_runs(&self) -> u64 {
        self.bcrypt_runs.load(Ordering::Relaxed)
    }

    /// Entries in the cache.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> HeaderValue {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {b64}")).unwrap()
    }

    fn users(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(u, p)| (u.to_string(), bcrypt::hash(p, 4).unwrap()))
            .collect()
    }

    #[tokio::test]
    async fn the_right_password_passes_and_is_then_cached() {
        let auth = BasicAuth::new();
        let users = users(&[("prometheus", "s3cret"), ("grafana", "other")]);
        let ok = basic("prometheus", "s3cret");
        assert_eq!(auth.check(&users, Some(&ok)).await, Ok(()));
        assert_eq!((auth.bcrypt_runs(), auth.cache_len()), (1, 1));
        // Later scrapes: no bcrypt.
        for _ in 0..3 {
            assert_eq!(auth.check(&users, Some(&ok)).await, Ok(()));
        }
        assert_eq!((auth.bcrypt_runs(), auth.cache_len()), (1, 1));
        // Another user has their own entry.
        assert_eq!(
            auth.check(&users, Some(&basic("grafana", "other"))).await,
            Ok(())
        );
        assert_eq!((auth.bcrypt_runs(), auth.cache_len()), (2, 2));
    }

    #[tokio::test]
    async fn wrong_unknown_and_missing_credentials_are_refused_and_not_cached() {
        let auth = BasicAuth::new();
        let users = users(&[("prometheus", "s3cret")]);
        let wrong = basic("prometheus", "s3cret ");
        for _ in 0..2 {
            assert_eq!(auth.check(&users, Some(&wrong)).await, Err(Denied::Wrong));
        }
        // Each wrong attempt pays a bcrypt: nothing cached.
        assert_eq!((auth.bcrypt_runs(), auth.cache_len()), (2, 0));
        // An unknown user with a configured user's password: refused, at
        // the cost of a bcrypt like a known user.
        let unknown = basic("root", "s3cret");
        assert_eq!(auth.check(&users, Some(&unknown)).await, Err(Denied::Wrong));
        assert_eq!((auth.bcrypt_runs(), auth.cache_len()), (3, 0));
        assert_eq!(auth.check(&users, None).await, Err(Denied::Missing));
        for bad in ["Bearer abc", "Basic !!!", "Basic", "Basic cHJvbWV0aGV1cw=="] {
            let h = HeaderValue::from_static(bad);
            assert_eq!(
                auth.check(&users, Some(&h)).await,
                Err(Denied::Missing),
                "{bad}"
            );
        }
        assert_eq!(auth.bcrypt_runs(), 3);
    }

    #[tokio::test]
    async fn no_users_lets_everyone_in() {
        let auth = BasicAuth::new();
        assert_eq!(auth.check(&BTreeMap::new(), None).await, Ok(()));
        assert_eq!(auth.bcrypt_runs(), 0);
    }

    #[tokio::test]
    async fn a_changed_hash_does_not_match_the_cached_check() {
        let auth = BasicAuth::new();
        let old = users(&[("prometheus", "old")]);
        let h = basic("prometheus", "old");
        assert_eq!(auth.check(&old, Some(&h)).await, Ok(()));
        // The file now holds the hash of a new password.
        let new = users(&[("prometheus", "new")]);
        assert_eq!(auth.check(&new, Some(&h)).await, Err(Denied::Wrong));
        assert_eq!(
            auth.check(&new, Some(&basic("prometheus", "new"))).await,
            Ok(())
        );
        // The user removed: refused even though cached.
        let other = users(&[("grafana", "x")]);
        assert_eq!(
            auth.check(&other, Some(&basic("prometheus", "new"))).await,
            Err(Denied::Wrong)
        );
    }

    #[tokio::test]
    async fn the_cache_is_bounded() {
        let auth = BasicAuth::new();
        let names: Vec<String> = (0..CACHE_ENTRIES + 5).map(|i| format!("u{i}")).collect();
        let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "pw")).collect();
        let users = users(&pairs);
        for n in &names {
            assert_eq!(auth.check(&users, Some(&basic(n, "pw"))).await, Ok(()));
        }
        assert_eq!(auth.cache_len(), CACHE_ENTRIES);
        // The oldest went out: checking it again runs bcrypt; the newest
        // does not.
        let runs = auth.bcrypt_runs();
        assert_eq!(
            auth.check(&users, Some(&basic(&names[CACHE_ENTRIES + 4], "pw")))
                .await,
            Ok(())
        );
        assert_eq!(auth.bcrypt_runs(), runs);
        assert_eq!(auth.check(&users, Some(&basic("u0", "pw"))).await, Ok(()));
        assert_eq!(auth.bcrypt_runs(), runs + 1);
    }

    #[test]
    fn basic_credentials_parse_as_browsers_and_prometheus_send_them() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(
            parse_basic(format!("basic {}", b64("u:p:q")).as_bytes()),
            Some((b"u".to_vec(), b"p:q".to_vec()))
        );
        assert_eq!(
            parse_basic(format!("Basic {}", b64(":")).as_bytes()),
            Some((Vec::new(), Vec::new()))
        );
        assert_eq!(
            parse_basic(format!("Digest {}", b64("u:p")).as_bytes()),
            None
        );
    }
}
