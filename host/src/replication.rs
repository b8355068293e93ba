//! The host's scheduler for the node's `replication` export: due tasks are drained every
//! second, and at once again while a drain leaves some (a backlog after a target came back).
//! Each call runs in a fresh instance; one drain at a time.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use crate::bindings::replication::DrainProgress;
use crate::runtime::{Node, anyhow_error};

const DRAIN_INTERVAL: Duration = Duration::from_secs(1);
/// Tasks per call.
const DRAIN_TASKS: u32 = 100;

pub fn spawn(node: Arc<Node>) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(DRAIN_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            // Bounded: a backlog is worked through in steps, yielding between them.
            for _ in 0..1_000 {
                match drain(&node).await {
                    Ok(progress) => {
                        for line in &progress.details {
                            tracing::warn!("{line}");
                        }
                        if progress.sent > 0 || progress.failed > 0 {
                            tracing::info!(
                                sent = progress.sent,
                                failed = progress.failed,
                                skipped = progress.skipped,
                                "replication drained"
                            );
                        }
                        if !progress.remaining {
                            break;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(error = format!("{error:#}"), "replication drain failed");
                        break;
                    }
                }
            }
        }
    });
}

async fn drain(node: &Node) -> Result<DrainProgress> {
    let (mut store, exports) = node.maintenance_instance().await?;
    let progress = exports.tessera_node_replication().call_drain(&mut store, DRAIN_TASKS).await.map_err(anyhow_error)?;
    progress.map_err(|error| anyhow::anyhow!("{error:?}"))
}
