//! `GET /call?url=<url>`: one outgoing GET through the standard
//! wasi:http/outgoing-handler, so the platform's outbound grants decide
//! whether it may leave.

use std::io::Write as _;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, IncomingResponse, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};

use crate::{error_name, reply, url};

pub fn call(query: &str, out: ResponseOutparam) {
    let Some(target) = url::query_param(query, "url") else {
        return reply::text(out, 400, "expected /call?url=<http or https URL>\n");
    };
    let Some(parts) = url::split(&target) else {
        return reply::text(
            out,
            400,
            &format!("not an absolute http(s) URL: {target}\n"),
        );
    };
    match get(&parts) {
        Ok(upstream) => relay(upstream, out),
        Err(code) => {
            let message = format!(
                "outbound call to {target} failed: {}\n",
                error_name::of(&code)
            );
            reply::text(out, 502, &message)
        }
    }
}

/// Sends the request and waits for the upstream's status and headers.
fn get(target: &url::Target) -> Result<IncomingResponse, ErrorCode> {
    let request = OutgoingRequest::new(Fields::new());
    let scheme = if target.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let invalid = |_| ErrorCode::HttpRequestUriInvalid;
    request.set_method(&Method::Get).map_err(invalid)?;
    request.set_scheme(Some(&scheme)).map_err(invalid)?;
    request
        .set_authority(Some(target.authority))
        .map_err(invalid)?;
    request
        .set_path_with_query(Some(&target.path_with_query))
        .map_err(invalid)?;
    let pending = outgoing_handler::handle(request, None)?;
    pending.subscribe().block();
    match pending.get() {
        Some(Ok(response)) => response,
        // Ready after block(), and asked once: neither can happen.
        Some(Err(())) | None => Err(ErrorCode::InternalError(Some("no response".to_string()))),
    }
}

/// Answers 200: the upstream's status on the first line (and in
/// x-upstream-status), then its body as it arrives.
fn relay(upstream: IncomingResponse, out: ResponseOutparam) {
    let status = upstream.status();
    let headers = reply::headers("text/plain; charset=utf-8");
    let value = status.to_string().into_bytes();
    headers
        .append("x-upstream-status", &value)
        .expect("a valid header");
    let response = OutgoingResponse::new(headers);
    let outgoing = response.body().expect("the body is taken once");
    ResponseOutparam::set(out, Ok(response));
    let incoming = upstream.consume().expect("the body is taken once");
    let copied = {
        let mut reader = incoming.stream().expect("the stream is taken once");
        let mut writer = outgoing.write().expect("the stream is taken once");
        writeln!(writer, "{status}")
            .and_then(|()| std::io::copy(&mut reader, &mut writer))
            .and_then(|_| std::io::Write::flush(&mut writer))
    };
    match copied {
        Ok(()) => {
            if let Err(err) = OutgoingBody::finish(outgoing, None) {
                eprintln!("rust-hello: finishing the relayed body failed: {err}");
            }
        }
        Err(err) => eprintln!("rust-hello: relaying the upstream body stopped: {err}"),
    }
}
