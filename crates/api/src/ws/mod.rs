//! `GET /v1/ws`: one WebSocket per client for requests and live events. The protocol is in
//! docs/websocket.md.
//!
//! Every connection has a bounded outgoing queue. Events are queued without waiting; when a
//! client reads too slowly and its queue fills, that connection is closed (code 1013, "try again
//! later") so it never slows anyone else down — the client reconnects and resumes replies with
//! `messages.resume`. Subscriptions unregister themselves when the connection ends (drop guards).

use chat_threads_application::live::WebSocketSettings;
use std::collections::HashMap;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use chat_threads_application::AppError;
use chat_threads_application::accounts::AuthError;
use chat_threads_application::error::ErrorCode;
use chat_threads_application::events::{Event, PresenceGuard, ThreadEvent, Typing};
use chat_threads_domain::{Principal, Role, ThreadId};
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::auth::Verifier;
use crate::error::ApiError;
use crate::state::{AppState, Deps};

mod ops;

use ops::Op;

fn error_body(e: &ApiError) -> Value {
    json_of(e.detail())
}

/// The answer to an op that started a reply: the message it stored first (the user's, or the
/// tool results) and the reply's.
fn started_answer(started: &chat_threads_application::replies::Started) -> Value {
    json!({"user_message_id": started.user_message.as_ref().map(|m| m.id),
           "assistant_message_id": started.assistant_message.id})
}

fn json_of(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Frames going out, and whether the queue overflowed. The connection's own task writes them
/// (see [`write_out`]); producers — the connection's subscriptions, followed replies and
/// answers — run on the same worker thread, so the queue is a plain `VecDeque` under an `Rc`
/// rather than a channel with a task of its own (~2 KiB less per idle connection).
#[derive(Clone)]
struct Outbox(std::rc::Rc<Queue>);

struct Queue {
    frames: std::cell::RefCell<std::collections::VecDeque<String>>,
    /// Frames the queue holds at most; one more closes the connection.
    limit: usize,
    overflowed: std::cell::Cell<bool>,
    /// Woken when a frame is queued.
    ready: tokio::sync::Notify,
    /// Woken once, when the queue overflows.
    overflow: tokio::sync::Notify,
}

impl Outbox {
    fn new(limit: usize) -> Self {
        Self(std::rc::Rc::new(Queue {
            frames: Default::default(),
            limit: limit.max(1),
            overflowed: Default::default(),
            ready: tokio::sync::Notify::new(),
            overflow: tokio::sync::Notify::new(),
        }))
    }

    fn send(&self, frame: Value) {
        self.push(frame.to_string());
    }

    fn push(&self, frame: String) {
        let q = &self.0;
        if q.overflowed.get() {
            return;
        }
        let mut frames = q.frames.borrow_mut();
        if frames.len() >= q.limit {
            frames.clear();
            q.overflowed.set(true);
            q.overflow.notify_one();
            return;
        }
        frames.push_back(frame);
        drop(frames);
        q.ready.notify_one();
    }

    fn event(&self, event: &ThreadEvent) {
        self.push(event.ws_frame());
    }

    fn pop(&self) -> Option<String> {
        self.0.frames.borrow_mut().pop_front()
    }
}

/// Writes the queued frames as they come, in order; ends when the client is gone.
async fn write_out(out: &Outbox, session: &mut Session) {
    loop {
        while let Some(frame) = out.pop() {
            if session.text(frame).await.is_err() {
                return;
            }
        }
        out.0.ready.notified().await;
    }
}

/// The moment a token's `exp` passes, on the runtime's clock.
fn expiry_instant(token: &str) -> Option<tokio::time::Instant> {
    let exp = crate::auth::token_expiry(token)?;
    let left = (exp - chrono::Utc::now()).to_std().unwrap_or_default();
    Some(tokio::time::Instant::now() + left)
}

/// Upgrades to a WebSocket. A valid `Authorization: Bearer` header authenticates at once;
/// browsers send `{"op":"auth","token":"..."}` as the first frame instead.
pub async fn upgrade<D: Deps>(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState<D>>,
    verifier: web::Data<Verifier>,
    config: web::Data<WebSocketSettings>,
    origins: web::Data<crate::cors::OriginPolicy>,
) -> Result<HttpResponse, actix_web::Error> {
    let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    if !origins.allows_upgrade(
        header(actix_web::http::header::ORIGIN),
        header(actix_web::http::header::HOST),
    ) {
        return Err(crate::error::ApiError::Request {
            status: actix_web::http::StatusCode::FORBIDDEN,
            code: crate::error::ErrorCode::OriginNotAllowed,
            message: "this origin may not open a WebSocket here (server.cors.allowed_origins)"
                .into(),
        }
        .into());
    }
    let (principal, expires) =
        match crate::auth::bearer_token(req.headers()).map_err(crate::error::ApiError::from)? {
            Some(token) => {
                let principal = verifier
                    .0
                    .verify(token)
                    .map_err(crate::error::ApiError::from)?;
                state
                    .auth
                    .check_live(&principal)
                    .await
                    .map_err(crate::error::ApiError::from)?;
                (Some(principal), expiry_instant(token))
            }
            None => (None, None),
        };
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let stream = stream
        .max_frame_size(config.max_frame_bytes)
        .aggregate_continuations()
        .max_continuation_size(config.max_message_bytes);
    let state = state.into_inner();
    // The same per-principal budget as REST and /openai/v1: each operation takes from it.
    let limiter = req
        .app_data::<web::Data<crate::rate_limit::RateLimits>>()
        .and_then(|l| l.principal.clone());
    let verifier = verifier.get_ref().clone();
    let config = *config.get_ref();
    let counted = state.live.websocket();
    actix_web::rt::spawn(async move {
        let _counted = counted;
        Connection::<D> {
            id: uuid::Uuid::now_v7().to_string(),
            state,
            verifier,
            config,
            principal,
            expires,
            subscriptions: HashMap::new(),
            tasks: Vec::new(),
            limiter,
        }
        .run(session, stream)
        .await;
    });
    Ok(response)
}

struct Subscription {
    task: tokio::task::JoinHandle<()>,
    _presence: PresenceGuard,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Connection<D: Deps> {
    id: String,
    state: std::sync::Arc<AppState<D>>,
    verifier: Verifier,
    config: WebSocketSettings,
    principal: Option<Principal>,
    /// When the token that authenticated the connection expires; the connection ends then.
    expires: Option<tokio::time::Instant>,
    subscriptions: HashMap<ThreadId, Subscription>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The per-principal rate limit REST uses too (absent when rate limits are off).
    limiter: Option<std::sync::Arc<crate::rate_limit::Limiter>>,
}

impl<D: Deps> Drop for Connection<D> {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl<D: Deps> Connection<D> {
    async fn run(mut self, session: Session, mut stream: actix_ws::AggregatedMessageStream) {
        let out = Outbox::new(self.config.queue);
        let mut writer_session = session.clone();
        let writer = write_out(&out, &mut writer_session);
        tokio::pin!(writer);
        if let Some(p) = &self.principal {
            out.send(json!({"type": "ready", "subject": p.subject, "connection_id": self.id}));
        }
        let mut heartbeat = tokio::time::interval(self.config.heartbeat());
        heartbeat.tick().await;
        let auth_deadline = tokio::time::Instant::now() + self.config.auth_timeout();
        let mut last_heard = tokio::time::Instant::now();
        let mut ping_session = session.clone();
        let close = loop {
            let idle_deadline = last_heard + self.config.idle_timeout();
            let deadline = if self.principal.is_none() {
                idle_deadline.min(auth_deadline)
            } else {
                idle_deadline
            };
            let expiry = self.expires;
            tokio::select! {
                _ = async move {
                    match expiry {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending::<()>().await,
                    }
                } => {
                    // The token expired: the connection stops acting for it.
                    out.send(json!({"type": "error", "error": {"code": ErrorCode::TokenExpired, "message": "the token expired; reconnect with a fresh one"}}));
                    // What is queued (this error last) goes out first, for up to 200 ms.
                    let _ = tokio::time::timeout(Duration::from_millis(200), &mut writer).await;
                    break CloseReason { code: CloseCode::Policy, description: Some("token expired".into()) };
                }
                _ = tokio::time::sleep_until(deadline) => {
                    break if self.principal.is_none() {
                        CloseReason { code: CloseCode::Policy, description: Some("authenticate first".into()) }
                    } else {
                        CloseReason { code: CloseCode::Away, description: Some("idle".into()) }
                    };
                }
                _ = heartbeat.tick() => {
                    if ping_session.ping(b"").await.is_err() {
                        break CloseReason { code: CloseCode::Away, description: None };
                    }
                }
                () = &mut writer => {
                    break CloseReason { code: CloseCode::Away, description: None };
                }
                _ = out.0.overflow.notified() => {
                    break CloseReason { code: CloseCode::Again, description: Some("too slow: the outgoing queue is full; reconnect and resume".into()) };
                }
                msg = stream.next() => {
                    last_heard = tokio::time::Instant::now();
                    match msg {
                        // Boxed: an operation's future (the largest is many KiB) lives only while it
                        // runs, instead of inside every idle connection's task. Frames queued
                        // meanwhile (events of subscribed threads) keep going out.
                        Some(Ok(AggregatedMessage::Text(text))) => {
                            let mut op = Box::pin(self.handle(&out, &text));
                            let gone = tokio::select! {
                                () = &mut op => false,
                                () = &mut writer => true,
                            };
                            if gone {
                                // The client left: what it asked for is still done whole.
                                op.await;
                                break CloseReason { code: CloseCode::Away, description: None };
                            }
                        }
                        Some(Ok(AggregatedMessage::Binary(_))) => out.send(json!({"type": "error", "error": {"code": ErrorCode::MalformedJson, "message": "send JSON text frames"}})),
                        Some(Ok(AggregatedMessage::Ping(bytes))) => {
                            let _ = ping_session.pong(&bytes).await;
                        }
                        Some(Ok(AggregatedMessage::Pong(_))) => {}
                        Some(Ok(AggregatedMessage::Close(_))) | None => break CloseReason { code: CloseCode::Normal, description: None },
                        Some(Err(e)) => {
                            // Oversized frames and protocol errors end the connection with a reason.
                            break CloseReason { code: CloseCode::Size, description: Some(e.to_string()) };
                        }
                    }
                }
            }
        };
        self.subscriptions.clear();
        // A slow client's socket may be full: closing politely must not hang this task. Dropping
        // the session ends the connection once what is already buffered has been written.
        let _ = tokio::time::timeout(Duration::from_secs(1), session.close(Some(close))).await;
    }

    async fn handle(&mut self, out: &Outbox, text: &str) {
        let parsed = serde_json::from_str::<crate::extractors::Strict>(text);
        let mut request = match parsed.map(|s| s.0) {
            Ok(Value::Object(r)) => r,
            Ok(_) => {
                out.send(json!({"type": "error", "error": {"code": ErrorCode::MalformedJson, "message": "not a request: send a JSON object"}}));
                return;
            }
            Err(e) => {
                out.send(json!({"type": "error", "error": {"code": ErrorCode::MalformedJson, "message": format!("not a request: {e}")}}));
                return;
            }
        };
        let id = request.remove("id").unwrap_or(Value::Null);
        let result = match request.remove("op") {
            Some(Value::String(name)) => match Op::parse(&name, request) {
                // Each request over the socket is its own request for the audit log:
                // `<connection id>:<request id>`.
                Ok(op) => {
                    let rid = format!("{}:{}", self.id, id);
                    chat_threads_application::audit::REQUEST_ID
                        .scope(rid, self.dispatch(out, op))
                        .await
                }
                Err(e) => Err(e),
            },
            _ => Err(ApiError::Argument {
                field: "op".into(),
                message: "every request names its `op` (a string)".into(),
            }),
        };
        match result {
            Ok(value) => {
                out.send(json!({"type": "response", "id": id, "ok": true, "result": value}))
            }
            Err(e) => out
                .send(json!({"type": "response", "id": id, "ok": false, "error": error_body(&e)})),
        }
    }

    fn who(&self) -> Result<&Principal, AppError> {
        self.principal
            .as_ref()
            .ok_or(AppError::Auth(AuthError::TokenMissing))
    }

    async fn dispatch(&mut self, out: &Outbox, op: Op) -> Result<Value, ApiError> {
        if let Op::Auth(token) = op {
            let p = self.verifier.0.verify(&token)?;
            self.state.auth.check_live(&p).await?;
            let result = json!({"subject": p.subject, "connection_id": self.id});
            self.principal = Some(p);
            self.expires = expiry_instant(&token);
            return Ok(result);
        }
        let who = self.who()?.clone();
        // Every operation but `ping` draws on the principal's budget, as a REST request does.
        if !matches!(op, Op::Ping)
            && let Some(limiter) = &self.limiter
        {
            let verdict = limiter.check(who.owner().as_str());
            if !verdict.allowed {
                return Err(ApiError::RateLimited(verdict));
            }
        }
        let s = self.state.clone();
        // An anonymous session ended or deleted meanwhile: its token stops working here too.
        if !matches!(op, Op::Ping) {
            s.auth.check_live(&who).await?;
        }
        match op {
            Op::MessagesSend(tid, body) => {
                // Subscribed first, so the reply's events reach this socket from the start.
                self.subscribe(out, &who, tid).await?;
                match s.replies.send_with(&who, tid, body.into()).await? {
                    chat_threads_application::replies::Sent::Started(started) => {
                        Ok(started_answer(&started))
                    }
                    // on_busy queue: it waits under the running reply.
                    chat_threads_application::replies::Sent::Queued(q) => Ok(json!({
                        "user_message_id": q.id, "assistant_message_id": null, "queued": true
                    })),
                }
            }
            Op::MessagesResend(at, body) => {
                let tid = at.thread();
                self.subscribe(out, &who, tid).await?;
                let body = crate::routes::replies::ChatBody::from(body);
                let started = s
                    .replies
                    .resend(&who, tid, at.message(), body.into())
                    .await?;
                Ok(started_answer(&started))
            }
            Op::MessagesToolResults(at, body) => {
                let tid = at.thread();
                self.subscribe(out, &who, tid).await?;
                let started = s
                    .replies
                    .submit_tool_results(&who, tid, at.message(), body.into())
                    .await?;
                Ok(started_answer(&started))
            }
            Op::MessagesRegenerate(at, body) => {
                let tid = at.thread();
                self.subscribe(out, &who, tid).await?;
                let started = s
                    .replies
                    .regenerate(&who, tid, at.message(), body.into())
                    .await?;
                Ok(json!({"assistant_message_id": started.assistant_message.id}))
            }
            Op::MessagesResume(at, after) => {
                let mid = at.message();
                let mut events = s.replies.follow(&who, at.thread(), mid, after).await?;
                let out = out.clone();
                self.tasks.push(actix_web::rt::spawn(async move {
                    while let Some(e) = events.next().await {
                        out.event(&e);
                    }
                }));
                Ok(json!({"message_id": mid, "after": after}))
            }
            Op::Subscribe(tid) => {
                self.subscribe(out, &who, tid).await?;
                Ok(json!({"thread_id": tid, "presence": s.replies.events().presence(tid)}))
            }
            Op::Unsubscribe(tid) => {
                self.subscriptions.remove(&tid);
                Ok(json!({"thread_id": tid}))
            }
            Op::TypingStart(tid) | Op::TypingStop(tid) => {
                // Read-only access (a viewer, an org admin on a member's thread) never speaks
                // in it.
                let scope = chat_threads_application::members::scope_for(
                    &s.store,
                    &who,
                    tid,
                    chat_threads_application::members::Need::Write,
                )
                .await?;
                let t = s.threads.get(&who, tid, false).await?;
                if !scope.can_write(&t) {
                    return Err(AppError::ThreadNotFound.into());
                }
                let typing = Typing {
                    role: Role::User,
                    subject: Some(who.subject.to_string()),
                    connection_id: Some(self.id.clone()),
                };
                let event = if matches!(op, Op::TypingStart(_)) {
                    Event::TypingStarted(typing)
                } else {
                    Event::TypingStopped(typing)
                };
                s.replies
                    .events()
                    .publish(chat_threads_application::events::ThreadEvent::thread(
                        tid, event,
                    ));
                Ok(json!({"thread_id": tid}))
            }
            op => op.run(&s, &who).await,
        }
    }

    async fn subscribe(
        &mut self,
        out: &Outbox,
        who: &Principal,
        tid: ThreadId,
    ) -> Result<(), AppError> {
        // A subscription that ended by itself (its member was removed) is gone.
        self.subscriptions.retain(|_, s| !s.task.is_finished());
        if self.subscriptions.contains_key(&tid) {
            return Ok(());
        }
        self.state.threads.get(who, tid, false).await?;
        let me_principal = who.owner();
        let events = self.state.replies.events();
        let mut rx = events.subscribe(tid);
        let presence = events.join(tid);
        let out = out.clone();
        let me = self.id.clone();
        let task = actix_web::rt::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(e) => {
                        // A client's own typing indicator is not echoed back to it.
                        if let Event::TypingStarted(t) | Event::TypingStopped(t) = &e.data
                            && t.connection_id.as_deref() == Some(me.as_str())
                        {
                            continue;
                        }
                        out.event(&e);
                        // Removed from the thread: this subscription ends here, on every
                        // instance the principal is connected to.
                        if let Event::MemberRemoved { principal } = &e.data
                            && principal == me_principal.as_str()
                        {
                            out.send(json!({"type": "unsubscribed", "thread_id": tid, "reason": "member_removed"}));
                            break;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        out.send(json!({"type": "error", "error": {"code": ErrorCode::EventsLost, "message": format!("{n} events were dropped; resume replies with messages.resume")}}));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        self.subscriptions.insert(
            tid,
            Subscription {
                task,
                _presence: presence,
            },
        );
        Ok(())
    }
}
