//! The connection layer under the application: how the binary listens, and the error shape for
//! what the HTTP/1 parser answers by itself.
//!
//! actix-http answers some requests before any service or middleware runs, always with an empty
//! body: a request head over 128 KiB (`431`), a request line or header that does not parse or a
//! URI over its limit (`400`), a head that does not arrive within the client request timeout
//! (`408`), and an internal dispatcher failure (`500`). Every connection's stream is wrapped in
//! [`Shaped`], which recognises such a response as it is written — a head with
//! `content-length: 0` and no `content-type`, which the application never sends for an error —
//! and writes the same status with the error shape instead. The connection closes after it, as
//! it did before.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use actix_http::HttpService;
use actix_service::{IntoServiceFactory as _, ServiceFactoryExt as _, map_config};
use actix_web::dev::{AppConfig, Server, fn_service};
use actix_web::rt::net::TcpStream;
use chat_threads_application::error::ErrorCode;
use futures_util::future::LocalBoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{ErrorBody, ErrorDetail};
use crate::slots::{Gate, Pass};
use crate::{ApiConfig, Deps};

/// actix-http's limit on a request head (its `MAX_BUFFER_SIZE`, not configurable).
pub const HEAD_LIMIT_BYTES: usize = 131_072;

/// How the server listens and treats connections.
#[derive(Debug, Clone)]
pub struct Listen {
    /// Host name or address to bind.
    pub host: String,
    /// Port (0 = any free one).
    pub port: u16,
    /// HTTP worker threads.
    pub workers: usize,
    /// Open connections per process (split over the workers).
    pub max_connections: usize,
    /// What a streamed body may buffer per connection before the server waits for the client.
    pub write_buffer_bytes: usize,
    /// Seconds running requests get to finish on shutdown.
    pub shutdown_timeout_secs: u64,
    /// How long a client has to send a request head.
    pub client_request_timeout: Duration,
    /// Pending connections the kernel queues while every worker is at its limit.
    pub backlog: i32,
    /// Runs on each worker thread as it starts, before it serves anything.
    pub on_worker_start: WorkerStart,
}

/// What each HTTP worker thread runs as it starts (the composition root claims the thread's
/// own database pool with it); nothing by default.
#[derive(Clone, Default)]
pub struct WorkerStart(pub Option<std::sync::Arc<dyn Fn() + Send + Sync>>);

impl std::fmt::Debug for WorkerStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "WorkerStart(set)"
        } else {
            "WorkerStart(none)"
        })
    }
}

/// Binds `listen` and builds the server (not yet running) with the application on every
/// address; returns it with the bound addresses (the real port when `port` is 0).
pub fn server<D: Deps>(
    config: ApiConfig<D>,
    listen: &Listen,
) -> io::Result<(Server, Vec<SocketAddr>)> {
    let workers = listen.workers.max(1);
    let gate = Gate::new(listen.max_connections);
    // actix-server stops accepting at its own per-worker limit and leaves further connections
    // in the kernel's backlog, where a client waits with no answer. Its limit is set above ours
    // (one worker could take every connection): the gate below answers the connection over
    // our limit at once.
    let mut builder = Server::build()
        .workers(workers)
        .max_concurrent_connections(listen.max_connections.saturating_add(workers * 64))
        .shutdown_timeout(listen.shutdown_timeout_secs);
    let mut bound = Vec::new();
    for addr in (listen.host.as_str(), listen.port).to_socket_addrs()? {
        let socket = bind(addr, listen.backlog)?;
        let local = socket.local_addr()?;
        let config = config.clone();
        let listen = listen.clone();
        let gate = gate.clone();
        let shutdown = builder.graceful_shutdown_signal();
        builder = builder.listen(format!("chat-threads-{local}"), socket, move || {
            // Called on each worker's own thread as it starts (once per address it serves).
            if let Some(start) = &listen.on_worker_start.0 {
                start();
            }
            let shutdown = shutdown.clone();
            let http = HttpService::<Shaped<TcpStream>, _, _, _, _>::build()
                .graceful_shutdown_signal(move || {
                    let shutdown = shutdown.clone();
                    async move { shutdown.notified().await }
                })
                .client_request_timeout(listen.client_request_timeout)
                .client_disconnect_timeout(Duration::from_secs(1))
                // A client whose side of the connection closes (EOF) is gone: its response
                // (an SSE stream, a long export) stops at once. Allowing half-closed
                // connections kept an SSE follower, and its memory, until the next keep-alive
                // write failed — up to twice `generation.sse_keepalive_secs`.
                .h1_allow_half_closed(false)
                .h1_write_buffer_size(listen.write_buffer_bytes)
                .local_addr(local)
                .h1(map_config(
                    // Each request's future is boxed: the connection's task holds the HTTP/1
                    // dispatcher, which would otherwise hold room for the whole middleware
                    // chain's future (~7 KiB) for as long as the connection lives — idle
                    // keep-alives, WebSockets and SSE followers included.
                    actix_service::apply_fn_factory(
                        crate::app(config.clone()).into_factory(),
                        |req, app: &_| -> LocalBoxFuture<'static, _> {
                            Box::pin(actix_service::Service::call(app, req))
                        },
                    )
                    .map_err(|err: actix_web::Error| err.error_response()),
                    |()| AppConfig::default(),
                ));
            let gate = gate.clone();
            fn_service(move |io: TcpStream| {
                let gate = gate.clone();
                async move {
                    // Responses, SSE events and WebSocket frames are written as they are ready;
                    // with Nagle's algorithm a write that follows an unacknowledged one waits for
                    // the client's delayed ACK (~40 ms on Linux) — every response over one write
                    // buffer on a kept-alive connection, and every streamed delta after the first.
                    if let Err(e) = io.set_nodelay(true) {
                        tracing::debug!(error = %e, "TCP_NODELAY not set");
                    }
                    let Some(pass) = gate.enter() else {
                        // Boxed, for the same reason: its read buffer would otherwise make
                        // every connection's task larger.
                        Box::pin(refuse(io)).await;
                        return Err(actix_http::error::DispatchError::Io(io::Error::new(
                            io::ErrorKind::ConnectionRefused,
                            "at server.max_connections",
                        )));
                    };
                    let peer = io.peer_addr().ok();
                    Ok::<_, actix_http::error::DispatchError>((Shaped::new(io).holding(pass), peer))
                }
            })
            .and_then(http)
        })?;
        bound.push(local);
    }
    if bound.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!("{} resolves to no address", listen.host),
        ));
    }
    Ok((builder.run(), bound))
}

/// A listening socket like actix's own: address reuse, the given backlog.
fn bind(addr: SocketAddr, backlog: i32) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    let listener: std::net::TcpListener = socket.into();
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Answers a connection over the limit with `503 overloaded` in the error shape and closes it:
/// the client learns at once instead of waiting in the backlog. What it sent meanwhile is read
/// (briefly) so the close does not reset the answer away.
async fn refuse(mut io: TcpStream) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let answer = answer(
        "HTTP/1.1 503 Service Unavailable",
        "retry-after: 1\r\nconnection: close\r\n",
        ErrorDetail {
            code: ErrorCode::Overloaded,
            message: "the server is at its connection limit (server.max_connections); retry"
                .to_owned(),
            details: None,
        },
    );
    let write = async {
        io.write_all(&answer).await?;
        io.shutdown().await?;
        let mut sink = [0_u8; 4096];
        while io.read(&mut sink).await? > 0 {}
        Ok::<_, io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), write).await;
    tracing::warn!("connection refused: at server.max_connections");
}

/// A connection's stream that gives the HTTP parser's own error answers the error shape.
#[derive(Debug)]
pub struct Shaped<IO> {
    io: IO,
    /// The replacement being written, how much of it is out, and how many bytes of the
    /// caller's buffer it stands for.
    pending: Option<(Vec<u8>, usize, usize)>,
    /// The connection's place under the limit, given back when the stream is dropped.
    pass: Option<Pass>,
}

impl<IO> Shaped<IO> {
    /// Wraps a stream.
    pub fn new(io: IO) -> Self {
        Self {
            io,
            pending: None,
            pass: None,
        }
    }

    /// Holds `pass` for as long as the connection lives.
    fn holding(mut self, pass: Pass) -> Self {
        self.pass = Some(pass);
        self
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Shaped<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(conn) = this.pass.as_ref().map(|p| &p.conn) else {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        };
        // A connection asked to make room reads end-of-stream, and the server closes it.
        if conn.evicted(cx) {
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        conn.read(&buf.filled()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Shaped<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.is_none() {
            match shape(buf) {
                Some((replacement, stands_for)) => {
                    this.pending = Some((replacement, 0, stands_for))
                }
                None => return Pin::new(&mut this.io).poll_write(cx, buf),
            }
        }
        let Some((replacement, written, stands_for)) = this.pending.as_mut() else {
            unreachable!("set above");
        };
        while *written < replacement.len() {
            let n = ready!(Pin::new(&mut this.io).poll_write(cx, &replacement[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        let stands_for = *stands_for;
        this.pending = None;
        Poll::Ready(Ok(stands_for))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// When `out` starts with one of the parser's bodiless error answers: the answer in the error
/// shape, and the length of the head it replaces.
fn shape(out: &[u8]) -> Option<(Vec<u8>, usize)> {
    let head_len = out.windows(4).take(1024).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&out[..head_len]).ok()?;
    let (status_line, headers) = head.split_once("\r\n")?;
    let rest = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))?;
    let (code, message, details) = match rest.get(..3)? {
        "400" => (
            ErrorCode::MalformedRequest,
            "the request is not valid HTTP/1.1: a request line or header does not parse, or the \
             URI is too long"
                .to_owned(),
            None,
        ),
        "408" => (
            ErrorCode::RequestTimeout,
            "the request head did not arrive in time".to_owned(),
            None,
        ),
        "431" => (
            ErrorCode::HeadersTooLarge,
            format!("the request head is over {} KiB", HEAD_LIMIT_BYTES / 1024),
            Some(serde_json::json!({ "limit": HEAD_LIMIT_BYTES })),
        ),
        "500" => (
            ErrorCode::InternalError,
            "the connection failed unexpectedly".to_owned(),
            None,
        ),
        _ => return None,
    };
    let mut empty = false;
    let mut kept = String::new();
    for line in headers.split("\r\n").filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default();
        if name.eq_ignore_ascii_case("content-type") {
            return None;
        }
        if name.eq_ignore_ascii_case("content-length") {
            empty = line[name.len() + 1..].trim() == "0";
            continue;
        }
        kept.push_str(line);
        kept.push_str("\r\n");
    }
    if !empty {
        return None;
    }
    let answer = answer(
        status_line,
        &kept,
        ErrorDetail {
            code,
            message,
            details,
        },
    );
    Some((answer, head_len))
}

/// A whole answer written by the connection layer itself: `status_line`, then `headers` (each
/// ending in CRLF), then `error` in the error shape.
fn answer(status_line: &str, headers: &str, error: ErrorDetail) -> Vec<u8> {
    let body = serde_json::to_vec(&ErrorBody { error }).unwrap_or_default();
    let mut answer = format!(
        "{status_line}\r\n{headers}content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodiless_parser_errors_get_the_error_shape() {
        let out = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\ndate: Tue, 24 Nov 2026 10:00:00 GMT\r\n\r\n";
        let (answer, replaced) = shape(out).expect("shaped");
        assert_eq!(replaced, out.len());
        let text = String::from_utf8(answer).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 "));
        assert!(head.contains("connection: close"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["code"], "headers_too_large");
        assert_eq!(body["error"]["details"]["limit"], 131_072);
    }

    #[test]
    fn application_answers_pass_untouched() {
        // An error with a body (the application's) and a success stay as they are.
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 10\r\ncontent-type: application/json\r\n\r\n{\"a\":true}";
        assert!(shape(with_body).is_none());
        let typed_empty =
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ncontent-type: text/plain\r\n\r\n";
        assert!(shape(typed_empty).is_none());
        let ok = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n";
        assert!(shape(ok).is_none());
        let partial = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-len";
        assert!(shape(partial).is_none());
    }
}
