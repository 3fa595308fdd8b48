//! Presence across instances: each instance counts the connections on each thread it serves;
//! with several instances behind a load balancer they tell each other their counts (over the
//! event bus, by the composition root), so a thread's presence is the same from every instance.
//! An instance's counts stop counting when it has not been heard from for [`EXPIRES`] (it
//! resends all of them every few seconds while it runs).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chat_threads_domain::ThreadId;

/// How long another instance's counts hold without news from it.
pub const EXPIRES: Duration = Duration::from_secs(15);

/// Other instances' counts, and which counts here changed since the others were told.
#[derive(Debug, Default)]
pub struct Cluster {
    shared: bool,
    changed: HashSet<ThreadId>,
    elsewhere: HashMap<String, Remote>,
}

#[derive(Debug)]
struct Remote {
    heard: Instant,
    counts: HashMap<ThreadId, usize>,
}

impl Cluster {
    /// Starts keeping track of changes here (for [`Cluster::take_changes`]).
    pub(crate) fn share(&mut self) {
        self.shared = true;
    }

    /// The count of `thread_id` here changed.
    pub(crate) fn changed(&mut self, thread_id: ThreadId) {
        if self.shared {
            self.changed.insert(thread_id);
        }
    }

    /// The threads whose count changed since the last call, with their counts here (0: none
    /// left); every thread with connections here when `all`.
    pub(crate) fn take_changes(
        &mut self,
        here: &HashMap<ThreadId, usize>,
        all: bool,
    ) -> Vec<(ThreadId, usize)> {
        let changed = std::mem::take(&mut self.changed);
        if all {
            return here.iter().map(|(t, n)| (*t, *n)).collect();
        }
        changed
            .into_iter()
            .map(|t| (t, here.get(&t).copied().unwrap_or(0)))
            .collect()
    }

    /// What `instance` says of its counts: all of them (`whole`: the others are 0) or the
    /// changed ones.
    pub(crate) fn heard(&mut self, instance: &str, counts: Vec<(ThreadId, usize)>, whole: bool) {
        let now = Instant::now();
        self.elsewhere
            .retain(|_, r| now.duration_since(r.heard) < EXPIRES);
        let remote = self
            .elsewhere
            .entry(instance.to_owned())
            .or_insert_with(|| Remote {
                heard: now,
                counts: HashMap::new(),
            });
        remote.heard = now;
        if whole {
            remote.counts.clear();
        }
        for (thread, n) in counts {
            if n == 0 {
                remote.counts.remove(&thread);
            } else {
                remote.counts.insert(thread, n);
            }
        }
    }

    /// Connections on `thread_id` on the other instances still heard from.
    pub(crate) fn elsewhere(&self, thread_id: ThreadId) -> usize {
        let now = Instant::now();
        self.elsewhere
            .values()
            .filter(|r| now.duration_since(r.heard) < EXPIRES)
            .map(|r| r.counts.get(&thread_id).copied().unwrap_or(0))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_elsewhere_add_up_and_whole_reports_replace() {
        let (a, b) = (ThreadId::new(), ThreadId::new());
        let mut c = Cluster::default();
        c.heard("one", vec![(a, 2)], true);
        c.heard("two", vec![(a, 1), (b, 4)], true);
        assert_eq!(c.elsewhere(a), 3);
        c.heard("two", vec![(a, 0)], false);
        assert_eq!(c.elsewhere(a), 2);
        assert_eq!(c.elsewhere(b), 4);
        c.heard("two", vec![], true);
        assert_eq!(c.elsewhere(b), 0, "a whole report replaces");
        let mut here = HashMap::new();
        c.changed(a);
        assert!(
            c.take_changes(&here, false).is_empty(),
            "not kept unless shared"
        );
        c.share();
        here.insert(a, 1);
        c.changed(a);
        c.changed(b);
        let mut changes = c.take_changes(&here, false);
        changes.sort_by_key(|(t, _)| *t == b);
        assert_eq!(changes, vec![(a, 1), (b, 0)]);
        assert!(c.take_changes(&here, false).is_empty());
        assert_eq!(c.take_changes(&here, true), vec![(a, 1)]);
    }
}
