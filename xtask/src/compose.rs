//! Composition with wac as a library: `compose/*.wac` + the built components → one component.

use std::fs;

use anyhow::{Context, Result, anyhow};
use indexmap::IndexMap;
use wac_graph::EncodeOptions;
use wac_parser::Document;
use wac_types::BorrowedPackageKey;

use crate::root;

/// Package names used in the .wac files, and the component each stands for.
const PACKAGES: &[(&str, &str)] = &[
    ("tessera:s3-gateway", "target/wasm32-wasip2/release/s3_gateway.wasm"),
    ("tessera:object-layer", "target/wasm32-wasip2/release/object_layer.wasm"),
    ("tessera:replication", "target/wasm32-wasip2/release/replication.wasm"),
    ("tessera:batch", "target/wasm32-wasip2/release/batch.wasm"),
    ("tessera:objects-guard", "target/wasm32-wasip2/release/objects_guard.wasm"),
    ("tessera:transforms-unavailable", "target/wasm32-wasip2/release/transforms_unavailable.wasm"),
    ("tessera:erasure-bench", "target/wasm32-wasip2/release/erasure_bench.wasm"),
    ("tessera:drive-fs", "target/wasm32-wasip2/release/drive_fs.wasm"),
    ("tessera:drive-kv", "target/wasm32-wasip2/release/drive_kv.wasm"),
    ("tessera:kv-fs", "target/wasm32-wasip2/release/kv_fs.wasm"),
    ("tessera:erasure-simd128", "target/compose/erasure-simd128.wasm"),
    ("tessera:erasure-scalar", "target/compose/erasure-scalar.wasm"),
];

pub fn compose_node() -> Result<()> {
    compose("compose/node.wac", "target/compose/node.wasm")
}

/// The node with objects-guard between the gateway and the object layer.
pub fn compose_guarded() -> Result<()> {
    compose("compose/guarded.wac", "target/compose/guarded.wasm")
}

/// The node with drive-fs and erasure-simd128 inside: imports nothing but WASI.
pub fn compose_standalone() -> Result<()> {
    compose("compose/standalone.wac", "target/compose/standalone.wasm")
}

/// The node for Spin (drives in key-value stores), and the same with its stores in files for
/// the stock `wasmtime serve`.
pub fn compose_spin() -> Result<()> {
    compose("compose/spin.wac", "target/compose/spin.wasm")?;
    compose("compose/spin-local.wac", "target/compose/spin-local.wasm")
}

/// The erasure bench driver: alone (over the host's import) and composed with each pure-Wasm
/// engine.
pub fn compose_erasure_benches() -> Result<()> {
    let root = root();
    let driver = fs::read(root.join("target/wasm32-wasip2/release/erasure_bench.wasm")).context("reading the erasure bench driver")?;
    write_if_changed(&root.join("target/compose/erasure-bench-host.wasm"), &driver)?;
    for variant in ["simd128", "scalar"] {
        compose(&format!("compose/erasure-bench-{variant}.wac"), &format!("target/compose/erasure-bench-{variant}.wasm"))?;
    }
    Ok(())
}

fn compose(wac_path: &str, output_path: &str) -> Result<()> {
    let root = root();
    let source = fs::read_to_string(root.join(wac_path)).with_context(|| format!("reading {wac_path}"))?;
    let document = Document::parse(&source).map_err(|error| anyhow!("{wac_path}: {error}"))?;
    let mut packages = IndexMap::new();
    for (name, path) in PACKAGES {
        // Match whole package names: "tessera:erasure-bench" is a prefix of other names.
        if source.contains(&format!("{name} ")) {
            let bytes = fs::read(root.join(path)).with_context(|| format!("reading {path} (for {name})"))?;
            packages.insert(BorrowedPackageKey { name, version: None }, bytes);
        }
    }
    let resolution = document.resolve(packages).map_err(|error| anyhow!("{wac_path}: {error:?}"))?;
    let bytes = resolution
        .encode(EncodeOptions { define_components: true, validate: true, ..Default::default() })
        .map_err(|error| anyhow!("encoding {wac_path}: {error:?}"))?;
    let output = root.join(output_path);
    fs::create_dir_all(output.parent().expect("output has a parent"))?;
    write_if_changed(&output, &bytes)
}

/// Unchanged output keeps its timestamp, so what embeds it (the host) is not rebuilt.
pub fn write_if_changed(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    if fs::read(path).ok().as_deref() != Some(bytes) {
        fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
