//! The request body limit. A declared `Content-Length` over the limit is
//! refused before anything is read. Every other body streams to the guest as
//! it arrives, counted: past the limit the guest's read fails
//! (`HTTP-request-body-size`) and the request is marked [`Exceeded`], so a
//! guest that had not answered yet is answered 413 instead. The guest never
//! receives more than the limit, and the host never holds a whole body.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

/// Whether a declared length alone refuses the body: 413 without reading it.
pub fn refused_unread(content_length: Option<u64>, limit: u64) -> bool {
    content_length.is_some_and(|length| length > limit)
}

/// Set once a [`CountingBody`] passed its limit; shared with the server.
#[derive(Debug, Clone, Default)]
pub struct Exceeded(Arc<AtomicBool>);

impl Exceeded {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Reads the `Content-Length` header. `Err` for a malformed one.
pub fn declared_length(headers: &http::HeaderMap) -> Result<Option<u64>, ()> {
    let mut values = headers.get_all(http::header::CONTENT_LENGTH).iter();
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(());
    }
    let text = value.to_str().map_err(|_| ())?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    text.parse().map(Some).map_err(|_| ())
}

#[derive(Debug)]
pub enum BodyError {
    /// More than the limit arrived.
    TooLarge {
        limit: u64,
    },
    Transport(hyper::Error),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge { limit } => write!(f, "request body over {limit} bytes"),
            BodyError::Transport(err) => write!(f, "request body: {err}"),
        }
    }
}

impl std::error::Error for BodyError {}

impl From<BodyError> for wasmtime_wasi_http::Error {
    fn from(err: BodyError) -> Self {
        match err {
            BodyError::TooLarge { limit } => wasmtime_wasi_http::Error::HttpRequestBodySize(Some(limit)),
            BodyError::Transport(err) => wasmtime_wasi_http::Error::Hyper(err),
        }
    }
}

/// Counts the data bytes of `inner` and fails once they pass `limit`,
/// marking `exceeded`.
pub struct CountingBody<B> {
    inner: B,
    seen: u64,
    limit: u64,
    exceeded: Exceeded,
}

impl<B> CountingBody<B> {
    pub fn new(inner: B, limit: u64, exceeded: Exceeded) -> Self {
        CountingBody { inner, seen: 0, limit, exceeded }
    }

    /// Adds `n` bytes to the count; `Err` if that passes the limit.
    fn account(&mut self, n: usize) -> Result<(), BodyError> {
        self.seen = self.seen.saturating_add(n as u64);
        if self.seen > self.limit {
            self.exceeded.set();
            return Err(BodyError::TooLarge { limit: self.limit });
        }
        Ok(())
    }
}

impl<B> Body for CountingBody<B>
where
    B: Body<Data = Bytes, Error = hyper::Error> + Unpin,
{
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.account(data.len())?;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(BodyError::Transport(err)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn only_a_declared_length_over_the_limit_refuses_unread() {
        assert!(refused_unread(Some(11), 10));
        assert!(!refused_unread(Some(10), 10));
        assert!(!refused_unread(Some(0), 0));
        assert!(!refused_unread(None, 10), "a chunked body streams, counted");
    }

    #[test]
    fn reads_the_content_length_header() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(declared_length(&headers), Ok(None));
        headers.insert(http::header::CONTENT_LENGTH, "42".parse().unwrap());
        assert_eq!(declared_length(&headers), Ok(Some(42)));
        headers.insert(http::header::CONTENT_LENGTH, "+42".parse().unwrap());
        assert_eq!(declared_length(&headers), Err(()));
        headers.insert(http::header::CONTENT_LENGTH, "1".parse().unwrap());
        headers.append(http::header::CONTENT_LENGTH, "1".parse().unwrap());
        assert_eq!(declared_length(&headers), Err(()), "two values");
    }

    #[test]
    fn counting_passes_the_limit_only_once_exceeded() {
        let exceeded = Exceeded::default();
        let mut body = CountingBody::new((), 10, exceeded.clone());
        assert!(body.account(4).is_ok());
        assert!(body.account(6).is_ok(), "exactly the limit is fine");
        assert!(!exceeded.get());
        assert!(matches!(body.account(1), Err(BodyError::TooLarge { limit: 10 })));
        assert!(exceeded.get(), "the server learns of it");
        let mut body = CountingBody::new((), u64::MAX, Exceeded::default());
        assert!(body.account(usize::MAX).is_ok());
        assert!(body.account(usize::MAX).is_ok(), "saturates instead of wrapping");
    }

    /// A body made of data frames of the given sizes.
    struct Chunks(std::vec::IntoIter<usize>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = hyper::Error;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
            Poll::Ready(self.0.next().map(|n| Ok(Frame::data(Bytes::from(vec![b'x'; n])))))
        }
    }

    fn chunks(sizes: Vec<usize>) -> Chunks {
        Chunks(sizes.into_iter())
    }

    #[tokio::test]
    async fn a_streamed_body_fails_past_the_limit() {
        let exceeded = Exceeded::default();
        let within = CountingBody::new(chunks(vec![3, 3, 4]), 10, exceeded.clone()).collect().await.unwrap();
        assert_eq!(within.to_bytes().len(), 10);
        assert!(!exceeded.get());
        let mut over = CountingBody::new(chunks(vec![3, 3, 5, 1]), 10, exceeded.clone());
        assert_eq!(
            over.frame().await.unwrap().unwrap().into_data().unwrap().len(),
            3,
            "frames pass as they come"
        );
        assert!(matches!(over.collect().await, Err(BodyError::TooLarge { limit: 10 })));
        assert!(exceeded.get());
    }
}
