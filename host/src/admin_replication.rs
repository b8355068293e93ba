//! `tessera admin replicate …`: replication targets and their state, through the node's admin
//! API (`/_tessera/admin/v1/replication`). `add` registers the target and a rule, then queues
//! the bucket's existing objects (resync); `--bidirectional` does the same from the target
//! back to this node, with this node's admin credentials (the target's must be admin there).

use anyhow::{Result, bail};
use bytes::Bytes;
use hyper::Method;
use serde_json::{Value, json};

use crate::admin::call;
use crate::client::{S3Client, sigv4::Signer};

const REPLICATION: &str = "/_tessera/admin/v1/replication";
/// Keys queued per resync call.
const RESYNC_PAGE: &str = "1000";
/// Drain calls (100 tasks each) before `drain` stops; a cron runs it again.
const MAX_DRAIN_CALLS: usize = 10_000;
/// Resync calls before giving up on a bucket that keeps growing.
const MAX_RESYNC_PAGES: usize = 100_000;

#[derive(clap::Subcommand)]
pub enum ReplicateCommand {
    /// Replicate a bucket to a bucket on another S3 endpoint (another Tessera, MinIO, AWS).
    Add(AddArgs),
    /// Pending, failed and completed tasks, and the lag (JSON).
    Status {
        #[arg(long)]
        bucket: String,
    },
    /// Queue every existing object of the bucket again (after a target lost data, say).
    Resync {
        #[arg(long)]
        bucket: String,
    },
    /// Stop replicating a bucket: to one target (`--target-id`), or to all.
    Remove {
        #[arg(long)]
        bucket: String,
        #[arg(long)]
        target_id: Option<String>,
    },
    /// Give a target new credentials (its failed tasks are retried with them).
    SetCredentials {
        #[arg(long)]
        bucket: String,
        #[arg(long)]
        target_id: String,
        #[arg(long)]
        target_access_key: String,
        #[arg(long, env = "TESSERA_TARGET_SECRET_KEY", hide_env_values = true)]
        target_secret_key: String,
    },
    /// The bucket's targets (no secrets) and rules (JSON).
    List {
        #[arg(long)]
        bucket: String,
    },
    /// Send the due tasks of every bucket now, until none is left (what the native host does
    /// every second; a node under `wasmtime serve` has no scheduler: run this from a cron).
    Drain,
}

#[derive(clap::Args)]
pub struct AddArgs {
    #[arg(long)]
    bucket: String,
    /// The target's S3 endpoint, e.g. http://10.0.0.2:9000.
    #[arg(long)]
    target: String,
    #[arg(long)]
    target_bucket: String,
    #[arg(long)]
    target_access_key: String,
    #[arg(long, env = "TESSERA_TARGET_SECRET_KEY", hide_env_values = true)]
    target_secret_key: String,
    #[arg(long, default_value = "us-east-1")]
    target_region: String,
    /// Writes return once the target has them.
    #[arg(long)]
    sync: bool,
    /// Replicate both ways: the target gets this node as its target too.
    #[arg(long)]
    bidirectional: bool,
    /// Only keys under this prefix.
    #[arg(long, default_value = "")]
    prefix: String,
    /// Do not replicate delete markers and deletes.
    #[arg(long)]
    no_deletes: bool,
}

/// `own`: the credentials this command calls `endpoint` with; a bidirectional pair gives them
/// to the target, to replicate back with.
pub async fn run(client: &S3Client, endpoint: &str, own: &Signer, command: ReplicateCommand) -> Result<i32> {
    match command {
        ReplicateCommand::Add(args) => {
            let forward = json!({
                "endpoint": args.target, "bucket": args.target_bucket, "access_key": args.target_access_key,
                "secret_key": args.target_secret_key, "region": args.target_region, "sync": args.sync,
                "prefix": args.prefix, "delete_markers": !args.no_deletes,
            });
            let added = add(client, &args.bucket, &forward).await?;
            println!(
                "{}/{} → {}/{}: target {}",
                endpoint,
                args.bucket,
                args.target,
                args.target_bucket,
                added["arn"].as_str().unwrap_or("?")
            );
            if args.bidirectional {
                let signer = Signer {
                    access_key: args.target_access_key.clone(),
                    secret_key: args.target_secret_key.clone(),
                    region: args.target_region.clone(),
                };
                let peer = S3Client::new(&args.target, signer, 1)?;
                let backward = json!({
                    "endpoint": endpoint, "bucket": args.bucket, "access_key": own.access_key,
                    "secret_key": own.secret_key, "region": own.region, "sync": args.sync,
                    "prefix": args.prefix, "delete_markers": !args.no_deletes,
                });
                let added = add(&peer, &args.target_bucket, &backward).await?;
                println!(
                    "{}/{} → {}/{}: target {}",
                    args.target,
                    args.target_bucket,
                    endpoint,
                    args.bucket,
                    added["arn"].as_str().unwrap_or("?")
                );
                let queued = resync(&peer, &args.target_bucket).await?;
                println!("{queued} existing objects of {}/{} queued", args.target, args.target_bucket);
            }
            let queued = resync(client, &args.bucket).await?;
            println!("{queued} existing objects of {endpoint}/{} queued", args.bucket);
        }
        ReplicateCommand::Status { bucket } => {
            print(call(client, Method::GET, &format!("{REPLICATION}/status"), &[("bucket", &bucket)], None).await?)?
        }
        ReplicateCommand::List { bucket } => print(call(client, Method::GET, REPLICATION, &[("bucket", &bucket)], None).await?)?,
        ReplicateCommand::Resync { bucket } => {
            let queued = resync(client, &bucket).await?;
            println!("{queued} existing objects of {endpoint}/{bucket} queued");
        }
        ReplicateCommand::Remove { bucket, target_id } => {
            let ids: Vec<String> = match target_id {
                Some(id) => vec![id],
                None => {
                    let listing: Value = call(client, Method::GET, REPLICATION, &[("bucket", &bucket)], None).await?;
                    listing["targets"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|target| target["id"].as_str().map(str::to_owned))
                        .collect()
                }
            };
            if ids.is_empty() {
                bail!("{bucket} has no replication targets");
            }
            for id in ids {
                let _: Value = call(client, Method::DELETE, &format!("{REPLICATION}/targets/{id}"), &[("bucket", &bucket)], None).await?;
                println!("target {id} of {bucket} removed");
            }
        }
        ReplicateCommand::Drain => {
            let (mut sent, mut failed) = (0, 0);
            for _ in 0..MAX_DRAIN_CALLS {
                let progress: Value = call(client, Method::POST, &format!("{REPLICATION}/drain"), &[], None).await?;
                sent += progress["sent"].as_u64().unwrap_or(0);
                failed += progress["failed"].as_u64().unwrap_or(0);
                for line in progress["details"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                    eprintln!("{line}");
                }
                if progress["remaining"] != Value::Bool(true) {
                    break;
                }
            }
            println!("{sent} sent, {failed} failed (retried later)");
            return Ok(if failed == 0 { 0 } else { 2 });
        }
        ReplicateCommand::SetCredentials { bucket, target_id, target_access_key, target_secret_key } => {
            let body = json!({ "access_key": target_access_key, "secret_key": target_secret_key });
            let path = format!("{REPLICATION}/targets/{target_id}");
            let _: Value = call(client, Method::PUT, &path, &[("bucket", &bucket)], Some(Bytes::from(serde_json::to_vec(&body)?))).await?;
            println!("target {target_id} of {bucket} has new credentials");
        }
    }
    Ok(0)
}

async fn add(client: &S3Client, bucket: &str, target: &Value) -> Result<Value> {
    let body = Bytes::from(serde_json::to_vec(target)?);
    call(client, Method::POST, &format!("{REPLICATION}/targets"), &[("bucket", bucket)], Some(body)).await
}

/// Queues the bucket's existing objects, a page per call; returns how many were queued.
async fn resync(client: &S3Client, bucket: &str) -> Result<u64> {
    let mut after = String::new();
    let mut queued = 0;
    for _ in 0..MAX_RESYNC_PAGES {
        let page: Value = call(
            client,
            Method::POST,
            &format!("{REPLICATION}/resync"),
            &[("bucket", bucket), ("after", &after), ("max", RESYNC_PAGE)],
            None,
        )
        .await?;
        queued += page["queued"].as_u64().unwrap_or(0);
        match page["next"].as_str() {
            Some(next) => after = next.to_owned(),
            None => return Ok(queued),
        }
    }
    bail!("{bucket} kept growing during the resync; run it again")
}

fn print(value: Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}

const SITE: &str = "/_tessera/admin/v1/site";

#[derive(clap::Subcommand)]
pub enum SiteCommand {
    /// Mirror this site and a peer both ways: every bucket (existing and new), its versioning
    /// and its objects. The peer credentials must be admin credentials there; the peer gets
    /// this command's credentials to replicate back with.
    Add {
        /// The peer's S3 endpoint, e.g. http://10.0.0.2:9000.
        #[arg(long)]
        peer: String,
        #[arg(long)]
        peer_access_key: String,
        #[arg(long, env = "TESSERA_PEER_SECRET_KEY", hide_env_values = true)]
        peer_secret_key: String,
        #[arg(long, default_value = "us-east-1")]
        peer_region: String,
    },
    /// Mirror every bucket to the peers again, and queue their objects (repairs after an outage
    /// that outlasted a bucket change).
    Sync,
    /// The peer sites (JSON, no secrets).
    List,
}

pub async fn run_site(client: &S3Client, endpoint: &str, own: &Signer, command: SiteCommand) -> Result<i32> {
    match command {
        SiteCommand::Add { peer, peer_access_key, peer_secret_key, peer_region } => {
            let peer = peer.trim_end_matches('/').to_owned();
            let forward = json!({ "endpoint": peer, "access_key": peer_access_key, "secret_key": peer_secret_key, "region": peer_region });
            let _: Value =
                call(client, Method::POST, &format!("{SITE}/peers"), &[], Some(Bytes::from(serde_json::to_vec(&forward)?))).await?;
            let peer_client =
                S3Client::new(&peer, Signer { access_key: peer_access_key, secret_key: peer_secret_key, region: peer_region }, 1)?;
            let backward =
                json!({ "endpoint": endpoint, "access_key": own.access_key, "secret_key": own.secret_key, "region": own.region });
            let _: Value =
                call(&peer_client, Method::POST, &format!("{SITE}/peers"), &[], Some(Bytes::from(serde_json::to_vec(&backward)?))).await?;
            println!("{endpoint} and {peer} are peer sites");
            let mut problems = sync(client, endpoint).await?;
            problems += sync(&peer_client, &peer).await?;
            return Ok(if problems == 0 { 0 } else { 2 });
        }
        SiteCommand::Sync => {
            let problems = sync(client, endpoint).await?;
            return Ok(if problems == 0 { 0 } else { 2 });
        }
        SiteCommand::List => print(call(client, Method::GET, SITE, &[], None).await?)?,
    }
    Ok(0)
}

/// Mirrors every bucket of one site to its peers, then queues each bucket's objects; returns
/// how many steps failed (each printed).
async fn sync(client: &S3Client, endpoint: &str) -> Result<usize> {
    let answer: Value = call(client, Method::POST, &format!("{SITE}/sync"), &[], None).await?;
    let problems: Vec<&str> = answer["problems"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    for problem in &problems {
        eprintln!("{endpoint}: {problem}");
    }
    let buckets: Vec<&str> = answer["buckets"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let mut queued = 0;
    for bucket in &buckets {
        queued += resync(client, bucket).await?;
    }
    println!("{endpoint}: {} buckets mirrored, {queued} objects queued", buckets.len());
    Ok(problems.len())
}
