//! Settings of live delivery to connected clients: the WebSocket's limits and timers. (SSE's
//! keep-alive is `[replies] sse_keepalive_secs`.)

use std::time::Duration;

/// `[websocket]` as configured: the configuration deserializes into it (config/default.toml
/// documents every key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSocketSettings {
    /// Largest frame, bytes.
    pub max_frame_bytes: usize,
    /// Largest message (continuations aggregated), bytes.
    pub max_message_bytes: usize,
    /// Outgoing queue per connection, messages.
    pub queue: usize,
    /// Ping interval, s.
    pub heartbeat_secs: u64,
    /// Closed after this long without hearing from the client, s.
    pub idle_timeout_secs: u64,
    /// Time allowed to authenticate with a first `auth` frame, s.
    pub auth_timeout_secs: u64,
}

impl WebSocketSettings {
    /// Ping interval.
    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_secs)
    }

    /// Closed after this long without hearing from the client.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// Time allowed to authenticate with a first `auth` frame.
    pub fn auth_timeout(&self) -> Duration {
        Duration::from_secs(self.auth_timeout_secs)
    }
}
