//! The host's scheduler for the node's `batch` export: every second due jobs get a step (a
//! bounded number of objects), again at once while a step says more is due. One step at a
//! time; each in a fresh instance, like every maintenance call.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use crate::runtime::{Node, anyhow_error};

const STEP_INTERVAL: Duration = Duration::from_secs(1);
/// Objects per step: a step checkpoints after each, so this only bounds one call's length.
const STEP_OBJECTS: u32 = 20;
/// Steps in a row before the scheduler sleeps again (a long job goes on at the next tick).
const MAX_STEPS_IN_A_ROW: usize = 1_000;

pub fn spawn(node: Arc<Node>) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(STEP_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            for _ in 0..MAX_STEPS_IN_A_ROW {
                match step(&node).await {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(error) => {
                        tracing::warn!(error = format!("{error:#}"), "batch step failed");
                        break;
                    }
                }
            }
        }
    });
}

async fn step(node: &Node) -> Result<bool> {
    let (mut store, exports) = node.maintenance_instance().await?;
    let more = exports.tessera_node_batch().call_step(&mut store, STEP_OBJECTS).await.map_err(anyhow_error)?;
    more.map_err(|error| anyhow::anyhow!("{error:?}"))
}
