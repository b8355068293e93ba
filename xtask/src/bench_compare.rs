//! `cargo xtask bench compare`: the same workloads, in one run, against Tessera (native host),
//! the standalone node under `wasmtime serve`, and peers built from crates.io — each over a
//! fresh folder on the same disk, started and stopped here. Figures go to
//! target/bench/compare.json and a table with ratios to the best peer.

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{cargo, root, step};

const ACCESS_KEY: &str = "benchadmin";
const SECRET_KEY: &str = "benchadmin-secret-key-0123";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
/// Measured seconds per workload (after a 2 s warm-up).
const DURATION: &str = "10s";

/// A workload: name, `tessera bench` workload, size, requests in flight, objects to prepare.
struct Workload {
    name: &'static str,
    kind: &'static str,
    size: &'static str,
    concurrency: usize,
    objects: usize,
    /// Large objects are judged by MiB/s, small ones by operations per second.
    by_bandwidth: bool,
}

const WORKLOADS: [Workload; 5] = [
    Workload { name: "put-64MiB-c8", kind: "put", size: "64MiB", concurrency: 8, objects: 0, by_bandwidth: true },
    Workload { name: "get-64MiB-c8", kind: "get", size: "64MiB", concurrency: 8, objects: 16, by_bandwidth: true },
    Workload { name: "put-4KiB-c32", kind: "put", size: "4KiB", concurrency: 32, objects: 0, by_bandwidth: false },
    Workload { name: "get-4KiB-c32", kind: "get", size: "4KiB", concurrency: 32, objects: 256, by_bandwidth: false },
    Workload { name: "mixed-1MiB-c16", kind: "mixed", size: "1MiB", concurrency: 16, objects: 64, by_bandwidth: false },
];

/// How to build and start one target.
struct Target {
    name: &'static str,
    /// Peers are compared against; our own targets are what is compared.
    is_peer: bool,
    /// cargo install arguments, for peers built from crates.io (cached in ~/.cargo/bin).
    install: Option<(&'static str, &'static [&'static str])>,
    start: fn(port: u16, data: &Path) -> Result<Command>,
}

const TARGETS: [Target; 4] = [
    Target { name: "tessera", is_peer: false, install: None, start: start_tessera },
    Target { name: "tessera-wasmtime-serve", is_peer: false, install: None, start: start_wasmtime_serve },
    Target {
        name: "s3s-fs",
        is_peer: true,
        install: Some(("s3s-fs", &["install", "--locked", "s3s-fs@0.14.1", "--features", "binary"])),
        start: start_s3s_fs,
    },
    Target { name: "garage", is_peer: true, install: Some(("garage", &["install", "--locked", "garage@2.5.0"])), start: start_garage },
];

fn drives(data: &Path) -> Vec<PathBuf> {
    (1..=4).map(|index| data.join(format!("d{index}"))).collect()
}

fn start_tessera(port: u16, data: &Path) -> Result<Command> {
    let mut command = Command::new(root().join("target/release/tessera"));
    command.args(["serve", "--address", &format!("127.0.0.1:{port}"), "--drives"]).args(drives(data));
    command.env("TESSERA_ROOT_USER", ACCESS_KEY).env("TESSERA_ROOT_PASSWORD", SECRET_KEY);
    Ok(command)
}

fn start_wasmtime_serve(port: u16, data: &Path) -> Result<Command> {
    let mut command = Command::new("wasmtime");
    command.args(["serve", "-Scli", "--addr", &format!("127.0.0.1:{port}")]);
    for (index, drive) in drives(data).iter().enumerate() {
        fs::create_dir_all(drive)?;
        command.arg("--dir").arg(format!("{}::/d{}", drive.display(), index + 1));
    }
    command.args(["--env", &format!("TESSERA_ROOT_USER={ACCESS_KEY}"), "--env", &format!("TESSERA_ROOT_PASSWORD={SECRET_KEY}")]);
    command.arg(root().join("target/compose/standalone.wasm"));
    Ok(command)
}

fn start_s3s_fs(port: u16, data: &Path) -> Result<Command> {
    fs::create_dir_all(data)?;
    let mut command = Command::new("s3s-fs");
    command.args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY]);
    command.arg(data);
    Ok(command)
}

/// Garage needs a config, a layout and a key before it serves S3: all done here, single node.
/// Its fsyncs are turned on: Tessera fsyncs every shard and metadata file before it answers,
/// and a comparison should not trade durability for speed behind the reader's back.
fn start_garage(port: u16, data: &Path) -> Result<Command> {
    fs::create_dir_all(data)?;
    let rpc_port = free_port()?;
    let admin_port = free_port()?;
    let config = data.join("garage.toml");
    fs::write(
        &config,
        format!(
            "metadata_dir = \"{meta}\"\ndata_dir = \"{data_dir}\"\ndb_engine = \"lmdb\"\nreplication_factor = 1\n\
             data_fsync = true\nmetadata_fsync = true\n\
             rpc_bind_addr = \"127.0.0.1:{rpc_port}\"\nrpc_public_addr = \"127.0.0.1:{rpc_port}\"\n\
             rpc_secret = \"{secret}\"\n\n[s3_api]\ns3_region = \"us-east-1\"\napi_bind_addr = \"127.0.0.1:{port}\"\n\
             root_domain = \".s3.garage.localhost\"\n\n[admin]\napi_bind_addr = \"127.0.0.1:{admin_port}\"\n",
            meta = data.join("meta").display(),
            data_dir = data.join("data").display(),
            secret = "0".repeat(64),
        ),
    )?;
    let mut command = Command::new("garage");
    command.arg("-c").arg(&config).arg("server");
    Ok(command)
}

/// Single-node layout, a key with our credentials, allowed to create buckets.
fn configure_garage(data: &Path) -> Result<()> {
    let config = data.join("garage.toml");
    let garage = |args: &[&str]| -> Result<String> {
        let output = Command::new("garage").arg("-c").arg(&config).args(args).output()?;
        if !output.status.success() {
            bail!("garage {}: {}", args.join(" "), String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    };
    let node_id = garage(&["node", "id", "-q"])?;
    let node_id = node_id.trim().split('@').next().unwrap_or_default().to_owned();
    garage(&["layout", "assign", "-z", "dc1", "-c", "10G", &node_id])?;
    garage(&["layout", "apply", "--version", "1"])?;
    garage(&["key", "import", "--yes", "-n", "bench", ACCESS_KEY_GARAGE, SECRET_KEY_GARAGE])?;
    garage(&["key", "allow", "--create-bucket", ACCESS_KEY_GARAGE])?;
    Ok(())
}

/// Garage wants its own key formats: "GK" + 24 hex, and a 64-hex secret.
const ACCESS_KEY_GARAGE: &str = "GK0123456789abcdef01234567";
const SECRET_KEY_GARAGE: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_for_port(port: u16, child: &mut Child) -> Result<()> {
    let started = Instant::now();
    while started.elapsed() < STARTUP_TIMEOUT {
        if let Some(status) = child.try_wait()? {
            bail!("exited with {status} before listening");
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        sleep(Duration::from_millis(100));
    }
    bail!("did not listen within {STARTUP_TIMEOUT:?}")
}

/// One result row, as compare.json holds it.
struct Row {
    target: String,
    workload: String,
    mib_per_s: f64,
    ops_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Reads a number field out of `tessera bench --json` (flat, written by us).
fn number(json: &str, field: &str) -> f64 {
    let needle = format!("\"{field}\": ");
    json.find(&needle)
        .and_then(|at| {
            let rest = &json[at + needle.len()..];
            rest[..rest.find([',', '}']).unwrap_or(rest.len())].trim().parse().ok()
        })
        .unwrap_or(0.0)
}

/// Runs every target, or only those named in `only`.
pub fn run(only: &[String]) -> Result<()> {
    if let Some(unknown) = only.iter().find(|name| !TARGETS.iter().any(|target| target.name == name.as_str())) {
        let known: Vec<&str> = TARGETS.iter().map(|target| target.name).collect();
        bail!("unknown target {unknown}; targets: {}", known.join(", "));
    }
    let work = root().join("target/bench/compare-work");
    let mut rows = Vec::new();
    let mut unavailable = Vec::new();
    for target in TARGETS.iter().filter(|target| only.is_empty() || only.iter().any(|name| name == target.name)) {
        if let Some((binary, args)) = target.install {
            let present = Command::new(binary).arg("--help").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
            if !present {
                step(&format!("building peer {} from crates.io (once; cached in ~/.cargo/bin)", target.name));
                let status = cargo().args(args).status()?;
                if !status.success() {
                    unavailable.push(format!("{}: `cargo {}` failed ({status})", target.name, args.join(" ")));
                    continue;
                }
            }
        }
        match measure(target, &work) {
            Ok(mut measured) => rows.append(&mut measured),
            Err(error) => unavailable.push(format!("{}: {error:#}", target.name)),
        }
    }
    print_table(&rows);
    for reason in &unavailable {
        eprintln!("not measured: {reason}");
    }
    let json: Vec<String> = rows
        .iter()
        .map(|row| {
            format!(
                "  {{\"target\": \"{}\", \"workload\": \"{}\", \"mib_per_s\": {:.3}, \"ops_per_s\": {:.3}, \"p50_ms\": {:.3}, \"p99_ms\": {:.3}}}",
                row.target, row.workload, row.mib_per_s, row.ops_per_s, row.p50_ms, row.p99_ms
            )
        })
        .collect();
    let out = root().join("target/bench/compare.json");
    fs::write(&out, format!("[\n{}\n]\n", json.join(",\n"))).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// Starts one target over a fresh folder, runs every workload against it, stops it.
fn measure(target: &Target, work: &Path) -> Result<Vec<Row>> {
    let data = work.join(target.name);
    let _ = fs::remove_dir_all(&data);
    fs::create_dir_all(&data)?;
    let port = free_port()?;
    let log = fs::File::create(work.join(format!("{}.log", target.name)))?;
    let mut command = (target.start)(port, &data)?;
    let mut child = command.stdout(log.try_clone()?).stderr(log).spawn().with_context(|| format!("starting {}", target.name))?;
    let result = (|| {
        wait_for_port(port, &mut child)?;
        let (access_key, secret_key) = if target.name == "garage" {
            configure_garage(&data)?;
            (ACCESS_KEY_GARAGE, SECRET_KEY_GARAGE)
        } else {
            (ACCESS_KEY, SECRET_KEY)
        };
        let mut rows = Vec::new();
        for workload in &WORKLOADS {
            step(&format!("{} {}", target.name, workload.name));
            let json_path = work.join(format!("{}-{}.json", target.name, workload.name));
            let status = Command::new(root().join("target/release/tessera"))
                .args(["bench", "--endpoint", &format!("http://127.0.0.1:{port}"), "--access-key", access_key])
                .args(["--secret-key", secret_key, "--bucket", "compare-bench", "--workload", workload.kind])
                .args(["--size", workload.size, "--concurrency", &workload.concurrency.to_string()])
                .args(["--objects", &workload.objects.max(1).to_string(), "--duration", DURATION, "--warmup", "2s"])
                .args(["--target", target.name, "--json"])
                .arg(&json_path)
                .status()?;
            if !status.success() {
                bail!("{} failed ({status})", workload.name);
            }
            let json = fs::read_to_string(&json_path)?;
            rows.push(Row {
                target: target.name.to_owned(),
                workload: workload.name.to_owned(),
                mib_per_s: number(&json, "mib_per_s"),
                ops_per_s: number(&json, "ops_per_s"),
                p50_ms: number(&json, "p50_ms"),
                p99_ms: number(&json, "p99_ms"),
            });
        }
        Ok(rows)
    })();
    let _ = child.kill();
    let _ = child.wait();
    let _ = fs::remove_dir_all(&data);
    result
}

fn print_table(rows: &[Row]) {
    println!(
        "\n{:<16} {:<24} {:>10} {:>10} {:>9} {:>9} {:>12}",
        "workload", "target", "MiB/s", "ops/s", "p50 ms", "p99 ms", "vs best peer"
    );
    for workload in &WORKLOADS {
        let figure = |row: &Row| {
            if workload.by_bandwidth { row.mib_per_s } else { row.ops_per_s }
        };
        let is_peer = |name: &str| TARGETS.iter().any(|target| target.name == name && target.is_peer);
        let best_peer = rows.iter().filter(|row| row.workload == workload.name && is_peer(&row.target)).map(figure).fold(0.0f64, f64::max);
        for row in rows.iter().filter(|row| row.workload == workload.name) {
            let ratio = if best_peer > 0.0 { format!("{:.2}x", figure(row) / best_peer) } else { "-".into() };
            println!(
                "{:<16} {:<24} {:>10.1} {:>10.1} {:>9.2} {:>9.2} {:>12}",
                workload.name, row.target, row.mib_per_s, row.ops_per_s, row.p50_ms, row.p99_ms, ratio
            );
        }
    }
}
