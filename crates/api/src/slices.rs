//! Large response bodies handed to the connection a slice at a time.
//!
//! The HTTP layer copies each chunk a body yields into the connection's write buffer, and asks
//! for the next one only when that buffer has room (`server.write_buffer_bytes`). A body held as
//! one `Bytes` is one chunk: a client that does not read would make the connection hold a second
//! copy of the whole response. Yielding zero-copy slices of it keeps that copy to one slice;
//! the `Content-Length` is unchanged.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::Bytes;

/// Bodies up to this size are left as they are.
const SLICE: usize = 16 * 1024;

/// A body given out in slices of [`SLICE`] bytes.
#[derive(Debug)]
pub enum Sliced {
    /// A whole body held in memory, given out from `at`.
    Slices {
        /// The body.
        bytes: Bytes,
        /// How much was given out.
        at: usize,
    },
    /// Streams and small bodies, unchanged.
    Other(BoxBody),
}

impl Sliced {
    /// Slices `body` when it is in memory and larger than a slice.
    pub fn new<B: MessageBody + 'static>(body: B) -> Self {
        match body.size() {
            BodySize::Sized(n) if n > SLICE as u64 => match body.try_into_bytes() {
                Ok(bytes) => Self::Slices { bytes, at: 0 },
                Err(body) => Self::Other(body.boxed()),
            },
            _ => Self::Other(body.boxed()),
        }
    }
}

impl MessageBody for Sliced {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        match self {
            Self::Slices { bytes, .. } => BodySize::Sized(bytes.len() as u64),
            Self::Other(body) => body.size(),
        }
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        match self.get_mut() {
            Self::Slices { bytes, at } => {
                if *at >= bytes.len() {
                    return Poll::Ready(None);
                }
                let end = (*at + SLICE).min(bytes.len());
                let slice = bytes.slice(*at..end);
                *at = end;
                Poll::Ready(Some(Ok(slice)))
            }
            Self::Other(body) => Pin::new(body).poll_next(cx),
        }
    }
}

/// Middleware: every response body goes out through [`Sliced`].
pub async fn sliced(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<Sliced>, actix_web::Error> {
    let res = next.call(req).await?;
    Ok(res.map_body(|_, body| Sliced::new(body)))
}
