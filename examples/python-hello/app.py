"""A small wasi:http service in Python, a starting point for a Lean Cloud app.

- ``GET /`` answers ``hello from python``.
- ``POST /echo`` streams the request body back as it arrives.
- ``GET /call?url=<url>`` makes an outgoing wasi:http GET to the URL and
  answers 200 with the upstream's status and body, or 502 naming the error
  code when the call is refused or fails.
- ``GET /status/<n>`` answers with status n.
- ``GET /health`` answers 200, for the platform's health check.
- Anything else is 404.
"""

import sys
from urllib.parse import parse_qs, urlsplit

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import outgoing_handler, types
from wit_world.imports.streams import InputStream, OutputStream, StreamError_Closed

import error_name

# How much one read asks for; the body never sits in memory whole.
READ_SIZE = 64 * 1024
# wasi:io's blocking write takes at most 4096 bytes at a time.
WRITE_SIZE = 4096


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: types.IncomingRequest, response_out: types.ResponseOutparam) -> None:
        path, _, query = (request.path_with_query() or "/").partition("?")
        method = request.method()
        if isinstance(method, types.Method_Get) and path == "/":
            reply(response_out, 200, "hello from python\n")
        elif isinstance(method, types.Method_Get) and path == "/health":
            reply(response_out, 200, "ok\n")
        elif isinstance(method, types.Method_Post) and path == "/echo":
            echo(request, response_out)
        elif isinstance(method, types.Method_Get) and path == "/call":
            call(query, response_out)
        elif isinstance(method, types.Method_Get) and path.startswith("/status/"):
            status(path.removeprefix("/status/"), response_out)
        else:
            reply(response_out, 404, "not found\n")


def headers(content_type: str) -> types.Fields:
    return types.Fields.from_list([("content-type", content_type.encode())])


def reply(response_out: types.ResponseOutparam, code: int, text: str) -> None:
    """Answers ``code`` with ``text`` as plain text."""
    response = types.OutgoingResponse(headers("text/plain; charset=utf-8"))
    response.set_status_code(code)
    body = response.body()
    types.ResponseOutparam.set(response_out, Ok(response))
    # The stream is dropped (end of `with`) before its body is finished.
    with body.write() as stream:
        write_all(stream, text.encode())
    types.OutgoingBody.finish(body, None)


def status(n: str, response_out: types.ResponseOutparam) -> None:
    if n.isascii() and n.isdigit() and 200 <= int(n) <= 599:
        reply(response_out, int(n), "")
    else:
        reply(response_out, 400, "expected /status/<n> with n from 200 to 599\n")


def write_all(stream: OutputStream, data: bytes) -> None:
    for start in range(0, len(data), WRITE_SIZE):
        stream.blocking_write_and_flush(data[start : start + WRITE_SIZE])


def copy(reader: InputStream, writer: OutputStream) -> None:
    """Moves a stream across chunk by chunk, until its end."""
    while True:
        try:
            chunk = reader.blocking_read(READ_SIZE)
        except Err as e:
            if isinstance(e.value, StreamError_Closed):
                return
            raise
        write_all(writer, chunk)


def stream_body(incoming: types.IncomingBody, outgoing: types.OutgoingBody, first: bytes = b"") -> None:
    """Copies ``first`` then ``incoming`` into ``outgoing`` and finishes it.
    If either side fails, ``outgoing`` is left unfinished, so the client sees
    the response cut short rather than a body that looks complete."""
    try:
        with incoming.stream() as reader, outgoing.write() as writer:
            write_all(writer, first)
            copy(reader, writer)
    except Err as e:
        print(f"python-hello: streaming a body stopped: {e.value}", file=sys.stderr)
        return
    types.OutgoingBody.finish(outgoing, None)


def echo(request: types.IncomingRequest, response_out: types.ResponseOutparam) -> None:
    incoming = request.consume()
    response = types.OutgoingResponse(headers("application/octet-stream"))
    outgoing = response.body()
    # The status and headers go out now; the body follows as it is copied.
    types.ResponseOutparam.set(response_out, Ok(response))
    stream_body(incoming, outgoing)


def call(query: str, response_out: types.ResponseOutparam) -> None:
    """One outgoing GET through the standard wasi:http/outgoing-handler, so
    the platform's outbound grants decide whether it may leave."""
    url = parse_qs(query).get("url", [""])[0]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return reply(response_out, 400, "expected /call?url=<http or https URL>\n")
    request = types.OutgoingRequest(types.Fields())
    request.set_scheme(types.Scheme_Http() if parts.scheme == "http" else types.Scheme_Https())
    request.set_authority(parts.netloc)
    request.set_path_with_query((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    try:
        upstream = send(request)
    except Err as e:
        return reply(response_out, 502, f"outbound call to {url} failed: {error_name.of(e.value)}\n")
    relay(upstream, response_out)


def send(request: types.OutgoingRequest) -> types.IncomingResponse:
    """The upstream's response (status and headers); raises Err(ErrorCode)."""
    pending = outgoing_handler.handle(request, None)
    with pending.subscribe() as ready:
        ready.block()
    # Ready, and asked once: Ok(Ok(response)) or Ok(Err(error code)).
    outer = pending.get()
    if not isinstance(outer, Ok):
        raise Err(types.ErrorCode_InternalError("no response"))
    if isinstance(outer.value, Err):
        raise outer.value
    return outer.value.value


def relay(upstream: types.IncomingResponse, response_out: types.ResponseOutparam) -> None:
    """Answers 200: the upstream's status on the first line (and in
    x-upstream-status), then its body as it arrives."""
    code = upstream.status()
    fields = headers("text/plain; charset=utf-8")
    fields.append("x-upstream-status", str(code).encode())
    response = types.OutgoingResponse(fields)
    outgoing = response.body()
    types.ResponseOutparam.set(response_out, Ok(response))
    stream_body(upstream.consume(), outgoing, f"{code}\n".encode())
