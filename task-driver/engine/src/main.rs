//! lean-wasm-host: serves one wasi:http component (one Nomad task) on one
//! address with wasmtime. Usage: `lean-wasm-host <spec.json>`.
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
mod guest;
mod parent;
mod pool;
mod server;
mod spec;

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

fn main() -> ExitCode {
    let started = Instant::now();
    let mut argv = std::env::args_os().skip(1);
    let (Some(spec_path), None) = (argv.next(), argv.next()) else {
        eprintln!("usage: lean-wasm-host <spec.json>");
        return ExitCode::from(2);
    };
    if !parent::stop_with_parent() {
        eprintln!("lean-wasm-host: the process that started me is gone; not serving");
        return ExitCode::FAILURE;
    }
    let spec = match Spec::load(Path::new(&spec_path)) {
        Ok(spec) => spec,
        Err(err) => {
            eprintln!("lean-wasm-host: {err}");
            return ExitCode::FAILURE;
        }
    };
    let events = match Events::open(&spec.events) {
        Ok(events) => Arc::new(events),
        Err(err) => {
            let err = HostError::config(format!("cannot open events file {}: {err}", spec.events.display()));
            eprintln!("lean-wasm-host: {err}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("lean-wasm-host: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(spec, events.clone(), started)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("lean-wasm-host: {err}");
            events.failed(err.code.as_str(), &err.message);
            ExitCode::FAILURE
        }
    }
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
    let compiled_ms = started.elapsed().as_millis();
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
    let setup = GuestSetup {
        env: spec.env.clone(),
        args: spec.args.clone(),
        egress: Arc::new(egress::EgressPolicy::new(&spec.egress_allow)),
        memory_bytes: spec.instance_memory_bytes,
    };
    let pool = Pool::new(pre, setup, spec.instances, spec.max_reuse, events.clone());
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

    let start_ms = started.elapsed().as_millis();
    write_ready_file(
        &spec.ready_file,
        spec.listen.port(),
        start_ms,
        compiled_ms,
        loaded.cached,
        spec.instances,
    )?;
    events.ready(&spec.listen.to_string(), spec.instances, start_ms, loaded.cached);
    eprintln!(
        "lean-wasm-host: serving {} on {} with {} warm instances ({start_ms} ms; compile cache {}, {})",
        spec.component.display(),
        spec.listen,
        pool.idle_count(),
        if loaded.cached { "hit" } else { "miss" },
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
