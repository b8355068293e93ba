//! `tessera admin batch …`: submit a YAML job spec, follow and cancel jobs, through the node's
//! admin API (`/_tessera/admin/v1/batch`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use bytes::Bytes;
use hyper::Method;
use serde_json::Value;

use crate::admin::call;
use crate::client::S3Client;

const JOBS: &str = "/_tessera/admin/v1/batch/jobs";

#[derive(clap::Subcommand)]
pub enum BatchCommand {
    /// Queue a job from its YAML spec; prints the job's id.
    Submit { file: PathBuf },
    /// One job's state and counters (JSON).
    Status { id: String },
    /// Every job (JSON).
    List,
    /// Stop a job (between objects).
    Cancel { id: String },
}

pub async fn run(client: &S3Client, command: BatchCommand) -> Result<i32> {
    match command {
        BatchCommand::Submit { file } => {
            let spec = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let answer: Value = call(client, Method::POST, JOBS, &[], Some(Bytes::from(spec))).await?;
            println!("{}", answer["id"].as_str().unwrap_or_default());
        }
        BatchCommand::Status { id } => print(call(client, Method::GET, &format!("{JOBS}/{id}"), &[], None).await?)?,
        BatchCommand::List => print(call(client, Method::GET, JOBS, &[], None).await?)?,
        BatchCommand::Cancel { id } => {
            let _: Value = call(client, Method::POST, &format!("{JOBS}/{id}/cancel"), &[], None).await?;
            println!("job {id} cancelled");
        }
    }
    Ok(0)
}

fn print(value: Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}
