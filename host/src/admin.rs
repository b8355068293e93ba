//! `tessera admin`: the operator's commands against a running node's admin API (root
//! credentials, SigV4). `heal` runs a whole heal pass as a series of bounded steps, showing
//! progress, and prints a report; `info` shows the drives and the layout.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hyper::Method;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;

use crate::admin_batch;
use crate::admin_iam;
use crate::admin_replication;
use crate::client::{S3Client, sigv4::Signer};

/// Objects per heal step: small enough that a step answers within a second or two.
const HEAL_STEP_OBJECTS: u32 = 100;
/// Queue-draining steps before moving on (each takes up to `HEAL_STEP_OBJECTS`).
const MAX_QUEUE_STEPS: usize = 1000;
/// Report lines printed per kind before "… and N more".
const MAX_REPORT_LINES: usize = 20;

#[derive(clap::Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
    /// The node's S3 endpoint.
    #[arg(long, global = true, default_value = "http://127.0.0.1:9000")]
    endpoint: String,
    /// Root access key (default: TESSERA_ROOT_USER, else the development key).
    #[arg(long, global = true, env = "TESSERA_ROOT_USER", hide_env_values = true)]
    access_key: Option<String>,
    /// Root secret key (default: TESSERA_ROOT_PASSWORD, else the development key).
    #[arg(long, global = true, env = "TESSERA_ROOT_PASSWORD", hide_env_values = true)]
    secret_key: Option<String>,
}

#[derive(clap::Subcommand)]
enum AdminCommand {
    /// Heal the node: restore missing or corrupt shards and metadata, remove leftovers.
    /// Exits with 0 when everything is whole, 2 when some objects could not be repaired, 1 when
    /// the pass could not run.
    Heal(HealArgs),
    /// Show the drives (online or offline, space) and the erasure layout.
    Info,
    /// Users: access keys with their own secrets and policies.
    #[command(subcommand)]
    User(admin_iam::UserCommand),
    /// Policies: IAM-style JSON documents attached to users (canned: readwrite, readonly,
    /// writeonly, consoleAdmin).
    #[command(subcommand)]
    Policy(admin_iam::PolicyCommand),
    /// Replication of a bucket to other S3 endpoints.
    #[command(subcommand)]
    Replicate(admin_replication::ReplicateCommand),
    /// Site replication: whole sites mirrored to each other, every bucket both ways.
    #[command(subcommand)]
    Site(admin_replication::SiteCommand),
    /// Batch jobs: YAML specs run over buckets on a schedule.
    #[command(subcommand)]
    Batch(admin_batch::BatchCommand),
}

#[derive(clap::Args)]
struct HealArgs {
    /// Only this bucket.
    #[arg(long)]
    bucket: Option<String>,
    /// Verify every shard block's bitrot hash (reads everything), not only presence and size.
    #[arg(long)]
    deep: bool,
    /// List every repaired object, not only the first few.
    #[arg(long)]
    verbose: bool,
}

#[derive(Deserialize)]
struct Progress {
    scanned: u64,
    healed: u64,
    dangling_removed: u64,
    unrecoverable: u64,
    /// Absent from nodes older than lifecycle rules.
    #[serde(default)]
    expired: u64,
    details: Vec<String>,
    next: Option<Cursor>,
}

#[derive(Deserialize)]
struct Cursor {
    bucket: String,
    key: String,
}

#[derive(Deserialize)]
struct Status {
    drives: Vec<DriveStatus>,
    data_shards: u32,
    parity_shards: u32,
    read_quorum: u32,
    write_quorum: u32,
}

#[derive(Deserialize)]
struct DriveStatus {
    position: u32,
    label: String,
    state: String,
    error: Option<String>,
    total_bytes: u64,
    free_bytes: u64,
}

/// Runs an admin command; the process exit code on success.
pub async fn run(args: AdminArgs) -> Result<i32> {
    let signer = Signer {
        access_key: args.access_key.clone().unwrap_or_else(|| "tesseraadmin".into()),
        secret_key: args.secret_key.clone().unwrap_or_else(|| "tesseraadmin".into()),
        region: "us-east-1".into(),
    };
    let own = Signer { access_key: signer.access_key.clone(), secret_key: signer.secret_key.clone(), region: signer.region.clone() };
    let client = S3Client::new(&args.endpoint, signer, 1)?;
    match args.command {
        AdminCommand::Heal(heal) => run_heal(&client, &heal).await,
        AdminCommand::Info => run_info(&client, &args.endpoint).await,
        AdminCommand::User(command) => admin_iam::run_user(&client, command).await,
        AdminCommand::Policy(command) => admin_iam::run_policy(&client, command).await,
        AdminCommand::Replicate(command) => admin_replication::run(&client, args.endpoint.trim_end_matches('/'), &own, command).await,
        AdminCommand::Batch(command) => admin_batch::run(&client, command).await,
        AdminCommand::Site(command) => admin_replication::run_site(&client, args.endpoint.trim_end_matches('/'), &own, command).await,
    }
}

/// Calls an admin endpoint and decodes its JSON answer; any other status is an error that
/// carries the node's S3 error (code and message).
pub async fn call<T: for<'de> Deserialize<'de>>(
    client: &S3Client,
    method: Method,
    path: &str,
    query: &[(&str, &str)],
    body: Option<bytes::Bytes>,
) -> Result<T> {
    let (status, body) = client.fetch(method, path, query, body).await.with_context(|| format!("calling {path}"))?;
    if !status.is_success() {
        bail!("{path} answered {status}: {}", String::from_utf8_lossy(&body).trim());
    }
    serde_json::from_slice(&body).with_context(|| format!("reading the answer of {path}"))
}

/// Totals over the steps of a pass.
#[derive(Default)]
struct Totals {
    scanned: u64,
    healed: u64,
    dangling_removed: u64,
    unrecoverable: u64,
    expired: u64,
    repaired: Vec<String>,
    failed: Vec<String>,
}

impl Totals {
    fn add(&mut self, progress: &Progress) {
        self.scanned += progress.scanned;
        self.healed += progress.healed;
        self.dangling_removed += progress.dangling_removed;
        self.unrecoverable += progress.unrecoverable;
        self.expired += progress.expired;
        for line in &progress.details {
            if line.starts_with("UNRECOVERABLE") { self.failed.push(line.clone()) } else { self.repaired.push(line.clone()) }
        }
    }

    fn summary(&self) -> String {
        format!(
            "{} scanned · {} healed · {} dangling removed · {} unrecoverable · {} expired",
            self.scanned, self.healed, self.dangling_removed, self.unrecoverable, self.expired
        )
    }
}

async fn run_heal(client: &S3Client, args: &HealArgs) -> Result<i32> {
    const HEAL_PATH: &str = "/_tessera/admin/v1/heal";
    let started = Instant::now();
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").expect("a valid template"));
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut totals = Totals::default();
    let max = HEAL_STEP_OBJECTS.to_string();

    // First what reads already found damaged, then the whole namespace.
    for _ in 0..MAX_QUEUE_STEPS {
        let progress: Progress = call(client, Method::POST, HEAL_PATH, &[("queued", "true"), ("max", &max)], None).await?;
        totals.add(&progress);
        bar.set_message(format!("queued damage: {}", totals.summary()));
        if progress.scanned == 0 && progress.details.is_empty() {
            break;
        }
    }
    let mut cursor: Option<Cursor> = None;
    loop {
        let mut query: Vec<(&str, &str)> = vec![("max", &max)];
        if let Some(bucket) = &args.bucket {
            query.push(("bucket", bucket));
        }
        if args.deep {
            query.push(("deep", "true"));
        }
        if let Some(cursor) = &cursor {
            query.push(("after-bucket", &cursor.bucket));
            query.push(("after-key", &cursor.key));
        }
        let progress: Progress = call(client, Method::POST, HEAL_PATH, &query, None).await?;
        totals.add(&progress);
        let position = progress.next.as_ref().map(|next| format!(" · at {}/{}", next.bucket, next.key)).unwrap_or_default();
        bar.set_message(format!("{}{position}", totals.summary()));
        match progress.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    bar.finish_and_clear();

    let elapsed = started.elapsed().as_secs_f64();
    println!("Heal {} in {elapsed:.1} s: {}.", if args.deep { "(deep) complete" } else { "complete" }, totals.summary());
    print_lines(&totals.repaired, if args.verbose { usize::MAX } else { MAX_REPORT_LINES });
    print_lines(&totals.failed, usize::MAX);
    Ok(if totals.unrecoverable > 0 { 2 } else { 0 })
}

fn print_lines(lines: &[String], max: usize) {
    for line in lines.iter().take(max) {
        println!("  {line}");
    }
    if lines.len() > max {
        println!("  … and {} more (--verbose lists them all)", lines.len() - max);
    }
}

async fn run_info(client: &S3Client, endpoint: &str) -> Result<i32> {
    let status: Status = call(client, Method::GET, "/_tessera/admin/v1/info", &[], None).await?;
    let online = status.drives.iter().filter(|drive| drive.state == "online").count();
    println!("Tessera node at {endpoint}");
    println!(
        "  erasure: {} data + {} parity; read quorum {}, write quorum {}",
        status.data_shards, status.parity_shards, status.read_quorum, status.write_quorum
    );
    println!(
        "  drives: {online} of {} online{}",
        status.drives.len(),
        if (online as u32) < status.write_quorum { " — BELOW WRITE QUORUM: writes fail" } else { "" }
    );
    for drive in &status.drives {
        let space =
            if drive.total_bytes > 0 { format!("{} free of {}", gib(drive.free_bytes), gib(drive.total_bytes)) } else { String::new() };
        let state = if drive.state == "online" { "online".to_owned() } else { "OFFLINE".to_owned() };
        println!("  drive {}  {state:<8} {}  {space}", drive.position + 1, drive.label);
        if let Some(error) = &drive.error {
            println!("           {error}");
        }
    }
    Ok(0)
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}
