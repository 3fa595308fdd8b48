//! Any OpenAI-compatible chat completions server (OpenAI, Ollama, vLLM, llama.cpp server,
//! LM Studio, OpenRouter ...), streamed over SSE.

use std::time::Duration;

use chat_threads_application::replies::llm::{
    ChatEvent, ChatRequest, ChatStream, LanguageModel, ModelError, ToolChoice, Usage,
};
use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use serde_json::{Value, json};

/// Timeouts and retries.
#[derive(Debug, Clone, Copy)]
pub struct HttpOptions {
    /// Time allowed to open the connection.
    pub connect_timeout: Duration,
    /// Longest silence between bytes of a reply (not a total timeout: replies can be long).
    pub read_timeout: Duration,
    /// Retries on 429 and 5xx before the first token.
    pub retries: u32,
    /// First backoff; doubles on each retry (a Retry-After header wins, up to 30 s).
    pub backoff: Duration,
}

/// A client for one provider.
#[derive(Clone)]
pub struct OpenAiCompatible {
    client: reqwest::Client,
    url: String,
    api_key: Option<String>,
    options: HttpOptions,
}

impl std::fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiCompatible")
            .field("url", &self.url)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .finish()
    }
}

impl OpenAiCompatible {
    /// A client for `base_url` (e.g. `https://api.openai.com/v1`, `http://localhost:11434/v1`).
    pub fn new(
        base_url: &str,
        api_key: Option<String>,
        options: HttpOptions,
    ) -> Result<Self, String> {
        crate::tls::install();
        let client = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            client,
            url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            api_key,
            options,
        })
    }

    async fn connect(&self, request: &ChatRequest) -> Result<reqwest::Response, ModelError> {
        let mut body = json!({
            "model": request.model,
            "messages": request.messages,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if let Some(max) = request.max_tokens {
            body["max_tokens"] = json!(max);
        }
        // The caller's sampling settings, as chat completions names them; unset ones are left
        // out, so the model server's defaults apply.
        if let (Some(body), Value::Object(sampling)) =
            (body.as_object_mut(), json!(request.sampling))
        {
            body.extend(sampling);
        }
        if let Some(user) = &request.user {
            body["user"] = json!(user);
        }
        if !request.tools.is_empty() {
            body["tools"] = request
                .tools
                .iter()
                .map(|t| {
                    let mut function = json!({"name": t.name, "parameters": t.parameters});
                    if let Some(d) = &t.description {
                        function["description"] = json!(d);
                    }
                    if let Some(strict) = t.strict {
                        function["strict"] = json!(strict);
                    }
                    json!({"type": "function", "function": function})
                })
                .collect();
            if let Some(parallel) = request.parallel_tool_calls {
                body["parallel_tool_calls"] = json!(parallel);
            }
        }
        if let Some(choice) = &request.tool_choice {
            body["tool_choice"] = match choice {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Named(name) => json!({"type": "function", "function": {"name": name}}),
            };
        }
        let mut attempt = 0;
        loop {
            let mut call = self.client.post(&self.url).json(&body);
            // The trace goes on at the model server (`traceparent`), when traces are exported.
            let mut trace = reqwest::header::HeaderMap::new();
            crate::telemetry::inject(&mut trace);
            if !trace.is_empty() {
                call = call.headers(trace);
            }
            if let Some(key) = &self.api_key {
                call = call.bearer_auth(key);
            }
            let error = match call.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s.min(30)));
                    let text = resp.text().await.unwrap_or_default();
                    // The body goes to the log; users see the status and the error's type.
                    let excerpt: String = text.chars().take(300).collect();
                    tracing::warn!(%status, url = %self.url, body = %excerpt, "the model server answered an error");
                    let said = short_error(status, &text);
                    let error = if status.as_u16() == 429 {
                        ModelError::RateLimited
                    } else if status.is_server_error() {
                        ModelError::Unavailable(said)
                    } else {
                        return Err(ModelError::Refused(said));
                    };
                    (error, retry_after)
                }
                Err(e) if e.is_timeout() => (ModelError::Timeout, None),
                Err(e) => {
                    tracing::warn!(url = %self.url, error = %e, "cannot reach the model server");
                    (
                        ModelError::Unavailable("cannot reach the model server".into()),
                        None,
                    )
                }
            };
            let (error, retry_after) = error;
            if !error.retryable() || attempt >= self.options.retries {
                return Err(error);
            }
            let backoff =
                retry_after.unwrap_or(self.options.backoff * 2u32.saturating_pow(attempt));
            tracing::warn!(%error, attempt, ?backoff, "model server refused; retrying");
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }
}

/// What users may see of a model server's error answer: its HTTP status and, when the body is
/// OpenAI's error shape, the error's type or code — never the body itself (it may hold the
/// request, keys' prefixes or internal details; it goes to the log).
fn short_error(status: reqwest::StatusCode, body: &str) -> String {
    let kind = serde_json::from_str::<Value>(body).ok().and_then(|v| {
        ["/error/type", "/error/code"]
            .iter()
            .find_map(|p| v.pointer(p).and_then(Value::as_str).map(str::to_owned))
    });
    let kind = kind.filter(|k| {
        k.len() <= 64
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    });
    match kind {
        Some(k) => format!("HTTP {} ({k})", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// What one SSE data payload holds.
fn parse_chunk(data: &str) -> Vec<Result<ChatEvent, ModelError>> {
    let value: Value = match serde_json::from_str(data) {
        Ok(v) => v,
        Err(e) => return vec![Err(ModelError::Protocol(format!("bad chunk: {e}")))],
    };
    if let Some(err) = value.get("error") {
        // The provider's words go to the log; users see that it failed, and its type.
        tracing::warn!(error = %err, "the model server reported an error mid-stream");
        let kind = err
            .get("type")
            .or_else(|| err.get("code"))
            .and_then(Value::as_str)
            .filter(|k| k.len() <= 64 && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        let message = match kind {
            Some(k) => format!("the model server reported an error ({k})"),
            None => "the model server reported an error".to_owned(),
        };
        return vec![Err(ModelError::Unavailable(message))];
    }
    let mut out = Vec::new();
    let delta = value
        .pointer("/choices/0/delta/content")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty());
    let reasoning = ["reasoning_content", "reasoning"].iter().find_map(|key| {
        value
            .pointer(&format!("/choices/0/delta/{key}"))
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
    });
    if let Some(r) = reasoning {
        out.push(Ok(ChatEvent::Reasoning(r.to_owned())));
    }
    if let Some(d) = delta {
        out.push(Ok(ChatEvent::Delta(d.to_owned())));
    }
    // Tool calls arrive in pieces: each names its call by `index`; the first piece of a call
    // has its id and name, the arguments come in fragments. Several calls may interleave.
    let calls = value
        .pointer("/choices/0/delta/tool_calls")
        .and_then(Value::as_array);
    for (n, call) in calls.into_iter().flatten().enumerate() {
        let index = call
            .get("index")
            .and_then(Value::as_u64)
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or(n as u32);
        let text = |pointer: &str| call.pointer(pointer).and_then(Value::as_str);
        out.push(Ok(ChatEvent::ToolCall {
            index,
            id: text("/id").map(str::to_owned),
            name: text("/function/name").map(str::to_owned),
            arguments: text("/function/arguments").unwrap_or_default().to_owned(),
        }));
    }
    if let Some(u) = value.get("usage").filter(|u| u.is_object()) {
        let n = |k: &str| {
            u.get(k)
                .and_then(Value::as_u64)
                .and_then(|x| u32::try_from(x).ok())
                .unwrap_or(0)
        };
        out.push(Ok(ChatEvent::Usage(Usage {
            prompt_tokens: n("prompt_tokens"),
            completion_tokens: n("completion_tokens"),
        })));
    }
    out
}

impl LanguageModel for OpenAiCompatible {
    fn stream(&self, request: ChatRequest) -> ChatStream {
        let this = self.clone();
        let events = futures_util::stream::once(async move { this.connect(&request).await })
            .flat_map(|connected| match connected {
                Err(e) => futures_util::stream::iter(vec![Err(e)]).boxed(),
                Ok(resp) => resp
                    .bytes_stream()
                    .eventsource()
                    .take_while(|e| {
                        futures_util::future::ready(
                            !matches!(e, Ok(ev) if ev.data.trim() == "[DONE]"),
                        )
                    })
                    .flat_map(|e| {
                        let items = match e {
                            Ok(ev) => parse_chunk(&ev.data),
                            Err(eventsource_stream::EventStreamError::Transport(t))
                                if t.is_timeout() =>
                            {
                                vec![Err(ModelError::Timeout)]
                            }
                            Err(err) => {
                                tracing::warn!(error = %err, "a model server's stream broke");
                                vec![Err(ModelError::Unavailable("the stream broke".into()))]
                            }
                        };
                        futures_util::stream::iter(items)
                    })
                    .boxed(),
            });
        // After the first error nothing else is read.
        let mut failed = false;
        Box::pin(events.take_while(move |item| {
            let keep = !failed;
            failed |= item.is_err();
            futures_util::future::ready(keep)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_yield_deltas_usage_and_errors() {
        let d = parse_chunk(r#"{"choices":[{"delta":{"content":"Hel"}}]}"#);
        assert_eq!(d, vec![Ok(ChatEvent::Delta("Hel".into()))]);
        let u = parse_chunk(r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}}"#);
        assert_eq!(
            u,
            vec![Ok(ChatEvent::Usage(Usage {
                prompt_tokens: 7,
                completion_tokens: 3
            }))]
        );
        assert!(parse_chunk(r#"{"choices":[{"delta":{"role":"assistant"}}]}"#).is_empty());
        assert!(parse_chunk("not json")[0].is_err());
        for key in ["reasoning_content", "reasoning"] {
            let r = parse_chunk(&format!(r#"{{"choices":[{{"delta":{{"{key}":"hmm"}}}}]}}"#));
            assert_eq!(r, vec![Ok(ChatEvent::Reasoning("hmm".into()))], "{key}");
        }
        let first = parse_chunk(
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function",
                "function":{"name":"weather","arguments":""}},{"index":1,"id":"call_2",
                "function":{"name":"time","arguments":"{\"tz"}}]}}]}"#,
        );
        assert_eq!(
            first,
            vec![
                Ok(ChatEvent::ToolCall {
                    index: 0,
                    id: Some("call_1".into()),
                    name: Some("weather".into()),
                    arguments: String::new()
                }),
                Ok(ChatEvent::ToolCall {
                    index: 1,
                    id: Some("call_2".into()),
                    name: Some("time".into()),
                    arguments: "{\"tz".into()
                }),
            ]
        );
        let more = parse_chunk(
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":1}"}}]}}]}"#,
        );
        assert_eq!(
            more,
            vec![Ok(ChatEvent::ToolCall {
                index: 0,
                id: None,
                name: None,
                arguments: "{\"city\":1}".into()
            })]
        );
        let err =
            parse_chunk(r#"{"error":{"message":"key sk-123 at 10.0.0.7","type":"overloaded"}}"#);
        assert_eq!(
            err,
            vec![Err(ModelError::Unavailable(
                "the model server reported an error (overloaded)".into()
            ))]
        );
        let status = reqwest::StatusCode::INTERNAL_SERVER_ERROR;
        assert_eq!(
            short_error(
                status,
                r#"{"error":{"message":"secret stuff","type":"server_error"}}"#
            ),
            "HTTP 500 (server_error)"
        );
        assert_eq!(short_error(status, "<html>stack trace</html>"), "HTTP 500");
    }
}
