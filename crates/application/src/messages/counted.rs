//! Appending a message that declares its token counts (one generated elsewhere): the counts go
//! into the principal's usage. Here rather than in `usage`, so `usage` imports no feature.

use chat_threads_domain::{Message, Principal, ThreadId};

use super::{AppendMessage, MessageService, MessageStore};
use crate::error::AppError;
use crate::files::FileStore;
use crate::system::Clock;
use crate::threads::ThreadStore;
use crate::usage::{EXTERNAL_MODEL, Usage, UsageStore, day_of};

impl<S, C> MessageService<S, C>
where
    S: MessageStore + ThreadStore + UsageStore + FileStore,
    C: Clock,
{
    /// Appends a message (see [`MessageService::append`]); token counts it declares (a message
    /// generated elsewhere) count in the principal's usage under its model.
    pub async fn append_counted(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        input: AppendMessage,
    ) -> Result<Message, AppError> {
        let m = self.append(who, thread_id, input).await?;
        if m.prompt_tokens.is_some() || m.completion_tokens.is_some() {
            let count = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
            let usage = Usage {
                prompt_tokens: count(m.prompt_tokens),
                completion_tokens: count(m.completion_tokens),
            };
            let model = m.model.as_ref().map_or(EXTERNAL_MODEL, |n| n.as_str());
            self.store
                .add_usage(&who.owner(), &day_of(m.created_at), model, usage, None)
                .await?;
        }
        Ok(m)
    }
}
