//! `tessera erasure-bench` (run by `cargo xtask bench erasure`) and the checks that every
//! erasure engine agrees bit for bit.
//!
//! Four paths, all timed on the same blocks:
//! - `native`: the codec called directly in this process;
//! - `host-import`: the bench driver component calling the host's `erasure` import through WIT;
//! - `wasm-simd128` / `wasm-scalar`: the driver composed with an `erasure-simd128` variant, so
//!   the engine runs inside Wasm (the pure-Wasm node's path).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use crate::drive::DriveSet;
use crate::runtime::{self, State, anyhow_error};

#[cfg(test)]
mod engine_bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "tessera:node/erasure-engine",
        exports: { default: async },
    });
}

mod driver_bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "tessera:node/erasure-bench-driver",
        imports: { default: async | trappable },
        exports: { default: async },
        with: { "tessera:node/erasure": crate::bindings::erasure },
    });
}

use driver_bindings::exports::tessera::node::erasure_bench::Operation;

/// Layouts the bench measures (data + parity). `4+0` codes nothing: it measures what moving a
/// block across each path's boundary costs on its own.
const LAYOUTS: [(u32, u32); 4] = [(4, 2), (8, 4), (12, 4), (4, 0)];
/// Object bytes per block, as the object layer writes them.
const BLOCK_BYTES: u32 = 1 << 20;
/// Samples per figure; the median is reported.
const SAMPLES: usize = 7;

#[derive(clap::Args)]
pub struct ErasureBenchArgs {
    /// Where the composed components are (target/compose).
    #[arg(long, default_value = "target/compose")]
    components: PathBuf,
    /// Write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Blocks per sample.
    #[arg(long, default_value_t = 64)]
    iterations: u32,
}

/// An erasure engine exported by a component (`erasure-simd128` in either variant); the tests
/// call it directly.
#[cfg(test)]
pub struct WasmEngine {
    store: Store<State>,
    engine: engine_bindings::ErasureEngine,
}

#[cfg(test)]
impl WasmEngine {
    pub async fn load(path: &Path) -> Result<Self> {
        let wasm_engine = runtime::new_engine()?;
        let component =
            Component::from_file(&wasm_engine, path).map_err(anyhow_error).with_context(|| format!("loading {}", path.display()))?;
        let linker = runtime::host_linker(&wasm_engine)?;
        let mut store = runtime::new_store(&wasm_engine, &DriveSet::none(), &[]);
        let engine = engine_bindings::ErasureEngine::instantiate_async(&mut store, &component, &linker).await.map_err(anyhow_error)?;
        Ok(Self { store, engine })
    }

    pub async fn name(&mut self) -> Result<String> {
        self.engine.tessera_node_erasure().call_engine(&mut self.store).await.map_err(anyhow_error)
    }

    pub async fn encode(&mut self, data: u32, parity: u32, block: &[u8]) -> Result<Result<Vec<Vec<u8>>, String>> {
        let result = self.engine.tessera_node_erasure().call_encode(&mut self.store, data, parity, block).await.map_err(anyhow_error)?;
        Ok(result.map_err(|error| format!("{error:?}")))
    }

    pub async fn reconstruct(
        &mut self,
        data: u32,
        parity: u32,
        shard_bytes: u32,
        shards: &[Option<Vec<u8>>],
    ) -> Result<Result<Vec<Vec<u8>>, String>> {
        let result = self
            .engine
            .tessera_node_erasure()
            .call_reconstruct(&mut self.store, data, parity, shard_bytes, shards)
            .await
            .map_err(anyhow_error)?;
        Ok(result.map_err(|error| format!("{error:?}")))
    }
}

/// The bench driver, linked to the host import or composed with a Wasm engine.
struct Driver {
    store: Store<State>,
    driver: driver_bindings::ErasureBenchDriver,
}

impl Driver {
    async fn load(path: &Path) -> Result<Self> {
        let engine = runtime::new_engine()?;
        let component = Component::from_file(&engine, path).map_err(anyhow_error).with_context(|| format!("loading {}", path.display()))?;
        let linker: Linker<State> = runtime::host_linker(&engine)?;
        let mut store = runtime::new_store(&engine, &DriveSet::none(), &[]);
        let driver = driver_bindings::ErasureBenchDriver::instantiate_async(&mut store, &component, &linker).await.map_err(anyhow_error)?;
        Ok(Self { store, driver })
    }

    async fn nanos(&mut self, operation: Operation, data: u32, parity: u32, iterations: u32) -> Result<u64> {
        let result = self
            .driver
            .tessera_node_erasure_bench()
            .call_run(&mut self.store, operation, data, parity, BLOCK_BYTES, iterations)
            .await
            .map_err(anyhow_error)?;
        result.map_err(|error| anyhow::anyhow!("driver: {error}"))
    }
}

/// One measured figure.
struct Figure {
    layout: String,
    operation: &'static str,
    path: &'static str,
    gib_per_s: f64,
}

fn gib_per_s(iterations: u32, nanos: u64) -> f64 {
    (f64::from(BLOCK_BYTES) * f64::from(iterations)) / (nanos.max(1) as f64 / 1e9) / (1u64 << 30) as f64
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The native path, timed like the driver times itself.
fn native_nanos(operation: Operation, data: u32, parity: u32, iterations: u32) -> Result<u64> {
    use simd_kernels::shards;
    let block: Vec<u8> = (0..BLOCK_BYTES).map(|index| (index.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let encode = |block: &[u8]| crate::erasure::encode(data, parity, block).map_err(|error| anyhow::anyhow!("{error:?}"));
    match operation {
        Operation::Encode => {
            let started = Instant::now();
            for _ in 0..iterations {
                encode(&block)?;
            }
            Ok(started.elapsed().as_nanos() as u64)
        }
        Operation::Reconstruct => {
            let shard_bytes = shards::shard_bytes(block.len(), data as usize);
            let lost = parity.min(data) as usize;
            let shards: Vec<Option<Vec<u8>>> = (0..data as usize)
                .map(|index| (index >= lost).then(|| shards::data_shard(&block, index, shard_bytes)))
                .chain(encode(&block)?.into_iter().map(Some))
                .collect();
            let started = Instant::now();
            for _ in 0..iterations {
                crate::erasure::reconstruct(data, parity, shard_bytes as u32, shards.clone())
                    .map_err(|error| anyhow::anyhow!("{error:?}"))?;
            }
            Ok(started.elapsed().as_nanos() as u64)
        }
    }
}

pub async fn run(args: ErasureBenchArgs) -> Result<()> {
    let paths = [
        ("host-import", "erasure-bench-host.wasm"),
        ("wasm-simd128", "erasure-bench-simd128.wasm"),
        ("wasm-scalar", "erasure-bench-scalar.wasm"),
    ];
    let mut drivers = Vec::new();
    for (path, file) in paths {
        let location = args.components.join(file);
        if !location.exists() {
            bail!("{} is missing: run `cargo xtask bench erasure`", location.display());
        }
        drivers.push((path, Driver::load(&location).await?));
    }
    let mut figures = Vec::new();
    let total = (LAYOUTS.len() * 2 - 1) * (paths.len() + 1);
    for (data, parity) in LAYOUTS {
        for (operation, name) in [(Operation::Encode, "encode"), (Operation::Reconstruct, "reconstruct")] {
            if parity == 0 && operation == Operation::Reconstruct {
                continue;
            }
            let layout = format!("{data}+{parity}");
            let mut samples = Vec::new();
            for _ in 0..SAMPLES {
                samples.push(gib_per_s(args.iterations, native_nanos(operation, data, parity, args.iterations)?));
            }
            figures.push(Figure { layout: layout.clone(), operation: name, path: "native", gib_per_s: median(samples) });
            eprint!("\r{}/{total} measured", figures.len());
            for (path, driver) in &mut drivers {
                let mut samples = Vec::new();
                // The first call of a fresh instance builds the engine's tables: not timed.
                driver.nanos(operation, data, parity, 1).await?;
                for _ in 0..SAMPLES {
                    samples.push(gib_per_s(args.iterations, driver.nanos(operation, data, parity, args.iterations).await?));
                }
                figures.push(Figure { layout: layout.clone(), operation: name, path, gib_per_s: median(samples) });
                eprint!("\r{}/{total} measured", figures.len());
            }
        }
    }
    eprintln!();
    print_table(&figures);
    if let Some(json) = &args.json {
        if let Some(parent) = json.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let rows: Vec<String> = figures
            .iter()
            .map(|figure| {
                format!(
                    "  {{\"layout\": \"{}\", \"op\": \"{}\", \"path\": \"{}\", \"gib_per_s\": {:.4}}}",
                    figure.layout, figure.operation, figure.path, figure.gib_per_s
                )
            })
            .collect();
        std::fs::write(json, format!("[\n{}\n]\n", rows.join(",\n"))).with_context(|| format!("writing {}", json.display()))?;
        eprintln!("wrote {}", json.display());
    }
    Ok(())
}

fn print_table(figures: &[Figure]) {
    let find = |layout: &str, operation: &str, path: &str| {
        figures.iter().find(|f| f.layout == layout && f.operation == operation && f.path == path).map_or(0.0, |f| f.gib_per_s)
    };
    println!("erasure coding, 1 MiB blocks, median of {SAMPLES} samples, GiB/s of object data (engine: {})", crate::erasure::engine_name());
    println!(
        "{:<6} {:<12} {:>8} {:>12} {:>13} {:>12}   {:>15} {:>15} {:>14}",
        "layout", "op", "native", "host-import", "wasm-simd128", "wasm-scalar", "import/native", "simd128/native", "simd128/scalar"
    );
    for (data, parity) in LAYOUTS {
        let layout = format!("{data}+{parity}");
        for operation in ["encode", "reconstruct"] {
            if parity == 0 && operation == "reconstruct" {
                continue;
            }
            let native = find(&layout, operation, "native");
            let import = find(&layout, operation, "host-import");
            let simd = find(&layout, operation, "wasm-simd128");
            let scalar = find(&layout, operation, "wasm-scalar");
            println!(
                "{:<6} {:<12} {:>8.2} {:>12.2} {:>13.2} {:>12.2}   {:>15.2} {:>15.2} {:>14.2}",
                layout,
                operation,
                native,
                import,
                simd,
                scalar,
                import / native,
                simd / native,
                simd / scalar
            );
        }
    }
}

#[cfg(test)]
mod tests {
    //! Bit-identical: the native engine and both Wasm engines (in wasmtime) produce the same
    //! parity, and each rebuilds what any other wrote.
    use super::*;

    fn compose_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/compose")
    }

    fn random_block(length: usize, seed: u64) -> Vec<u8> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..length)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn every_engine_writes_the_same_shards_and_reads_any_others() {
        let mut engines = Vec::new();
        for file in ["erasure-simd128.wasm", "erasure-scalar.wasm"] {
            let path = compose_dir().join(file);
            assert!(path.exists(), "{} is missing: run the tests with `cargo xtask test`", path.display());
            let mut engine = WasmEngine::load(&path).await.unwrap();
            let name = engine.name().await.unwrap();
            engines.push((name, engine));
        }
        assert_eq!(engines.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(), ["simd128", "scalar"]);
        let mut seed = 1u64;
        let layouts: Vec<(u32, u32)> =
            (1..=16).map(|count| (count, count)).chain([(4, 2), (8, 4), (12, 4), (3, 1), (5, 3), (16, 1)]).collect();
        for (data, parity) in layouts {
            for length in [1usize, 2, 3, 63, 64, 65, 1000, 4097, 65_536 + 5, 1 << 20] {
                seed += 1;
                let block = random_block(length, seed);
                let native = crate::erasure::encode(data, parity, &block).unwrap();
                for (name, engine) in &mut engines {
                    let wasm = engine.encode(data, parity, &block).await.unwrap().unwrap();
                    assert!(wasm == native, "{name} parity differs from native for {data}+{parity}, {length} bytes");
                }
                // Lose `parity` shards (a different window each time); every engine rebuilds
                // the shards the native engine wrote.
                let shard_bytes = simd_kernels::shards::shard_bytes(length, data as usize);
                let all: Vec<Vec<u8>> = (0..data as usize)
                    .map(|index| simd_kernels::shards::data_shard(&block, index, shard_bytes))
                    .chain(native.iter().cloned())
                    .collect();
                let first_lost = (seed as usize) % all.len();
                let lost: Vec<usize> = (0..parity as usize).map(|k| (first_lost + k) % all.len()).collect();
                let given: Vec<Option<Vec<u8>>> = all.iter().enumerate().map(|(i, s)| (!lost.contains(&i)).then(|| s.clone())).collect();
                let mut expected: Vec<usize> = lost.clone();
                expected.sort_unstable();
                let expected: Vec<Vec<u8>> = expected.iter().map(|index| all[*index].clone()).collect();
                assert_eq!(crate::erasure::reconstruct(data, parity, shard_bytes as u32, given.clone()).unwrap(), expected);
                for (name, engine) in &mut engines {
                    let rebuilt = engine.reconstruct(data, parity, shard_bytes as u32, &given).await.unwrap().unwrap();
                    assert!(rebuilt == expected, "{name} rebuilt wrong shards for {data}+{parity}, {length} bytes, lost {lost:?}");
                }
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn wasm_engines_refuse_bad_input_like_the_host() {
        for file in ["erasure-simd128.wasm", "erasure-scalar.wasm"] {
            let mut engine = WasmEngine::load(&compose_dir().join(file)).await.unwrap();
            assert!(engine.encode(0, 2, b"abc").await.unwrap().is_err());
            assert!(engine.encode(2, 2, b"").await.unwrap().is_err());
            assert!(engine.reconstruct(2, 2, 4, &[None, None, None, Some(vec![0; 4])]).await.unwrap().is_err());
            assert!(engine.reconstruct(2, 2, 3, &[Some(vec![0; 3]), Some(vec![0; 3]), None, None]).await.unwrap().is_err());
        }
    }
}
