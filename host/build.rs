//! Embeds the composed node: `target/compose/node.wasm`, built by `cargo xtask build`.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let node = manifest.join("../target/compose/node.wasm");
    println!("cargo:rerun-if-changed={}", node.display());
    if !node.exists() {
        panic!("{} is missing: build with `cargo xtask build`, which composes the node first", node.display());
    }
    println!("cargo:rustc-env=TESSERA_NODE_WASM={}", node.display());
}
