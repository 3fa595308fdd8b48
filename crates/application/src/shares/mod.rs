//! Share links: a read-only view of one branch of a thread, for the public, any signed-in
//! principal, or the owner's organization. A snapshot is frozen when made and can be refreshed
//! in place (same link); a live share reads the branch each time it is opened. A share shows
//! the title, an optional display name and the branch's messages — never other branches, the
//! owner's metadata or identity. Revoking deletes the link: every instance refuses it at once,
//! since each opening reads it from the database. A signed-in viewer can continue a shared
//! conversation as their own copy.

mod ports;

pub use ports::{Audience, Share, ShareMode, ShareStore, SharedMessage};

use chat_threads_domain::{
    DomainError, FileId, Limits, Message, MessageId, Owner, Principal, Scope, Thread, ThreadId,
};

use crate::accounts::AuthError;
use crate::error::AppError;
use crate::messages::MessageStore;
use crate::system::Clock;
use crate::threads::ThreadStore;
use crate::transfer::{
    Builder, ImportOutcome, ImportStore, ImportedThread, MessageRecord, ThreadRecord, finish,
};

/// Most messages a share shows: the newest of the branch.
pub const SHARE_MAX_MESSAGES: u32 = 1_000;
/// Most shares one thread may have.
pub const MAX_SHARES_PER_THREAD: usize = 100;
/// Longest display name, in characters.
pub const DISPLAY_NAME_CHARS: usize = 64;

/// A share as asked for.
#[derive(Debug, Clone)]
pub struct CreateShare {
    /// Snapshot or live.
    pub mode: ShareMode,
    /// Who may open it.
    pub audience: Audience,
    /// The end of the branch to share; `None`: the active branch.
    pub leaf_id: Option<MessageId>,
    /// Shown with the share instead of the owner's identity.
    pub display_name: Option<String>,
}

/// What a viewer sees of a share.
#[derive(Debug, Clone)]
pub struct SharedView {
    /// The share.
    pub share: Share,
    /// The title (a snapshot's as taken; a live share's as it is now).
    pub title: String,
    /// The branch, root first.
    pub messages: Vec<SharedMessage>,
}

/// Share links.
#[derive(Debug, Clone)]
pub struct ShareService<S, C> {
    store: S,
    clock: C,
    limits: Limits,
}

impl<S, C> ShareService<S, C>
where
    S: ShareStore + ThreadStore + MessageStore + ImportStore,
    C: Clock,
{
    /// A service over `store`.
    pub fn new(store: S, clock: C, limits: Limits) -> Self {
        Self {
            store,
            clock,
            limits,
        }
    }

    /// The caller's own live thread (only the owner shares it).
    async fn own_thread(&self, who: &Principal, thread_id: ThreadId) -> Result<Thread, AppError> {
        // A member is told the share links are the owner's (403); anyone else finds nothing.
        let scope =
            crate::access::scope_for(&self.store, who, thread_id, crate::access::Need::Own).await?;
        self.store
            .get_thread(&Scope::of(scope.owner), thread_id, false)
            .await
    }

    /// The branch ending at `leaf` (or at the active leaf), root first, without deleted
    /// messages; a live share of a leaf on the active path follows the branch as it grows.
    async fn branch(
        &self,
        owner: &Owner,
        thread_id: ThreadId,
        leaf: Option<MessageId>,
        follow: bool,
    ) -> Result<Vec<Message>, AppError> {
        let scope = Scope::of(owner.clone());
        let active = |before| {
            self.store
                .active_path(&scope, thread_id, before, SHARE_MAX_MESSAGES)
        };
        let path = match leaf {
            None => active(None).await?,
            Some(leaf) => {
                let whole = if follow {
                    active(None).await?
                } else {
                    Vec::new()
                };
                if whole.iter().any(|m| m.id == leaf) {
                    whole
                } else {
                    let end = self.store.get_message(&scope, thread_id, leaf).await?;
                    let mut path = active(Some(leaf)).await?;
                    if path.len() >= SHARE_MAX_MESSAGES as usize {
                        path.remove(0);
                    }
                    path.push(end);
                    path
                }
            }
        };
        Ok(path.into_iter().filter(|m| !m.is_deleted()).collect())
    }

    /// Shares a branch of the caller's thread.
    pub async fn create(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        input: CreateShare,
    ) -> Result<Share, AppError> {
        let thread = self.own_thread(who, thread_id).await?;
        if input.audience == Audience::Org && thread.org_id.is_none() {
            return Err(DomainError::inconsistent(
                "audience",
                "the thread belongs to no organization; share it public or signed_in",
            )
            .into());
        }
        let display_name = input
            .display_name
            .map(|n| {
                let n = n.trim().to_owned();
                if n.is_empty() || n.chars().any(char::is_control) {
                    return Err(DomainError::invalid(
                        "display_name",
                        "must be 1-64 characters without control characters",
                    ));
                }
                if n.chars().count() > DISPLAY_NAME_CHARS {
                    return Err(DomainError::LimitExceeded {
                        field: "display_name",
                        limit: DISPLAY_NAME_CHARS,
                        actual: n.chars().count(),
                    });
                }
                Ok(n)
            })
            .transpose()?;
        if let Some(leaf) = input.leaf_id {
            // A leaf the body names that the thread does not hold (or holds deleted) cannot be
            // shared: 422, not a 404 of the URL's thread.
            let live = match self
                .store
                .get_message(&Scope::of(who.owner()), thread_id, leaf)
                .await
            {
                Ok(m) => !m.is_deleted(),
                Err(AppError::MessageNotFound) => false,
                Err(e) => return Err(e),
            };
            if !live {
                return Err(
                    DomainError::MessageUnusable(leaf, "no live message of this thread").into(),
                );
            }
        }
        let count = self.store.list_shares(thread_id).await?.len();
        if count >= MAX_SHARES_PER_THREAD {
            return Err(DomainError::LimitExceeded {
                field: "shares",
                limit: MAX_SHARES_PER_THREAD,
                actual: count + 1,
            }
            .into());
        }
        let snapshot = match input.mode {
            ShareMode::Snapshot => Some(
                self.branch(&thread.owner, thread_id, input.leaf_id, false)
                    .await?
                    .iter()
                    .map(SharedMessage::from)
                    .collect(),
            ),
            ShareMode::Live => None,
        };
        let now = self.clock.now();
        let share = self
            .store
            .insert_share(Share {
                id: format!("shr_{}", uuid::Uuid::new_v4().simple()),
                thread_id,
                owner: thread.owner,
                org_id: thread.org_id,
                mode: input.mode,
                audience: input.audience,
                leaf_id: input.leaf_id,
                display_name,
                title: thread.title.to_string(),
                snapshot,
                created_at: now,
                updated_at: now,
            })
            .await?;
        self.audit(who, &share, crate::audit::AuditAction::ShareCreated)
            .await;
        Ok(share)
    }

    /// The shares of the caller's thread, oldest first.
    pub async fn list(&self, who: &Principal, thread_id: ThreadId) -> Result<Vec<Share>, AppError> {
        self.own_thread(who, thread_id).await?;
        self.store.list_shares(thread_id).await
    }

    async fn own_share(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        id: &str,
    ) -> Result<(Thread, Share), AppError> {
        let thread = self.own_thread(who, thread_id).await?;
        let share = self
            .store
            .get_share(id)
            .await?
            .filter(|s| s.thread_id == thread_id)
            .ok_or(AppError::ShareNotFound)?;
        Ok((thread, share))
    }

    /// Takes a snapshot again, in place (same link): the branch and the title as they are now.
    /// A live share is returned as it is.
    pub async fn refresh(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        id: &str,
    ) -> Result<Share, AppError> {
        let (thread, share) = self.own_share(who, thread_id, id).await?;
        if share.mode == ShareMode::Live {
            return Ok(share);
        }
        let leaf = share.leaf_id;
        let messages = match self.branch(&thread.owner, thread_id, leaf, false).await {
            // The shared leaf was deleted since: the snapshot takes the active branch.
            Err(AppError::MessageNotFound) => {
                self.branch(&thread.owner, thread_id, None, false).await?
            }
            other => other?,
        };
        let share = self
            .store
            .refresh_share(Share {
                title: thread.title.to_string(),
                snapshot: Some(messages.iter().map(SharedMessage::from).collect()),
                updated_at: self.clock.now(),
                ..share
            })
            .await?;
        self.audit(who, &share, crate::audit::AuditAction::ShareRefreshed)
            .await;
        Ok(share)
    }

    /// Writes the audit entry of an action on a share link.
    async fn audit(&self, who: &Principal, share: &Share, action: crate::audit::AuditAction) {
        crate::audit::record(
            &self.store,
            &self.clock,
            Some(who),
            share.org_id.as_ref(),
            action,
            format!("share:{}", share.id),
            Some(share.thread_id),
            serde_json::json!({"mode": share.mode.as_str(), "audience": share.audience.as_str()}),
        )
        .await;
    }

    /// Revokes a share: the link answers 404 from now on, on every instance.
    pub async fn revoke(
        &self,
        who: &Principal,
        thread_id: ThreadId,
        id: &str,
    ) -> Result<(), AppError> {
        let (_, share) = self.own_share(who, thread_id, id).await?;
        if self.store.delete_share(thread_id, id).await? {
            self.audit(who, &share, crate::audit::AuditAction::ShareRevoked)
                .await;
            Ok(())
        } else {
            Err(AppError::ShareNotFound)
        }
    }

    /// Opens a share as `viewer` (`None`: no token): public shares for anyone, signed-in
    /// shares for any valid token (401 without one), org shares for principals of the owner's
    /// organization (401 without a token, 404 for another organization's).
    pub async fn view(&self, viewer: Option<&Principal>, id: &str) -> Result<SharedView, AppError> {
        let share = self
            .store
            .get_share(id)
            .await?
            .ok_or(AppError::ShareNotFound)?;
        match (share.audience, viewer) {
            (Audience::Public, _) => {}
            (Audience::SignedIn | Audience::Org, None) => {
                return Err(AppError::Auth(AuthError::TokenMissing));
            }
            (Audience::SignedIn, Some(_)) => {}
            (Audience::Org, Some(v)) => {
                if v.org.is_none() || v.org != share.org_id {
                    return Err(AppError::ShareNotFound);
                }
            }
        }
        // The thread must still be there (a deleted thread's shares answer 404).
        let thread = self
            .store
            .get_thread(&Scope::of(share.owner.clone()), share.thread_id, false)
            .await
            .map_err(|e| match e {
                AppError::ThreadNotFound => AppError::ShareNotFound,
                other => other,
            })?;
        let (title, messages) = match &share.snapshot {
            Some(frozen) => (share.title.clone(), frozen.clone()),
            None => {
                let branch = match self
                    .branch(&share.owner, share.thread_id, share.leaf_id, true)
                    .await
                {
                    Err(AppError::MessageNotFound) => Vec::new(),
                    other => other?,
                };
                (
                    thread.title.to_string(),
                    branch.iter().map(SharedMessage::from).collect(),
                )
            }
        };
        Ok(SharedView {
            share,
            title,
            messages,
        })
    }

    /// The owner of a file attached to a message the share shows (for reading it through the
    /// share); `FileNotFound` for any other file.
    pub async fn attachment(
        &self,
        viewer: Option<&Principal>,
        id: &str,
        file_id: FileId,
    ) -> Result<Owner, AppError> {
        let view = self.view(viewer, id).await?;
        let shown = view
            .messages
            .iter()
            .any(|m| m.attachments.iter().any(|a| a.file_id == file_id));
        if !shown {
            return Err(AppError::FileNotFound);
        }
        Ok(view.share.owner)
    }

    /// Continues a shared conversation as the viewer's own: a new thread of theirs holding a
    /// copy of the branch (new ids; attachments stay the owner's files and are not carried),
    /// with `metadata.shared_from` naming the link. Signed-in viewers only.
    pub async fn fork(&self, viewer: Option<&Principal>, id: &str) -> Result<Thread, AppError> {
        let Some(who) = viewer else {
            return Err(AppError::Auth(AuthError::TokenMissing));
        };
        let view = self.view(Some(who), id).await?;
        let now = self.clock.now();
        let b = Builder {
            who,
            limits: &self.limits,
            now,
        };
        let title: String = view.title.chars().take(self.limits.title_chars).collect();
        let (record, _) = b.thread(ThreadRecord {
            id: uuid::Uuid::now_v7(),
            title,
            product: None,
            org_id: None,
            status: "active".into(),
            document_id: None,
            external_id: None,
            metadata: serde_json::json!({"shared_from": view.share.id}),
            system_prompt: None,
            model: None,
            active_leaf_id: None,
            created_at: None,
            updated_at: None,
            deleted_at: None,
            expires_at: None,
            tags: Vec::new(),
            folder_id: None,
            pinned: false,
        })?;
        let mut ids = std::collections::HashMap::new();
        let mut messages = Vec::with_capacity(view.messages.len());
        let mut parent = None;
        for m in view.messages {
            let new_id = uuid::Uuid::now_v7();
            let message = b
                .message(
                    MessageRecord {
                        id: new_id,
                        thread_id: record.id.as_uuid(),
                        parent_id: parent,
                        role: m.role.as_str().to_owned(),
                        content: m.content,
                        content_type: m.content_type.as_str().to_owned(),
                        display_text: m.display_text,
                        // A reply that was still streaming is copied as it stood.
                        status: match m.status {
                            chat_threads_domain::MessageStatus::Streaming => "failed".into(),
                            s => s.as_str().to_owned(),
                        },
                        model: m.model,
                        prompt_tokens: None,
                        completion_tokens: None,
                        feedback: None,
                        reaction: None,
                        metadata: serde_json::json!({}),
                        edited_at: None,
                        created_at: Some(m.created_at),
                        deleted_at: None,
                        tombstoned_at: None,
                        attachments: Vec::new(),
                        parts: m.parts,
                        // A share never names the people in it; the copy is the viewer's own.
                        author: None,
                    },
                    &record,
                    &ids,
                )
                .map_err(|reason| DomainError::invalid("messages", reason))?;
            ids.insert(new_id, (message.id, message.depth));
            parent = Some(new_id);
            messages.push(message);
        }
        let last = messages.last().map(|m| m.id);
        let copy = finish(
            ImportedThread {
                thread: record,
                messages,
                summaries: Vec::new(),
                source_id: view.share.id,
            },
            last,
        );
        let thread = copy.thread.clone();
        match self.store.import_threads(vec![copy]).await?.pop() {
            Some(ImportOutcome::Imported { .. }) => Ok(thread),
            _ => Err(AppError::internal(
                "the copy of a shared thread was not stored",
            )),
        }
    }
}
