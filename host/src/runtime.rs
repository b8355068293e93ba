//! The wasmtime side: one engine with a pooling allocator, the composed node compiled once and
//! pre-instantiated, and a fresh store and instance for every request.

use anyhow::{Context, Result};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, PoolingAllocationConfig, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::NodeExportsPre;
use crate::drive::DriveSet;
use crate::locks::LockTable;

/// The composed node (gateway + object layer), built by `cargo xtask build`.
static NODE_WASM: &[u8] = include_bytes!(env!("TESSERA_NODE_WASM"));

/// Requests served at once; each holds one instance from the pool.
pub const MAX_CONCURRENT_REQUESTS: u32 = 128;
/// Instances kept for the schedulers beside the requests' (maintenance, replication and batch
/// each run one call at a time).
const MAINTENANCE_INSTANCES: u32 = 4;
/// Linear memory one instance may grow to. A request streams in 1 MiB blocks, so a few MiB
/// per component suffice; the limit turns a runaway guest into an error, not an OOM.
const MAX_MEMORY_BYTES: usize = 256 << 20;
/// Bytes of each linear memory the pool resets with memset instead of madvise on reuse.
const LINEAR_MEMORY_KEEP_RESIDENT_BYTES: usize = 0;

/// What every request's store holds.
pub struct State {
    pub table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    limits: StoreLimits,
    pub drives: DriveSet,
    pub locks: LockTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: Default::default() }
    }
}

pub struct NodeConfig {
    pub drives: DriveSet,
    /// Environment of every instance: credentials, parity, domains.
    pub env: Vec<(String, String)>,
    /// A composition to serve instead of the embedded node (same world, recomposed with wac).
    pub component: Option<std::path::PathBuf>,
}

/// The loaded node: ready to serve requests and run maintenance.
pub struct Node {
    pre: ProxyPre<State>,
    exports: NodeExportsPre<State>,
    config: NodeConfig,
    locks: LockTable,
}

impl Node {
    pub fn load(config: NodeConfig) -> Result<Self> {
        let engine = new_engine()?;
        let started = std::time::Instant::now();
        let bytes = match &config.component {
            Some(path) => std::borrow::Cow::Owned(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?),
            None => std::borrow::Cow::Borrowed(NODE_WASM),
        };
        let component = Component::new(&engine, &bytes).map_err(anyhow_error)?;
        tracing::info!(bytes = bytes.len(), elapsed_ms = started.elapsed().as_millis() as u64, "node component compiled");
        let linker = host_linker(&engine)?;
        let instance_pre = linker.instantiate_pre(&component).map_err(anyhow_error)?;
        let pre = ProxyPre::new(instance_pre.clone()).map_err(anyhow_error)?;
        let exports = NodeExportsPre::new(instance_pre).map_err(anyhow_error)?;
        Ok(Self { pre, exports, config, locks: LockTable::default() })
    }

    pub fn pre(&self) -> &ProxyPre<State> {
        &self.pre
    }

    pub fn drives(&self) -> &DriveSet {
        &self.config.drives
    }

    /// A fresh store for one request.
    pub fn new_store(&self) -> Store<State> {
        let mut store = new_store(self.pre.engine(), &self.config.drives, &self.config.env);
        store.data_mut().locks = self.locks.clone();
        store
    }

    /// A fresh instance of the node, for calling its `maintenance` export.
    pub async fn maintenance_instance(&self) -> Result<(Store<State>, crate::bindings::NodeExports)> {
        let mut store = self.new_store();
        let exports = self.exports.instantiate_async(&mut store).await.map_err(anyhow_error)?;
        Ok((store, exports))
    }
}

/// The engine every component of this host runs on.
pub fn new_engine() -> Result<Engine> {
    Engine::new(&engine_config()).map_err(anyhow_error)
}

/// A linker with everything the host gives components: WASI 0.2, wasi:http, drives, erasure.
pub fn host_linker(engine: &Engine) -> Result<Linker<State>> {
    let mut linker: Linker<State> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow_error)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(anyhow_error)?;
    crate::drive::add_to_linker(&mut linker).map_err(anyhow_error)?;
    crate::erasure::add_to_linker(&mut linker).map_err(anyhow_error)?;
    crate::locks::add_to_linker(&mut linker).map_err(anyhow_error)?;
    crate::transform::add_to_linker(&mut linker).map_err(anyhow_error)?;
    Ok(linker)
}

/// A store over `drives` whose instances see `env`.
pub fn new_store(engine: &Engine, drives: &DriveSet, env: &[(String, String)]) -> Store<State> {
    let mut wasi = WasiCtx::builder();
    wasi.inherit_stdout().stderr(crate::guest_log::GuestLog);
    for (name, value) in env {
        wasi.env(name, value);
    }
    let state = State {
        table: ResourceTable::new(),
        wasi: wasi.build(),
        http: WasiHttpCtx::new(),
        limits: StoreLimitsBuilder::new().memory_size(MAX_MEMORY_BYTES).build(),
        drives: drives.clone(),
        locks: LockTable::default(),
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limits);
    store
}

fn engine_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true).wasm_simd(true).cranelift_opt_level(wasmtime::OptLevel::Speed);
    let instances = MAX_CONCURRENT_REQUESTS + MAINTENANCE_INSTANCES;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(instances)
        .total_stacks(instances)
        // A composed node holds several core instances and memories (one per component: the
        // node has four).
        .total_core_instances(instances * 32)
        // Four for the node, five for guarded.wasm (`--node`), and room beyond.
        .total_memories(instances * 6)
        .total_tables(instances * 16)
        .max_core_instances_per_component(32)
        .max_memories_per_component(8)
        .max_tables_per_component(16)
        .max_memory_size(MAX_MEMORY_BYTES)
        .linear_memory_keep_resident(LINEAR_MEMORY_KEEP_RESIDENT_BYTES)
        .max_unused_warm_slots(instances / 4);
    config.allocation_strategy(pool);
    // `TESSERA_PROFILE=perfmap` names Wasm functions for `perf` (for benches, not production).
    if std::env::var("TESSERA_PROFILE").is_ok_and(|value| value == "perfmap") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}

/// wasmtime 48 has its own error type; the host speaks anyhow.
pub fn anyhow_error(error: wasmtime::Error) -> anyhow::Error {
    anyhow::Error::from_boxed(error.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import_names(path: &str) -> Vec<String> {
        // Only the types are looked at: an engine without the pool's per-instance limits, which
        // are the native node's, not the standalone composition's.
        let engine = Engine::new(Config::new().wasm_component_model(true)).unwrap();
        let wasm = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        let component = Component::from_file(&engine, &wasm).map_err(anyhow_error).unwrap();
        component.component_type().imports(&engine).map(|(name, _)| name.to_owned()).collect()
    }

    #[test]
    fn the_standalone_node_imports_only_wasi() {
        let imports = import_names("../target/compose/standalone.wasm");
        assert!(!imports.is_empty());
        for name in &imports {
            assert!(name.starts_with("wasi:"), "standalone.wasm imports {name}");
        }
    }

    #[test]
    fn the_node_imports_wasi_drives_erasure_and_locks_only() {
        let imports = import_names("../target/compose/node.wasm");
        for tessera in ["tessera:node/drive@0.1.0", "tessera:node/erasure@0.1.0", "tessera:node/locks@0.1.0"] {
            assert!(imports.iter().any(|name| name == tessera), "node.wasm must import {tessera}: {imports:?}");
        }
        for name in &imports {
            assert!(name.starts_with("wasi:") || name.starts_with("tessera:node/"), "node.wasm imports {name}");
        }
    }
}
