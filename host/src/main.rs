//! `tessera`: the native host. It runs the composed node component (S3 gateway + object layer)
//! and gives it what only a machine can: drives, the network and SIMD erasure coding.

mod admin;
mod admin_batch;
mod admin_iam;
mod admin_replication;
mod batch;
mod bench;
mod bindings;
mod client;
mod drive;
mod erasure;
mod erasure_bench;
mod guest_log;
mod locks;
mod maintenance;
mod replication;
mod runtime;
mod server;
mod transform;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "tessera", version, about = "An S3-compatible object store whose node is a WebAssembly component")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve S3 over erasure-coded drives.
    Serve(ServeArgs),
    /// Administer a running node: heal, info.
    Admin(admin::AdminArgs),
    /// Load-test any S3 endpoint: throughput and latency percentiles.
    Bench(bench::BenchArgs),
    /// Measure the erasure engines (run by `cargo xtask bench erasure`).
    #[command(hide = true)]
    ErasureBench(erasure_bench::ErasureBenchArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    address: SocketAddr,
    /// Drive folders, in erasure-set order (created when missing).
    #[arg(long = "drives", num_args = 1.., default_values = ["tessera-data/d1", "tessera-data/d2", "tessera-data/d3", "tessera-data/d4"])]
    drives: Vec<PathBuf>,
    /// Parity shards per object (default: 2 for 4–5 drives, as MinIO).
    #[arg(long)]
    parity: Option<usize>,
    /// Host names for virtual-hosted-style requests (`bucket.NAME`), with the port if clients send it.
    #[arg(long = "domain")]
    domains: Vec<String>,
    /// Seconds between background heal scans of everything (0: never). Damage that reads
    /// find, and drives that come back, are healed within seconds regardless.
    #[arg(long, default_value_t = 3600)]
    scan_interval: u64,
    /// Seconds after which an unfinished multipart upload is removed (by the heal scan).
    #[arg(long, default_value_t = 24 * 3600)]
    multipart_expiry: u64,
    /// Serve this composition instead of the built-in node: any component of the `node` world,
    /// e.g. `target/compose/guarded.wasm` (the node with a guardrail in front of the data).
    #[arg(long)]
    node: Option<std::path::PathBuf>,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))).init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Admin(args) => {
            let code = runtime.block_on(admin::run(args))?;
            std::process::exit(code)
        }
        Command::Bench(args) => runtime.block_on(bench::run(args)),
        Command::ErasureBench(args) => runtime.block_on(erasure_bench::run(args)),
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    if args.drives.is_empty() {
        bail!("at least one drive is needed");
    }
    let parity = args.parity.unwrap_or_else(|| simd_kernels::shards::default_parity(args.drives.len()));
    if parity > args.drives.len() / 2 {
        bail!("--parity {parity} is more than half of {} drives", args.drives.len());
    }
    let drives = drive::DriveSet::open(&args.drives).context("opening drives")?;
    let credentials = Credentials::from_env();
    let mut domains = args.domains.clone();
    if domains.is_empty() {
        domains.push(format!("localhost:{}", args.address.port()));
    }
    let mut env = vec![
        ("TESSERA_ROOT_USER".into(), credentials.access_key.clone()),
        ("TESSERA_ROOT_PASSWORD".into(), credentials.secret_key.clone()),
        ("TESSERA_PARITY".into(), parity.to_string()),
        ("TESSERA_DOMAINS".into(), domains.join(",")),
        ("TESSERA_MULTIPART_EXPIRY".into(), args.multipart_expiry.to_string()),
        // server.rs sets the client's address in a header no client can forge through it.
        ("TESSERA_TRUST_SOURCE_IP_HEADER".into(), "1".into()),
    ];
    // The length of a lifecycle "day", for tests that cannot wait one.
    if let Ok(seconds) = std::env::var("TESSERA_LIFECYCLE_DAY_SECONDS") {
        env.push(("TESSERA_LIFECYCLE_DAY_SECONDS".into(), seconds));
    }
    // What objects-guard (compose/guarded.wac) does with personal data: redact or reject.
    if let Ok(mode) = std::env::var("TESSERA_GUARD_MODE") {
        env.push(("TESSERA_GUARD_MODE".into(), mode));
    }
    // The longest wait between replication retries (5 minutes unless set; tests shorten it).
    if let Ok(seconds) = std::env::var("TESSERA_REPLICATION_MAX_BACKOFF_SECONDS") {
        env.push(("TESSERA_REPLICATION_MAX_BACKOFF_SECONDS".into(), seconds));
    }
    let node = runtime::Node::load(runtime::NodeConfig { drives, env, component: args.node.clone() })?;
    let listener = tokio::net::TcpListener::bind(args.address).await.with_context(|| format!("binding {}", args.address))?;
    let address = listener.local_addr()?;
    let data = args.drives.len() - parity;
    println!("Tessera S3 endpoint: http://{address}");
    for (index, path) in args.drives.iter().enumerate() {
        println!("  drive {}: {}", index + 1, path.display());
    }
    println!("  erasure: {data} data + {parity} parity per object, engine {}", erasure::engine_name());
    println!("  access key: {}", credentials.access_key);
    // A secret the operator chose stays out of logs; the development one is public anyway.
    match credentials.source {
        CredentialSource::Environment => {
            println!("  secret key: (the value of TESSERA_ROOT_PASSWORD)")
        }
        CredentialSource::DevelopmentDefault => {
            println!("  secret key: {}", credentials.secret_key)
        }
    }
    println!("  credentials from: {}", credentials.source);
    if credentials.source != CredentialSource::Environment {
        eprintln!(
            "WARNING: using the development credentials. Set TESSERA_ROOT_USER and TESSERA_ROOT_PASSWORD before storing anything real."
        );
    }
    let node = std::sync::Arc::new(node);
    node.drives().spawn_prober();
    maintenance::spawn(node.clone(), std::time::Duration::from_secs(args.scan_interval));
    replication::spawn(node.clone());
    batch::spawn(node.clone());
    server::serve(listener, node).await
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum CredentialSource {
    Environment,
    DevelopmentDefault,
}

impl std::fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Environment => "TESSERA_ROOT_USER / TESSERA_ROOT_PASSWORD",
            Self::DevelopmentDefault => "development default (TESSERA_ROOT_USER / TESSERA_ROOT_PASSWORD unset)",
        })
    }
}

struct Credentials {
    access_key: String,
    secret_key: String,
    source: CredentialSource,
}

impl Credentials {
    fn from_env() -> Self {
        match (std::env::var("TESSERA_ROOT_USER"), std::env::var("TESSERA_ROOT_PASSWORD")) {
            (Ok(access_key), Ok(secret_key)) if !access_key.is_empty() && !secret_key.is_empty() => {
                Self { access_key, secret_key, source: CredentialSource::Environment }
            }
            _ => {
                Self { access_key: "tesseraadmin".into(), secret_key: "tesseraadmin".into(), source: CredentialSource::DevelopmentDefault }
            }
        }
    }
}
