//! The Server-Sent Events of a response, numbered as OpenAI numbers them (`sequence_number`):
//! the prelude, text deltas, function-call items and their arguments, and the end.

use actix_web::{HttpResponse, web};
use chat_threads_domain::{MessageId, Role, ThreadId};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::items::{item_id, text_item};

/// The Responses stream of one reply: numbered events, the prelude (0-3) and then one or more
/// per event of the reply's log (log event `s` is numbered `3 + s`, so a stream resumed from
/// the log lines up with the first one).
pub(super) struct Events {
    item_id: String,
    /// The reply's thread, for the ids of its items.
    thread: ThreadId,
    /// The reply's message, for the ids of its parts' items.
    reply: MessageId,
    start: Value,
    /// Whether reasoning came first (a `reasoning` part precedes the calls).
    pub(super) reasoned: std::cell::Cell<bool>,
    /// The calls (by index) of tools the service ran, left out of the stream.
    pub(super) served: std::cell::RefCell<std::collections::HashSet<u32>>,
}

/// One SSE event.
fn sse(kind: &str, n: u64, mut data: Value) -> (u64, String) {
    data["type"] = json!(kind);
    data["sequence_number"] = json!(n);
    (n, format!("event: {kind}\ndata: {data}\n\n"))
}

impl Events {
    /// `start` is the response as the stream opens with it: running, nothing out yet.
    pub(super) fn new(mut start: Value, thread: ThreadId, reply: MessageId) -> Self {
        start["status"] = json!("in_progress");
        start["output"] = json!([]);
        start["usage"] = Value::Null;
        start["error"] = Value::Null;
        Self {
            item_id: item_id(thread, reply),
            thread,
            reply,
            start,
            reasoned: std::cell::Cell::new(false),
            served: std::cell::RefCell::default(),
        }
    }

    /// The item id of the reply's call at `index` (its part follows the reasoning, if any).
    fn call_id(&self, index: u32) -> String {
        let part = index as usize + usize::from(self.reasoned.get());
        format!(
            "fc_{}{}_{part}",
            self.thread.as_uuid().simple(),
            self.reply.as_uuid().simple()
        )
    }

    /// A call started: its item is added (after the message item).
    pub(super) fn call_added(
        &self,
        n: u64,
        index: u32,
        call_id: &str,
        name: &str,
    ) -> Vec<(u64, String)> {
        vec![sse(
            "response.output_item.added",
            n,
            json!({"output_index": 1 + index, "item": {"type": "function_call",
                   "id": self.call_id(index), "call_id": call_id, "name": name,
                   "arguments": "", "status": "in_progress"}}),
        )]
    }

    /// More of a call's arguments.
    pub(super) fn call_delta(&self, n: u64, index: u32, delta: &str) -> Vec<(u64, String)> {
        vec![sse(
            "response.function_call_arguments.delta",
            n,
            json!({"item_id": self.call_id(index), "output_index": 1 + index, "delta": delta}),
        )]
    }

    pub(super) fn prelude(&self) -> Vec<(u64, String)> {
        vec![
            sse("response.created", 0, json!({"response": self.start})),
            sse("response.in_progress", 1, json!({"response": self.start})),
            sse(
                "response.output_item.added",
                2,
                json!({"output_index": 0, "item": {"type": "message", "id": self.item_id,
                       "status": "in_progress", "role": "assistant", "content": []}}),
            ),
            sse(
                "response.content_part.added",
                3,
                json!({"item_id": self.item_id, "output_index": 0, "content_index": 0,
                       "part": {"type": "output_text", "text": "", "annotations": []}}),
            ),
        ]
    }

    pub(super) fn delta(&self, n: u64, delta: &str) -> Vec<(u64, String)> {
        vec![sse(
            "response.output_text.delta",
            n,
            json!({"item_id": self.item_id, "output_index": 0, "content_index": 0,
                   "delta": delta, "logprobs": []}),
        )]
    }

    /// The end: the text and its item done, then `response.completed` (or `.incomplete` for
    /// a stopped reply, `.failed` for a failed one) with the final Response.
    pub(super) fn end(&self, n: u64, last: &Value) -> Vec<(u64, String)> {
        let kind = match last["status"].as_str() {
            Some("failed") => return vec![sse("response.failed", n, json!({"response": last}))],
            Some("cancelled") => "response.incomplete",
            _ => "response.completed",
        };
        // The calls are done, then the message item (empty when the reply only called tools):
        // its part and text are told again.
        let output = last["output"].as_array().cloned().unwrap_or_default();
        let mut out = Vec::new();
        let mut n = n;
        for (k, call) in output
            .iter()
            .filter(|i| i["type"] == "function_call")
            .enumerate()
        {
            out.push(sse(
                "response.function_call_arguments.done",
                n,
                json!({"item_id": call["id"], "output_index": 1 + k,
                       "arguments": call["arguments"], "name": call["name"]}),
            ));
            out.push(sse(
                "response.output_item.done",
                n + 1,
                json!({"output_index": 1 + k, "item": call}),
            ));
            n += 2;
        }
        let item = output
            .iter()
            .find(|i| i["type"] == "message")
            .cloned()
            .unwrap_or_else(|| {
                text_item(self.thread, self.reply, "completed", Role::Assistant, "")
            });
        let part = &item["content"][0];
        let text = &part["text"];
        out.extend([
            sse(
                "response.output_text.done",
                n,
                json!({"item_id": self.item_id, "output_index": 0, "content_index": 0,
                       "text": text, "logprobs": []}),
            ),
            sse(
                "response.content_part.done",
                n + 1,
                json!({"item_id": self.item_id, "output_index": 0, "content_index": 0, "part": part}),
            ),
            sse(
                "response.output_item.done",
                n + 2,
                json!({"output_index": 0, "item": item}),
            ),
            sse(kind, n + 3, json!({"response": last})),
        ]);
        out
    }
}

/// An SSE response of numbered events, those numbered `after` or lower left out.
pub(super) fn stream_response(
    events: impl futures_util::Stream<Item = Vec<(u64, String)>> + 'static,
    after: Option<u64>,
) -> HttpResponse {
    let body = events
        .map(move |batch| {
            let text: String = batch
                .into_iter()
                .filter(|(n, _)| after.is_none_or(|a| *n > a))
                .map(|(_, s)| s)
                .collect();
            Ok::<_, actix_web::Error>(web::Bytes::from(text))
        })
        .filter(|b| std::future::ready(b.as_ref().is_ok_and(|b| !b.is_empty())));
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .streaming(body)
}
