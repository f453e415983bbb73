//! Task events: one JSON object per line appended to the spec's `events` file.
//! Each line has a `type` for programs and, so the runner's existing tailer
//! (`task-driver/runner/task-events.ts`) can forward it to Nomad unchanged, a
//! `message` and string `annotations`.

use serde_json::{Value, json};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Why an instance was dropped and a fresh one made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceReason {
    Timeout,
    Memory,
    Trap,
}

impl ReplaceReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplaceReason::Timeout => "timeout",
            ReplaceReason::Memory => "memory",
            ReplaceReason::Trap => "trap",
        }
    }
}

pub struct Events {
    file: Mutex<File>,
}

impl Events {
    pub fn open(path: &Path) -> std::io::Result<Events> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Events { file: Mutex::new(file) })
    }

    /// The host serves: `instances` warm instances are ready.
    pub fn ready(&self, listen: &str, instances: u32, start_ms: u128, cached: bool) {
        self.append(json!({
            "type": "ready",
            "listen": listen,
            "instances": instances,
            "start_ms": start_ms,
            "cached": cached,
            "message": format!("Serving on {listen} with {instances} warm instances ({start_ms} ms, compile cache {})",
                if cached { "hit" } else { "miss" }),
            "annotations": { "listen": listen, "instances": instances.to_string(), "start_ms": start_ms.to_string() },
        }));
    }

    /// An instance was dropped; `detail` says what the request did.
    pub fn replaced(&self, reason: ReplaceReason, detail: &str) {
        self.append(json!({
            "type": "replaced",
            "reason": reason.as_str(),
            "detail": detail,
            "message": format!("Instance replaced: {detail}"),
            "annotations": { "reason": reason.as_str() },
        }));
    }

    /// The host could not start; `code` is a stable LEAN_ERR_* code.
    pub fn failed(&self, code: &str, message: &str) {
        self.append(json!({
            "type": "failed",
            "code": code,
            "message": message,
            "annotations": { "code": code },
        }));
    }

    fn append(&self, mut event: Value) {
        let at_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        event["at_ms"] = json!(at_ms);
        let mut line = event.to_string();
        line.push('\n');
        // One write of a whole line to an O_APPEND file: readers never see half a line
        // from us, and a failure to record must not take the task down.
        let mut file = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(err) = file.write_all(line.as_bytes()) {
            eprintln!("lean-wasm-host: cannot append to the events file: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_one_json_line_per_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, "{\"message\":\"earlier\"}\n").unwrap();
        let events = Events::open(&path).unwrap();
        events.ready("127.0.0.1:1", 2, 15, true);
        events.replaced(ReplaceReason::Timeout, "a request to /spin ran past the 100 ms request timeout");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 3, "earlier lines are kept");
        assert_eq!(lines[1]["type"], "ready");
        assert_eq!(lines[1]["annotations"]["instances"], "2");
        assert_eq!(lines[2]["type"], "replaced");
        assert_eq!(lines[2]["reason"], "timeout");
        assert!(lines[2]["message"].as_str().unwrap().starts_with("Instance replaced: a request to /spin"));
        assert!(lines[2]["at_ms"].as_u64().unwrap() > 0);
    }
}
