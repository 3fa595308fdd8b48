//! Parsing an NDJSON import into threads with fresh ids, validating every value and the tree;
//! the thread builder is shared with the ChatGPT import.

use std::collections::{HashMap, HashSet};

use chat_threads_domain::{
    Content, ContentType, DocumentId, DomainError, ExternalId, Feedback, FeedbackText, Limits,
    Message, MessageId, MessageStatus, Metadata, ModelName, OrgId, Principal, ProductName, Rating,
    Reaction, Role, Summary, SummaryId, SystemPrompt, Thread, ThreadStatus, Timestamp, Title,
};

use super::ImportedThread;
use super::records::{MessageRecord, Record, ThreadRecord};
use crate::error::AppError;

pub(crate) fn bad_line(line: usize, reason: impl std::fmt::Display) -> AppError {
    DomainError::invalid("import", format!("line {line}: {reason}")).into()
}

pub(crate) fn opt<T>(
    raw: Option<String>,
    parse: impl FnOnce(&str) -> Result<T, DomainError>,
) -> Result<Option<T>, DomainError> {
    raw.map(|s| parse(&s)).transpose()
}

/// Builds one thread from records (already grouped), validating every value and the tree.
pub(crate) struct Builder<'a> {
    pub(crate) who: &'a Principal,
    pub(crate) limits: &'a Limits,
    pub(crate) now: Timestamp,
}

impl Builder<'_> {
    pub(crate) fn thread(
        &self,
        r: ThreadRecord,
    ) -> Result<(Thread, Option<uuid::Uuid>), DomainError> {
        // Imported threads belong to the importer and go under the importer's organization,
        // whatever the file says (validated all the same).
        opt(r.org_id, OrgId::parse)?;
        let org = self.who.org.clone();
        let created = r
            .created_at
            .map(chat_threads_domain::to_micros)
            .unwrap_or(self.now);
        let thread = Thread {
            org_id: org,
            title: Title::parse(&r.title, self.limits)?,
            product: opt(r.product, ProductName::parse)?,
            status: ThreadStatus::parse(&r.status)?,
            document_id: opt(r.document_id, DocumentId::parse)?,
            external_id: opt(r.external_id, ExternalId::parse)?,
            metadata: Metadata::parse(r.metadata, self.limits)?,
            system_prompt: r
                .system_prompt
                .map(|p| SystemPrompt::parse(p, self.limits))
                .transpose()?,
            model: opt(r.model, ModelName::parse)?,
            updated_at: r
                .updated_at
                .map(chat_threads_domain::to_micros)
                .unwrap_or(created)
                .max(created),
            deleted_at: r.deleted_at.map(chat_threads_domain::to_micros),
            expires_at: r.expires_at.map(chat_threads_domain::to_micros),
            tags: chat_threads_domain::Tag::parse_all(&r.tags)?,
            folder_id: r.folder_id.map(chat_threads_domain::FolderId::from_uuid),
            pinned: r.pinned,
            ..Thread::new(self.who.owner(), created)
        };
        Ok((thread, r.active_leaf_id))
    }

    pub(crate) fn message(
        &self,
        r: MessageRecord,
        thread: &Thread,
        ids: &HashMap<uuid::Uuid, (MessageId, i32)>,
    ) -> Result<Message, String> {
        let parent = match r.parent_id {
            None => None,
            Some(p) => Some(
                *ids.get(&p)
                    .ok_or("its parent_id is not an earlier message of the thread")?,
            ),
        };
        let e = |err: DomainError| err.to_string();
        let status = match MessageStatus::parse(&r.status).map_err(e)? {
            // A generation cannot resume after an import.
            MessageStatus::Streaming => MessageStatus::Cancelled,
            s => s,
        };
        let feedback = match r.feedback {
            Some(f) => Some(Feedback {
                rating: Rating::parse(&f.rating).map_err(e)?,
                text: f
                    .text
                    .map(|t| FeedbackText::parse(&t, self.limits))
                    .transpose()
                    .map_err(e)?,
            }),
            None => None,
        };
        let created = r
            .created_at
            .map(chat_threads_domain::to_micros)
            .unwrap_or(thread.created_at);
        let tombstoned_at = r.tombstoned_at.map(chat_threads_domain::to_micros);
        // A tombstone has no text, whatever the file says (it would be hidden from the path
        // but still searchable and exported).
        let (content, display_text, metadata, feedback, reaction) = if tombstoned_at.is_some() {
            (String::new(), None, serde_json::json!({}), None, None)
        } else {
            (r.content, r.display_text, r.metadata, feedback, r.reaction)
        };
        let role = Role::parse(&r.role).map_err(e)?;
        // Parts keep their call ids, so calls and results stay paired in the imported tree; a
        // tombstone keeps none.
        let parts = if tombstoned_at.is_some() {
            Vec::new()
        } else {
            chat_threads_domain::check_parts(role, &r.parts, self.limits).map_err(e)?;
            r.parts
        };
        Ok(Message {
            id: MessageId::new(),
            thread_id: thread.id,
            parent_id: parent.map(|p| p.0),
            depth: parent.map_or(0, |p| p.1 + 1),
            role,
            content: Content::parse(content, self.limits).map_err(e)?,
            content_type: ContentType::parse(&r.content_type).map_err(e)?,
            display_text: display_text
                .map(|d| Content::parse(d, self.limits).map(Content::into_inner))
                .transpose()
                .map_err(e)?,
            status: status.with_parts(&parts),
            model: opt(r.model, ModelName::parse).map_err(e)?,
            prompt_tokens: r.prompt_tokens,
            completion_tokens: r.completion_tokens,
            feedback,
            reaction: opt(reaction, Reaction::parse).map_err(e)?,
            metadata: Metadata::parse(metadata, self.limits).map_err(e)?,
            edited_at: r.edited_at.map(chat_threads_domain::to_micros),
            created_at: created,
            updated_at: created,
            deleted_at: r.deleted_at.map(chat_threads_domain::to_micros),
            // Earlier versions are not exported: an imported message starts at version 1.
            version: 1,
            attachments: if tombstoned_at.is_some() {
                Vec::new()
            } else {
                imported_attachments(r.attachments).map_err(e)?
            },
            tombstoned_at,
            parts,
            // Who wrote an imported message cannot be checked: the importer's own authorship is
            // kept, anyone else's is recorded as no one's.
            author: r.author.filter(|a| a.id == self.who.owner().as_str()),
        })
    }
}

/// Attachments of an imported message, held to the rules of new ones: at most
/// [`crate::files::MAX_ATTACHMENTS`], names of 1-255 characters.
fn imported_attachments(
    list: Vec<chat_threads_domain::Attachment>,
) -> Result<Vec<chat_threads_domain::Attachment>, chat_threads_domain::DomainError> {
    if list.len() > crate::files::MAX_ATTACHMENTS {
        return Err(chat_threads_domain::DomainError::LimitExceeded {
            field: "attachments",
            limit: crate::files::MAX_ATTACHMENTS,
            actual: list.len(),
        });
    }
    let bad = |a: &chat_threads_domain::Attachment| {
        crate::files::file_name(&a.name).map_or(true, |n| n != a.name)
            || a.content_type.is_empty()
            || a.content_type.len() > 255
    };
    if list.iter().any(bad) {
        return Err(chat_threads_domain::DomainError::invalid(
            "attachments",
            "an attachment needs a file name of 1-255 characters and a content type",
        ));
    }
    Ok(list)
}

/// Finishes a thread: counts, last message time, and an active leaf that is a live message.
pub(crate) fn finish(mut t: ImportedThread, requested_leaf: Option<MessageId>) -> ImportedThread {
    let live: Vec<&Message> = t.messages.iter().filter(|m| !m.is_deleted()).collect();
    t.thread.message_count = live.len() as i64;
    t.thread.last_message_at = live.iter().map(|m| m.created_at).max();
    let leaf = requested_leaf.filter(|id| live.iter().any(|m| m.id == *id));
    t.thread.active_leaf_id = leaf.or_else(|| {
        chat_threads_domain::tree::leaves(live.iter().copied())
            .first()
            .map(|m| m.id)
    });
    t
}

/// Parses an NDJSON import.
pub fn parse_ndjson(
    who: &Principal,
    body: &str,
    limits: &Limits,
    now: Timestamp,
) -> Result<Vec<ImportedThread>, AppError> {
    let b = Builder { who, limits, now };
    let mut out: Vec<ImportedThread> = Vec::new();
    // Per thread in progress: old message id -> (new id, depth); old thread id; requested leaf.
    let mut ids: HashMap<uuid::Uuid, (MessageId, i32)> = HashMap::new();
    let mut current: Option<(uuid::Uuid, Option<uuid::Uuid>)> = None;
    let mut seen_threads = HashSet::new();
    let finish_current = |out: &mut Vec<ImportedThread>,
                          ids: &HashMap<uuid::Uuid, (MessageId, i32)>,
                          cur: Option<(uuid::Uuid, Option<uuid::Uuid>)>| {
        if let (Some((_, leaf)), Some(last)) = (cur, out.pop()) {
            let leaf = leaf.and_then(|l| ids.get(&l).map(|x| x.0));
            out.push(finish(last, leaf));
        }
    };
    for (n, line) in body.lines().enumerate() {
        let n = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        let record: Record = serde_json::from_str(line).map_err(|e| bad_line(n, e))?;
        match record {
            Record::Thread(r) => {
                finish_current(&mut out, &ids, current.take());
                ids.clear();
                if !seen_threads.insert(r.id) {
                    return Err(bad_line(n, "the thread id appears twice"));
                }
                let old = r.id;
                let (thread, leaf) = b.thread(r).map_err(|e| bad_line(n, e))?;
                current = Some((old, leaf));
                out.push(ImportedThread {
                    thread,
                    messages: Vec::new(),
                    summaries: Vec::new(),
                    source_id: old.to_string(),
                });
            }
            Record::Message(r) => {
                let (Some((old_thread, _)), Some(t)) = (current, out.last_mut()) else {
                    return Err(bad_line(n, "a message before any thread"));
                };
                if r.thread_id != old_thread {
                    return Err(bad_line(
                        n,
                        "the message's thread_id is not the thread above it",
                    ));
                }
                let old_id = r.id;
                if ids.contains_key(&old_id) {
                    return Err(bad_line(n, "the message id appears twice"));
                }
                let m = b.message(r, &t.thread, &ids).map_err(|e| bad_line(n, e))?;
                ids.insert(old_id, (m.id, m.depth));
                t.messages.push(m);
            }
            Record::Summary(r) => {
                let (Some((old_thread, _)), Some(t)) = (current, out.last_mut()) else {
                    return Err(bad_line(n, "a summary before any thread"));
                };
                if r.thread_id != old_thread {
                    return Err(bad_line(
                        n,
                        "the summary's thread_id is not the thread above it",
                    ));
                }
                let covers = ids
                    .get(&r.covers_message_id)
                    .ok_or_else(|| bad_line(n, "it covers an unknown message"))?
                    .0;
                t.summaries.push(Summary {
                    id: SummaryId::new(),
                    thread_id: t.thread.id,
                    covers_message_id: covers,
                    text: Content::parse(r.text, limits).map_err(|e| bad_line(n, e))?,
                    model: opt(r.model, ModelName::parse).map_err(|e| bad_line(n, e))?,
                    created_at: r
                        .created_at
                        .map(chat_threads_domain::to_micros)
                        .unwrap_or(now),
                });
            }
        }
    }
    finish_current(&mut out, &ids, current.take());
    if out.is_empty() {
        return Err(DomainError::invalid("import", "the file holds no thread").into());
    }
    Ok(out)
}
