//! Embeds the composed node (`target/compose/node.wasm`) and the built-in batch transforms,
//! built by `cargo xtask build`.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let node = manifest.join("../target/compose/node.wasm");
    println!("cargo:rerun-if-changed={}", node.display());
    if !node.exists() {
        panic!("{} is missing: build with `cargo xtask build`, which composes the node first", node.display());
    }
    println!("cargo:rustc-env=TESSERA_NODE_WASM={}", node.display());
    // The built-in batch transforms, run by the `transforms` import.
    for (variable, file) in [("TESSERA_TO_MARKDOWN_WASM", "to_markdown.wasm"), ("TESSERA_GUARDRAIL_WASM", "guardrail.wasm")] {
        let path = manifest.join("../target/wasm32-wasip2/release").join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        if !path.exists() {
            panic!("{} is missing: build with `cargo xtask build`", path.display());
        }
        println!("cargo:rustc-env={variable}={}", path.display());
    }
}
