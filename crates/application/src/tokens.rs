//! The token counts of one model call, shared by `usage` (which re-exports them as
//! `usage::Usage`), `billing` (what they cost) and `events` (what a reply used). Kept apart so
//! `billing` does not import `usage`, whose store takes `billing`'s charges.

use serde::{Deserialize, Serialize};

/// Token usage of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: u32,
    /// Tokens in the reply.
    pub completion_tokens: u32,
}
