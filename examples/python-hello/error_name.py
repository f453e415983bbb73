"""A wasi:http error code as the WIT names it (``HTTP-request-denied``), so the
message reads the same from every language's bindings."""

import re

# Words the WIT spells in capitals.
ACRONYMS = {"dns", "http", "ip", "tls", "uri"}


def of(code: object) -> str:
    """The WIT case name, followed by its payload, if any."""
    # The bindings give each case a class such as ErrorCode_HttpRequestDenied.
    case = type(code).__name__.removeprefix("ErrorCode_")
    words = re.findall(r"[A-Z][a-z0-9]*", case)
    name = "-".join(w.upper() if w.lower() in ACRONYMS else w.lower() for w in words)
    payload = getattr(code, "value", None)
    return name if payload is None else f"{name}({payload!r})"
