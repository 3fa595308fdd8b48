//! The typed parts of an agent's turn that are not plain text: the tools an assistant message
//! calls, the results a tool message gives back, and the model's reasoning. A message's text
//! stays in `content`; these sit beside it in `parts`. The pairing rules (a result answers a
//! call on its path, once) are [`answered_calls`] and [`check_results`].

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::message::{Message, Role};
use crate::values::Limits;

/// Most parts one message may hold.
pub const MAX_PARTS: usize = 128;
/// Longest call id or tool name.
const ID_CHARS: usize = 128;

/// One typed part of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Part {
    /// A tool the assistant calls (assistant messages).
    ToolCall {
        /// The call's id, which its result names.
        call_id: String,
        /// The tool.
        name: String,
        /// Its arguments, JSON text, kept as the model wrote them (even when they do not
        /// parse).
        arguments: String,
    },
    /// A tool's answer to a call (tool messages).
    ToolResult {
        /// The call it answers.
        call_id: String,
        /// What the tool returned: a string, or any JSON value.
        output: serde_json::Value,
        /// Whether the tool failed (the output then says how).
        #[serde(default)]
        is_error: bool,
    },
    /// The model's reasoning before it answered (assistant messages).
    Reasoning {
        /// Readable reasoning or its summary.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        summary: Option<String>,
        /// The provider's opaque (encrypted) reasoning, kept as given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
}

impl Part {
    /// The wire name of its type.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ToolCall { .. } => "tool_call",
            Self::ToolResult { .. } => "tool_result",
            Self::Reasoning { .. } => "reasoning",
        }
    }

    /// The call it makes or answers.
    pub fn call_id(&self) -> Option<&str> {
        match self {
            Self::ToolCall { call_id, .. } | Self::ToolResult { call_id, .. } => Some(call_id),
            Self::Reasoning { .. } => None,
        }
    }

    /// A result's output as the model reads it: the string itself, else the JSON text.
    pub fn output_text(output: &serde_json::Value) -> String {
        match output {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// Checks the parts a message of `role` is stored with: tool calls and reasoning on assistant
/// messages, results on tool messages; ids and names 1-128 characters without control
/// characters, no call id twice, each text within the content limit, no NUL anywhere (the
/// databases refuse it).
pub fn check_parts(role: Role, parts: &[Part], limits: &Limits) -> Result<(), DomainError> {
    let bad = |reason: String| DomainError::invalid("parts", reason);
    if parts.len() > MAX_PARTS {
        return Err(bad(format!("at most {MAX_PARTS} parts")));
    }
    let mut ids = std::collections::HashSet::new();
    for (i, part) in parts.iter().enumerate() {
        let allowed = match part {
            Part::ToolCall { .. } | Part::Reasoning { .. } => role == Role::Assistant,
            Part::ToolResult { .. } => role == Role::Tool,
        };
        if !allowed {
            return Err(bad(format!(
                "parts[{i}]: a {} part cannot be on a {} message",
                part.kind(),
                role.as_str()
            )));
        }
        if let Some(id) = part.call_id() {
            check_id(i, "call_id", id)?;
            if !ids.insert(id) {
                return Err(bad(format!("parts[{i}]: call_id {id:?} appears twice")));
            }
        }
        let texts: Vec<&str> = match part {
            Part::ToolCall {
                name, arguments, ..
            } => {
                check_id(i, "name", name)?;
                vec![arguments]
            }
            Part::ToolResult { output, .. } => {
                let mut strings = Vec::new();
                strings_of(output, &mut strings);
                if strings.iter().any(|s| s.contains('\0')) {
                    return Err(bad(format!("parts[{i}]: output holds a NUL character")));
                }
                let size = output.to_string().len();
                if size > limits.content_bytes {
                    return Err(DomainError::LimitExceeded {
                        field: "parts",
                        limit: limits.content_bytes,
                        actual: size,
                    });
                }
                Vec::new()
            }
            Part::Reasoning {
                summary,
                encrypted_content,
            } => summary
                .iter()
                .chain(encrypted_content)
                .map(String::as_str)
                .collect(),
        };
        for text in texts {
            if text.contains('\0') {
                return Err(bad(format!("parts[{i}]: holds a NUL character")));
            }
            if text.len() > limits.content_bytes {
                return Err(DomainError::LimitExceeded {
                    field: "parts",
                    limit: limits.content_bytes,
                    actual: text.len(),
                });
            }
        }
    }
    Ok(())
}

fn check_id(i: usize, what: &str, id: &str) -> Result<(), DomainError> {
    if id.is_empty() || id.chars().count() > ID_CHARS || id.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "parts",
            format!(
                "parts[{i}]: {what} must be 1-{ID_CHARS} characters without control characters"
            ),
        ));
    }
    Ok(())
}

fn strings_of<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
    match v {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Array(items) => items.iter().for_each(|i| strings_of(i, out)),
        serde_json::Value::Object(map) => {
            for (k, i) in map {
                out.push(k);
                strings_of(i, out);
            }
        }
        _ => {}
    }
}

impl crate::message::MessageStatus {
    /// The status of a message holding `parts`: a whole (`complete`) assistant message that
    /// calls tools waits for their results (`requires_action`).
    pub fn with_parts(self, parts: &[Part]) -> Self {
        let calls = parts.iter().any(|p| matches!(p, Part::ToolCall { .. }));
        match self {
            Self::Complete if calls => Self::RequiresAction,
            other => other,
        }
    }
}

/// Replaces NUL characters (which no database stores) in text a model wrote.
pub fn without_nul(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}

impl Message {
    /// The tools it calls, in order: (call id, name, arguments).
    pub fn tool_calls(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.parts.iter().filter_map(|p| match p {
            Part::ToolCall {
                call_id,
                name,
                arguments,
            } => Some((call_id.as_str(), name.as_str(), arguments.as_str())),
            _ => None,
        })
    }

    /// Whether it calls tools.
    pub fn calls_tools(&self) -> bool {
        self.tool_calls().next().is_some()
    }

    /// The calls it answers.
    pub fn result_ids(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::ToolResult { call_id, .. } => Some(call_id.as_str()),
            _ => None,
        })
    }
}

/// Where results placed under `parent` would stand: `ancestors` is the path from `parent` up
/// (parent first). Tool messages directly above are skipped; the first other message must be
/// an assistant message that calls tools. Returns its calls' ids and those the tool messages
/// between already answer.
pub fn answered_calls<'a>(
    ancestors: impl IntoIterator<Item = &'a Message>,
) -> Option<(Vec<String>, Vec<String>)> {
    let mut answered = Vec::new();
    for m in ancestors {
        match m.role {
            Role::Tool => answered.extend(m.result_ids().map(str::to_owned)),
            Role::Assistant if m.calls_tools() => {
                let calls = m.tool_calls().map(|(id, _, _)| id.to_owned()).collect();
                return Some((calls, answered));
            }
            _ => return None,
        }
    }
    None
}

/// Checks results against the calls they answer (see [`answered_calls`]): each names a call
/// of that assistant message, not yet answered on the path. `whole`: every call still open
/// must be answered by these results.
pub fn check_results(
    results: &[&str],
    calls: Option<(Vec<String>, Vec<String>)>,
    whole: bool,
) -> Result<(), DomainError> {
    let unpaired = |call_id: &str, reason: &str| DomainError::ToolResultUnpaired {
        call_id: call_id.to_owned(),
        reason: reason.to_owned(),
    };
    let Some((calls, answered)) = calls else {
        return Err(unpaired(
            results.first().copied().unwrap_or(""),
            "results must follow the assistant message that calls the tools",
        ));
    };
    for id in results {
        if !calls.iter().any(|c| c == id) {
            return Err(unpaired(id, "no call with this id on the path"));
        }
        if answered.iter().any(|a| a == id) {
            return Err(unpaired(id, "this call is already answered on the path"));
        }
    }
    if whole
        && let Some(open) = calls
            .iter()
            .find(|c| !answered.contains(c) && !results.contains(&c.as_str()))
    {
        return Err(unpaired(
            open,
            "every call needs its result in the same request",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str) -> Part {
        Part::ToolCall {
            call_id: id.into(),
            name: "weather".into(),
            arguments: "{}".into(),
        }
    }

    fn result(id: &str) -> Part {
        Part::ToolResult {
            call_id: id.into(),
            output: serde_json::json!("sunny"),
            is_error: false,
        }
    }

    #[test]
    fn parts_go_on_the_roles_that_hold_them_and_ids_are_unique() {
        let l = Limits::default();
        check_parts(Role::Assistant, &[call("a"), call("b")], &l).unwrap();
        check_parts(Role::Tool, &[result("a")], &l).unwrap();
        assert!(check_parts(Role::User, &[call("a")], &l).is_err());
        assert!(check_parts(Role::Assistant, &[result("a")], &l).is_err());
        assert!(check_parts(Role::Assistant, &[call("a"), call("a")], &l).is_err());
        assert!(check_parts(Role::Assistant, &[call("")], &l).is_err());
        let nul = Part::ToolResult {
            call_id: "a".into(),
            output: serde_json::json!({"k": "x\0"}),
            is_error: false,
        };
        assert!(check_parts(Role::Tool, &[nul], &l).is_err());
        let wire: Part =
            serde_json::from_str(r#"{"type":"tool_result","call_id":"a","output":{"t":1}}"#)
                .unwrap();
        assert_eq!(
            Part::output_text(match &wire {
                Part::ToolResult { output, .. } => output,
                _ => unreachable!(),
            }),
            r#"{"t":1}"#
        );
    }

    #[test]
    fn results_answer_open_calls_on_their_path_once() {
        let calls = || Some((vec!["a".to_owned(), "b".to_owned()], vec!["a".to_owned()]));
        check_results(&["b"], calls(), true).unwrap();
        assert!(
            check_results(&["a"], calls(), false).is_err(),
            "answered twice"
        );
        assert!(
            check_results(&["z"], calls(), false).is_err(),
            "unknown call"
        );
        assert!(check_results(&["b"], None, false).is_err(), "no call above");
        let fresh = Some((vec!["a".to_owned(), "b".to_owned()], vec![]));
        assert!(
            check_results(&["a"], fresh.clone(), true).is_err(),
            "b missing"
        );
        check_results(&["a"], fresh, false).unwrap();
    }
}
