//! The host's scheduler for the node's `maintenance` export: what reads found damaged is healed
//! every few seconds, everything is scanned every `--scan-interval`, and a drive that comes
//! back online triggers a scan at once (objects written while it was away are missing on it).
//! Each call runs in a fresh instance, one at a time, with pauses between steps so that
//! healing never crowds out requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::bindings::maintenance::{HealCursor, HealOptions, HealProgress};
use crate::runtime::{Node, anyhow_error};

/// How often the queue of damage found by reads is drained.
const QUEUE_INTERVAL: Duration = Duration::from_secs(5);
/// Objects per call.
const STEP_OBJECTS: u32 = 100;
/// Pause between the steps of a background scan.
const STEP_PAUSE: Duration = Duration::from_millis(20);

pub fn spawn(node: Arc<Node>, scan_interval: Duration) {
    tokio::spawn(async move {
        let mut queue_ticks = tokio::time::interval(QUEUE_INTERVAL);
        let never = Duration::from_secs(100 * 365 * 24 * 3600);
        let scan_every = if scan_interval.is_zero() { never } else { scan_interval };
        let mut next_scan = tokio::time::Instant::now() + scan_every;
        loop {
            tokio::select! {
                _ = queue_ticks.tick() => {
                    if let Err(error) = heal_queued(&node).await {
                        tracing::warn!(error = format!("{error:#}"), "healing queued damage failed");
                    }
                }
                _ = node.drives().drive_returned() => {
                    scan(&node, "a drive came back online").await;
                    next_scan = tokio::time::Instant::now() + scan_every;
                }
                _ = tokio::time::sleep_until(next_scan) => {
                    scan(&node, "scheduled").await;
                    next_scan = tokio::time::Instant::now() + scan_every;
                }
            }
        }
    });
}

async fn heal_queued(node: &Node) -> Result<()> {
    let (mut store, exports) = node.maintenance_instance().await?;
    let progress = exports.tessera_node_maintenance().call_heal_queued(&mut store, STEP_OBJECTS).await.map_err(anyhow_error)?;
    let progress = progress.map_err(|error| anyhow::anyhow!("{error:?}"))?;
    log_details(&progress);
    Ok(())
}

async fn scan(node: &Node, reason: &str) {
    tracing::info!(reason, "heal scan started");
    let started = Instant::now();
    let (mut scanned, mut healed, mut dangling, mut unrecoverable) = (0, 0, 0, 0);
    let mut cursor: Option<HealCursor> = None;
    loop {
        match heal_step(node, cursor.as_ref()).await {
            Ok(progress) => {
                log_details(&progress);
                scanned += progress.scanned;
                healed += progress.healed;
                dangling += progress.dangling_removed;
                unrecoverable += progress.unrecoverable;
                match progress.next {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
                if scanned % (STEP_OBJECTS as u64 * 10) == 0 {
                    tracing::info!(scanned, healed, "heal scan in progress");
                }
            }
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "heal scan stopped");
                return;
            }
        }
        tokio::time::sleep(STEP_PAUSE).await;
    }
    tracing::info!(scanned, healed, dangling, unrecoverable, elapsed_ms = started.elapsed().as_millis() as u64, "heal scan finished");
}

async fn heal_step(node: &Node, cursor: Option<&HealCursor>) -> Result<HealProgress> {
    let (mut store, exports) = node.maintenance_instance().await?;
    let options = HealOptions { bucket: None, deep: false };
    let progress =
        exports.tessera_node_maintenance().call_heal_step(&mut store, &options, cursor, STEP_OBJECTS).await.map_err(anyhow_error)?;
    progress.map_err(|error| anyhow::anyhow!("{error:?}"))
}

fn log_details(progress: &HealProgress) {
    for line in &progress.details {
        if line.starts_with("UNRECOVERABLE") {
            tracing::error!("{line}");
        } else {
            tracing::info!("{line}");
        }
    }
}
