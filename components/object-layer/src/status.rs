//! The node's drives and layout as `tessera admin info` and the health endpoint show them.

use crate::bindings::exports::tessera::node::maintenance::{DriveState, DriveStatus, NodeStatus};
use crate::bindings::tessera::node::drive;
use crate::layout::ErasureLayout;
use crate::set::{self, ErasureSet};

/// Probes every drive (its `usage`, which a host answers only for a working drive).
pub fn probe() -> NodeStatus {
    let drives = drive::drives();
    let statuses: Vec<DriveStatus> = drives
        .iter()
        .enumerate()
        .map(|(position, drive)| {
            let (state, total_bytes, free_bytes) = match drive.usage() {
                Ok(usage) => (DriveState::Online, usage.total_bytes, usage.free_bytes),
                Err(error) => (DriveState::Offline(set::describe(&error)), 0, 0),
            };
            DriveStatus { position: position as u32, label: drive.label(), state, total_bytes, free_bytes }
        })
        .collect();
    let layout = ErasureSet::open().map(|set| set.layout).unwrap_or(ErasureLayout { data: drives.len(), parity: 0 });
    NodeStatus {
        drives: statuses,
        data_shards: layout.data as u32,
        parity_shards: layout.parity as u32,
        read_quorum: layout.read_quorum() as u32,
        write_quorum: layout.write_quorum() as u32,
    }
}
