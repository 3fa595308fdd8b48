//! Limits and presence for the whole cluster (PostgreSQL, several instances): each instance
//! decides every request from its own memory, and every `rate_limit.cluster_sync_ms` sends the
//! others, over the event bus, what it let through of each rate limit and which of its presence
//! counts changed (all of them every few seconds, so a new instance learns them and a stopped
//! one's expire). No database round trip is added to a request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_threads_api::rate_limit::RateLimits;
use chat_threads_application::events::ThreadEvents;
use chat_threads_domain::ThreadId;
use chat_threads_infrastructure::bus::PgBridge;
use serde_json::{Map, Value, json};

/// How often an instance sends all its presence counts (others forget them after
/// [`chat_threads_application::presence::EXPIRES`]).
const WHOLE_EVERY: Duration = Duration::from_secs(5);

/// Bytes of entries per signal (the bus's notifications hold 7,800 with the envelope).
const CHUNK: usize = 6_000;

/// Starts sharing `limits` and the presence counts of `events` with the other instances.
pub fn share(
    bridge: &PgBridge,
    limits: &RateLimits,
    events: &ThreadEvents,
    every: Duration,
    runtime: &tokio::runtime::Handle,
) {
    let families = limits.families();
    for (_, limiter) in &families {
        limiter.share();
    }
    events.share_presence();

    let heard = families.clone();
    let local = events.clone();
    bridge.on_signal(Arc::new(move |kind, from, body| match kind {
        "limits" => {
            let family = body["f"].as_str().unwrap_or_default();
            if let Some((_, limiter)) = heard.iter().find(|(name, _)| *name == family) {
                for (key, n) in body["d"].as_object().into_iter().flatten() {
                    let n = u32::try_from(n.as_u64().unwrap_or(0)).unwrap_or(u32::MAX);
                    limiter.spend_elsewhere(key, n);
                }
            }
        }
        "presence" => {
            let counts = body["c"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(thread, n)| {
                    let thread = uuid::Uuid::parse_str(thread).ok()?;
                    let n = usize::try_from(n.as_u64()?).ok()?;
                    Some((ThreadId::from_uuid(thread), n))
                })
                .collect();
            let whole = body["whole"].as_bool().unwrap_or(false);
            local.presence_elsewhere(from, counts, whole);
        }
        _ => {}
    }));

    let bridge = bridge.clone();
    let events = events.clone();
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut told_all: Option<Instant> = None;
        loop {
            tick.tick().await;
            for (name, limiter) in &families {
                let spent = limiter.take_spent();
                for d in chunks(spent.into_iter().map(|(k, n)| (k, json!(n)))) {
                    bridge.signal("limits", &json!({"f": name, "d": d}));
                }
            }
            let all = told_all.is_none_or(|at| at.elapsed() >= WHOLE_EVERY);
            let counts = events.presence_changes(all);
            if all {
                told_all = Some(Instant::now());
            }
            let mut parts = chunks(
                counts
                    .into_iter()
                    .map(|(t, n)| (t.as_uuid().to_string(), json!(n))),
            );
            if all && parts.is_empty() {
                parts.push(Map::new());
            }
            for (i, c) in parts.into_iter().enumerate() {
                // The first part of a whole report replaces what the others knew.
                bridge.signal("presence", &json!({"whole": all && i == 0, "c": c}));
            }
        }
    });
}

/// `entries` in objects of about [`CHUNK`] bytes each.
fn chunks(entries: impl Iterator<Item = (String, Value)>) -> Vec<Map<String, Value>> {
    let mut out = Vec::new();
    let mut current = Map::new();
    let mut size = 0;
    for (key, value) in entries {
        let len = key.len() + value.to_string().len() + 4;
        if size + len > CHUNK && !current.is_empty() {
            out.push(std::mem::take(&mut current));
            size = 0;
        }
        size += len;
        current.insert(key, value);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_split_into_signals_that_fit() {
        let entries = (0..1000).map(|i| (format!("user:someone-{i:04}"), json!(i)));
        let parts = chunks(entries);
        assert!(parts.len() > 1);
        assert_eq!(parts.iter().map(Map::len).sum::<usize>(), 1000);
        for p in &parts {
            assert!(Value::Object(p.clone()).to_string().len() < 7_000);
        }
        assert!(chunks(std::iter::empty()).is_empty());
    }
}
