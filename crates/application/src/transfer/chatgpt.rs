//! Import of ChatGPT's `conversations.json` (its data export): each conversation's `mapping`
//! becomes a message tree, `current_node` the active leaf; hidden and empty nodes are dropped.

use std::collections::{HashMap, HashSet};

use chat_threads_domain::{
    Content, ContentType, DomainError, Limits, Message, MessageId, MessageStatus, Metadata,
    ModelName, Principal, Role, Timestamp,
};

use super::{Builder, ImportedThread, ThreadRecord, active, finish};
use crate::error::AppError;

fn epoch(v: &serde_json::Value) -> Option<Timestamp> {
    let secs = v.as_f64()?;
    let micros = (secs * 1_000_000.0).round() as i64;
    chrono::DateTime::from_timestamp_micros(micros)
}

/// The text of a ChatGPT message's content, or `None` when it holds nothing to keep.
fn chatgpt_text(content: &serde_json::Value) -> Option<String> {
    let parts: Vec<String> = match content.get("parts").and_then(|p| p.as_array()) {
        Some(parts) => parts
            .iter()
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect(),
        None => content
            .get("text")
            .or_else(|| content.get("result"))
            .and_then(|t| t.as_str())
            .map(|t| vec![t.to_owned()])
            .unwrap_or_default(),
    };
    let text = parts.join("\n");
    (!text.trim().is_empty()).then_some(text)
}

/// Parses ChatGPT's `conversations.json` (an array of conversations whose `mapping` is a tree).
/// Nodes without a message, or with nothing to show (hidden system prompts, tool calls without
/// text), are dropped and their children attached to the nearest kept ancestor.
pub fn parse_chatgpt(
    who: &Principal,
    body: &[u8],
    limits: &Limits,
    now: Timestamp,
) -> Result<Vec<ImportedThread>, AppError> {
    let doc: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| DomainError::invalid("import", format!("not a ChatGPT export: {e}")))?;
    let conversations = doc.as_array().ok_or_else(|| {
        DomainError::invalid(
            "import",
            "a ChatGPT export is a JSON array of conversations",
        )
    })?;
    let mut out = Vec::new();
    for (i, c) in conversations.iter().enumerate() {
        let bad = |reason: &str| -> AppError {
            DomainError::invalid("import", format!("conversation {i}: {reason}")).into()
        };
        let mapping = c
            .get("mapping")
            .and_then(|m| m.as_object())
            .ok_or_else(|| bad("no mapping"))?;
        let source_id = c
            .get("conversation_id")
            .or_else(|| c.get("id"))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("conversation-{i}"));
        let created = c
            .get("create_time")
            .and_then(epoch)
            .map(chat_threads_domain::to_micros)
            .unwrap_or(now);
        let record = ThreadRecord {
            id: uuid::Uuid::now_v7(),
            title: c
                .get("title")
                .and_then(|t| t.as_str())
                .unwrap_or("")
                .chars()
                .take(limits.title_chars)
                .collect(),
            product: None,
            org_id: None,
            status: active(),
            document_id: None,
            external_id: Some(format!("chatgpt:{source_id}")).filter(|e| e.len() <= 255),
            metadata: serde_json::json!({"source": "chatgpt", "conversation_id": source_id}),
            system_prompt: None,
            model: None,
            active_leaf_id: None,
            created_at: Some(created),
            updated_at: c.get("update_time").and_then(epoch),
            deleted_at: None,
            expires_at: None,
            tags: Vec::new(),
            folder_id: None,
            pinned: false,
        };
        let b = Builder { who, limits, now };
        let (thread, _) = b.thread(record).map_err(|e| bad(&e.to_string()))?;
        // Walk the tree from its roots, parents first.
        let mut roots: Vec<&String> = mapping
            .iter()
            .filter(|(_, n)| {
                n.get("parent").is_none_or(|p| {
                    p.is_null() || p.as_str().is_some_and(|p| !mapping.contains_key(p))
                })
            })
            .map(|(k, _)| k)
            .collect();
        roots.sort();
        let mut stack: Vec<(&String, Option<(MessageId, i32)>)> =
            roots.into_iter().rev().map(|r| (r, None)).collect();
        let mut kept: HashMap<&String, MessageId> = HashMap::new();
        let mut messages = Vec::new();
        let mut visited = HashSet::new();
        while let Some((key, parent)) = stack.pop() {
            if !visited.insert(key) || messages.len() > 100_000 {
                continue;
            }
            let node = &mapping[key];
            let mut here = parent;
            if let Some(msg) = node.get("message").filter(|m| !m.is_null()) {
                let role = msg
                    .pointer("/author/role")
                    .and_then(|r| r.as_str())
                    .unwrap_or("user");
                let text = msg.get("content").and_then(chatgpt_text);
                if let (Some(text), Ok(role)) = (text, Role::parse(role)) {
                    let created = msg
                        .get("create_time")
                        .and_then(epoch)
                        .map(chat_threads_domain::to_micros)
                        .unwrap_or(thread.created_at);
                    let model = msg
                        .pointer("/metadata/model_slug")
                        .and_then(|m| m.as_str())
                        .and_then(|m| ModelName::parse(m).ok());
                    let m = Message {
                        id: MessageId::new(),
                        thread_id: thread.id,
                        parent_id: parent.map(|p| p.0),
                        depth: parent.map_or(0, |p| p.1 + 1),
                        role,
                        content: Content::parse(text, limits).map_err(|e| bad(&e.to_string()))?,
                        content_type: ContentType::Text,
                        display_text: None,
                        status: MessageStatus::Complete,
                        model,
                        prompt_tokens: None,
                        completion_tokens: None,
                        feedback: None,
                        reaction: None,
                        metadata: Metadata::default(),
                        edited_at: None,
                        created_at: created,
                        updated_at: created,
                        deleted_at: None,
                        version: 1,
                        tombstoned_at: None,
                        attachments: Vec::new(),
                        parts: Vec::new(),
                        author: None,
                    };
                    here = Some((m.id, m.depth));
                    kept.insert(key, m.id);
                    messages.push(m);
                }
            }
            let mut children: Vec<&String> = node
                .get("children")
                .and_then(|c| c.as_array())
                .map(|c| {
                    c.iter()
                        .filter_map(|k| k.as_str())
                        .filter_map(|k| mapping.get_key_value(k).map(|(k, _)| k))
                        .collect()
                })
                .unwrap_or_default();
            children.reverse();
            stack.extend(children.into_iter().map(|k| (k, here)));
        }
        // The conversation's current node, or its nearest kept ancestor, is the active leaf.
        let mut leaf = None;
        let mut cursor = c.get("current_node").and_then(|n| n.as_str());
        let mut guard = 0;
        while let (Some(key), None) = (cursor, leaf) {
            guard += 1;
            if guard > 100_000 {
                break;
            }
            leaf = kept.get(&key.to_string()).copied();
            cursor = mapping
                .get(key)
                .and_then(|n| n.get("parent"))
                .and_then(|p| p.as_str());
        }
        out.push(finish(
            ImportedThread {
                thread,
                messages,
                summaries: Vec::new(),
                source_id,
            },
            leaf,
        ));
    }
    if out.is_empty() {
        return Err(DomainError::invalid("import", "the export holds no conversation").into());
    }
    Ok(out)
}
