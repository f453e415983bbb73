//! What each instance's store holds: its WASI and wasi:http contexts, the
//! egress hooks, its memory cap, and its request deadline. Also the linker,
//! and the per-store settings (limiter, epoch callback).

use crate::egress::{EgressHooks, EgressPolicy};
use crate::outbound::Outbound;
use std::sync::Arc;
use std::time::Instant;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, ResourceLimiter, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::body::{HostOutgoingBody, StreamContext};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Everything a new instance is given, shared by all of them.
pub struct GuestSetup {
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    pub egress: Arc<EgressPolicy>,
    pub outbound: Option<Arc<Outbound>>,
    pub memory_bytes: u64,
}

/// The error a guest traps with when it would outgrow its memory cap.
#[derive(Debug)]
pub struct MemoryLimitExceeded {
    pub desired: usize,
    pub limit: usize,
}

impl std::fmt::Display for MemoryLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "linear memory would grow to {} bytes, over the {} byte limit", self.desired, self.limit)
    }
}

impl std::error::Error for MemoryLimitExceeded {}

/// Whether `err` came from the memory cap (anywhere in its chain).
pub fn is_memory_limit(err: &wasmtime::Error) -> bool {
    err.chain().any(|cause| cause.is::<MemoryLimitExceeded>())
}

/// Refuses linear memory growth past the cap, and remembers that it did;
/// counts how far the instance's memories grew past their initial size.
pub struct MemoryCap {
    max_bytes: usize,
    pub exceeded: bool,
    /// Bytes added by `memory.grow` since instantiation, over all memories.
    pub grown: usize,
}

impl MemoryCap {
    pub fn new(max_bytes: u64) -> Self {
        MemoryCap { max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX), exceeded: false, grown: 0 }
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
            // An error, not `Ok(false)`: the guest traps rather than limping on
            // with a failed allocation, and its instance is replaced.
            return Err(MemoryLimitExceeded { desired, limit: self.max_bytes }.into());
        }
        // A memory is made with `current` 0: its initial size is not growth.
        if current > 0 {
            self.grown += desired.saturating_sub(current);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Bounded by the pooling allocator's table size.
        Ok(true)
    }
}

pub struct GuestState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: EgressHooks,
    pub memory: MemoryCap,
    /// When the current request must be done; `None` between requests.
    pub deadline: Option<Instant>,
    /// Set when the epoch callback stopped the guest for its deadline.
    pub timed_out: bool,
}

impl GuestState {
    /// Ends each outgoing body the guest did not finish (its response's, and
    /// those of requests it was sending) with an error. Called before a failed
    /// instance's store is dropped: a body dropped with the store ends as if
    /// finished, and a client would take a cut-off response for a whole one.
    pub fn abort_unfinished_bodies(&mut self) {
        abort_unfinished_bodies(&mut self.table);
    }
}

fn abort_unfinished_bodies(table: &mut ResourceTable) {
    for entry in table.iter_mut() {
        if let Some(body) = entry.downcast_mut::<HostOutgoingBody>() {
            // `abort` takes the body by value: an inert one takes its place.
            let (inert, _) = HostOutgoingBody::new(StreamContext::Response, None, 1, 1);
            std::mem::replace(body, inert).abort();
        }
    }
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for GuestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// The imports a wasi:http proxy component built by componentize-js needs:
/// all of wasi:cli 0.2 (environment, stdio, clocks, random, filesystem, with
/// no preopens and no sockets allowed) plus wasi:http; and the platform's
/// fonts (`lean:text/fonts`, see text.rs), for components that lay out text.
pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<GuestState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    crate::text::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// A store for one instance. Guest stdout/stderr go to the process's own.
pub fn new_store(engine: &Engine, setup: &GuestSetup) -> Store<GuestState> {
    let wasi = WasiCtx::builder()
        .inherit_stdout()
        .inherit_stderr()
        .envs(&setup.env)
        .args(&setup.args)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let state = GuestState {
        wasi,
        http: WasiHttpCtx::new(),
        table: ResourceTable::new(),
        hooks: EgressHooks::new(setup.egress.clone(), setup.outbound.clone()),
        memory: MemoryCap::new(setup.memory_bytes),
        deadline: None,
        timed_out: false,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.memory);
    // Every tick the guest runs, look at the clock: past the deadline it
    // traps; before it, it yields so other requests on this thread move on.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut ctx| {
        let state = ctx.data_mut();
        match state.deadline {
            Some(deadline) if Instant::now() >= deadline => {
                state.timed_out = true;
                wasmtime::bail!("the request ran past its deadline")
            }
            _ => Ok(UpdateDeadline::Yield(1)),
        }
    });
    store
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

    /// A table holding an outgoing body with `written` already written to its
    /// stream, as a guest leaves it mid-body; and the body hyper sends.
    fn body_mid_write(written: &'static [u8]) -> (ResourceTable, HyperOutgoingBody) {
        let mut table = ResourceTable::new();
        let (mut body, sent) = HostOutgoingBody::new(StreamContext::Response, None, 1, 1024);
        let mut stream = body.take_output_stream().unwrap();
        stream.write(Bytes::from_static(written)).unwrap();
        let body = table.push(body).unwrap();
        table.push_child(stream, &body).unwrap();
        (table, sent)
    }

    #[tokio::test]
    async fn an_unfinished_body_dropped_with_its_store_ends_in_an_error_only_once_aborted() {
        // Dropped as it is, it looks finished: the failure this guards against.
        let (table, mut sent) = body_mid_write(b"partial");
        drop(table);
        assert_eq!(sent.frame().await.unwrap().unwrap().into_data().unwrap(), "partial");
        assert!(sent.frame().await.is_none(), "ends as if whole");

        let (mut table, mut sent) = body_mid_write(b"partial");
        abort_unfinished_bodies(&mut table);
        drop(table);
        assert_eq!(sent.frame().await.unwrap().unwrap().into_data().unwrap(), "partial");
        assert!(matches!(sent.frame().await, Some(Err(_))), "ends in an error");
    }

    #[test]
    fn memory_cap_refuses_growth_past_the_limit_and_remembers() {
        let mut cap = MemoryCap::new(1 << 20);
        assert!(cap.memory_growing(0, 1 << 20, None).unwrap());
        assert!(!cap.exceeded);
        let err = cap.memory_growing(1 << 20, (1 << 20) + 65536, None).unwrap_err();
        assert!(cap.exceeded);
        assert!(is_memory_limit(&err));
        assert!(!is_memory_limit(&wasmtime::format_err!("something else")));
    }

    #[test]
    fn memory_cap_counts_growth_but_not_the_initial_size() {
        let mut cap = MemoryCap::new(1 << 30);
        cap.memory_growing(0, 8 << 20, None).unwrap();
        assert_eq!(cap.grown, 0);
        cap.memory_growing(8 << 20, 9 << 20, None).unwrap();
        cap.memory_growing(9 << 20, 11 << 20, None).unwrap();
        assert_eq!(cap.grown, 3 << 20);
    }
}
