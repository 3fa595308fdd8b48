//! The rules for parts: which roles hold which parts, how big they may be, and how calls and
//! results pair along a path (see [`crate::parts`] for the parts themselves).

use crate::error::DomainError;
use crate::message::{Message, MessageStatus, Role};
use crate::parts::{ID_CHARS, MAX_PARTS, Part, open_calls};
use crate::values::Limits;

/// Checks the parts a message of `role` is stored with: tool calls and reasoning on assistant
/// messages, results on tool messages; ids and names 1-128 characters without control
/// characters, no call id twice, each text within the content limit, no NUL anywhere (the
/// databases refuse it).
pub fn check_parts(role: Role, parts: &[Part], limits: &Limits) -> Result<(), DomainError> {
    let bad = |reason: String| DomainError::invalid("parts", reason);
    if parts.len() > MAX_PARTS {
        return Err(bad(format!("at most {MAX_PARTS} parts")));
    }
    let mut calls = std::collections::HashMap::new();
    let mut results = std::collections::HashSet::new();
    for (i, part) in parts.iter().enumerate() {
        let allowed = match part {
            Part::ToolCall { .. } | Part::Reasoning { .. } => role == Role::Assistant,
            // On an assistant message, the result of a tool the service ran, after its call.
            Part::ToolResult { call_id, .. } => {
                role == Role::Tool
                    || (role == Role::Assistant && calls.get(call_id.as_str()) == Some(&true))
            }
        };
        if !allowed {
            return Err(DomainError::inconsistent(
                "parts",
                format!(
                    "parts[{i}]: a {} part cannot be on a {} message{}",
                    part.kind(),
                    role.as_str(),
                    if role == Role::Assistant {
                        " (a result there must follow a call the service ran)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        if let Some(id) = part.call_id() {
            check_id(i, "call_id", id)?;
            let fresh = match part {
                Part::ToolCall { server, .. } => calls.insert(id, server.is_some()).is_none(),
                _ => results.insert(id),
            };
            if !fresh {
                return Err(DomainError::inconsistent(
                    "parts",
                    format!("parts[{i}]: call_id {id:?} appears twice"),
                ));
            }
        }
        let texts: Vec<&str> = match part {
            Part::ToolCall {
                name,
                arguments,
                server,
                ..
            } => {
                check_id(i, "name", name)?;
                if let Some(server) = server {
                    check_id(i, "server", server)?;
                }
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

impl MessageStatus {
    /// The status of a message holding `parts`: a whole (`complete`) assistant message with
    /// calls it does not answer itself waits for their results (`requires_action`).
    pub fn with_parts(self, parts: &[Part]) -> Self {
        match self {
            Self::Complete if open_calls(parts).next().is_some() => Self::RequiresAction,
            other => other,
        }
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
                ..
            } => Some((call_id.as_str(), name.as_str(), arguments.as_str())),
            _ => None,
        })
    }

    /// The calls it waits for results of: those it does not answer itself.
    pub fn open_calls(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        open_calls(&self.parts)
    }

    /// Whether it calls tools.
    pub fn calls_tools(&self) -> bool {
        self.tool_calls().next().is_some()
    }

    /// The calls it answers (a tool message's results).
    pub fn result_ids(&self) -> impl Iterator<Item = &str> {
        let own = self.role == Role::Tool;
        self.parts.iter().filter_map(move |p| match p {
            Part::ToolResult { call_id, .. } if own => Some(call_id.as_str()),
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
            Role::Assistant if m.open_calls().next().is_some() => {
                let calls = m.open_calls().map(|(id, _, _)| id.to_owned()).collect();
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
            server: None,
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
        // A tool the service ran is answered in the same message, right after its call.
        let ran = Part::ToolCall {
            call_id: "s".into(),
            name: "read".into(),
            arguments: "{}".into(),
            server: Some("files".into()),
        };
        check_parts(Role::Assistant, &[ran.clone(), result("s"), call("c")], &l).unwrap();
        assert!(check_parts(Role::Assistant, &[result("s"), ran.clone()], &l).is_err());
        assert!(check_parts(Role::Assistant, &[call("c"), result("c")], &l).is_err());
        let parts = [ran, result("s"), call("c")];
        let open: Vec<_> = open_calls(&parts).map(|c| c.0).collect();
        assert_eq!(open, ["c"]);
        assert_eq!(
            crate::MessageStatus::Complete.with_parts(&parts[..2]),
            crate::MessageStatus::Complete
        );
        assert_eq!(
            crate::MessageStatus::Complete.with_parts(&parts),
            crate::MessageStatus::RequiresAction
        );
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
