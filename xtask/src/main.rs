//! `cargo xtask`: builds the Wasm components, composes them with wac, builds the host, and runs
//! the tests and benches. Every tool it needs is installed on first use and cached.

mod bench_compare;
mod compose;
mod erasure;
mod spin_target;
mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: cargo xtask <build | run [tessera serve args...] | test | fuzz [cases] | spin-check [component.wasm] | bench erasure | bench compare [target...]>";

/// Cases per property of a `cargo xtask fuzz` run, unless given.
const DEFAULT_FUZZ_CASES: u64 = 2_000_000;

/// The stock runtime the standalone node is tested under (same wasmtime as the host).
const WASMTIME_CLI_VERSION: &str = "48.0.8";

/// Components built for wasm32-wasip2, by crate name.
const COMPONENTS: &[&str] = &[
    "s3-gateway",
    "object-layer",
    "replication",
    "batch",
    "transforms-unavailable",
    "drive-fs",
    "drive-kv",
    "kv-fs",
    "to-markdown",
    "guardrail",
    "word-count",
    "objects-guard",
    "erasure-bench",
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else { bail!(USAGE) };
    match command.as_str() {
        "build" => build(),
        "run" => {
            build()?;
            run(&args[1..])
        }
        "test" => {
            build()?;
            test()
        }
        "fuzz" => fuzz(args.get(1).map(String::as_str)),
        // The Spin gate on its own (the build runs it on spin.wasm): the tests also show that it
        // refuses a component Spin could not run.
        "spin-check" => spin_target::check(args.get(1).map_or("target/compose/spin.wasm", String::as_str)),
        "bench" => match args.get(1).map(String::as_str) {
            Some("erasure") => {
                build()?;
                bench_erasure()
            }
            Some("compare") => {
                build()?;
                tools::ensure_cargo_tool("wasmtime", "wasmtime-cli", WASMTIME_CLI_VERSION)?;
                bench_compare::run(&args[2..])
            }
            _ => bail!(USAGE),
        },
        _ => bail!(USAGE),
    }
}

/// The workspace root (the parent of xtask/).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

pub fn step(what: &str) {
    eprintln!("\x1b[1;32m==>\x1b[0m {what}");
}

/// A `cargo` command without the variables cargo set for this xtask process (`CARGO_PKG_*`,
/// `CARGO_MANIFEST_DIR`, …): build scripts that watch them (ring's, for one) would otherwise
/// see them change between a plain `cargo build` and one from xtask, and rebuild every time.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let ours = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CRATE_", "CARGO_BIN_", "CARGO_PRIMARY_PACKAGE"];
        if ours.iter().any(|prefix| name.starts_with(prefix)) {
            command.env_remove(name.as_ref());
        }
    }
    command
}

/// Runs a command in the workspace root, failing with its name when it fails.
pub fn run_command(command: &mut Command) -> Result<()> {
    let description = format!("{command:?}");
    let status = command.current_dir(root()).status().with_context(|| format!("starting {description}"))?;
    if !status.success() {
        bail!("{description} failed with {status}");
    }
    Ok(())
}

fn build() -> Result<()> {
    tools::ensure_wasm_target()?;
    step("building Wasm components (wasm32-wasip2, release)");
    let mut components = cargo();
    components.args(["build", "--release", "--target", "wasm32-wasip2"]);
    for component in COMPONENTS {
        components.args(["--package", component]);
    }
    // Components ship without debug info: smaller to embed and to compile at startup.
    components.env("CARGO_PROFILE_RELEASE_DEBUG", "false").env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    run_command(&mut components)?;
    step("building the erasure-simd128 component: SIMD128 and scalar variants, into target/compose/");
    erasure::build_engines()?;
    step("composing target/compose/node.wasm from compose/node.wac");
    compose::compose_node()?;
    step("composing target/compose/guarded.wasm from compose/guarded.wac");
    compose::compose_guarded()?;
    step("composing target/compose/standalone.wasm from compose/standalone.wac");
    compose::compose_standalone()?;
    step("composing target/compose/spin.wasm (and spin-local.wasm) from compose/spin*.wac");
    compose::compose_spin()?;
    step("checking target/compose/spin.wasm against Spin 3.6's platform world (compose/spin-wit)");
    spin_target::check("target/compose/spin.wasm")?;
    compose::compose_erasure_benches()?;
    step("building the host (target/release/tessera)");
    run_command(cargo().args(["build", "--release", "--package", "tessera"]))?;
    Ok(())
}

fn run(serve_args: &[String]) -> Result<()> {
    step("starting tessera serve (Ctrl-C to stop)");
    let binary = root().join("target/release/tessera");
    let mut command = Command::new(binary);
    command.arg("serve").args(serve_args);
    run_command(&mut command)
}

/// Erasure engines side by side; figures in target/bench/erasure.json.
fn bench_erasure() -> Result<()> {
    step("benchmarking erasure engines: native, host import, Wasm SIMD128, Wasm scalar");
    run_command(Command::new(root().join("target/release/tessera")).args([
        "erasure-bench",
        "--components",
        "target/compose",
        "--json",
        "target/bench/erasure.json",
    ]))
}

/// The metadata decoder's properties (never panic; decode what was encoded) for many more
/// cases than `cargo xtask test` runs.
fn fuzz(cases: Option<&str>) -> Result<()> {
    let cases: u64 = match cases {
        Some(text) => text.parse().with_context(|| format!("{text} is not a number of cases"))?,
        None => DEFAULT_FUZZ_CASES,
    };
    step(&format!("fuzzing the metadata decoder: {cases} cases per property"));
    run_command(
        cargo()
            .args(["test", "--release", "--lib", "--package", "object-layer", "meta::tests", "--", "--nocapture"])
            .env("TESSERA_FUZZ_CASES", cases.to_string()),
    )
}

fn test() -> Result<()> {
    step("unit tests (cargo test, release: the profile the host is already built in)");
    run_command(cargo().args(["test", "--release", "--package", "tessera", "--package", "simd-kernels"]))?;
    // Components are cdylibs: natively only their test harness is built (`--lib`), never the
    // shared library, whose WIT export names the native linker rejects.
    run_command(cargo().args([
        "test",
        "--release",
        "--lib",
        "--package",
        "object-layer",
        "--package",
        "drive-core",
        "--package",
        "drive-kv",
        "--package",
        "kv-fs",
        "--package",
        "policy",
        "--package",
        "to-markdown",
        "--package",
        "guardrail-core",
        "--package",
        "sigv4",
        "--package",
        "secret-box",
        "--package",
        "replication-config",
        "--package",
        "batch",
    ]))?;
    step("building the AWS SDK for Rust client check (tests/sdk-rust, its own workspace)");
    run_command(
        cargo()
            .args(["build", "--release", "--manifest-path", "tests/sdk-rust/Cargo.toml"])
            .env("CARGO_TARGET_DIR", root().join("target/sdk-rust")),
    )?;
    step("end-to-end tests (pytest against target/release/tessera and wasmtime serve)");
    // awscrt: botocore computes CRC32C and CRC64NVME checksums with it.
    tools::ensure_python_packages(&["pytest", "awscrt", "minio"])?;
    tools::ensure_apt_packages(&[("rclone", "rclone"), ("s3cmd", "s3cmd")])?;
    tools::ensure_cargo_tool("wasmtime", "wasmtime-cli", WASMTIME_CLI_VERSION)?;
    let mut pytest = Command::new("python3");
    pytest.args(["-m", "pytest", "-q", "tests"]).env("TESSERA_BIN", root().join("target/release/tessera"));
    run_command(&mut pytest)
}
