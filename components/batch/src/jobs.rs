//! Jobs on the drives: each job one node configuration document (`job<id>`: its spec, state and
//! the checkpoint of its current run), plus an index of ids (`batchjobs`). Every change is a
//! read-modify-write guarded by the document's etag, so a cancel is never overwritten by a
//! runner's checkpoint and two submits never lose one another.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::bindings::tessera::node::objects::{self, ObjectError};
use crate::spec::JobSpec;

const INDEX: &str = "batchjobs";
/// Attempts of a read-modify-write before giving up on a busy document.
const UPDATE_ATTEMPTS: usize = 8;
/// Lines kept per list in a job's status.
pub const MAX_DETAILS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// Where a run is: counting what it takes, then working through it, both in key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Counting { after: String },
    Processing { after: String },
}

/// One run's progress: the checkpoint a restart resumes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Run {
    pub phase: Phase,
    pub started_ms: u64,
    pub objects_total: u64,
    pub objects_done: u64,
    pub bytes_done: u64,
    pub errors: u64,
    pub error_details: VecDeque<String>,
    pub findings: VecDeque<String>,
    pub quarantined: VecDeque<String>,
}

impl Run {
    pub fn new(started_ms: u64) -> Self {
        Self {
            phase: Phase::Counting { after: String::new() },
            started_ms,
            objects_total: 0,
            objects_done: 0,
            bytes_done: 0,
            errors: 0,
            error_details: VecDeque::new(),
            findings: VecDeque::new(),
            quarantined: VecDeque::new(),
        }
    }
}

/// Appends a line, keeping the most recent `MAX_DETAILS`.
pub fn push_bounded(lines: &mut VecDeque<String>, line: String) {
    if lines.len() == MAX_DETAILS {
        lines.pop_front();
    }
    lines.push_back(line);
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub spec: JobSpec,
    pub state: State,
    pub next_run_ms: Option<u64>,
    pub runs: u32,
    pub run: Run,
    /// When the last completed run started: a scheduled job's later runs take only what was
    /// written since.
    pub since_ms: Option<u64>,
    /// Why the job failed as a whole (its source bucket is gone, say).
    pub failure: Option<String>,
}

fn document_name(id: &str) -> Result<String, ObjectError> {
    if id.is_empty() || id.len() > 24 || !id.bytes().all(|byte| byte.is_ascii_lowercase()) {
        return Err(ObjectError::InvalidArgument(format!("{id:?} is not a job id")));
    }
    Ok(format!("job{id}"))
}

/// A new job id: the time and a hash of the spec, in lower-case letters (what configuration
/// names allow).
pub fn new_id(now_ms: u64, spec_text: &str) -> String {
    let hash = spec_text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    let letters = |mut value: u64, count: usize| -> String {
        let mut out = vec![b'a'; count];
        for slot in out.iter_mut().rev() {
            *slot = b'a' + (value % 26) as u8;
            value /= 26;
        }
        String::from_utf8(out).unwrap_or_default()
    };
    format!("{}{}", letters(now_ms, 10), letters(hash, 4))
}

pub fn load(id: &str) -> Result<Option<(Job, String)>, ObjectError> {
    let Some((bytes, etag)) = objects::get_node_config(&document_name(id)?)? else { return Ok(None) };
    let job = serde_json::from_slice(&bytes).map_err(|error| ObjectError::Internal(format!("job {id} does not parse: {error}")))?;
    Ok(Some((job, etag)))
}

/// Stores `job` if its document is still at `etag` ("" for a new one); false when it changed.
pub fn save(job: &Job, etag: &str) -> Result<Option<String>, ObjectError> {
    let bytes = serde_json::to_vec(job).map_err(|error| ObjectError::Internal(error.to_string()))?;
    match objects::set_node_config(&document_name(&job.id)?, Some(&bytes), Some(etag)) {
        Ok(()) => Ok(Some(etag_of(&bytes))),
        Err(ObjectError::PreconditionFailed) => Ok(None),
        Err(error) => Err(error),
    }
}

/// The etag the object layer gives a document (`get-node-config`): the BLAKE3 hash of its
/// bytes, so a runner keeps checkpointing without reading each checkpoint back.
fn etag_of(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

pub fn ids() -> Result<Vec<String>, ObjectError> {
    Ok(match objects::get_node_config(INDEX)? {
        Some((bytes, _)) => {
            serde_json::from_slice(&bytes).map_err(|error| ObjectError::Internal(format!("the job index does not parse: {error}")))?
        }
        None => Vec::new(),
    })
}

pub fn add_to_index(id: &str) -> Result<(), ObjectError> {
    for _ in 0..UPDATE_ATTEMPTS {
        let (mut ids, etag): (Vec<String>, String) = match objects::get_node_config(INDEX)? {
            Some((bytes, etag)) => (serde_json::from_slice(&bytes).map_err(|error| ObjectError::Internal(error.to_string()))?, etag),
            None => (Vec::new(), String::new()),
        };
        ids.push(id.to_owned());
        let bytes = serde_json::to_vec(&ids).map_err(|error| ObjectError::Internal(error.to_string()))?;
        match objects::set_node_config(INDEX, Some(&bytes), Some(&etag)) {
            Ok(()) => return Ok(()),
            Err(ObjectError::PreconditionFailed) => continue,
            Err(error) => return Err(error),
        }
    }
    Err(ObjectError::Busy("the job index kept changing".into()))
}

/// Applies `change` to the job until it sticks; false when there is no such job.
pub fn update(id: &str, change: impl Fn(&mut Job)) -> Result<bool, ObjectError> {
    for _ in 0..UPDATE_ATTEMPTS {
        let Some((mut job, etag)) = load(id)? else { return Ok(false) };
        change(&mut job);
        if save(&job, &etag)?.is_some() {
            return Ok(true);
        }
    }
    Err(ObjectError::Busy(format!("job {id} kept changing")))
}
