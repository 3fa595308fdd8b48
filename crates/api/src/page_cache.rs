//! Rendered first pages of active paths, kept so that a page read again is checked against the
//! database instead of read and rendered again.
//!
//! `GET /v1/threads/{id}/messages?limit=N` (no cursor, no filter) is what a client sends to open
//! a thread, and it sends it again and again: on every reload, reconnect and switch back to the
//! thread. Each entry holds the JSON body of such a page and the [`PathStamp`] it was read with
//! (on PostgreSQL: the `xmin` of the thread's row, the id of the transaction that wrote the
//! version of the row the read saw; every write of the thread's messages writes that row). A
//! read with an entry asks the database only for the stamp the page would have now, one column
//! of one row found by its primary key: when it is the same, nothing the page shows has changed
//! since, in this process or any other, and the kept body is the answer. Access is checked as
//! for any read, before the stamp. A backend without stamps (SQLite, where the read costs about
//! what the check would) never fills the cache.
//!
//! Bounded by bytes (`threads.page_cache_bytes`, 0 turns it off), in shards by thread; an entry
//! that was not used since it came in goes first when room is needed (second chance).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::web::Bytes;
use chat_threads_application::messages::PathStamp;
use chat_threads_domain::ThreadId;

/// Shards (each with its own lock and its share of the budget).
const SHARDS: usize = 8;
/// What an entry costs beside its body and its stamp (key, maps, queue), counted against the
/// budget.
const ENTRY_OVERHEAD: usize = 160;

/// Which page: the thread and the page size asked (the first page, no cursor, no filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageKey {
    /// The thread.
    pub thread: ThreadId,
    /// `limit`.
    pub limit: u32,
}

/// A kept page.
struct Entry {
    stamp: PathStamp,
    body: Bytes,
    /// Which insertion this is (older queue slots of the key are stale).
    generation: u64,
    /// Used since it came in or since its last second chance.
    used: bool,
    cost: usize,
}

#[derive(Default)]
struct Shard {
    map: HashMap<PageKey, Entry>,
    /// Keys in the order they came in, with the generation they came in with.
    queue: VecDeque<(PageKey, u64)>,
    bytes: usize,
    generation: u64,
}

impl Shard {
    fn remove(&mut self, key: &PageKey) {
        if let Some(e) = self.map.remove(key) {
            self.bytes -= e.cost;
        }
    }

    /// Makes room for `need` bytes within `budget`: the oldest entry goes unless it was used,
    /// which sends it to the back once.
    fn make_room(&mut self, need: usize, budget: usize) {
        while self.bytes + need > budget {
            let Some((key, generation)) = self.queue.pop_front() else {
                return;
            };
            let Some(e) = self.map.get_mut(&key) else {
                continue;
            };
            if e.generation != generation {
                continue;
            }
            if e.used {
                e.used = false;
                self.queue.push_back((key, generation));
            } else {
                self.remove(&key);
            }
        }
    }
}

/// The cache (one per process, shared by every HTTP worker).
pub struct PageCache {
    shards: Vec<Mutex<Shard>>,
    /// Each shard's share of the budget.
    budget: usize,
    /// Pages answered as kept.
    answered: AtomicU64,
    /// Pages read and rendered through the cache.
    rendered: AtomicU64,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("budget", &(self.budget * SHARDS))
            .finish_non_exhaustive()
    }
}

impl PageCache {
    /// A cache of at most `bytes` (0: off).
    pub fn new(bytes: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            budget: bytes / SHARDS,
            answered: AtomicU64::new(0),
            rendered: AtomicU64::new(0),
        }
    }

    /// Counts a page answered as kept (`true`) or read and rendered.
    pub fn count(&self, answered: bool) {
        let c = if answered {
            &self.answered
        } else {
            &self.rendered
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Pages answered as kept, and pages read and rendered, since the start.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.answered.load(Ordering::Relaxed),
            self.rendered.load(Ordering::Relaxed),
        )
    }

    /// Whether it keeps anything.
    pub fn enabled(&self) -> bool {
        self.budget > 0
    }

    fn shard(&self, key: &PageKey) -> Option<std::sync::MutexGuard<'_, Shard>> {
        // UUIDv7's low bits are random.
        let i = (key.thread.as_uuid().as_u128() % SHARDS as u128) as usize;
        // A poisoned shard (a panic while it was held) is only a cache: skip it.
        self.shards.get(i).and_then(|s| s.lock().ok())
    }

    /// The kept page and the stamp it was read with.
    pub fn get(&self, key: &PageKey) -> Option<(PathStamp, Bytes)> {
        let mut shard = self.shard(key)?;
        let e = shard.map.get_mut(key)?;
        e.used = true;
        Some((e.stamp, e.body.clone()))
    }

    /// Keeps `body`, read with `stamp`, for `key` (replacing what was kept). A body over an
    /// eighth of a shard's budget is not kept.
    pub fn put(&self, key: PageKey, stamp: PathStamp, body: Bytes) {
        let cost = body.len() + stamp.size() + ENTRY_OVERHEAD;
        if !self.enabled() || cost > self.budget / 8 {
            return;
        }
        let Some(mut shard) = self.shard(&key) else {
            return;
        };
        shard.remove(&key);
        let budget = self.budget;
        shard.make_room(cost, budget);
        shard.generation += 1;
        let generation = shard.generation;
        shard.map.insert(
            key,
            Entry {
                stamp,
                body,
                generation,
                used: false,
                cost,
            },
        );
        shard.queue.push_back((key, generation));
        shard.bytes += cost;
        // Replaced keys leave stale slots behind; drop them before the queue outgrows the map.
        if shard.queue.len() > 2 * shard.map.len() + 64 {
            let Shard { map, queue, .. } = &mut *shard;
            queue.retain(|(k, g)| map.get(k).is_some_and(|e| e.generation == *g));
        }
    }

    /// Drops what is kept for `key` (it no longer matches the database).
    pub fn forget(&self, key: &PageKey) {
        if let Some(mut shard) = self.shard(key) {
            shard.remove(key);
        }
    }

    /// Bytes kept, entries counted as against the budget.
    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|s| s.lock().ok().map(|s| s.bytes))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(n: i64) -> PathStamp {
        PathStamp::new(n)
    }

    fn key(thread: ThreadId) -> PageKey {
        PageKey { thread, limit: 50 }
    }

    #[test]
    fn a_page_comes_back_with_its_stamp_until_replaced_or_forgotten() {
        let cache = PageCache::new(1 << 20);
        let k = key(ThreadId::new());
        assert!(cache.get(&k).is_none());
        let s1 = stamp(1);
        cache.put(k, s1, Bytes::from_static(b"one"));
        let (s, body) = cache.get(&k).unwrap();
        assert_eq!((s, &body[..]), (s1, &b"one"[..]));
        let s2 = stamp(2);
        cache.put(k, s2, Bytes::from_static(b"two"));
        assert_eq!(cache.get(&k).unwrap().0, s2);
        // Another limit is another page.
        assert!(cache.get(&PageKey { limit: 20, ..k }).is_none());
        cache.forget(&k);
        assert!(cache.get(&k).is_none());
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn it_stays_within_its_budget_and_keeps_what_is_used() {
        let cache = PageCache::new(SHARDS * 64 * 1024);
        let body = Bytes::from(vec![b'x'; 4000]);
        let threads: Vec<ThreadId> = (0..400).map(|_| ThreadId::new()).collect();
        let kept = threads[0];
        cache.put(key(kept), stamp(0), body.clone());
        for t in &threads[1..] {
            // The first page is read again and again while the others come and go.
            assert!(cache.get(&key(kept)).is_some(), "a page in use was dropped");
            cache.put(key(*t), stamp(0), body.clone());
            assert!(cache.bytes() <= SHARDS * 64 * 1024);
        }
        let held = threads
            .iter()
            .filter(|t| cache.get(&key(**t)).is_some())
            .count();
        assert!(held > 50 && held < 400, "{held} pages kept");
    }

    #[test]
    fn off_or_too_large_keeps_nothing() {
        let off = PageCache::new(0);
        let k = key(ThreadId::new());
        off.put(k, stamp(1), Bytes::from_static(b"x"));
        assert!(!off.enabled() && off.get(&k).is_none());
        let small = PageCache::new(SHARDS * 8 * 1024);
        small.put(k, stamp(1), Bytes::from(vec![0u8; 2048]));
        assert!(small.get(&k).is_none());
    }
}
