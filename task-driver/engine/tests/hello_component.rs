//! End to end against the real componentize-js hello component
//! (workloads/hello). Needs the built component, so it is opt-in:
//!
//!   LEAN_HELLO_WASM=/work/main/workloads/dist/hello.wasm \
//!     cargo test --release --locked -- --ignored
//!
//! It starts the host binary on a free loopback port, checks the guarantees
//! through the component's routes, then stops it with SIGTERM.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

struct Host {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("sha256sum");
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(component: &Path, cache: &Path, instances: u32, timeout_ms: u64) -> Host {
    start_with(component, cache, instances, timeout_ms, serde_json::json!({}))
}

/// Starts the host with `extra` spec fields added.
fn start_with(
    component: &Path,
    cache: &Path,
    instances: u32,
    timeout_ms: u64,
    extra: serde_json::Value,
) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut spec = serde_json::json!({
        "component": component,
        "sha256": sha256_of(component),
        "cache_dir": cache,
        "listen": addr.to_string(),
        "instances": instances,
        "max_reuse": 1000,
        "request_timeout_ms": timeout_ms,
        "max_request_body_bytes": 1024,
        "instance_memory_bytes": 64u64 << 20,
        "env": { "GREETING": "howdy" },
        "events": dir.path().join("events.jsonl"),
        "ready_file": dir.path().join("ready.json"),
    });
    for (key, value) in extra.as_object().unwrap() {
        spec[key] = value.clone();
    }
    let spec_file = dir.path().join("spec.json");
    std::fs::write(&spec_file, spec.to_string()).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_lean-wasm-host")).arg(&spec_file).spawn().unwrap();
    let host = Host { child, addr, dir };
    let ready = host.dir.path().join("ready.json");
    let until = Instant::now() + Duration::from_secs(120);
    while !ready.exists() {
        assert!(Instant::now() < until, "no ready file");
        std::thread::sleep(Duration::from_millis(20));
    }
    host
}

/// One HTTP/1.1 request on its own connection; returns (status, body).
fn request(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let text = format!("{head}\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(text.as_bytes()).unwrap();
    let _ = stream.write_all(body);
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out).to_string();
    let status = out.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    (status, if chunked { dechunk(body) } else { body.to_string() })
}

/// Decodes a chunked body (hex size line, data, CRLF; ends with size 0).
fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || tail.len() < size {
            break;
        }
        body.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    body
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    request(addr, &format!("GET {path} HTTP/1.1"), b"")
}

fn events(host: &Host) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(host.dir.path().join("events.jsonl")).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
#[ignore = "needs LEAN_HELLO_WASM pointing at the built hello component"]
fn hello_component_end_to_end() {
    let component = std::env::var("LEAN_HELLO_WASM").expect("LEAN_HELLO_WASM");
    let cache = tempfile::tempdir().unwrap();
    let host = start(Path::new(&component), cache.path(), 2, 1000);
    let addr = host.addr;

    let (status, body) = get(addr, "/");
    assert_eq!((status, body.as_str()), (200, "howdy from wasm\n"));
    // Instances are reused: the one instance that served "/" counts on.
    let (_, count) = get(addr, "/count");
    assert!(count.trim().parse::<u32>().unwrap() >= 2, "count {count}");

    let (status, _) = get(addr, "/trap");
    assert_eq!(status, 500);
    let (status, _) = get(addr, "/spin?ms=5000");
    assert_eq!(status, 504);
    let (status, _) = get(addr, "/grow?mb=128");
    assert_eq!(status, 500);
    let (status, _) = request(addr, "POST /echo HTTP/1.1\r\nContent-Length: 4096", &[b'x'; 4096]);
    assert_eq!(status, 413);
    let (status, _) = request(addr, "POST /echo?ok HTTP/1.1\r\nContent-Length: 10", b"0123456789");
    assert_eq!(status, 200);
    let (status, body) = get(addr, "/");
    assert_eq!((status, body.as_str()), (200, "howdy from wasm\n"), "still serving after the failures");

    let reasons: Vec<String> = events(&host)
        .iter()
        .filter(|e| e["type"] == "replaced")
        .map(|e| e["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reasons, ["trap", "timeout", "memory"]);
    assert_eq!(events(&host)[0]["type"], "ready");

    // A second start of the same digest reads the compile cache.
    let mut host = host;
    let again = start(Path::new(&component), cache.path(), 1, 1000);
    let ready: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(again.dir.path().join("ready.json")).unwrap()).unwrap();
    assert_eq!(ready["cached"], true);

    Command::new("kill").arg("-TERM").arg(host.child.id().to_string()).status().unwrap();
    let status = host.child.wait().unwrap();
    assert!(status.success(), "exit after SIGTERM: {status}");
}

#[test]
#[ignore = "needs LEAN_HELLO_WASM pointing at the built hello component"]
fn idle_instances_are_recycled_and_the_exit_is_reported() {
    let component = std::env::var("LEAN_HELLO_WASM").expect("LEAN_HELLO_WASM");
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let exit_file = dir.path().join("exit.json");
    let mut host = start_with(
        Path::new(&component),
        cache.path(),
        1,
        1000,
        serde_json::json!({ "recycle_idle_ms": 200, "exit_with_parent": false, "exit_file": exit_file }),
    );
    let addr = host.addr;
    assert_eq!(get(addr, "/count").1, "1\n");
    assert_eq!(get(addr, "/count").1, "2\n", "reused while busy");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(get(addr, "/count").1, "1\n", "after idling, a fresh instance answers");

    Command::new("kill").arg("-TERM").arg(host.child.id().to_string()).status().unwrap();
    assert!(host.child.wait().unwrap().success());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&exit_file).unwrap()).unwrap();
    assert_eq!(report, serde_json::json!({ "exitCode": 0, "signal": 0, "oomKilled": false }));
}

#[test]
#[ignore = "needs LEAN_HELLO_WASM pointing at the built hello component"]
fn compile_only_fills_the_cache_and_the_host_then_starts_from_it() {
    let component = std::env::var("LEAN_HELLO_WASM").expect("LEAN_HELLO_WASM");
    let component = Path::new(&component);
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec = serde_json::json!({
        "component": component,
        "sha256": sha256_of(component),
        "cache_dir": cache.path(),
        "listen": "127.0.0.1:1",
        "instances": 1,
        "max_reuse": 1000,
        "request_timeout_ms": 1000,
        "max_request_body_bytes": 1024,
        "instance_memory_bytes": 64u64 << 20,
        "events": dir.path().join("events.jsonl"),
        "ready_file": dir.path().join("ready.json"),
    });
    let spec_file = dir.path().join("spec.json");
    std::fs::write(&spec_file, spec.to_string()).unwrap();
    let compile = || {
        let out = Command::new(env!("CARGO_BIN_EXE_lean-wasm-host"))
            .arg("--compile")
            .arg(&spec_file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(compile()["cached"], false);
    assert_eq!(compile()["cached"], true, "the second run finds the artefact");
    assert!(!dir.path().join("ready.json").exists(), "compiling serves nothing");

    let host = start(component, cache.path(), 1, 1000);
    let ready: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(host.dir.path().join("ready.json")).unwrap()).unwrap();
    assert_eq!(ready["cached"], true);
}
