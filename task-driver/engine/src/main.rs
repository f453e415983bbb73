//! lean-wasm-host: serves one wasi:http component (one Nomad task) on one
//! address with wasmtime. Usage: `lean-wasm-host <spec.json>`, or
//! `lean-wasm-host --compile <spec.json>` to only fill the compile cache (the
//! driver compiles apart from the task, whose memory limit need not hold the
//! compiler's).
//!
//! Start-up: read the spec, build the engine, load the compiled component
//! from the cache (compiling it once per digest), make every warm instance,
//! listen, then write the ready file. SIGTERM/SIGINT: stop accepting, let
//! requests in flight finish (up to the request timeout), exit 0.

mod body_limit;
mod compile_cache;
mod egress;
mod engine;
mod error;
mod events;
mod fonts;
mod guest;
mod outbound;
mod parent;
mod pool;
mod server;
mod spec;
mod subset;
mod text;

use crate::engine::EngineLimits;
use crate::error::{Code, HostError};
use crate::events::Events;
use crate::guest::GuestSetup;
use crate::pool::Pool;
use crate::server::ServerConfig;
use crate::spec::Spec;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// Set when the host re-executes itself after compiling: the milliseconds spent before.
const COMPILED_BEFORE_MS: &str = "LEAN_WASM_HOST_COMPILED_MS";

fn main() -> ExitCode {
    let started = Instant::now();
    let argv: Vec<_> = std::env::args_os().skip(1).collect();
    let (compile_only, spec_path) = match argv.as_slice() {
        [flag, path] if flag == "--compile" => (true, path),
        [path] => (false, path),
        _ => {
            eprintln!("usage: lean-wasm-host [--compile] <spec.json>");
            return ExitCode::from(2);
        }
    };
    let spec = match Spec::load(Path::new(&spec_path)) {
        Ok(spec) => spec,
        Err(err) => {
            eprintln!("lean-wasm-host: {err}");
            return ExitCode::FAILURE;
        }
    };
    if compile_only {
        return match compile(&spec, started) {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("lean-wasm-host: {err}");
                ExitCode::FAILURE
            }
        };
    }
    if spec.exit_with_parent && !parent::stop_with_parent() {
        eprintln!("lean-wasm-host: the process that started me is gone; not serving");
        return ExitCode::FAILURE;
    }
    let exit_file = spec.exit_file.clone();
    let outcome = serve_spec(spec, started);
    if let Err(err) = &outcome {
        eprintln!("lean-wasm-host: {err}");
    }
    if let Some(path) = exit_file {
        write_exit_file(&path, outcome.as_ref().err());
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// Fills the compile cache for the spec's component: a JSON line saying whether
/// it was there already and how long it took.
fn compile(spec: &Spec, started: Instant) -> Result<serde_json::Value, HostError> {
    let limits =
        EngineLimits { instances: spec.instances, instance_memory_bytes: spec.instance_memory_bytes };
    let engine = engine::build(limits)?;
    let loaded = compile_cache::load_or_compile(&engine, &spec.component, &spec.sha256, &spec.cache_dir)?;
    Ok(serde_json::json!({
        "cached": loaded.cached,
        "compileMs": started.elapsed().as_millis(),
    }))
}

/// Runs the host for a parsed spec; a failure is also in the events file when it could be opened.
fn serve_spec(spec: Spec, started: Instant) -> Result<(), HostError> {
    let events = match Events::open(&spec.events) {
        Ok(events) => Arc::new(events),
        Err(err) => {
            return Err(HostError::config(format!(
                "cannot open events file {}: {err}",
                spec.events.display()
            )));
        }
    };
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| HostError::config(format!("cannot start the async runtime: {err}")))
        .and_then(|runtime| runtime.block_on(run(spec, events.clone(), started)));
    if let Err(err) = &result {
        events.failed(err.code.as_str(), &err.message);
    }
    result
}

async fn run(spec: Spec, events: Arc<Events>, started: Instant) -> Result<(), HostError> {
    let limits =
        EngineLimits { instances: spec.instances, instance_memory_bytes: spec.instance_memory_bytes };
    let engine = engine::build(limits)?;
    engine::start_epoch_ticker(&engine);

    let loaded = {
        let (engine, source, sha256, cache_dir) =
            (engine.clone(), spec.component.clone(), spec.sha256.clone(), spec.cache_dir.clone());
        tokio::task::spawn_blocking(move || {
            compile_cache::load_or_compile(&engine, &source, &sha256, &cache_dir)
        })
        .await
        .map_err(|err| HostError::new(Code::ComponentCompile, format!("compilation failed: {err}")))??
    };
    let compiled_before = std::env::var(COMPILED_BEFORE_MS).ok().and_then(|ms| ms.parse::<u128>().ok());
    if !loaded.cached && compiled_before.is_none() {
        // Compiling leaves tens of MB of the compiler's memory with the process
        // for good; start again as a fresh process (same pid) that only maps the artefact.
        drop(loaded);
        return Err(restart_fresh(started));
    }
    let prior_ms = compiled_before.unwrap_or(0);
    let cached = loaded.cached && compiled_before.is_none();
    let compiled_ms = prior_ms + started.elapsed().as_millis();
    let linker = guest::linker(&engine)
        .map_err(|err| HostError::config(format!("cannot set up the linker: {err:#}")))?;
    let pre = linker.instantiate_pre(&loaded.component).and_then(ProxyPre::new).map_err(|err| {
        HostError::new(
            Code::ComponentCompile,
            format!("the component does not fit the wasi:http proxy world: {err:#}"),
        )
    })?;

    let listener = TcpListener::bind(spec.listen)
        .await
        .map_err(|err| HostError::config(format!("cannot listen on {}: {err}", spec.listen)))?;
    let outbound = match &spec.outbound {
        Some(outbound) => Some(Arc::new(outbound::Outbound::new(outbound).map_err(HostError::config)?)),
        None => None,
    };
    let setup = GuestSetup {
        env: spec.env.clone(),
        args: spec.args.clone(),
        egress: Arc::new(egress::EgressPolicy::new(&spec.egress_allow)),
        outbound,
        memory_bytes: spec.instance_memory_bytes,
    };
    let pool =
        Pool::new(pre, setup, spec.instances, spec.max_reuse, spec.recycle_grown_bytes, events.clone());
    if let Some(idle) = spec.recycle_idle {
        pool.start_recycling(idle);
    }
    pool.warm_up().await.map_err(|err| {
        if guest::is_memory_limit(&err) {
            HostError::config(format!(
                "field `instance_memory_bytes`: {} bytes is too little for this component: {}",
                spec.instance_memory_bytes,
                err.root_cause()
            ))
        } else {
            HostError::new(
                Code::ComponentTrap,
                format!("the component failed while starting: {}", err.root_cause()),
            )
        }
    })?;

    let (stop, stopping) = watch::channel(false);
    let mut sigterm = signal(SignalKind::terminate())
        .map_err(|err| HostError::config(format!("cannot handle SIGTERM: {err}")))?;
    let mut sigint = signal(SignalKind::interrupt())
        .map_err(|err| HostError::config(format!("cannot handle SIGINT: {err}")))?;
    let config = Arc::new(ServerConfig {
        request_timeout: spec.request_timeout,
        max_request_body_bytes: spec.max_request_body_bytes,
    });
    let server = tokio::spawn(server::serve(listener, pool.clone(), config, stopping));

    let start_ms = prior_ms + started.elapsed().as_millis();
    write_ready_file(&spec.ready_file, spec.listen.port(), start_ms, compiled_ms, cached, spec.instances)?;
    events.ready(&spec.listen.to_string(), spec.instances, start_ms, cached);
    eprintln!(
        "lean-wasm-host: serving {} on {} with {} warm instances ({start_ms} ms; compile cache {}, {})",
        spec.component.display(),
        spec.listen,
        pool.idle_count(),
        if cached { "hit" } else { "miss" },
        loaded.artefact.display(),
    );

    let signal_name = tokio::select! {
        _ = sigterm.recv() => "SIGTERM",
        _ = sigint.recv() => "SIGINT",
    };
    eprintln!("lean-wasm-host: {signal_name}: no new connections; finishing requests in flight");
    let _ = stop.send(true);
    let _ = server.await;
    let drained = pool.drain(Instant::now() + spec.request_timeout).await;
    eprintln!(
        "lean-wasm-host: stopped ({} instances replaced{})",
        pool.replaced_count(),
        if drained { "" } else { "; some requests were cut off at the request timeout" }
    );
    Ok(())
}

/// Replaces this process with a fresh run of the same command (`exec`: the pid,
/// and so the driver's handle on it, stays). Returns only when that fails.
fn restart_fresh(started: Instant) -> HostError {
    use std::os::unix::process::CommandExt;
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => {
            return HostError::config(format!(
                "cannot find my own executable to restart after compiling: {err}"
            ));
        }
    };
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(COMPILED_BEFORE_MS, started.elapsed().as_millis().to_string())
        .exec();
    HostError::config(format!("cannot restart after compiling: {err}"))
}

/// The exit file, in the shape of the runner's `ExitReport`: how the host
/// ended, for a supervisor that is not our parent (so cannot wait for us).
fn write_exit_file(path: &Path, failed: Option<&HostError>) {
    let report = match failed {
        None => serde_json::json!({ "exitCode": 0, "signal": 0, "oomKilled": false }),
        Some(err) => serde_json::json!({
            "exitCode": 1, "signal": 0, "oomKilled": false, "code": err.code.as_str(), "error": err.message,
        }),
    };
    let mut scratch = PathBuf::from(path);
    scratch.as_mut_os_string().push(".partial");
    if let Err(err) =
        std::fs::write(&scratch, report.to_string()).and_then(|()| std::fs::rename(&scratch, path))
    {
        eprintln!("lean-wasm-host: cannot write exit file {}: {err}", path.display());
    }
}

/// The ready file, in the shape of the runner's `ReadyReport`, written
/// atomically (temp file, then rename).
fn write_ready_file(
    path: &Path,
    port: u16,
    start_ms: u128,
    compile_ms: u128,
    cached: bool,
    instances: u32,
) -> Result<(), HostError> {
    let report = serde_json::json!({
        "pid": std::process::id(),
        "port": port,
        "startMs": start_ms,
        "compileMs": compile_ms,
        "cached": cached,
        "instances": instances,
        "engine": "wasmtime",
    });
    let mut scratch = PathBuf::from(path);
    scratch.as_mut_os_string().push(".partial");
    std::fs::write(&scratch, report.to_string())
        .and_then(|()| std::fs::rename(&scratch, path))
        .map_err(|err| HostError::config(format!("cannot write ready file {}: {err}", path.display())))
}
