//! Up to `instances` warm instances of the one component. A request leases
//! one (waiting, up to its deadline, while all are busy), and gives it back
//! when done: a healthy instance serves again until `max_reuse`, one that
//! trapped, timed out or outgrew its memory is dropped and a fresh one is
//! made in its slot. An instance whose memory grew more than `recycle_grown`
//! past its initial size is swapped for a fresh copy-on-write one after its
//! request, like one that reached `max_reuse`: a guest whose heap only ever
//! grows (a JavaScript engine's does: a collected heap is not given back to
//! the host) is held to its initial image plus that much. The other instances are never touched, except that an
//! instance which served requests and then idled past `recycle_idle` is
//! swapped for a fresh one, so a task that had a busy hour goes back to the
//! memory of a warm, never-used pool (copy-on-write pages nobody wrote).

use crate::events::{Events, ReplaceReason};
use crate::guest::{GuestSetup, GuestState, new_store};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};

pub struct Warm {
    pub store: Store<GuestState>,
    pub proxy: Proxy,
    served: u64,
    id: u64,
    last_used: Instant,
}

/// A leased instance; holding it holds one of the pool's slots.
pub struct Lease {
    pub warm: Warm,
    permit: OwnedSemaphorePermit,
}

/// How a request left its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Healthy,
    Replace(ReplaceReason),
}

#[derive(Debug)]
pub enum AcquireError {
    /// Every instance stayed busy until the deadline.
    Busy,
    /// A fresh instance could not be made.
    Instantiate(wasmtime::Error),
}

pub struct Pool {
    pre: ProxyPre<GuestState>,
    setup: GuestSetup,
    slots: Arc<Semaphore>,
    size: u32,
    idle: Mutex<Vec<Warm>>,
    max_reuse: u64,
    recycle_grown: usize,
    next_id: AtomicU64,
    replaced: AtomicU64,
    events: Arc<Events>,
}

impl Pool {
    pub fn new(
        pre: ProxyPre<GuestState>,
        setup: GuestSetup,
        size: u32,
        max_reuse: u64,
        recycle_grown: usize,
        events: Arc<Events>,
    ) -> Arc<Pool> {
        Arc::new(Pool {
            pre,
            setup,
            slots: Arc::new(Semaphore::new(size as usize)),
            size,
            idle: Mutex::new(Vec::with_capacity(size as usize)),
            max_reuse,
            recycle_grown,
            next_id: AtomicU64::new(1),
            replaced: AtomicU64::new(0),
            events,
        })
    }

    /// Makes every instance now, so that "ready" means warm.
    pub async fn warm_up(&self) -> Result<(), wasmtime::Error> {
        for _ in 0..self.size {
            let warm = self.instantiate().await?;
            self.idle_instances().push(warm);
        }
        Ok(())
    }

    pub fn idle_count(&self) -> usize {
        self.idle_instances().len()
    }

    pub fn replaced_count(&self) -> u64 {
        self.replaced.load(Ordering::Relaxed)
    }

    async fn instantiate(&self) -> Result<Warm, wasmtime::Error> {
        let mut store = new_store(self.pre.engine(), &self.setup);
        let proxy = self.pre.instantiate_async(&mut store).await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        Ok(Warm { store, proxy, served: 0, id, last_used: Instant::now() })
    }

    fn idle_instances(&self) -> std::sync::MutexGuard<'_, Vec<Warm>> {
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Leases an instance, waiting for a free slot until `deadline`.
    pub async fn acquire(&self, deadline: Instant) -> Result<Lease, AcquireError> {
        let permit = tokio::time::timeout_at(deadline.into(), self.slots.clone().acquire_owned())
            .await
            .map_err(|_| AcquireError::Busy)?
            .map_err(|_| AcquireError::Busy)?;
        // Most recently used first: its pages are the ones already dirty.
        let idle = self.idle_instances().pop();
        let warm = match idle {
            Some(warm) => warm,
            None => self.instantiate().await.map_err(AcquireError::Instantiate)?,
        };
        Ok(Lease { warm, permit })
    }

    /// Gives an instance back after a request. `detail` describes the request
    /// for the event log when the instance is replaced.
    pub fn release(self: &Arc<Self>, lease: Lease, outcome: Outcome, detail: &str) {
        let Lease { mut warm, permit } = lease;
        warm.served += 1;
        warm.last_used = Instant::now();
        match outcome {
            Outcome::Healthy
                if warm.served < self.max_reuse && warm.store.data().memory.grown <= self.recycle_grown =>
            {
                self.idle_instances().push(warm);
                drop(permit);
            }
            Outcome::Healthy => {
                // Routine recycling: no event.
                drop(warm);
                self.refill(permit);
            }
            Outcome::Replace(reason) => {
                self.replaced.fetch_add(1, Ordering::Relaxed);
                eprintln!("lean-wasm-host: replacing instance {} ({}): {detail}", warm.id, reason.as_str());
                self.events.replaced(reason, detail);
                drop(warm);
                self.refill(permit);
            }
        }
    }

    /// Makes a fresh instance in a freed slot, in the background; the slot
    /// stays taken until it is warm, so the pool never exceeds its size.
    fn refill(self: &Arc<Self>, permit: OwnedSemaphorePermit) {
        let pool = Arc::clone(self);
        tokio::spawn(async move {
            match pool.instantiate().await {
                Ok(warm) => pool.idle_instances().push(warm),
                Err(err) => eprintln!("lean-wasm-host: could not make a replacement instance: {err:#}"),
            }
            drop(permit);
        });
    }

    /// Every `idle / 4`, replaces instances that served requests and have
    /// been idle for `idle` with fresh ones. Runs until the pool is dropped.
    pub fn start_recycling(self: &Arc<Self>, idle: Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval((idle / 4).max(Duration::from_millis(10)));
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(pool) = weak.upgrade() else { return };
                let recycled = pool.recycle_idle(idle).await;
                if recycled > 0 {
                    eprintln!("lean-wasm-host: recycled {recycled} idle instances");
                }
            }
        });
    }

    /// Replaces each instance that served and then idled for `idle`; returns how many.
    async fn recycle_idle(&self, idle: Duration) -> usize {
        let mut recycled = 0;
        loop {
            // Hold a slot while the instance is swapped, so the pool never
            // holds more instances than it has slots; give way to requests.
            let Ok(permit) = self.slots.clone().try_acquire_owned() else { return recycled };
            let stale = {
                let mut idle_list = self.idle_instances();
                let now = Instant::now();
                let found =
                    idle_list.iter().position(|w| w.served > 0 && now.duration_since(w.last_used) >= idle);
                found.map(|at| idle_list.remove(at))
            };
            let Some(stale) = stale else { return recycled };
            drop(stale);
            match self.instantiate().await {
                Ok(fresh) => {
                    // The least recently used end: fresh instances are taken last.
                    self.idle_instances().insert(0, fresh);
                    recycled += 1;
                }
                Err(err) => {
                    eprintln!("lean-wasm-host: could not make a fresh instance while recycling: {err:#}");
                    return recycled;
                }
            }
            drop(permit);
        }
    }

    /// Waits until no instance is leased, or until `deadline`.
    pub async fn drain(&self, deadline: Instant) -> bool {
        let all = self.size;
        tokio::time::timeout_at(deadline.into(), self.slots.acquire_many(all)).await.is_ok()
    }
}
