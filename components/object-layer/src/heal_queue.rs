//! Objects a read found damaged, waiting for the healer. An entry is a small file in each
//! drive's `.tessera/heal` (bucket names never start with '.'), named by a hash of the object
//! so that repeated reads of one damaged object queue it once.

use crate::set::ErasureSet;

const QUEUE_DIR: &str = ".tessera/heal";
const MAX_ENTRY_BYTES: u32 = 4096;

/// Queues `bucket/key` for healing on every drive that takes it. Best effort: the background
/// scan finds the damage anyway, later.
pub fn push(set: &ErasureSet, bucket: &str, key: &str) {
    let path = entry_path(bucket, key);
    let entry = format!("{bucket}\n{key}");
    for drive in &set.drives {
        let _ = drive.write_file(&path, entry.as_bytes());
    }
}

/// Up to `max` queued objects, from every drive, without duplicates.
pub fn peek(set: &ErasureSet, max: usize) -> Vec<(String, String)> {
    let mut queued = std::collections::BTreeSet::new();
    for drive in &set.drives {
        let Ok(entries) = drive.list_dir(QUEUE_DIR) else {
            continue;
        };
        for entry in entries.into_iter().filter(|entry| !entry.is_dir) {
            if queued.len() >= max {
                break;
            }
            let Ok(bytes) = drive.read_file(&format!("{QUEUE_DIR}/{}", entry.name), MAX_ENTRY_BYTES) else {
                continue;
            };
            if let Some((bucket, key)) = String::from_utf8(bytes).ok().and_then(|text| {
                let (bucket, key) = text.split_once('\n')?;
                Some((bucket.to_owned(), key.to_owned()))
            }) {
                queued.insert((bucket, key));
            } else {
                // Not an entry we wrote: drop it rather than trip over it forever.
                let _ = drive.delete(&format!("{QUEUE_DIR}/{}", entry.name), false);
            }
        }
    }
    queued.into_iter().collect()
}

/// Removes `bucket/key` from every drive's queue.
pub fn remove(set: &ErasureSet, bucket: &str, key: &str) {
    let path = entry_path(bucket, key);
    for drive in &set.drives {
        // A drive that cannot remove it heals the object once more later: harmless.
        let _ = drive.delete(&path, false);
    }
}

fn entry_path(bucket: &str, key: &str) -> String {
    let hash = format!("{bucket}/{key}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    format!("{QUEUE_DIR}/{hash:016x}")
}
