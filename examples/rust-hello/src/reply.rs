//! Small whole responses: a status and a short text.

use std::io::Write as _;
use wasip2::http::types::{Fields, OutgoingBody, OutgoingResponse, ResponseOutparam};

/// Response headers naming the content type.
pub fn headers(content_type: &str) -> Fields {
    let entry = ("content-type".to_string(), content_type.as_bytes().to_vec());
    Fields::from_list(&[entry]).expect("content-type is a valid header")
}

/// Answers `status` with `body` as plain text.
pub fn text(out: ResponseOutparam, status: u16, body: &str) {
    let response = OutgoingResponse::new(headers("text/plain; charset=utf-8"));
    response
        .set_status_code(status)
        .expect("a valid status code");
    let outgoing = response.body().expect("the body is taken once");
    ResponseOutparam::set(out, Ok(response));
    {
        // The stream must be dropped before its body is finished.
        let mut stream = outgoing.write().expect("the stream is taken once");
        if let Err(err) = stream
            .write_all(body.as_bytes())
            .and_then(|()| std::io::Write::flush(&mut stream))
        {
            eprintln!("rust-hello: writing the response failed: {err}");
            return;
        }
    }
    if let Err(err) = OutgoingBody::finish(outgoing, None) {
        eprintln!("rust-hello: finishing the response failed: {err}");
    }
}

/// `GET /status/<n>`: answers n (200 to 599) with an empty body, else 400.
pub fn status(out: ResponseOutparam, n: &str) {
    match n.parse::<u16>() {
        Ok(code) if (200..=599).contains(&code) => text(out, code, ""),
        _ => text(out, 400, "expected /status/<n> with n from 200 to 599\n"),
    }
}
