//! The `erasure-simd128` component in its two variants, from one source: Wasm SIMD128 and scalar.
//! Each is its own cargo build, and the SIMD one has its own target directory, because its
//! `+simd128` RUSTFLAGS would otherwise rebuild everything in the main Wasm target directory.

use std::fs;

use anyhow::{Context, Result};

use crate::{cargo, root, run_command};

const PACKAGE: &str = "erasure-simd128";

/// One build of the component: its RUSTFLAGS, where cargo builds it, where it is copied to.
struct Variant {
    rustflags: Option<&'static str>,
    target_dir: &'static str,
    output_path: &'static str,
}

const VARIANTS: [Variant; 2] = [
    Variant {
        rustflags: Some("-C target-feature=+simd128"),
        target_dir: "target/wasm-simd128",
        output_path: "target/compose/erasure-simd128.wasm",
    },
    Variant { rustflags: None, target_dir: "target", output_path: "target/compose/erasure-scalar.wasm" },
];

pub fn build_engines() -> Result<()> {
    VARIANTS.iter().try_for_each(build_variant)
}

fn build_variant(variant: &Variant) -> Result<()> {
    let mut cargo = cargo();
    cargo.args(["build", "--release", "--target", "wasm32-wasip2", "--package", PACKAGE, "--target-dir", variant.target_dir]);
    // Same as the other components: no debug info.
    cargo.env("CARGO_PROFILE_RELEASE_DEBUG", "false").env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    if let Some(rustflags) = variant.rustflags {
        cargo.env("RUSTFLAGS", rustflags);
    }
    run_command(&mut cargo)?;

    let built_path = format!("{}/wasm32-wasip2/release/{}.wasm", variant.target_dir, PACKAGE.replace('-', "_"));
    let output = root().join(variant.output_path);
    fs::create_dir_all(output.parent().expect("output has a parent"))?;
    let bytes = fs::read(root().join(&built_path)).with_context(|| format!("reading {built_path}"))?;
    crate::compose::write_if_changed(&output, &bytes)
}
