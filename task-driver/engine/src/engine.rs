//! The wasmtime engine: Cranelift, the pooling allocator with copy-on-write
//! memory images sized from the spec, and epoch interruption driven by a
//! ticker thread.

use crate::error::HostError;
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of the request timeout.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Per component, what a componentize-js (StarlingMonkey) component needs
/// with room to spare: 4 core module instances, 1 memory, 2 tables.
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
const MEMORIES_PER_COMPONENT: u32 = 2;
const TABLES_PER_COMPONENT: u32 = 8;
const TABLE_ELEMENTS: usize = 20_000;

/// Engine settings that come from the spec.
#[derive(Debug, Clone, Copy)]
pub struct EngineLimits {
    /// Live instances at most (warm ones plus one being made per slot).
    pub instances: u32,
    /// Linear memory per memory, bytes.
    pub instance_memory_bytes: u64,
}

/// `bytes` rounded up to whole 64 KiB wasm pages.
fn whole_pages(bytes: u64) -> u64 {
    const PAGE: u64 = 64 * 1024;
    bytes.div_ceil(PAGE) * PAGE
}

fn pooling(limits: EngineLimits) -> PoolingAllocationConfig {
    // One slot per instance; an instance is dropped before its successor is
    // made, so this bounds every pool.
    let slots = limits.instances;
    let memory = whole_pages(limits.instance_memory_bytes);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .total_core_instances(slots * CORE_INSTANCES_PER_COMPONENT)
        .total_memories(slots * MEMORIES_PER_COMPONENT)
        .total_tables(slots * TABLES_PER_COMPONENT)
        // A fiber stack per call in flight, and one per instantiation.
        .total_stacks(slots + 1)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .table_elements(TABLE_ELEMENTS)
        .max_memory_size(usize::try_from(memory).unwrap_or(usize::MAX));
    pool
}

/// The engine's `Config`. Anything here changes the compile-cache key.
pub fn config(limits: EngineLimits) -> Config {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .parallel_compilation(true)
        .memory_init_cow(true)
        // A componentize-js snapshot's heap is sparse (runs of zero pages), and
        // wasmtime's heuristic then gives up the copy-on-write image and copies
        // the whole initial heap into every instance. Up to the instance memory
        // limit the image is always made, as wasmtime advises embedders that
        // bound their heaps: instances share its pages until they write them.
        .memory_guaranteed_dense_image_size(whole_pages(limits.instance_memory_bytes))
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling(limits)));
    config
}

pub fn build(limits: EngineLimits) -> Result<Engine, HostError> {
    Engine::new(&config(limits))
        .map_err(|err| HostError::config(format!("cannot create the wasmtime engine: {err:#}")))
}

/// Advances the engine's epoch every `EPOCH_TICK` for as long as the process lives.
pub fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch ticker thread");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_an_engine_for_the_largest_pool() {
        let limits = EngineLimits { instances: crate::spec::MAX_INSTANCES, instance_memory_bytes: 128 << 20 };
        build(limits).unwrap();
    }

    #[test]
    fn memory_limit_is_rounded_up_to_whole_pages() {
        assert_eq!(whole_pages(100_000), 131_072);
        assert_eq!(whole_pages(131_072), 131_072);
    }
}
