//! One request on a fresh HTTP/1.1 connection, plain or TLS: wait for the
//! response head up to the first-byte timeout; then hand the guest a body
//! that fails when the next frame is later than the between-bytes timeout.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, WasiBody};

pub type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// Limits of one exchange.
pub struct Exchange {
    pub first_byte_timeout: Duration,
    /// None: the body may pause for any time.
    pub between_bytes_timeout: Option<Duration>,
    /// Held until the guest is done with the response body.
    pub permit: Option<OwnedSemaphorePermit>,
}

/// Sends `request` over `stream`, keeping its `Host` header: the upstream
/// sees the name the guest asked for, whatever address was dialled.
pub async fn send_on<S>(
    stream: S,
    mut request: http::Request<WasiBody>,
    exchange: Exchange,
) -> Result<(http::Response<WasiBody>, IoFuture), Error>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let connection = tokio::spawn(connection);
    // On the wire the request line carries the path only.
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
    *request.uri_mut() = path.parse().map_err(|_| Error::HttpRequestUriInvalid)?;
    let response = tokio::time::timeout(exchange.first_byte_timeout, sender.send_request(request))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)??;
    let io: IoFuture = Box::new(async move {
        match connection.await {
            Ok(result) => result.map_err(Error::from),
            Err(_) => Err(Error::ConnectionTerminated),
        }
    });
    let response = response.map(|incoming| {
        let idle = exchange.between_bytes_timeout.map(|limit| (limit, Box::pin(tokio::time::sleep(limit))));
        ResponseBody { incoming, idle, waiting: false, _permit: exchange.permit }.boxed_unsync()
    });
    Ok((response, io))
}

/// The upstream's body with an idle timer: the clock runs while the reader
/// waits for a frame, and restarts at each one.
struct ResponseBody {
    incoming: hyper::body::Incoming,
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
    waiting: bool,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.incoming).poll_frame(cx) {
            this.waiting = false;
            return Poll::Ready(frame.map(|frame| frame.map_err(Error::from)));
        }
        let Some((limit, timer)) = &mut this.idle else {
            return Poll::Pending;
        };
        if !this.waiting {
            this.waiting = true;
            timer.as_mut().reset(Instant::now() + *limit);
        }
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}
