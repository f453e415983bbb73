//! Just enough URL handling for `/call?url=<url>`: one query parameter,
//! percent-decoded, and an absolute http(s) URL split into its parts.

/// The decoded value of query parameter `name`, if present.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key)? == name)
            .then(|| percent_decode(value))
            .flatten()
    })
}

/// `%XX` escapes and `+` (a space in a query) decoded; None if the result is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (byte, None) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// An absolute URL's parts, as wasi:http's outgoing-request takes them.
pub struct Target<'a> {
    pub https: bool,
    pub authority: &'a str,
    pub path_with_query: String,
}

/// Splits `http://host[:port][/path][?query]` (or https); None for anything else.
pub fn split(url: &str) -> Option<Target<'_>> {
    let (https, rest) = match url.strip_prefix("http://") {
        Some(rest) => (false, rest),
        None => (true, url.strip_prefix("https://")?),
    };
    let rest = rest.split('#').next().unwrap_or("");
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    if authority.is_empty() {
        return None;
    }
    let path_with_query = if tail.starts_with('/') {
        tail.to_string()
    } else {
        format!("/{tail}")
    };
    Some(Target {
        https,
        authority,
        path_with_query,
    })
}
