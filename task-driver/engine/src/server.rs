//! The HTTP/1.1 front: accepts connections on the task's address, applies the
//! body limit, leases an instance, runs the guest's `incoming-handler`, and
//! maps how the guest ended to a status when it gave no answer of its own.
//! Bodies stream both ways; a guest that fails after its answer went out has
//! its body ended with an error, so the client sees it broken off.

use crate::body_limit::{BodyError, CountingBody, Exceeded, declared_length, refused_unread};
use crate::engine::EPOCH_TICK;
use crate::events::ReplaceReason;
use crate::guest::GuestState;
use crate::pool::{AcquireError, Lease, Outcome, Pool};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

pub struct ServerConfig {
    pub request_timeout: Duration,
    pub max_request_body_bytes: u64,
}

type GuestBody = UnsyncBoxBody<Bytes, BodyError>;

/// Serves until `shutdown` turns true, then lets requests in flight finish
/// (up to the request timeout) and returns.
pub async fn serve(
    listener: TcpListener,
    pool: Arc<Pool>,
    config: Arc<ServerConfig>,
    shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let mut stop = shutdown.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let (pool, config, shutdown) = (pool.clone(), config.clone(), shutdown.clone());
                    connections.spawn(connection(stream, peer, pool, config, shutdown));
                }
                Err(err) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    eprintln!("lean-wasm-host: accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = stopped(&mut stop) => break,
        }
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let deadline = Instant::now() + config.request_timeout + Duration::from_secs(1);
    let all_done = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout_at(deadline.into(), all_done).await.is_err() {
        eprintln!(
            "lean-wasm-host: closing {} connections still open after the request timeout",
            connections.len()
        );
        connections.abort_all();
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    pool: Arc<Pool>,
    config: Arc<ServerConfig>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().ok();
    let service =
        hyper::service::service_fn(move |req| handle(req, peer, local, pool.clone(), config.clone()));
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = stopped(&mut shutdown) => {
            // Finish the request under way, if any, then close.
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Resolves once the shutdown flag is true (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stopping| *stopping).await;
}

pub fn plain(status: StatusCode, text: &str) -> Response<HyperOutgoingBody> {
    let body =
        Full::new(Bytes::copy_from_slice(text.as_bytes())).map_err(|never| match never {}).boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

async fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    local: Option<SocketAddr>,
    pool: Arc<Pool>,
    config: Arc<ServerConfig>,
) -> Result<Response<HyperOutgoingBody>, Infallible> {
    let deadline = Instant::now() + config.request_timeout;
    let what = format!("{} {}", req.method(), req.uri().path());
    let limit = config.max_request_body_bytes;
    let Ok(length) = declared_length(req.headers()) else {
        return Ok(plain(StatusCode::BAD_REQUEST, "invalid content-length\n"));
    };
    if refused_unread(length, limit) {
        return Ok(too_large());
    }
    // The body streams to the guest as it arrives, with or without a length.
    let exceeded = Exceeded::default();
    let (mut parts, body) = req.into_parts();
    let body: GuestBody = CountingBody::new(body, limit, exceeded.clone()).boxed_unsync();
    if let Ok(value) = HeaderValue::from_str(&peer.ip().to_string()) {
        parts.headers.insert("x-forwarded-for", value);
    }
    if !parts.headers.contains_key(http::header::HOST)
        && let Some(value) = local.and_then(|addr| HeaderValue::from_str(&addr.to_string()).ok())
    {
        parts.headers.insert(http::header::HOST, value);
    }

    let mut lease = match pool.acquire(deadline).await {
        Ok(lease) => lease,
        Err(AcquireError::Busy) => {
            return Ok(plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "no instance became free within the request timeout\n",
            ));
        }
        Err(AcquireError::Instantiate(err)) => {
            eprintln!("lean-wasm-host: could not make an instance: {err:#}");
            return Ok(plain(StatusCode::INTERNAL_SERVER_ERROR, "the component could not be instantiated\n"));
        }
    };
    let (sender, mut answer) = oneshot::channel();
    let resources = {
        let state = lease.warm.store.data_mut();
        state.deadline = Some(deadline);
        let mut http = state.http();
        http.new_incoming_request(Scheme::Http, Request::from_parts(parts, body))
            .and_then(|request| Ok((request, http.new_response_outparam(sender)?)))
    };
    let (request, response_out) = match resources {
        Ok(resources) => resources,
        Err(err) => {
            lease.warm.store.data_mut().deadline = None;
            pool.release(lease, Outcome::Healthy, &what);
            return Ok(plain(StatusCode::BAD_REQUEST, &format!("invalid request: {err}\n")));
        }
    };
    let timeout_ms = config.request_timeout.as_millis();
    let mut guest = tokio::spawn(run_guest(pool, lease, request, response_out, deadline, what, timeout_ms));
    // The guest's answer, or how it ended without one.
    let reply = tokio::select! {
        biased;
        answered = &mut answer => match answered {
            Ok(answer) => Ok(answer),
            // No answer: the instance is gone; see why.
            Err(_) => Err(guest.await.unwrap_or(Outcome::Replace(ReplaceReason::Trap))),
        },
        finished = &mut guest => {
            // The guest returned; an answer it set on the way out is still in the channel.
            answer.try_recv().map_err(|_| finished.unwrap_or(Outcome::Replace(ReplaceReason::Trap)))
        }
    };
    if exceeded.get() {
        // The body passed the limit before any answer went out: the limit's
        // answer, whatever the guest made of its failed read.
        return Ok(too_large());
    }
    Ok(match reply {
        Ok(Ok(response)) => response,
        Ok(Err(code)) => {
            plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("the component failed: {code:?}\n"))
        }
        Err(outcome) => status_for(outcome),
    })
}

fn too_large() -> Response<HyperOutgoingBody> {
    plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n")
}

/// The answer for a request whose guest set none.
fn status_for(outcome: Outcome) -> Response<HyperOutgoingBody> {
    match outcome {
        Outcome::Replace(ReplaceReason::Timeout) => {
            plain(StatusCode::GATEWAY_TIMEOUT, "the component did not answer in time\n")
        }
        Outcome::Replace(ReplaceReason::Memory) => {
            plain(StatusCode::INTERNAL_SERVER_ERROR, "the component exceeded its memory limit\n")
        }
        Outcome::Replace(ReplaceReason::Trap) => {
            plain(StatusCode::INTERNAL_SERVER_ERROR, "the component trapped\n")
        }
        Outcome::Healthy => plain(StatusCode::INTERNAL_SERVER_ERROR, "the component returned no response\n"),
    }
}

/// Runs `incoming-handler.handle` for one request, then gives the instance back.
async fn run_guest(
    pool: Arc<Pool>,
    mut lease: Lease,
    request: wasmtime::component::Resource<wasmtime_wasi_http::p2::types::HostIncomingRequest>,
    response_out: wasmtime::component::Resource<wasmtime_wasi_http::p2::types::HostResponseOutparam>,
    deadline: Instant,
    what: String,
    timeout_ms: u128,
) -> Outcome {
    // The epoch callback stops a guest that computes past its deadline; this
    // also stops one that waits past it (on its body, or on egress).
    let hard_deadline = deadline + 3 * EPOCH_TICK;
    let warm = &mut lease.warm;
    let handler = warm.proxy.wasi_http_incoming_handler();
    let call = handler.call_handle(&mut warm.store, request, response_out);
    let result = tokio::time::timeout_at(hard_deadline.into(), call).await;
    let (outcome, detail) = match result {
        Ok(Ok(())) => (Outcome::Healthy, String::new()),
        Err(_) => (Outcome::Replace(ReplaceReason::Timeout), String::new()),
        Ok(Err(err)) => {
            let reason = classify(&warm.store);
            // The root cause names the trap ("wasm `unreachable` instruction
            // executed") or our limiter's refusal, not the call site.
            (Outcome::Replace(reason), first_line(&err.root_cause().to_string()))
        }
    };
    let state = warm.store.data_mut();
    state.deadline = None;
    if outcome != Outcome::Healthy {
        // Before the store goes: a body it drops unfinished would end as if whole.
        state.abort_unfinished_bodies();
    }
    let detail = match outcome {
        Outcome::Healthy => what,
        Outcome::Replace(ReplaceReason::Timeout) => {
            format!("a request to {what} ran past the {timeout_ms} ms request timeout")
        }
        Outcome::Replace(ReplaceReason::Memory) => {
            format!("a request to {what} went over the instance memory limit: {detail}")
        }
        Outcome::Replace(ReplaceReason::Trap) => format!("a request to {what} trapped: {detail}"),
    };
    pool.release(lease, outcome, &detail);
    outcome
}

fn classify(store: &Store<GuestState>) -> ReplaceReason {
    let state = store.data();
    if state.timed_out {
        ReplaceReason::Timeout
    } else if state.memory.exceeded {
        ReplaceReason::Memory
    } else {
        ReplaceReason::Trap
    }
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    line.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_for_guests_that_gave_no_answer() {
        assert_eq!(
            status_for(Outcome::Replace(ReplaceReason::Timeout)).status(),
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            status_for(Outcome::Replace(ReplaceReason::Memory)).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            status_for(Outcome::Replace(ReplaceReason::Trap)).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(status_for(Outcome::Healthy).status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn trap_details_keep_the_first_line_only() {
        assert_eq!(first_line("error while executing\nbacktrace..."), "error while executing");
        assert_eq!(first_line(&"x".repeat(1000)).len(), 300);
    }
}
