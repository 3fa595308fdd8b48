//! Titles written by a model: an untitled thread gets one after its first reply completes (in
//! the background; a failure leaves it untitled and is logged), and on demand. A title a user
//! set is never replaced by the automatic one. The title's tokens count in usage and, billing
//! on, are paid (ledger kind `title`).

use chat_threads_domain::{Message, Principal, Role, Scope, Thread, ThreadId, Title};

use super::llm::{ChatMessage, ChatRequest, user_id};
use super::{ReplyService, ReplyStores};
use crate::billing::ChargeKind;
use crate::error::AppError;
use crate::events::Event;
use crate::messages::MessageFilter;
use crate::system::Clock;

/// Titles settings (`[titles]`, read straight into this type).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TitleSettings {
    /// Off: no automatic titles (on demand still works).
    pub enabled: bool,
    /// The model; `None` (an empty or blank setting): the reply's (or, on demand, the
    /// thread's).
    #[serde(deserialize_with = "blank_is_none")]
    pub model: Option<String>,
    /// The instruction.
    pub prompt: String,
    /// Longest title kept, in characters.
    pub max_chars: usize,
}

/// An empty or blank string is no value.
fn blank_is_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s: Option<String> = serde::Deserialize::deserialize(d)?;
    Ok(s.filter(|s| !s.trim().is_empty()))
}

/// Characters of the first message and of the reply given to the model.
const EXCERPT_CHARS: usize = 2_000;
/// Tokens a title may take.
const TITLE_TOKENS: u32 = 32;

/// The first line of a model's answer made into a title: no quotes, markdown marks, `Title:`
/// label or final period; whitespace collapsed; cut at a word boundary to `max_chars`.
pub fn clean_title(raw: &str, max_chars: usize) -> String {
    let line = raw
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    let line = line
        .strip_prefix("Title:")
        .or_else(|| line.strip_prefix("title:"))
        .unwrap_or(line);
    let trimmed = line.trim_matches(|c: char| {
        c.is_whitespace() || matches!(c, '"' | '\'' | '*' | '#' | '`' | '“' | '”' | '«' | '»')
    });
    let trimmed = trimmed.trim_end_matches('.');
    let words: Vec<&str> = trimmed
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = String::new();
    for w in words {
        let extra = usize::from(!out.is_empty()) + w.chars().count();
        if out.chars().count() + extra > max_chars {
            if out.is_empty() {
                out = w.chars().take(max_chars).collect();
            }
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

fn excerpt(text: &str) -> String {
    text.chars().take(EXCERPT_CHARS).collect()
}

impl<S: ReplyStores, C: Clock> ReplyService<S, C> {
    /// After a reply completed: titles its thread in the background when it is untitled and
    /// titles are on.
    pub(crate) fn title_in_background(
        &self,
        who: &Principal,
        thread: &Thread,
        reply: &Message,
        reply_model: &str,
        reply_text: &str,
    ) {
        if !self.settings.titles.enabled || !thread.title.as_str().is_empty() {
            return;
        }
        let (service, who, thread_id) = (self.clone(), who.clone(), thread.id);
        let owner = thread.owner.clone();
        let (parent, model) = (reply.parent_id, reply_model.to_owned());
        let reply_text = excerpt(reply_text);
        self.runtime.spawn(async move {
            // The thread's owner's scope: an editor's first exchange titles the owner's thread.
            let scope = Scope::of(owner);
            let first = match parent {
                Some(p) => service.store.get_message(&scope, thread_id, p).await.ok(),
                None => None,
            };
            let Some(first) = first.filter(|m| m.role == Role::User) else {
                return;
            };
            if let Err(e) = service
                .write_title(&who, &scope, thread_id, &model, first.content.as_str(), &reply_text, false)
                .await
            {
                tracing::warn!(cause = %e.chain(), thread_id = %thread_id, "titling a thread failed");
            }
        });
    }

    /// Writes a thread's title now, from its first user message and the reply to it
    /// (`POST /v1/threads/{id}/title`); replaces any title. The thread as stored after.
    pub async fn retitle(&self, who: &Principal, thread_id: ThreadId) -> Result<Thread, AppError> {
        let scope =
            crate::access::scope_for(&self.store, who, thread_id, crate::access::Need::Own).await?;
        let thread = self.replying_thread(&scope, thread_id).await?;
        if !scope.can_write(&thread) {
            return Err(AppError::ThreadNotFound);
        }
        let first = self
            .store
            .list_tree(&scope, thread_id, None, 16, &MessageFilter::default())
            .await?;
        let Some(user) = first
            .iter()
            .find(|m| m.role == Role::User && !m.is_deleted())
        else {
            return Err(chat_threads_domain::DomainError::inconsistent(
                "thread_id",
                "the thread has no user message to title it after",
            )
            .into());
        };
        let reply = first
            .iter()
            .find(|m| m.parent_id == Some(user.id) && m.role == Role::Assistant)
            .map(|m| excerpt(m.content.as_str()))
            .unwrap_or_default();
        let model = self
            .settings
            .titles
            .model
            .clone()
            .or_else(|| thread.model.as_ref().map(ToString::to_string));
        let model = model.as_deref().unwrap_or_default();
        match self
            .write_title(
                who,
                &scope,
                thread_id,
                model,
                user.content.as_str(),
                &reply,
                true,
            )
            .await?
        {
            Some(t) => Ok(t),
            None => self.store.get_thread(&scope, thread_id, false).await,
        }
    }

    /// Asks the model for a title and stores it (only over an empty one unless `replace`);
    /// announces it as `thread.updated`. `None` when a title was there first.
    #[allow(clippy::too_many_arguments)]
    async fn write_title(
        &self,
        who: &Principal,
        scope: &Scope,
        thread_id: ThreadId,
        reply_model: &str,
        first: &str,
        reply: &str,
        replace: bool,
    ) -> Result<Option<Thread>, AppError> {
        let t = &self.settings.titles;
        let wanted = t
            .model
            .as_deref()
            .or((!reply_model.is_empty()).then_some(reply_model));
        let (model_name, model) = self.catalog.resolve(who, wanted, None)?;
        let mut system = t.prompt.clone();
        if !reply.is_empty() {
            system.push_str("\n\nThe assistant answered:\n");
            system.push_str(reply);
        }
        let messages = vec![
            ChatMessage::text("system", system),
            ChatMessage::text("user", excerpt(first)),
        ];
        let (text, usage) = self
            .complete_text(
                &model,
                ChatRequest {
                    model: model_name.clone(),
                    messages,
                    max_tokens: Some(TITLE_TOKENS),
                    sampling: Default::default(),
                    user: Some(user_id(who)),
                    tools: Vec::new(),
                    tool_choice: None,
                    parallel_tool_calls: None,
                },
            )
            .await?;
        self.record_usage(
            who,
            &model_name,
            usage,
            ChargeKind::Title,
            Some(thread_id),
            None,
        )
        .await;
        let max = t.max_chars.min(self.limits.title_chars);
        let cleaned = clean_title(&text, max);
        if cleaned.is_empty() {
            return Err(AppError::ModelError(crate::error::ModelError::Protocol(
                "the model wrote an empty title".into(),
            )));
        }
        let title = Title::parse(&cleaned, &self.limits)?;
        let updated = crate::threads::thread_report(|thread| Event::ThreadUpdated { thread });
        let report = |stored: &Option<chat_threads_domain::Thread>| {
            stored.iter().flat_map(&updated).collect()
        };
        let stored = self
            .store
            .set_generated_title(scope, thread_id, title, replace, &report)
            .await?;
        self.events.publish_all_stored(report(&stored));
        Ok(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::clean_title;

    #[test]
    fn titles_are_one_clean_line_cut_at_a_word() {
        assert_eq!(
            clean_title("\n  \"Trip to Lisbon.\"\nmore", 60),
            "Trip to Lisbon"
        );
        assert_eq!(clean_title("Title: **Budget**", 60), "Budget");
        assert_eq!(
            clean_title("Echo: what is the capital of Portugal?", 20),
            "Echo: what is the"
        );
        assert_eq!(clean_title("Supercalifragilistic", 5), "Super");
        assert_eq!(clean_title("   ", 10), "");
    }
}
