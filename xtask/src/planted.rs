//! What the planted-traffic sender (`bench_traffic`) says each planted
//! client must be judged, and how an agent's verdicts compare: shared by
//! `bench storm`, `bench flood` and the e2e boot storm.

use std::{collections::HashMap, net::SocketAddr, path::Path};

use anyhow::Result;
use serde_json::Value;

use crate::scrape;

/// The agent's sessions by client MAC.
pub fn sessions(listen: SocketAddr) -> Result<HashMap<String, Value>> {
    let list: Vec<Value> = serde_json::from_str(&scrape::get(listen, "/api/sessions")?)?;
    Ok(by_mac(list))
}

/// Sessions as /api/sessions lists them, by client MAC.
pub fn by_mac(list: Vec<Value>) -> HashMap<String, Value> {
    list.into_iter()
        .filter_map(|v| Some((v["client_mac"].as_str()?.to_owned(), v)))
        .collect()
}

/// What each planted client must be judged: MAC -> (outcome, code).
pub fn expected(path: &Path) -> Result<HashMap<String, (String, Option<String>)>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l)?;
            Ok((
                v["client_mac"].as_str().unwrap_or_default().to_owned(),
                (
                    v["outcome"].as_str().unwrap_or_default().to_owned(),
                    v["code"].as_str().map(str::to_owned),
                ),
            ))
        })
        .collect()
}

/// Planted clients whose live verdict is not the planted one (or missing).
pub fn wrong(
    want: &HashMap<String, (String, Option<String>)>,
    got: &HashMap<String, Value>,
) -> Vec<String> {
    let mut bad = Vec::new();
    for (mac, (outcome, code)) in want {
        let v = got.get(mac);
        let ok = v.is_some_and(|v| {
            v["outcome"].as_str() == Some(outcome.as_str()) && v["code"].as_str() == code.as_deref()
        });
        if !ok {
            bad.push(format!("{mac}: want {outcome} {code:?}, got {v:?}"));
        }
    }
    bad.sort();
    bad
}
