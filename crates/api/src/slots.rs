//! Connection slots: the open connections of the process counted against
//! `server.max_connections`, and room made for a newcomer at the limit by closing the oldest
//! connection that has not yet sent a whole request head (an idle or slow-loris connection).
//! A connection that has spoken keeps its slot until it closes or times out as before; when
//! every slot holds one, the newcomer is refused at once (503, see `transport`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Context;

use futures_util::task::AtomicWaker;

/// One admitted connection, as its slot sees it.
#[derive(Debug, Default)]
pub struct Conn {
    /// Its first request head arrived whole: a client, never closed to make room.
    spoke: AtomicBool,
    /// Asked to close to make room: its stream reads end-of-stream from now on.
    evicted: AtomicBool,
    /// Wakes its reader when it is asked to close.
    waker: AtomicWaker,
    /// The last bytes it sent before its first head was whole (a head's end may be split
    /// across reads).
    tail: Mutex<Vec<u8>>,
}

impl Conn {
    /// Whether it was asked to close; registers the reader to be woken when it will be.
    pub fn evicted(&self, cx: &Context<'_>) -> bool {
        if self.spoke.load(Ordering::Acquire) {
            return false;
        }
        self.waker.register(cx.waker());
        self.evicted.load(Ordering::Acquire)
    }

    /// Notes what the connection sent, until its first head is whole (`\r\n\r\n`).
    pub fn read(&self, bytes: &[u8]) {
        if bytes.is_empty() || self.spoke.load(Ordering::Acquire) {
            return;
        }
        let Ok(mut tail) = self.tail.lock() else {
            return;
        };
        tail.extend_from_slice(bytes);
        if tail.windows(4).any(|w| w == b"\r\n\r\n") {
            self.spoke.store(true, Ordering::Release);
            tail.clear();
            tail.shrink_to_fit();
        } else {
            let keep = tail.len().saturating_sub(3);
            tail.drain(..keep);
        }
    }

    fn evict(&self) -> bool {
        if self.spoke.load(Ordering::Acquire) || self.evicted.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.waker.wake();
        true
    }
}

/// The slots of the process.
#[derive(Debug, Clone)]
pub struct Gate {
    open: Arc<AtomicUsize>,
    limit: usize,
    /// Connections that had not spoken when admitted, oldest first (pruned as it grows).
    quiet: Arc<Mutex<VecDeque<Weak<Conn>>>>,
}

/// One admitted connection's slot; dropping it makes room for another.
#[derive(Debug)]
pub struct Pass {
    open: Arc<AtomicUsize>,
    /// The connection it stands for.
    pub conn: Arc<Conn>,
}

impl Gate {
    /// Slots for `limit` connections.
    pub fn new(limit: usize) -> Self {
        Self {
            open: Arc::new(AtomicUsize::new(0)),
            limit,
            quiet: Arc::default(),
        }
    }

    /// A slot while fewer than the limit are open; at the limit, the slot of the oldest
    /// connection that has not spoken yet (it is asked to close; the count is over the limit
    /// until it has); else none.
    pub fn enter(&self) -> Option<Pass> {
        let admitted = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .is_ok();
        let Ok(mut quiet) = self.quiet.lock() else {
            return None;
        };
        if !admitted {
            let victim = std::iter::from_fn(|| quiet.pop_front())
                .filter_map(|w| w.upgrade())
                .find(|c| c.evict());
            victim.as_ref()?;
            tracing::info!("closed a connection that sent no request head, to admit a new one");
            self.open.fetch_add(1, Ordering::AcqRel);
        }
        if quiet.len() > self.limit.saturating_mul(2).max(64) {
            quiet.retain(|w| {
                w.upgrade()
                    .is_some_and(|c| !c.spoke.load(Ordering::Acquire))
            });
        }
        let conn = Arc::new(Conn::default());
        quiet.push_back(Arc::downgrade(&conn));
        Some(Pass {
            open: self.open.clone(),
            conn,
        })
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_limit_the_oldest_silent_connection_makes_room() {
        let gate = Gate::new(2);
        let talker = gate.enter().unwrap();
        talker.conn.read(b"GET / HTTP/1.1\r\nHost: x\r");
        talker.conn.read(b"\n\r\n");
        let idle = gate.enter().unwrap();
        // Full: the idle one is asked to close, the talker is not.
        let newcomer = gate.enter().unwrap();
        assert!(idle.conn.evicted.load(Ordering::Acquire));
        assert!(!talker.conn.evicted.load(Ordering::Acquire));
        drop(idle);
        // The newcomer speaks too: nobody is left to make room.
        newcomer.conn.read(b"GET / HTTP/1.1\r\n\r\n");
        assert!(gate.enter().is_none());
        drop(talker);
        assert!(gate.enter().is_some());
    }
}
