//! A small wasi:http service in Rust, a starting point for a Lean Cloud app.
//!
//! - `GET /` answers `hello from rust`.
//! - `POST /echo` streams the request body back as it arrives.
//! - `GET /call?url=<url>` makes an outgoing wasi:http GET to the URL and
//!   answers 200 with the upstream's status and body, or 502 naming the
//!   error code when the call is refused or fails.
//! - `GET /status/<n>` answers with status n.
//! - `GET /health` answers 200, for the platform's health check.
//! - Anything else is 404.

mod call;
mod echo;
mod error_name;
mod reply;
mod url;

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{IncomingRequest, Method, ResponseOutparam};

struct Service;

wasip2::http::proxy::export!(Service);

impl Guest for Service {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let target = request.path_with_query().unwrap_or_else(|| "/".to_string());
        let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
        match (request.method(), path) {
            (Method::Get, "/") => reply::text(out, 200, "hello from rust\n"),
            (Method::Get, "/health") => reply::text(out, 200, "ok\n"),
            (Method::Post, "/echo") => echo::echo(request, out),
            (Method::Get, "/call") => call::call(query, out),
            (Method::Get, _) if path.starts_with("/status/") => {
                reply::status(out, &path["/status/".len()..])
            }
            _ => reply::text(out, 404, "not found\n"),
        }
    }
}
