//! Completions that are not stored: a list of messages in, the model's answer out, through the
//! same catalog, allowlists, daily quota and balances as replies (the OpenAI-compatible
//! `chat/completions` and `responses` with `store: false`). Nothing of the conversation is
//! written; the tokens count in usage and, billing on, are paid like a reply's: the most a
//! completion may cost is held before the model is called, and settled when it ends — also
//! when its client leaves mid-way (what arrived until then is paid) or its instance dies (the
//! hold goes, with the instance).

use chat_threads_domain::Principal;
use futures_util::StreamExt;

use crate::billing::ChargeKind;
use crate::error::AppError;
use crate::replies::llm::{
    ChatEvent, ChatMessage, ChatRequest, ChatStream, ModelError, Sampling, ToolCall, ToolCalls,
    ToolOffer, check_tools, user_id,
};
use crate::replies::{ReplyService, ReplyStores, prompt};
use crate::system::Clock;
use crate::usage::Usage;

/// A completion under way: read `stream`, then call [`Completion::finish`] with what arrived.
/// Dropped before that (its client left), it pays for what it had read and lets its hold go.
pub struct Completion<S: ReplyStores, C: Clock> {
    service: ReplyService<S, C>,
    who: Principal,
    /// The model that answers.
    pub model: String,
    prompt_cost: usize,
    /// The model's answer.
    pub stream: ChatStream,
    /// The balance's hold (billing on, a priced model).
    hold: Option<uuid::Uuid>,
    /// What the model said so far (text, calls' names and arguments), for a completion
    /// dropped before its end.
    said: String,
    /// Usage recorded and the hold settled.
    settled: bool,
}

impl<S: ReplyStores, C: Clock> std::fmt::Debug for Completion<S, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Completion")
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl<S: ReplyStores, C: Clock> ReplyService<S, C> {
    /// Starts a completion that is not stored. Refused like a reply: a model outside the
    /// caller's catalog (422), the daily quota spent (429), a balance whose available amount
    /// cannot cover the most it may cost (402) — that amount is held until the completion
    /// ends, so concurrent completions, on any instance, never spend the same money twice.
    pub async fn complete_unstored(
        &self,
        who: &Principal,
        model: Option<&str>,
        messages: Vec<ChatMessage>,
        max_tokens: Option<u32>,
        sampling: Sampling,
        offer: ToolOffer,
    ) -> Result<Completion<S, C>, AppError> {
        let sampling = sampling.check()?;
        check_tools(&offer.tools, offer.choice.as_ref())?;
        let (model_name, client) = self.catalog.resolve(who, model, None)?;
        if messages.iter().any(|m| !m.images.is_empty()) && !self.catalog.sees_images(&model_name) {
            return Err(AppError::ImagesNotSupported { model: model_name });
        }
        self.within_quota(who).await?;
        let max_tokens = self.settings.max_tokens(max_tokens);
        let counter = self.counter.as_ref();
        let prompt_cost: usize = messages
            .iter()
            .map(|m| prompt::cost(counter, &m.content) + m.images.len() * prompt::IMAGE_TOKENS)
            .sum();
        let hold = self
            .hold_for(who, &model_name, prompt_cost, max_tokens)
            .await?;
        let stream = client.stream(ChatRequest {
            model: model_name.clone(),
            messages,
            max_tokens,
            sampling,
            user: Some(user_id(who)),
            tools: offer.tools,
            tool_choice: offer.choice,
            parallel_tool_calls: offer.parallel,
        });
        Ok(Completion {
            service: self.clone(),
            who: who.clone(),
            model: model_name,
            prompt_cost,
            stream,
            hold,
            said: String::new(),
            settled: false,
        })
    }

    /// The provider's usage, else an estimate: the prompt's cost and the text's tokens.
    pub(crate) fn usage_or_estimate(
        &self,
        reported: Option<crate::usage::Usage>,
        prompt_cost: usize,
        text: &str,
    ) -> crate::usage::Usage {
        reported.unwrap_or(crate::usage::Usage {
            prompt_tokens: u32::try_from(prompt_cost).unwrap_or(u32::MAX),
            completion_tokens: u32::try_from(self.counter.count(text)).unwrap_or(u32::MAX),
        })
    }

    /// The model's whole text answer to a request (summaries, titles), with the tokens it
    /// cost ([`Self::usage_or_estimate`]); tool calls and reasoning are ignored.
    pub(crate) async fn complete_text(
        &self,
        model: &crate::replies::llm::SharedModel,
        request: crate::replies::llm::ChatRequest,
    ) -> Result<(String, crate::usage::Usage), AppError> {
        use futures_util::StreamExt;
        let prompt_cost =
            crate::replies::prompt::messages_cost(self.counter.as_ref(), &request.messages);
        let mut stream = model.stream(request);
        let mut text = String::new();
        let mut usage = None;
        while let Some(item) = stream.next().await {
            match item.map_err(AppError::ModelError)? {
                crate::replies::llm::ChatEvent::Delta(d) => text.push_str(&d),
                crate::replies::llm::ChatEvent::Usage(u) => usage = Some(u),
                crate::replies::llm::ChatEvent::ToolCall { .. }
                | crate::replies::llm::ChatEvent::Reasoning(_) => {}
            }
        }
        let usage = self.usage_or_estimate(usage, prompt_cost, &text);
        Ok((text, usage))
    }

    /// Holds what a completion may cost at most (billing on, a priced model) — its prompt and
    /// its reply budget at the model's prices — or refuses with 402 when the payer's available
    /// balance cannot cover it. The hold's id.
    async fn hold_for(
        &self,
        who: &Principal,
        model: &str,
        prompt_tokens: usize,
        max_tokens: Option<u32>,
    ) -> Result<Option<uuid::Uuid>, AppError> {
        let billing = &self.settings.billing;
        let Some(price) = self
            .catalog
            .price(model)
            .filter(|p| billing.enabled && !p.is_free())
        else {
            return Ok(None);
        };
        let hold = crate::billing::Hold {
            account: billing.payer_of(who),
            org: crate::billing::org_of(who).map(str::to_owned),
            amount: price.cost(Usage {
                prompt_tokens: u32::try_from(prompt_tokens).unwrap_or(u32::MAX),
                completion_tokens: max_tokens.unwrap_or(billing.hold_output_tokens),
            }),
        };
        let id = uuid::Uuid::now_v7();
        self.store.hold(&hold, id, &self.instance).await?;
        Ok(Some(id))
    }
}

/// What an unstored completion streams, read with [`Completion::pieces`].
#[derive(Debug)]
pub enum Piece {
    /// A piece of the answer's text.
    Text(String),
    /// A piece of the model's reasoning (servers that show it).
    Reasoning(String),
    /// A piece of a tool call (see [`ChatEvent::ToolCall`]).
    ToolCall {
        /// Which call of the answer.
        index: u32,
        /// Its id, with its first piece.
        id: Option<String>,
        /// The tool, with its first piece.
        name: Option<String>,
        /// The next fragment of its arguments.
        arguments: String,
    },
    /// The end: the whole text, the tool calls, the tokens recorded for it (see
    /// [`Completion::finish`]), and the model's error when it failed mid-way.
    End {
        /// The text that arrived.
        text: String,
        /// The tools the model called, whole.
        tool_calls: Vec<ToolCall>,
        /// The tokens recorded.
        usage: Usage,
        /// Why the model stopped early, if it failed.
        error: Option<ModelError>,
    },
}

impl<S: ReplyStores, C: Clock> Completion<S, C> {
    /// The answer piece by piece, then its end — once the model has finished or failed, when
    /// the tokens have been recorded ([`Completion::finish`]).
    pub fn pieces(self) -> impl futures_util::Stream<Item = Piece> {
        type Open<S, C> = (Box<Completion<S, C>>, String, ToolCalls, Option<Usage>);
        futures_util::stream::unfold(
            Some::<Open<S, C>>((Box::new(self), String::new(), ToolCalls::default(), None)),
            |open| async move {
                let (mut completion, mut text, mut calls, mut reported) = open?;
                loop {
                    let error = match completion.stream.next().await {
                        Some(Ok(ChatEvent::Delta(d))) => {
                            text.push_str(&d);
                            completion.said.push_str(&d);
                            let open = Some((completion, text, calls, reported));
                            return Some((Piece::Text(d), open));
                        }
                        Some(Ok(ChatEvent::ToolCall {
                            index,
                            id,
                            name,
                            arguments,
                        })) => {
                            calls.add(index, id.as_deref(), name.as_deref(), &arguments);
                            completion
                                .said
                                .push_str(name.as_deref().unwrap_or_default());
                            completion.said.push_str(&arguments);
                            let piece = Piece::ToolCall {
                                index,
                                id,
                                name,
                                arguments,
                            };
                            return Some((piece, Some((completion, text, calls, reported))));
                        }
                        Some(Ok(ChatEvent::Reasoning(r))) => {
                            let open = Some((completion, text, calls, reported));
                            return Some((Piece::Reasoning(r), open));
                        }
                        Some(Ok(ChatEvent::Usage(u))) => {
                            reported = Some(u);
                            continue;
                        }
                        Some(Err(e)) => Some(e),
                        None => None,
                    };
                    let tool_calls = calls.finish();
                    let usage = completion
                        .finish_mut(&spoken(&text, &tool_calls), reported)
                        .await;
                    let end = Piece::End {
                        text,
                        tool_calls,
                        usage,
                        error,
                    };
                    return Some((end, None));
                }
            },
        )
    }

    /// Reads the whole answer: its text, the tools it called and the provider's usage, if
    /// reported.
    pub async fn collect(&mut self) -> Result<(String, Vec<ToolCall>, Option<Usage>), ModelError> {
        let mut text = String::new();
        let mut calls = ToolCalls::default();
        let mut usage = None;
        while let Some(item) = self.stream.next().await {
            match item? {
                ChatEvent::Delta(d) => {
                    self.said.push_str(&d);
                    text.push_str(&d);
                }
                ChatEvent::ToolCall {
                    index,
                    id,
                    name,
                    arguments,
                } => {
                    self.said.push_str(name.as_deref().unwrap_or_default());
                    self.said.push_str(&arguments);
                    calls.add(index, id.as_deref(), name.as_deref(), &arguments);
                }
                ChatEvent::Usage(u) => usage = Some(u),
                ChatEvent::Reasoning(_) => {}
            }
        }
        Ok((text, calls.finish(), usage))
    }

    /// Records the tokens spent (the provider's count, else an estimate) in the caller's usage,
    /// paid like a reply's when billing is on (settling the hold); returns them.
    pub async fn finish(mut self, text: &str, reported: Option<Usage>) -> Usage {
        self.finish_mut(text, reported).await
    }

    async fn finish_mut(&mut self, text: &str, reported: Option<Usage>) -> Usage {
        let usage = self
            .service
            .usage_or_estimate(reported, self.prompt_cost, text);
        self.settled = true;
        settle(&self.service, &self.who, &self.model, usage, self.hold).await;
        usage
    }
}

impl<S: ReplyStores, C: Clock> Drop for Completion<S, C> {
    /// A completion dropped before its end (its client left, or the model failed): what the
    /// model had said until then is paid, and the hold goes.
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let usage = self
            .service
            .usage_or_estimate(None, self.prompt_cost, &self.said);
        let (service, who, model, hold) = (
            self.service.clone(),
            self.who.clone(),
            std::mem::take(&mut self.model),
            self.hold,
        );
        self.service.runtime.spawn(async move {
            settle(&service, &who, &model, usage, hold).await;
        });
    }
}

/// Records a completion's usage with its debit, which settles its hold; a hold left without a
/// debit (a free answer, or the recording failed) is released.
async fn settle<S: ReplyStores, C: Clock>(
    service: &ReplyService<S, C>,
    who: &Principal,
    model: &str,
    usage: Usage,
    hold: Option<uuid::Uuid>,
) {
    let mut charge = service.charge(who, model, usage, ChargeKind::Completion, None, None);
    if let Some(c) = charge.as_mut() {
        c.hold = hold;
    }
    let debited = charge.is_some();
    let recorded = service
        .add_usage(who, model, usage, ChargeKind::Completion, charge)
        .await;
    if let Some(id) = hold.filter(|_| !(recorded && debited))
        && let Err(e) = service.store.release_hold(id).await
    {
        tracing::warn!(error = %e, "releasing a completion's hold failed");
    }
}

/// What the model said, for counting its tokens: the text and the calls' names and arguments.
pub fn spoken(text: &str, calls: &[ToolCall]) -> String {
    let mut all = text.to_owned();
    for c in calls {
        all.push(' ');
        all.push_str(&c.name);
        all.push(' ');
        all.push_str(&c.arguments);
    }
    all
}
