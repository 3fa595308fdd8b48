//! The WebSocket operations: one enum, each operation's arguments the REST API's own path, body
//! and query types, so an argument means the same on both and is refused the same way (an
//! unknown, missing or mistyped one is `validation_failed` naming it).

use chat_threads_application::messages::MessagePatch;
use chat_threads_domain::{MessageId, Principal, ThreadId};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::dto::{DeleteOutcomeDto, FeedbackDto, MessageDto, MessagePath, PageDto, ThreadDto};
use crate::error::ApiError;
use crate::routes::accounts::WhoAmI;
use crate::routes::branches::{ActiveLeafBody, ForkBody};
use crate::routes::members::{AddMemberBody, MemberDto};
use crate::routes::messages::{
    AppendMessageBody, DeleteMessageQuery, EditMessageBody, ListMessagesQuery, PatchMessageBody,
    ReactionBody, RevisionsQuery,
};
use crate::routes::organize::{
    CreateFolderBody, FolderDto, RenameTagBody, TagDto, ThreadsTouched, UpdateFolderBody,
};
use crate::routes::replies::{ChatBody, RegenerateBody, ResendBody};
use crate::routes::search::SearchQuery;
use crate::routes::threads::{
    CreateThreadBody, GetThreadQuery, ListThreadsQuery, UpdateThreadBody,
};
use crate::routes::tools::ToolResultsBody;
use crate::state::{AppState, Deps};

/// Declares the operations: each one's wire name once, and how its arguments are read.
macro_rules! ops {
    ($($(#[doc = $doc:literal])* $name:literal => $variant:ident $(($($arg:ty),+))? = $parse:expr;)+) => {
        /// A WebSocket request's operation with its arguments.
        #[derive(Debug)]
        pub(super) enum Op {
            $($(#[doc = $doc])* $variant $(($($arg),+))?),+
        }

        impl Op {
            /// Every operation's wire name.
            pub(super) const NAMES: &'static [&'static str] = &[$($name),+];

            /// Reads an operation from its name and the request's other fields.
            pub(super) fn parse(name: &str, args: Map<String, Value>) -> Result<Self, ApiError> {
                let mut a = Args { op: name.to_owned(), map: args };
                let op = match name {
                    $($name => {
                        #[allow(clippy::redundant_closure_call)]
                        let op = ($parse)(&mut a)?;
                        op
                    })+
                    other => {
                        return Err(ApiError::Argument {
                            field: "op".into(),
                            message: format!(
                                "unknown op {other:?}; the ops are: {}",
                                Self::NAMES.join(", ")
                            ),
                        })
                    }
                };
                a.done()?;
                Ok(op)
            }
        }
    };
}

ops! {
    /// Authenticates the connection with a token.
    "auth" => Auth(String) = |a: &mut Args| a.take::<String>("token").map(Op::Auth);
    /// Answers `"pong"`.
    "ping" => Ping = |_: &mut Args| Ok::<_, ApiError>(Op::Ping);
    /// Who the connection acts for, as `GET /v1/whoami`.
    "whoami" => Whoami = |_: &mut Args| Ok::<_, ApiError>(Op::Whoami);
    /// The models the caller may use.
    "models.list" => ModelsList = |_: &mut Args| Ok::<_, ApiError>(Op::ModelsList);
    /// A page of threads.
    "threads.list" => ThreadsList(ListThreadsQuery) = |a: &mut Args| a.rest().map(Op::ThreadsList);
    /// A new thread.
    "threads.create" => ThreadsCreate(CreateThreadBody) = |a: &mut Args| a.rest().map(Op::ThreadsCreate);
    /// One thread (`include: "messages"` embeds the first page of its active path).
    "threads.get" => ThreadsGet(ThreadId, GetThreadQuery) =
        |a: &mut Args| Ok::<_, ApiError>(Op::ThreadsGet(a.thread()?, a.rest()?));
    /// Writes a thread's title with the model now.
    "threads.title" => ThreadsTitle(ThreadId) = |a: &mut Args| a.thread().map(Op::ThreadsTitle);
    /// The caller's folders.
    "folders.list" => FoldersList = |_: &mut Args| Ok::<_, ApiError>(Op::FoldersList);
    /// A new folder.
    "folders.create" => FoldersCreate(CreateFolderBody) = |a: &mut Args| a.rest().map(Op::FoldersCreate);
    /// One folder.
    "folders.get" => FoldersGet(uuid::Uuid) = |a: &mut Args| a.take("folder_id").map(Op::FoldersGet);
    /// Changes a folder.
    "folders.update" => FoldersUpdate(uuid::Uuid, UpdateFolderBody) =
        |a: &mut Args| Ok::<_, ApiError>(Op::FoldersUpdate(a.take("folder_id")?, a.rest()?));
    /// Deletes a folder (its threads stay).
    "folders.delete" => FoldersDelete(uuid::Uuid) = |a: &mut Args| a.take("folder_id").map(Op::FoldersDelete);
    /// The caller's tags with their counts.
    "tags.list" => TagsList = |_: &mut Args| Ok::<_, ApiError>(Op::TagsList);
    /// Renames a tag on every thread.
    "tags.rename" => TagsRename(String, RenameTagBody) =
        |a: &mut Args| Ok::<_, ApiError>(Op::TagsRename(a.take("tag")?, a.rest()?));
    /// Removes a tag from every thread.
    "tags.delete" => TagsDelete(String) = |a: &mut Args| a.take("tag").map(Op::TagsDelete);
    /// A thread's members.
    "members.list" => MembersList(ThreadId) = |a: &mut Args| a.thread().map(Op::MembersList);
    /// Lets a principal into the caller's thread, or changes their role.
    "members.add" => MembersAdd(ThreadId, AddMemberBody) =
        |a: &mut Args| Ok::<_, ApiError>(Op::MembersAdd(a.thread()?, a.rest()?));
    /// Takes a member out (or leaves).
    "members.remove" => MembersRemove(ThreadId, String) =
        |a: &mut Args| Ok::<_, ApiError>(Op::MembersRemove(a.thread()?, a.take("principal")?));
    /// Changes a thread.
    "threads.update" => ThreadsUpdate(ThreadId, UpdateThreadBody) =
        |a: &mut Args| Ok::<_, ApiError>(Op::ThreadsUpdate(a.thread()?, a.rest()?));
    /// Soft-deletes a thread.
    "threads.delete" => ThreadsDelete(ThreadId) = |a: &mut Args| a.thread().map(Op::ThreadsDelete);
    /// Restores a soft-deleted thread.
    "threads.restore" => ThreadsRestore(ThreadId) = |a: &mut Args| a.thread().map(Op::ThreadsRestore);
    /// Forks a path into a new thread.
    "threads.fork" => ThreadsFork(ThreadId, ForkBody) =
        |a: &mut Args| Ok::<_, ApiError>(Op::ThreadsFork(a.thread()?, a.rest()?));
    /// A page of a thread's messages.
    "messages.list" => MessagesList(ThreadId, ListMessagesQuery) =
        |a: &mut Args| Ok::<_, ApiError>(Op::MessagesList(a.thread()?, a.rest()?));
    /// Appends a message (no reply).
    "messages.append" => MessagesAppend(ThreadId, AppendMessageBody) =
        |a: &mut Args| Ok::<_, ApiError>(Op::MessagesAppend(a.thread()?, a.rest()?));
    /// One message.
    "messages.get" => MessagesGet(MessagePath) = |a: &mut Args| a.message().map(Op::MessagesGet);
    /// A new version of a message beside it (a branch).
    "messages.edit" => MessagesEdit(MessagePath, EditMessageBody) =
        |a: &mut Args| Ok::<_, ApiError>(Op::MessagesEdit(a.message()?, a.rest()?));
    /// Edits a message in place.
    "messages.update" => MessagesUpdate(MessagePath, PatchMessageBody) =
        |a: &mut Args| Ok::<_, ApiError>(Op::MessagesUpdate(a.message()?, a.rest()?));
    /// Earlier versions of a message edited in place.
    "messages.revisions" => MessagesRevisions(MessagePath, RevisionsQuery) =
        |a: &mut Args| Ok::<_, ApiError>(Op::MessagesRevisions(a.message()?, a.rest()?));
    /// Deletes a message (with its subtree, or alone).
    "messages.delete" => MessagesDelete(MessagePath, DeleteMessageQuery) =
        |a: &mut Args| Ok::<_, ApiError>(Op::MessagesDelete(a.message()?, a.rest()?));
    /// Undoes a delete within the restore window.
    "messages.restore" => MessagesRestore(MessagePath) = |a: &mut Args| a.message().map(Op::MessagesRestore);
    /// Sets thumbs up/down.
    "messages.feedback" => MessagesFeedback(MessagePath, FeedbackDto) =
        |a: &mut Args| Ok::<_, ApiError>(Op::MessagesFeedback(a.message()?, a.rest()?));
    /// Removes the feedback.
    "messages.feedback.clear" => MessagesFeedbackClear(MessagePath) =
        |a: &mut Args| a.message().map(Op::MessagesFeedbackClear);
    /// Sets the reaction.
    "messages.reaction" => MessagesReaction(MessagePath, ReactionBody) =
        |a: &mut Args| Ok::<_, ApiError>(Op::MessagesReaction(a.message()?, a.rest()?));
    /// Removes the reaction.
    "messages.reaction.clear" => MessagesReactionClear(MessagePath) =
        |a: &mut Args| a.message().map(Op::MessagesReactionClear);
    /// Sends a message and starts the assistant's reply (its events follow on this socket).
    "messages.send" => MessagesSend(ThreadId, ChatBody) =
        |a: &mut Args| Ok::<_, ApiError>(Op::MessagesSend(a.thread()?, a.rest()?));
    /// A new reply beside an assistant reply.
    "messages.regenerate" => MessagesRegenerate(MessagePath, RegenerateBody) =
        |a: &mut Args| Ok::<_, ApiError>(Op::MessagesRegenerate(a.message()?, a.rest()?));
    /// A new version of a user message beside it, and a reply to it.
    "messages.resend" => MessagesResend(MessagePath, ResendBody) =
        |a: &mut Args| Ok::<_, ApiError>(Op::MessagesResend(a.message()?, a.rest()?));
    /// Sends the results of a reply's tool calls and starts the reply that continues from them.
    "messages.tool_results" => MessagesToolResults(MessagePath, ToolResultsBody) =
        |a: &mut Args| Ok::<_, ApiError>(Op::MessagesToolResults(a.message()?, a.rest()?));
    /// Follows a reply from after an event id.
    "messages.resume" => MessagesResume(MessagePath, u64) = |a: &mut Args| {
        let at = a.message()?;
        Ok::<_, ApiError>(Op::MessagesResume(at, a.optional("last_event_id")?.unwrap_or(0)))
    };
    /// Stops a reply.
    "replies.stop" => RepliesStop(MessagePath) = |a: &mut Args| a.message().map(Op::RepliesStop);
    /// The earlier name of `replies.stop`, still accepted.
    "generation.stop" => GenerationStop(MessagePath) = |a: &mut Args| a.message().map(Op::GenerationStop);
    /// A thread's branches.
    "branches.list" => BranchesList(ThreadId) = |a: &mut Args| a.thread().map(Op::BranchesList);
    /// Switches the active branch.
    "branches.switch" => BranchesSwitch(ThreadId, ActiveLeafBody) =
        |a: &mut Args| Ok::<_, ApiError>(Op::BranchesSwitch(a.thread()?, a.rest()?));
    /// Searches the caller's messages.
    "search" => Search(SearchQuery) = |a: &mut Args| a.rest().map(Op::Search);
    /// Receives a thread's events from now on.
    "subscribe" => Subscribe(ThreadId) = |a: &mut Args| a.thread().map(Op::Subscribe);
    /// Stops receiving a thread's events.
    "unsubscribe" => Unsubscribe(ThreadId) = |a: &mut Args| a.thread().map(Op::Unsubscribe);
    /// Tells the thread's other subscribers that you are typing.
    "typing.start" => TypingStart(ThreadId) = |a: &mut Args| a.thread().map(Op::TypingStart);
    /// Tells them you stopped.
    "typing.stop" => TypingStop(ThreadId) = |a: &mut Args| a.thread().map(Op::TypingStop);
}

/// The arguments of one request, taken as they are read; what is left over is refused.
pub(super) struct Args {
    op: String,
    map: Map<String, Value>,
}

impl Args {
    fn invalid(&self, field: &str, message: impl std::fmt::Display) -> ApiError {
        ApiError::Argument {
            field: field.to_owned(),
            message: format!("{}: `{field}`: {message}", self.op),
        }
    }

    /// A required argument.
    fn take<T: DeserializeOwned>(&mut self, name: &str) -> Result<T, ApiError> {
        let value = self.map.remove(name).unwrap_or(Value::Null);
        serde_json::from_value(value).map_err(|e| self.invalid(name, e))
    }

    /// An optional argument (absent or `null`).
    fn optional<T: DeserializeOwned>(&mut self, name: &str) -> Result<Option<T>, ApiError> {
        match self.map.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v)
                .map(Some)
                .map_err(|e| self.invalid(name, e)),
        }
    }

    fn thread(&mut self) -> Result<ThreadId, ApiError> {
        self.take::<uuid::Uuid>("thread_id")
            .map(ThreadId::from_uuid)
    }

    fn message(&mut self) -> Result<MessagePath, ApiError> {
        Ok(MessagePath {
            thread_id: self.take("thread_id")?,
            message_id: self.take("message_id")?,
        })
    }

    /// Everything left, read as `T` (a REST body or query type, which refuses unknown fields).
    fn rest<T: DeserializeOwned>(&mut self) -> Result<T, ApiError> {
        let map = std::mem::take(&mut self.map);
        crate::extractors::typed(Value::Object(map), &self.op)
    }

    /// Refuses whatever was not read.
    fn done(self) -> Result<(), ApiError> {
        match self.map.keys().next() {
            Some(name) => Err(self.invalid(name, "unknown argument")),
            None => Ok(()),
        }
    }
}

fn json_of(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

impl Op {
    /// Runs an operation that needs nothing of the connection (the others are run by the
    /// connection itself).
    pub(super) async fn run<D: Deps>(
        self,
        s: &AppState<D>,
        who: &Principal,
    ) -> Result<Value, ApiError> {
        match self {
            Op::Ping => Ok(json!("pong")),
            Op::Whoami => Ok(json_of(WhoAmI::from(who.clone()))),
            Op::ModelsList => {
                let currency = &s.balances.settings().currency;
                let models = s.replies.catalog().allowed(who).into_iter();
                Ok(json_of(
                    PageDto::<crate::routes::replies::ModelDto>::complete(
                        models.map(|m| crate::routes::replies::ModelDto::new(m, currency)),
                    ),
                ))
            }
            op => op.run_stored(s, who).await,
        }
    }

    /// The operations on stored data, as their REST routes do them.
    async fn run_stored<D: Deps>(
        self,
        s: &AppState<D>,
        who: &Principal,
    ) -> Result<Value, ApiError> {
        let thread = |t: ThreadDto| Ok(json_of(t));
        let message = |m: chat_threads_domain::Message| Ok(json_of(MessageDto::from(m)));
        let id = |p: &MessagePath| (p.thread(), p.message());
        let folder = chat_threads_domain::FolderId::from_uuid;
        match self {
            Op::ThreadsList(q) => Ok(json_of(PageDto::<ThreadDto>::from(
                s.threads.list(who, q.into()).await?,
            ))),
            Op::ThreadsCreate(b) => thread(s.threads.create(who, b.into()).await?.0.into()),
            Op::ThreadsGet(t, q) => {
                thread(crate::routes::threads::with_included(s, who, t, q.include).await?)
            }
            Op::ThreadsTitle(t) => thread(s.replies.retitle(who, t).await?.into()),
            Op::FoldersList => Ok(json_of(PageDto::<FolderDto>::complete(
                s.organize.folders(who).await?,
            ))),
            Op::FoldersCreate(b) => Ok(json_of(FolderDto::from(
                chat_threads_application::organize::FolderCount {
                    folder: s.organize.create_folder(who, b.into()).await?,
                    thread_count: 0,
                },
            ))),
            Op::FoldersGet(f) => Ok(json_of(FolderDto::from(
                s.organize.folder(who, folder(f)).await?,
            ))),
            Op::FoldersUpdate(f, b) => {
                s.organize.update_folder(who, folder(f), b.into()).await?;
                Ok(json_of(FolderDto::from(
                    s.organize.folder(who, folder(f)).await?,
                )))
            }
            Op::FoldersDelete(f) => Ok(json_of(ThreadsTouched {
                threads: s.organize.delete_folder(who, folder(f)).await?,
            })),
            Op::TagsList => Ok(json_of(PageDto::<TagDto>::complete(
                s.organize.tags(who).await?,
            ))),
            Op::TagsRename(t, b) => Ok(json_of(ThreadsTouched {
                threads: s.organize.rename_tag(who, &t, &b.name).await?,
            })),
            Op::TagsDelete(t) => Ok(json_of(ThreadsTouched {
                threads: s.organize.delete_tag(who, &t).await?,
            })),
            Op::MembersList(t) => Ok(json_of(PageDto::<MemberDto>::complete(
                s.members.list(who, t).await?,
            ))),
            Op::MembersAdd(t, b) => {
                let input = chat_threads_application::members::AddMember {
                    principal: b.principal,
                    role: b.role,
                };
                Ok(json_of(MemberDto::from(
                    s.members.add(who, t, input).await?.0,
                )))
            }
            Op::MembersRemove(t, p) => {
                s.members.remove(who, t, &p).await?;
                Ok(json!({"thread_id": t, "principal": p}))
            }
            Op::ThreadsUpdate(t, b) => thread(s.threads.update(who, t, b.into()).await?.into()),
            Op::ThreadsDelete(t) => thread(s.threads.delete(who, t).await?.into()),
            Op::ThreadsRestore(t) => thread(s.threads.restore(who, t).await?.into()),
            Op::ThreadsFork(t, b) => {
                let mode = b.mode.unwrap_or_default();
                let at = MessageId::from_uuid(b.message_id);
                thread(s.messages.fork(who, t, at, mode, b.title).await?.into())
            }
            Op::MessagesList(t, q) => Ok(json_of(
                crate::routes::messages::list_page(s, who, t, q).await?,
            )),
            Op::MessagesAppend(t, b) => message(s.messages.append_counted(who, t, b.into()).await?),
            Op::MessagesGet(p) => {
                let (t, m) = id(&p);
                message(s.messages.read(who, t, m).await?)
            }
            Op::MessagesRestore(p) => {
                let (t, m) = id(&p);
                Ok(json_of(crate::routes::messages::RestoreOutcomeDto::from(
                    s.messages.restore(who, t, m).await?,
                )))
            }
            Op::MessagesEdit(p, b) => {
                let (t, m) = id(&p);
                message(s.messages.edit(who, t, m, b.into()).await?)
            }
            Op::MessagesUpdate(p, b) => {
                let (t, m) = id(&p);
                let patch: MessagePatch = b.into();
                message(s.messages.revise(who, t, m, patch).await?)
            }
            Op::MessagesRevisions(p, q) => {
                let (t, m) = id(&p);
                let page = s.messages.revisions(who, t, m, q.cursor, q.limit).await?;
                Ok(json_of(PageDto::<crate::dto::MessageRevisionDto>::from(
                    page,
                )))
            }
            Op::MessagesDelete(p, q) => {
                let (t, m) = id(&p);
                let out = s
                    .messages
                    .delete(who, t, m, q.scope.unwrap_or_default())
                    .await?;
                Ok(json_of(DeleteOutcomeDto::from(out)))
            }
            Op::MessagesFeedback(p, b) => {
                let (t, m) = id(&p);
                message(
                    s.messages
                        .feedback(who, t, m, Some((b.rating, b.text)))
                        .await?,
                )
            }
            Op::MessagesFeedbackClear(p) => {
                let (t, m) = id(&p);
                message(s.messages.feedback(who, t, m, None).await?)
            }
            Op::MessagesReaction(p, b) => {
                let (t, m) = id(&p);
                message(s.messages.reaction(who, t, m, Some(b.emoji)).await?)
            }
            Op::MessagesReactionClear(p) => {
                let (t, m) = id(&p);
                message(s.messages.reaction(who, t, m, None).await?)
            }
            Op::RepliesStop(p) | Op::GenerationStop(p) => {
                let (t, m) = id(&p);
                message(s.replies.cancel(who, t, m).await?)
            }
            Op::BranchesList(t) => Ok(json_of(PageDto::<crate::dto::BranchDto>::complete(
                s.messages.branches(who, t).await?,
            ))),
            Op::BranchesSwitch(t, b) => {
                let leaf = MessageId::from_uuid(b.message_id);
                thread(s.messages.set_active_leaf(who, t, leaf).await?.into())
            }
            Op::Search(q) => Ok(json_of(PageDto::<crate::dto::SearchHitDto>::from(
                s.threads.search(who, q.into()).await?,
            ))),
            op => Err(ApiError::Argument {
                field: "op".into(),
                message: format!("{op:?} needs the connection"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::Op;

    /// The parity table of docs/websocket.md: REST operation id -> op (`None`: REST only).
    fn parity() -> BTreeMap<String, Option<String>> {
        let doc = include_str!("../../../../docs/websocket.md");
        let start = doc.find("<!-- parity:start -->").unwrap_or(0);
        let end = doc.find("<!-- parity:end -->").unwrap_or(0);
        let mut table = BTreeMap::new();
        for row in doc[start..end].lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let rest = cells[1].trim_matches('`').to_owned();
            let op = cells[2]
                .strip_prefix('`')
                .and_then(|c| c.split('`').next())
                .map(str::to_owned);
            assert!(table.insert(rest.clone(), op).is_none(), "{rest} twice");
        }
        table
    }

    #[test]
    fn every_rest_operation_has_an_op_or_a_reason_and_every_op_exists() {
        let table = parity();
        let doc = crate::openapi::document();
        let mut operations = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            if !path.starts_with("/v1/") || path == "/v1/ws" {
                continue;
            }
            for op in item.as_object().into_iter().flatten().map(|(_, op)| op) {
                if let Some(id) = op["operationId"].as_str() {
                    operations.push(id.to_owned());
                }
            }
        }
        for id in &operations {
            assert!(
                table.contains_key(id),
                "{id} is missing from the parity table of docs/websocket.md"
            );
        }
        for (id, op) in &table {
            assert!(
                operations.contains(id),
                "the parity table names {id}, which is not a REST operation"
            );
            if let Some(op) = op {
                assert!(Op::NAMES.contains(&op.as_str()), "{id}: no op {op}");
            }
        }
        let connection_only = [
            "auth",
            "ping",
            "unsubscribe",
            "typing.start",
            "typing.stop",
            "generation.stop",
            "messages.resume",
        ];
        for name in Op::NAMES {
            assert!(
                connection_only.contains(name) || table.values().flatten().any(|o| o == name),
                "the op {name} is missing from the parity table"
            );
        }
    }

    #[test]
    fn arguments_are_read_strictly() {
        let parse = |name: &str, args: serde_json::Value| {
            let serde_json::Value::Object(map) = args else {
                unreachable!()
            };
            Op::parse(name, map)
        };
        let field = |r: Result<Op, crate::error::ApiError>| match r {
            Err(crate::error::ApiError::Argument { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        let t = uuid::Uuid::now_v7();
        assert!(matches!(
            parse(
                "threads.update",
                serde_json::json!({"thread_id": t, "title": "x"})
            ),
            Ok(Op::ThreadsUpdate(..))
        ));
        assert_eq!(
            field(parse(
                "messages.send",
                serde_json::json!({"thread_id": t, "content": "x", "session_prompt": "y"})
            )),
            "session_prompt"
        );
        assert_eq!(
            field(parse("messages.send", serde_json::json!({"thread_id": t}))),
            "content"
        );
        assert_eq!(
            field(parse(
                "messages.send",
                serde_json::json!({"thread_id": t, "content": "x", "attachments": [1]})
            )),
            "attachments[0]"
        );
        assert_eq!(field(parse("whoami", serde_json::json!({"x": 1}))), "x");
        assert_eq!(field(parse("nope", serde_json::json!({}))), "op");
    }
}
