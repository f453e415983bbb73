//! A wasi:http error code as the WIT names it (`HTTP-request-denied`), so
//! the message reads the same from every language's bindings.

use wasip2::http::types::ErrorCode;

/// Words the WIT spells in capitals.
const ACRONYMS: [&str; 5] = ["dns", "http", "ip", "tls", "uri"];

/// The WIT case name, followed by its payload, if any, as Rust prints it.
pub fn of(code: &ErrorCode) -> String {
    // The bindings print a case as `ErrorCode::HttpRequestDenied` (plus its payload).
    let printed = format!("{code:?}");
    let printed = printed.trim_start_matches("ErrorCode::");
    let (case, payload) = printed.split_at(printed.find('(').unwrap_or(printed.len()));
    format!("{}{payload}", wit_case(case))
}

/// `HttpRequestDenied` → `HTTP-request-denied`.
fn wit_case(camel: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for c in camel.chars() {
        match words.last_mut() {
            Some(word) if !c.is_ascii_uppercase() => word.push(c),
            _ => words.push(c.to_ascii_lowercase().to_string()),
        }
    }
    words
        .iter()
        .map(|w| {
            if ACRONYMS.contains(&w.as_str()) {
                w.to_ascii_uppercase()
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}
