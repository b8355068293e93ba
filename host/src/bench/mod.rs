//! `tessera bench`: an S3 load generator for any endpoint (warp-like). Workloads `put`, `get`,
//! `mixed` (45% GET, 30% HEAD, 15% PUT, 10% DELETE) and `list`; fixed or ranged object sizes;
//! a warm-up that is not measured; throughput and latency percentiles, live progress, JSON.
//! `overhead` (against `tessera serve` only) alternates a response the host gives itself
//! (STATIC) with the smallest one the node component gives (NODE: an anonymous request it
//! refuses) and a signed HeadBucket (HEAD-BUCKET): NODE − STATIC is the price of an instance.

mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hyper::{Method, StatusCode};
use tokio::sync::Mutex;

use crate::client::{Outcome, S3Client, sigv4};
use report::{Report, Sample};

/// Objects a `get`, `mixed` or `list` run reads, when not given.
const DEFAULT_OBJECTS_PER_WORKER: usize = 4;
/// At most this many requests in flight, whatever is asked.
const MAX_CONCURRENCY: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    Put,
    Get,
    Mixed,
    List,
    Overhead,
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// S3 endpoint (http://host:port).
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    endpoint: String,
    #[arg(long, env = "TESSERA_ROOT_USER", default_value = "tesseraadmin")]
    access_key: String,
    #[arg(long, env = "TESSERA_ROOT_PASSWORD", default_value = "tesseraadmin", hide_env_values = true)]
    secret_key: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Bucket to work in (created when missing).
    #[arg(long, default_value = "tessera-bench")]
    bucket: String,
    #[arg(long, value_enum, default_value = "put")]
    workload: Workload,
    /// Object size, fixed ("4KiB", "64MiB") or a random range ("1KiB-1MiB").
    #[arg(long, default_value = "1MiB")]
    size: String,
    /// Requests in flight.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// How long to measure ("30s", "2m"), unless --operations is given.
    #[arg(long, default_value = "10s")]
    duration: String,
    /// Measure this many operations instead of a duration.
    #[arg(long)]
    operations: Option<u64>,
    /// Unmeasured run before measuring.
    #[arg(long, default_value = "2s")]
    warmup: String,
    /// Objects prepared for get, mixed and list (default: 4 per request in flight).
    #[arg(long)]
    objects: Option<usize>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Name of the target in the JSON (e.g. "tessera").
    #[arg(long, default_value = "endpoint")]
    target: String,
    /// Leave the objects in place afterwards.
    #[arg(long)]
    keep: bool,
}

/// Object sizes to draw from.
#[derive(Clone, Copy, Debug)]
struct SizeRange {
    min: usize,
    max: usize,
}

fn parse_bytes(text: &str) -> Result<usize> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number.parse().with_context(|| format!("size {text:?}"))?;
    let unit_bytes = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" | "kb" => 1 << 10,
        "mib" | "m" | "mb" => 1 << 20,
        "gib" | "g" | "gb" => 1 << 30,
        other => bail!("unknown size unit {other:?} (B, KiB, MiB, GiB)"),
    };
    Ok(number * unit_bytes)
}

fn parse_sizes(text: &str) -> Result<SizeRange> {
    let range = match text.split_once('-') {
        Some((min, max)) => SizeRange { min: parse_bytes(min)?, max: parse_bytes(max)? },
        None => {
            let size = parse_bytes(text)?;
            SizeRange { min: size, max: size }
        }
    };
    if range.min > range.max || range.max > 5 << 30 {
        bail!("size range {text:?}: min ≤ max ≤ 5 GiB");
    }
    Ok(range)
}

fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    let (number, factor) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(seconds) = text.strip_suffix('s') {
        (seconds, 1.0)
    } else if let Some(minutes) = text.strip_suffix('m') {
        (minutes, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number.parse().with_context(|| format!("duration {text:?} (e.g. 500ms, 30s, 2m)"))?;
    Ok(Duration::from_secs_f64(value * factor))
}

/// A small, fast, seedable generator: the bench needs variety, not cryptography.
struct Random(u64);

impl Random {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
    fn size(&mut self, range: SizeRange) -> usize {
        range.min + self.below(range.max - range.min + 1)
    }
}

/// What every worker shares.
struct Shared {
    client: S3Client,
    bucket: String,
    workload: Workload,
    sizes: SizeRange,
    /// Random bytes; bodies are slices of it (no copy per request).
    payload: Bytes,
    /// The prepared keys, read by get, mixed and list and never deleted during a run, so that
    /// a read never races a delete and every error counted is the server's.
    live_keys: Mutex<Vec<String>>,
    /// Keys this run wrote, to clean up afterwards.
    written_keys: Mutex<Vec<String>>,
    ops: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    stop: AtomicBool,
}

pub async fn run(args: BenchArgs) -> Result<()> {
    let sizes = parse_sizes(&args.size)?;
    let concurrency = args.concurrency.clamp(1, MAX_CONCURRENCY);
    let duration = parse_duration(&args.duration)?;
    let warmup = parse_duration(&args.warmup)?;
    let signer = sigv4::Signer { access_key: args.access_key.clone(), secret_key: args.secret_key.clone(), region: args.region.clone() };
    let client = S3Client::new(&args.endpoint, signer, concurrency)?;
    let mut payload = vec![0u8; sizes.max];
    let mut random = Random::new(0x7E55_E7A0);
    for chunk in payload.chunks_mut(8) {
        chunk.copy_from_slice(&random.next().to_le_bytes()[..chunk.len()]);
    }
    let shared = Arc::new(Shared {
        client,
        bucket: args.bucket.clone(),
        workload: args.workload,
        sizes,
        payload: Bytes::from(payload),
        live_keys: Mutex::new(Vec::new()),
        written_keys: Mutex::new(Vec::new()),
        ops: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    ensure_bucket(&shared).await?;
    if matches!(args.workload, Workload::Get | Workload::Mixed | Workload::List) {
        prepare(&shared, args.objects.unwrap_or(concurrency * DEFAULT_OBJECTS_PER_WORKER), concurrency).await?;
    }
    if !warmup.is_zero() {
        eprintln!("warming up for {warmup:?}");
        run_phase(&shared, concurrency, Some(warmup), None, false).await;
    }
    eprintln!("measuring {:?} with {concurrency} in flight, sizes {}", args.workload, args.size);
    let started = Instant::now();
    let samples =
        run_phase(&shared, concurrency, if args.operations.is_some() { None } else { Some(duration) }, args.operations, true).await;
    let report = Report::new(&args.target, &format!("{:?}", args.workload).to_lowercase(), concurrency, started.elapsed(), samples);
    eprintln!();
    report.print();
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_json()).with_context(|| format!("writing {}", path.display()))?;
    }
    if !args.keep {
        cleanup(&shared, concurrency).await;
    }
    Ok(())
}

async fn ensure_bucket(shared: &Shared) -> Result<()> {
    let outcome = shared.client.send(Method::PUT, &shared.bucket, "", &[], None).await?;
    match outcome.status {
        status if status.is_success() || status == StatusCode::CONFLICT => Ok(()),
        status => bail!("creating bucket {} failed: {status}", shared.bucket),
    }
}

/// Writes the objects that reads will find.
async fn prepare(shared: &Arc<Shared>, count: usize, concurrency: usize) -> Result<()> {
    eprintln!("preparing {count} objects");
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for worker in 0..concurrency.min(count.max(1)) {
        let (shared, next) = (shared.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut random = Random::new(worker as u64 + 1);
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed) as usize;
                if index >= count {
                    return Ok::<_, anyhow::Error>(());
                }
                let key = format!("prepared/{index:08}");
                let size = random.size(shared.sizes);
                let outcome = shared.client.send(Method::PUT, &shared.bucket, &key, &[], Some(shared.payload.slice(..size))).await?;
                if !outcome.status.is_success() {
                    bail!("preparing {key} failed: {}", outcome.status);
                }
                shared.live_keys.lock().await.push(key.clone());
                shared.written_keys.lock().await.push(key);
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

/// Runs the workload on `concurrency` workers until the time or the operation count is up.
async fn run_phase(
    shared: &Arc<Shared>,
    concurrency: usize,
    duration: Option<Duration>,
    operations: Option<u64>,
    measured: bool,
) -> Vec<Sample> {
    shared.stop.store(false, Ordering::SeqCst);
    shared.ops.store(0, Ordering::SeqCst);
    shared.bytes.store(0, Ordering::SeqCst);
    shared.errors.store(0, Ordering::SeqCst);
    let budget = Arc::new(AtomicU64::new(operations.unwrap_or(u64::MAX)));
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let (shared, budget) = (shared.clone(), budget.clone());
        workers.push(tokio::spawn(async move { work(&shared, worker, &budget).await }));
    }
    let progress = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(1));
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let elapsed = started.elapsed().as_secs_f64();
                eprint!(
                    "\r{}{elapsed:6.1}s  {:8.1} ops/s  {:9.1} MiB/s  errors {}   ",
                    if measured { "" } else { "(warm-up) " },
                    shared.ops.load(Ordering::Relaxed) as f64 / elapsed,
                    shared.bytes.load(Ordering::Relaxed) as f64 / elapsed / (1 << 20) as f64,
                    shared.errors.load(Ordering::Relaxed),
                );
            }
        })
    };
    if let Some(duration) = duration {
        tokio::time::sleep(duration).await;
        shared.stop.store(true, Ordering::SeqCst);
    }
    let mut samples = Vec::new();
    for worker in workers {
        samples.extend(worker.await.unwrap_or_default());
    }
    progress.abort();
    samples
}

async fn work(shared: &Shared, worker: usize, budget: &AtomicU64) -> Vec<Sample> {
    let mut random = Random::new(0xB0B + worker as u64);
    let mut samples = Vec::new();
    let mut sequence = 0u64;
    // What this worker wrote in a mixed run and may delete again.
    let mut own_keys = Vec::new();
    while !shared.stop.load(Ordering::Relaxed) {
        if budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| left.checked_sub(1)).is_err() {
            break;
        }
        sequence += 1;
        let sample = one_operation(shared, worker, sequence, &mut random, &mut own_keys).await;
        shared.ops.fetch_add(1, Ordering::Relaxed);
        shared.bytes.fetch_add(sample.bytes, Ordering::Relaxed);
        if !sample.ok {
            shared.errors.fetch_add(1, Ordering::Relaxed);
        }
        samples.push(sample);
    }
    samples
}

/// Picks and runs one operation of the workload.
async fn one_operation(shared: &Shared, worker: usize, sequence: u64, random: &mut Random, own_keys: &mut Vec<String>) -> Sample {
    let operation = match shared.workload {
        Workload::Put => "PUT",
        Workload::Get => "GET",
        Workload::List => "LIST",
        Workload::Overhead => ["STATIC", "NODE", "HEAD-BUCKET"][(sequence % 3) as usize],
        Workload::Mixed => match random.below(100) {
            0..45 => "GET",
            45..75 => "HEAD",
            75..90 => "PUT",
            _ => "DELETE",
        },
    };
    let started = Instant::now();
    let result = match operation {
        "PUT" => {
            let key = format!("written/{worker}/{sequence}");
            let size = random.size(shared.sizes);
            let result = shared.client.send(Method::PUT, &shared.bucket, &key, &[], Some(shared.payload.slice(..size))).await;
            if result.as_ref().is_ok_and(|outcome| outcome.status.is_success()) {
                shared.written_keys.lock().await.push(key.clone());
                own_keys.push(key);
            }
            result
        }
        "LIST" => shared.client.send(Method::GET, &shared.bucket, "", &[("list-type", "2"), ("prefix", "prepared/")], None).await,
        "STATIC" => shared.client.get_unsigned(crate::server::LIVENESS_PATH).await,
        // Refused by the node for want of a signature: the status the probe expects.
        "NODE" => shared.client.get_unsigned("/").await.map(|outcome| Outcome {
            status: if outcome.status == StatusCode::FORBIDDEN { StatusCode::OK } else { outcome.status },
            ..outcome
        }),
        "HEAD-BUCKET" => shared.client.send(Method::HEAD, &shared.bucket, "", &[], None).await,
        "DELETE" => match own_keys.pop() {
            // Deleting what this worker wrote: no other worker reads it.
            Some(key) => shared.client.send(Method::DELETE, &shared.bucket, &key, &[], None).await,
            // Nothing to delete yet: deleting a missing key is a valid, cheap S3 call too.
            None => shared.client.send(Method::DELETE, &shared.bucket, &format!("written/{worker}/none"), &[], None).await,
        },
        method => {
            let key = random_live_key(shared, random).await;
            let method = if method == "HEAD" { Method::HEAD } else { Method::GET };
            shared.client.send(method, &shared.bucket, &key, &[], None).await
        }
    };
    let micros = started.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
    match result {
        Ok(outcome) => Sample { operation, micros, bytes: outcome.bytes, ok: outcome.status.is_success() },
        Err(_) => Sample { operation, micros, bytes: 0, ok: false },
    }
}

async fn random_live_key(shared: &Shared, random: &mut Random) -> String {
    let live = shared.live_keys.lock().await;
    live.get(random.below(live.len())).cloned().unwrap_or_else(|| "prepared/00000000".into())
}

/// Deletes what the run wrote, with progress.
async fn cleanup(shared: &Arc<Shared>, concurrency: usize) {
    let keys = std::mem::take(&mut *shared.written_keys.lock().await);
    eprintln!("cleaning up {} objects", keys.len());
    let keys = Arc::new(Mutex::new(keys));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (shared, keys) = (shared.clone(), keys.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(key) = keys.lock().await.pop() else {
                    return;
                };
                let _ = shared.client.send(Method::DELETE, &shared.bucket, &key, &[], None).await;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_bytes("4KiB").unwrap(), 4096);
        assert_eq!(parse_bytes("64MiB").unwrap(), 64 << 20);
        let range = parse_sizes("1KiB-1MiB").unwrap();
        assert_eq!((range.min, range.max), (1024, 1 << 20));
        assert!(parse_sizes("2MiB-1MiB").is_err());
        assert!(parse_bytes("3 parsecs").is_err());
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
    }
}
