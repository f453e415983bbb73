//! `POST /echo`: the request body back, chunk by chunk.

use wasip2::http::types::{
    IncomingBody, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

use crate::reply;

pub fn echo(request: IncomingRequest, out: ResponseOutparam) {
    let Ok(incoming) = request.consume() else {
        return reply::text(out, 500, "the request body was already taken\n");
    };
    let response = OutgoingResponse::new(reply::headers("application/octet-stream"));
    let outgoing = response.body().expect("the body is taken once");
    // The status and headers go out now; the body follows as it is copied.
    ResponseOutparam::set(out, Ok(response));
    if copy_body(&incoming, &outgoing) {
        if let Err(err) = OutgoingBody::finish(outgoing, None) {
            eprintln!("rust-hello: finishing the echo failed: {err}");
        }
    }
    // Else the outgoing body is dropped unfinished: the client sees the
    // response cut short rather than a body that looks complete.
    drop(IncomingBody::finish(incoming));
}

/// Copies the whole body through a small buffer (std::io::copy's 8 KiB), so
/// memory stays flat whatever the size. False when either side failed.
fn copy_body(from: &IncomingBody, to: &OutgoingBody) -> bool {
    let mut reader = from.stream().expect("the stream is taken once");
    let mut writer = to.write().expect("the stream is taken once");
    match std::io::copy(&mut reader, &mut writer).and_then(|_| std::io::Write::flush(&mut writer)) {
        Ok(()) => true,
        Err(err) => {
            eprintln!("rust-hello: echo stopped: {err}");
            false
        }
    }
}
