//! The rules of a thread's message tree.
//!
//! A thread is a forest of messages linked by `parent_id` (usually one root; editing the first
//! message adds a second root). The *active path* runs from a root to the thread's active leaf.
//! These functions decide where a new message goes and how the active leaf moves; the stores
//! apply the decisions atomically.

use std::collections::{HashMap, HashSet};

use crate::Timestamp;
use crate::error::DomainError;
use crate::ids::{MessageId, ThreadId};
use crate::message::{Message, MessageStatus};
use crate::thread::Thread;

/// Where a new message hangs in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// The parent, `None` for a root.
    pub parent_id: Option<MessageId>,
    /// Depth of the new message.
    pub depth: i32,
}

/// Checks that a looked-up message can be used as `requested` in `thread`.
///
/// `found` is what the store found under that id among the owner's messages (in any thread).
fn usable<'m>(
    thread: &Thread,
    requested: MessageId,
    found: Option<&'m Message>,
    on_missing: fn(MessageId) -> DomainError,
    on_other_thread: fn(MessageId) -> DomainError,
    on_deleted: fn(MessageId) -> DomainError,
) -> Result<&'m Message, DomainError> {
    let msg = found
        .filter(|m| m.id == requested)
        .ok_or_else(|| on_missing(requested))?;
    if msg.thread_id != thread.id {
        return Err(on_other_thread(requested));
    }
    if msg.is_deleted() {
        return Err(on_deleted(requested));
    }
    Ok(msg)
}

/// Checks a message an operation acts on (edit, switch, fork): a live message of this thread.
/// A message of another thread is reported like a missing one.
fn target<'m>(
    thread: &Thread,
    requested: MessageId,
    found: Option<&'m Message>,
) -> Result<&'m Message, DomainError> {
    usable(
        thread,
        requested,
        found,
        |id| DomainError::MessageUnusable(id, "no such message in this thread"),
        |id| DomainError::MessageUnusable(id, "no such message in this thread"),
        |id| DomainError::MessageUnusable(id, "the message is deleted"),
    )
}

/// Decides where an appended message goes.
///
/// With `requested_parent`, the message goes under that parent, which must exist, belong to this
/// thread and not be deleted; `parent` is what the store found under that id. Without it, the
/// message goes under the active leaf (`parent` is then the active leaf, or `None` for an empty
/// thread, and the message becomes a root).
pub fn place_append(
    thread: &Thread,
    requested_parent: Option<MessageId>,
    parent: Option<&Message>,
) -> Result<Placement, DomainError> {
    thread.ensure_writable()?;
    let parent = match requested_parent {
        Some(id) => Some(usable(
            thread,
            id,
            parent,
            DomainError::ParentNotFound,
            DomainError::ParentInOtherThread,
            DomainError::ParentDeleted,
        )?),
        None => match thread.active_leaf_id {
            None => None,
            Some(leaf) => Some(usable(
                thread,
                leaf,
                parent,
                |id| DomainError::MessageUnusable(id, "the active leaf is missing"),
                |id| DomainError::MessageUnusable(id, "the active leaf is in another thread"),
                |id| DomainError::MessageUnusable(id, "the active leaf is deleted"),
            )?),
        },
    };
    Ok(Placement {
        parent_id: parent.map(|p| p.id),
        depth: parent.map_or(0, |p| p.depth + 1),
    })
}

/// Decides where a sibling of `original` goes (edit or regenerate): beside it, under the same
/// parent. The new sibling then becomes the active leaf.
pub fn place_sibling(
    thread: &Thread,
    requested: MessageId,
    original: Option<&Message>,
) -> Result<Placement, DomainError> {
    thread.ensure_writable()?;
    let original = target(thread, requested, original)?;
    Ok(Placement {
        parent_id: original.parent_id,
        depth: original.depth,
    })
}

/// Checks that `target` can become the active leaf (any live message of the thread can: the
/// next append then branches from it).
pub fn check_active_leaf(
    thread: &Thread,
    requested: MessageId,
    found: Option<&Message>,
) -> Result<(), DomainError> {
    thread.ensure_writable()?;
    target(thread, requested, found).map(|_| ())
}

/// Checks that `at` can be the end of a forked path: live, in the thread, and not still streaming.
pub fn check_fork_point(
    thread: &Thread,
    requested: MessageId,
    at: Option<&Message>,
) -> Result<(), DomainError> {
    let msg = target(thread, requested, at)?;
    if msg.status == MessageStatus::Streaming {
        return Err(DomainError::MessageUnusable(
            requested,
            "the reply is still being generated",
        ));
    }
    Ok(())
}

/// The path from a root down to `leaf`, root first, following parent links through `by_id`.
/// Stops early (returning what it has) if a link is missing, so a damaged tree cannot loop.
pub fn path_to(leaf: MessageId, by_id: &HashMap<MessageId, Message>) -> Vec<Message> {
    let mut path = Vec::new();
    let mut seen = HashSet::new();
    let mut next = Some(leaf);
    while let Some(id) = next {
        let Some(msg) = by_id.get(&id) else { break };
        if !seen.insert(id) {
            break;
        }
        next = msg.parent_id;
        path.push(msg.clone());
    }
    path.reverse();
    path
}

/// The branches of a tree: live messages with no live child, newest first.
pub fn leaves<'m>(messages: impl IntoIterator<Item = &'m Message> + Clone) -> Vec<&'m Message> {
    let with_children: HashSet<MessageId> = messages
        .clone()
        .into_iter()
        .filter(|m| !m.is_deleted())
        .filter_map(|m| m.parent_id)
        .collect();
    let mut out: Vec<&Message> = messages
        .into_iter()
        .filter(|m| !m.is_deleted() && !with_children.contains(&m.id))
        .collect();
    out.sort_by_key(|m| std::cmp::Reverse((m.created_at, m.id)));
    out
}

/// The ids of `root` and every message below it.
pub fn subtree(root: MessageId, messages: &[Message]) -> HashSet<MessageId> {
    let mut children: HashMap<MessageId, Vec<MessageId>> = HashMap::new();
    for m in messages {
        if let Some(p) = m.parent_id {
            children.entry(p).or_default().push(m.id);
        }
    }
    let mut out = HashSet::from([root]);
    let mut stack = vec![root];
    while let Some(id) = stack.pop() {
        for child in children.get(&id).into_iter().flatten() {
            if out.insert(*child) {
                stack.push(*child);
            }
        }
    }
    out
}

/// Where the active leaf goes when `deleted` (and its whole subtree, `removed`) is soft-deleted.
///
/// If the active leaf survives, it stays. Otherwise it moves to the deleted message's parent, so
/// the conversation resumes just above what was removed; a deleted root has no parent, so the
/// leaf moves to the newest surviving leaf of the thread (`newest_surviving_leaf`), or to none.
pub fn active_leaf_after_delete(
    current: Option<MessageId>,
    deleted: &Message,
    removed: &HashSet<MessageId>,
    newest_surviving_leaf: Option<MessageId>,
) -> Option<MessageId> {
    match current {
        Some(leaf) if !removed.contains(&leaf) => Some(leaf),
        None => None,
        Some(_) => deleted.parent_id.or(newest_surviving_leaf),
    }
}

/// Copies messages into `thread_id` with fresh ids, keeping their shape.
///
/// `messages` must list every parent before its children (a path root-first, or a tree by
/// depth). A message whose parent is not among them becomes a root. Feedback and reactions are
/// the original reader's judgement and are not copied. Returns the copies in the same order and
/// the map from old to new ids.
pub fn copy_messages(
    messages: &[Message],
    thread_id: ThreadId,
    now: Timestamp,
) -> (Vec<Message>, HashMap<MessageId, MessageId>) {
    let mut map = HashMap::with_capacity(messages.len());
    let mut out = Vec::with_capacity(messages.len());
    for m in messages {
        let id = MessageId::new();
        map.insert(m.id, id);
        let parent_id = m.parent_id.and_then(|p| map.get(&p).copied());
        out.push(Message {
            id,
            thread_id,
            parent_id,
            depth: if parent_id.is_some() { m.depth } else { 0 },
            feedback: None,
            reaction: None,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            version: 1,
            tombstoned_at: None,
            ..m.clone()
        });
    }
    // Depths are recomputed from the copied parents, in case the copy starts below a root.
    let depths: HashMap<MessageId, i32> = {
        let mut d = HashMap::new();
        for m in &out {
            let depth = m
                .parent_id
                .and_then(|p| d.get(&p).map(|x: &i32| x + 1))
                .unwrap_or(0);
            d.insert(m.id, depth);
        }
        d
    };
    for m in &mut out {
        m.depth = depths.get(&m.id).copied().unwrap_or(0);
    }
    (out, map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{ContentType, Role};
    use crate::metadata::Metadata;
    use crate::values::{Content, Limits, Owner};

    fn now() -> Timestamp {
        crate::to_micros(chrono::Utc::now())
    }

    fn thread() -> Thread {
        Thread::new(Owner::parse("alice").unwrap(), now())
    }

    fn msg(thread: &Thread, parent: Option<&Message>, text: &str) -> Message {
        let t = now();
        Message {
            id: MessageId::new(),
            thread_id: thread.id,
            parent_id: parent.map(|p| p.id),
            depth: parent.map_or(0, |p| p.depth + 1),
            role: Role::User,
            content: Content::parse(text.into(), &Limits::default()).unwrap(),
            content_type: ContentType::Text,
            display_text: None,
            status: MessageStatus::Complete,
            model: None,
            prompt_tokens: None,
            completion_tokens: None,
            feedback: None,
            reaction: None,
            metadata: Metadata::default(),
            edited_at: None,
            created_at: t,
            updated_at: t,
            deleted_at: None,
            version: 1,
            tombstoned_at: None,
            attachments: Vec::new(),
            parts: Vec::new(),
            author: None,
        }
    }

    #[test]
    fn first_message_of_an_empty_thread_is_a_root() {
        let t = thread();
        assert_eq!(
            place_append(&t, None, None).unwrap(),
            Placement {
                parent_id: None,
                depth: 0
            }
        );
    }

    #[test]
    fn append_goes_under_the_active_leaf() {
        let mut t = thread();
        let root = msg(&t, None, "hi");
        t.active_leaf_id = Some(root.id);
        let p = place_append(&t, None, Some(&root)).unwrap();
        assert_eq!(
            p,
            Placement {
                parent_id: Some(root.id),
                depth: 1
            }
        );
    }

    #[test]
    fn append_under_an_explicit_parent_of_the_same_thread() {
        let mut t = thread();
        let root = msg(&t, None, "a");
        let child = msg(&t, Some(&root), "b");
        t.active_leaf_id = Some(child.id);
        let p = place_append(&t, Some(root.id), Some(&root)).unwrap();
        assert_eq!(
            p,
            Placement {
                parent_id: Some(root.id),
                depth: 1
            }
        );
    }

    #[test]
    fn unknown_parent_is_refused() {
        let t = thread();
        let ghost = MessageId::new();
        assert_eq!(
            place_append(&t, Some(ghost), None),
            Err(DomainError::ParentNotFound(ghost))
        );
        // A message found under a different id is not the requested parent.
        let other = msg(&t, None, "x");
        assert_eq!(
            place_append(&t, Some(ghost), Some(&other)),
            Err(DomainError::ParentNotFound(ghost))
        );
    }

    #[test]
    fn parent_in_another_thread_is_refused() {
        let t = thread();
        let elsewhere = thread();
        let foreign = msg(&elsewhere, None, "x");
        assert_eq!(
            place_append(&t, Some(foreign.id), Some(&foreign)),
            Err(DomainError::ParentInOtherThread(foreign.id))
        );
    }

    #[test]
    fn deleted_parent_is_refused() {
        let t = thread();
        let mut gone = msg(&t, None, "x");
        gone.deleted_at = Some(now());
        assert_eq!(
            place_append(&t, Some(gone.id), Some(&gone)),
            Err(DomainError::ParentDeleted(gone.id))
        );
    }

    #[test]
    fn deleted_thread_refuses_appends() {
        let mut t = thread();
        t.deleted_at = Some(now());
        assert!(matches!(
            place_append(&t, None, None),
            Err(DomainError::ThreadNotWritable(_))
        ));
    }

    #[test]
    fn edit_and_regenerate_create_a_sibling() {
        let t = thread();
        let root = msg(&t, None, "q");
        let reply = msg(&t, Some(&root), "a");
        let p = place_sibling(&t, reply.id, Some(&reply)).unwrap();
        assert_eq!(
            p,
            Placement {
                parent_id: Some(root.id),
                depth: 1
            }
        );
        // Editing a root makes another root.
        assert_eq!(
            place_sibling(&t, root.id, Some(&root)).unwrap(),
            Placement {
                parent_id: None,
                depth: 0
            }
        );
    }

    #[test]
    fn sibling_of_a_deleted_or_foreign_message_is_refused() {
        let t = thread();
        let mut gone = msg(&t, None, "q");
        gone.deleted_at = Some(now());
        assert!(matches!(
            place_sibling(&t, gone.id, Some(&gone)),
            Err(DomainError::MessageUnusable(_, _))
        ));
        let foreign = msg(&thread(), None, "x");
        assert!(place_sibling(&t, foreign.id, Some(&foreign)).is_err());
        assert!(place_sibling(&t, foreign.id, None).is_err());
    }

    #[test]
    fn active_path_runs_root_to_leaf_and_branches_are_leaves() {
        let t = thread();
        let a = msg(&t, None, "a");
        let b = msg(&t, Some(&a), "b");
        let c1 = msg(&t, Some(&b), "c1");
        let c2 = msg(&t, Some(&b), "c2");
        let all = vec![a.clone(), b.clone(), c1.clone(), c2.clone()];
        let by_id: HashMap<_, _> = all.iter().map(|m| (m.id, m.clone())).collect();
        let path: Vec<_> = path_to(c1.id, &by_id).into_iter().map(|m| m.id).collect();
        assert_eq!(path, vec![a.id, b.id, c1.id]);
        let leaf_ids: Vec<_> = leaves(&all).into_iter().map(|m| m.id).collect();
        assert_eq!(leaf_ids, vec![c2.id, c1.id], "newest first");
    }

    #[test]
    fn deleting_a_branch_removes_its_subtree_and_moves_the_active_leaf_up() {
        let t = thread();
        let a = msg(&t, None, "a");
        let b = msg(&t, Some(&a), "b");
        let c = msg(&t, Some(&b), "c");
        let other = msg(&t, Some(&a), "b'");
        let all = vec![a.clone(), b.clone(), c.clone(), other.clone()];
        let removed = subtree(b.id, &all);
        assert_eq!(removed, HashSet::from([b.id, c.id]));
        assert_eq!(
            active_leaf_after_delete(Some(c.id), &b, &removed, None),
            Some(a.id)
        );
        // A surviving active leaf stays put.
        assert_eq!(
            active_leaf_after_delete(Some(other.id), &b, &removed, None),
            Some(other.id)
        );
        // Deleting a root moves to the newest surviving leaf elsewhere, or none.
        let removed_all = subtree(a.id, &all);
        assert_eq!(
            active_leaf_after_delete(Some(c.id), &a, &removed_all, None),
            None
        );
        let second_root = msg(&t, None, "edited root");
        assert_eq!(
            active_leaf_after_delete(Some(c.id), &a, &removed_all, Some(second_root.id)),
            Some(second_root.id)
        );
    }

    #[test]
    fn fork_copies_a_path_with_fresh_ids_and_no_judgements() {
        let t = thread();
        let a = msg(&t, None, "a");
        let mut b = msg(&t, Some(&a), "b");
        b.reaction = Some(crate::values::Reaction::parse("👍").unwrap());
        let target = ThreadId::new();
        let (copies, map) = copy_messages(&[a.clone(), b.clone()], target, now());
        assert_eq!(copies.len(), 2);
        assert!(
            copies
                .iter()
                .all(|m| m.thread_id == target && m.reaction.is_none())
        );
        assert_eq!(copies[0].parent_id, None);
        assert_eq!(copies[1].parent_id, Some(copies[0].id));
        assert_eq!(copies[1].depth, 1);
        assert_eq!(map[&a.id], copies[0].id);
        assert_ne!(copies[0].id, a.id);
        assert_eq!(copies[1].content, b.content);
    }

    #[test]
    fn fork_point_must_be_live_and_finished() {
        let t = thread();
        let mut m = msg(&t, None, "a");
        assert!(check_fork_point(&t, m.id, Some(&m)).is_ok());
        m.status = MessageStatus::Streaming;
        assert!(check_fork_point(&t, m.id, Some(&m)).is_err());
        m.status = MessageStatus::Complete;
        m.deleted_at = Some(now());
        assert!(check_fork_point(&t, m.id, Some(&m)).is_err());
    }

    #[test]
    fn active_leaf_must_be_a_live_message_of_the_thread() {
        let t = thread();
        let m = msg(&t, None, "a");
        assert!(check_active_leaf(&t, m.id, Some(&m)).is_ok());
        let foreign = msg(&thread(), None, "x");
        assert!(check_active_leaf(&t, foreign.id, Some(&foreign)).is_err());
        assert!(check_active_leaf(&t, MessageId::new(), None).is_err());
    }
}
