//! The request body limit. A declared `Content-Length` over the limit is
//! refused before anything is read; a body without one (chunked) is read in
//! full, up to the limit, before the guest sees any of it. Either way the
//! bytes are counted, so the guest never receives more than the limit.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};

/// What to do with a request body, decided from its headers alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Over the limit: answer 413 without reading it.
    Refuse,
    /// Declared length within the limit: stream it to the guest.
    Stream,
    /// No declared length: read it up to the limit first.
    Buffer,
}

pub fn admit(content_length: Option<u64>, limit: u64) -> Admission {
    match content_length {
        Some(length) if length > limit => Admission::Refuse,
        Some(_) => Admission::Stream,
        None => Admission::Buffer,
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

/// Counts the data bytes of `inner` and fails once they pass `limit`.
pub struct CountingBody<B> {
    inner: B,
    seen: u64,
    limit: u64,
}

impl<B> CountingBody<B> {
    pub fn new(inner: B, limit: u64) -> Self {
        CountingBody { inner, seen: 0, limit }
    }

    /// Adds `n` bytes to the count; `Err` if that passes the limit.
    fn account(&mut self, n: usize) -> Result<(), BodyError> {
        self.seen = self.seen.saturating_add(n as u64);
        if self.seen > self.limit {
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
    fn admission_follows_the_declared_length() {
        assert_eq!(admit(Some(11), 10), Admission::Refuse);
        assert_eq!(admit(Some(10), 10), Admission::Stream);
        assert_eq!(admit(Some(0), 0), Admission::Stream);
        assert_eq!(admit(None, 10), Admission::Buffer);
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
        let mut body = CountingBody::new((), 10);
        assert!(body.account(4).is_ok());
        assert!(body.account(6).is_ok(), "exactly the limit is fine");
        assert!(matches!(body.account(1), Err(BodyError::TooLarge { limit: 10 })));
        let mut body = CountingBody::new((), u64::MAX);
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
        let within = CountingBody::new(chunks(vec![3, 3, 4]), 10).collect().await.unwrap();
        assert_eq!(within.to_bytes().len(), 10);
        let over = CountingBody::new(chunks(vec![3, 3, 5]), 10).collect().await;
        assert!(matches!(over, Err(BodyError::TooLarge { limit: 10 })));
    }
}
