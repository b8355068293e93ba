//! Running jobs, a bounded step at a time: a due job starts a run, which first counts the
//! objects it takes (so status shows a total), then works through them in key order,
//! checkpointing after each object. A restart resumes after the last checkpointed key; only an
//! object in flight at the crash is done again, and its outputs are the same bytes under the
//! same keys. A failing object is recorded and the run goes on.

use crate::bindings::tessera::node::objects::{self, ListQuery, ObjectError, ObjectInfo, PutOptions};
use crate::bindings::tessera::node::transforms::{Limits, ObjectInput, TransformRun, Verdict};
use crate::jobs::{self, Job, Phase, Run, State, push_bounded};
use crate::schedule::Schedule;
use crate::spec::{Candidate, Location, Work};

/// Keys per listing call.
const PAGE: u32 = 1000;
/// Listing pages a step may count before it yields.
const COUNT_PAGES_PER_STEP: usize = 10;
/// The transform's report a run keeps per object (guardrail's redaction counts).
const REPORT_METADATA: &str = "guardrail-redactions";
/// Chunks written to outputs.
const WRITE_CHUNK: usize = 1 << 20;

/// Works on due jobs, at most `budget` objects; true when more is due now.
pub fn step(mut budget: u32, now_ms: u64) -> Result<bool, ObjectError> {
    let mut more = false;
    for id in jobs::ids()? {
        if budget == 0 {
            return Ok(true);
        }
        let Some((mut job, mut etag)) = jobs::load(&id)? else { continue };
        match job.state {
            State::Queued if job.next_run_ms.is_some_and(|next| next <= now_ms) => {
                job.state = State::Running;
                job.run = Run::new(now_ms);
                match jobs::save(&job, &etag)? {
                    Some(new_etag) => etag = new_etag,
                    None => continue,
                }
            }
            State::Running => {}
            _ => continue,
        }
        more |= advance(&mut job, &mut etag, &mut budget, now_ms)?;
    }
    Ok(more)
}

/// Moves one running job on; true when it has more to do now.
fn advance(job: &mut Job, etag: &mut String, budget: &mut u32, now_ms: u64) -> Result<bool, ObjectError> {
    if let Phase::Counting { .. } = job.run.phase {
        for _ in 0..COUNT_PAGES_PER_STEP {
            let Phase::Counting { after } = &job.run.phase else { break };
            let page = match list(job, after) {
                Ok(page) => page,
                Err(error) => return fail(job, etag, format!("listing {}: {error:?}", job.spec.source.bucket)),
            };
            job.run.objects_total += page.objects.iter().filter(|object| takes(job, object)).count() as u64;
            job.run.phase = match (page.is_truncated, page.next_after) {
                (true, Some(next)) => Phase::Counting { after: next },
                _ => Phase::Processing { after: String::new() },
            };
        }
        if !checkpoint(job, etag)? {
            return Ok(false);
        }
        if let Phase::Counting { .. } = job.run.phase {
            return Ok(true);
        }
    }
    while *budget > 0 {
        let Phase::Processing { after } = job.run.phase.clone() else { return Ok(false) };
        let page = match list(job, &after) {
            Ok(page) => page,
            Err(error) => return fail(job, etag, format!("listing {}: {error:?}", job.spec.source.bucket)),
        };
        for object in &page.objects {
            if *budget == 0 {
                return Ok(true);
            }
            job.run.phase = Phase::Processing { after: object.key.clone() };
            if !takes(job, object) {
                continue;
            }
            *budget -= 1;
            match process(job, object) {
                Ok(bytes) => job.run.bytes_done += bytes,
                Err(why) => {
                    job.run.errors += 1;
                    push_bounded(&mut job.run.error_details, format!("{}: {why}", object.key));
                }
            }
            job.run.objects_done += 1;
            if !checkpoint(job, etag)? {
                return Ok(false);
            }
        }
        if !page.is_truncated {
            return finish_run(job, etag, now_ms);
        }
        job.run.phase = Phase::Processing { after: page.next_after.unwrap_or_default() };
        if !checkpoint(job, etag)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn list(job: &Job, after: &str) -> Result<objects::ListPage, ObjectError> {
    let query = ListQuery { prefix: job.spec.source.prefix.clone(), delimiter: String::new(), after: after.to_owned(), max_keys: PAGE };
    objects::list_objects(&job.spec.source.bucket, &query)
}

/// Whether the run takes the object: the spec's filters; nothing written after the run began
/// (its own outputs, say: the next run sees the rest); and, for a scheduled transform job's
/// later runs, only what was written since the last run began. Jobs with age or time bounds,
/// and actions, look at everything each run: "older than 30 days" is a new set every day.
fn takes(job: &Job, object: &ObjectInfo) -> bool {
    let candidate =
        Candidate { size: object.size, modified_ms: object.modified_ms, content_type: object.content_type.as_deref(), tags: &object.tags };
    let source = &job.spec.source;
    let incremental =
        matches!(job.spec.work, Work::Transform { .. }) && source.older_than_ms.is_none() && source.modified_before_ms.is_none();
    source.takes(&candidate, job.run.started_ms)
        && object.modified_ms <= job.run.started_ms
        && (!incremental || job.since_ms.is_none_or(|since| object.modified_ms > since))
}

/// Saves the checkpoint; false when the job changed meanwhile (cancelled): the run stops.
fn checkpoint(job: &mut Job, etag: &mut String) -> Result<bool, ObjectError> {
    match jobs::save(job, etag)? {
        Some(new_etag) => {
            *etag = new_etag;
            Ok(true)
        }
        None => Ok(false),
    }
}

fn fail(job: &mut Job, etag: &mut String, why: String) -> Result<bool, ObjectError> {
    job.state = State::Failed;
    job.failure = Some(why);
    checkpoint(job, etag)?;
    Ok(false)
}

fn finish_run(job: &mut Job, etag: &mut String, now_ms: u64) -> Result<bool, ObjectError> {
    job.runs += 1;
    job.since_ms = Some(job.run.started_ms);
    let schedule = Schedule::parse(&job.spec.schedule).map_err(ObjectError::Internal)?;
    job.next_run_ms = schedule.next(job.run.started_ms, now_ms);
    job.state = if job.next_run_ms.is_some() { State::Queued } else { State::Done };
    checkpoint(job, etag)?;
    Ok(false)
}

/// Does the job's work on one object; the bytes it read.
fn process(job: &mut Job, object: &ObjectInfo) -> Result<u64, String> {
    let bucket = job.spec.source.bucket.clone();
    match job.spec.work.clone() {
        Work::Expire => objects::delete(&bucket, &object.key, None).map(|_| 0).map_err(|error| format!("{error:?}")),
        Work::Tag(tags) => {
            let mut merged = object.tags.clone();
            for (key, value) in tags {
                match merged.iter_mut().find(|(existing, _)| *existing == key) {
                    Some(slot) => slot.1 = value,
                    None => merged.push((key, value)),
                }
            }
            objects::set_object_tags(&bucket, &object.key, None, &merged).map(|()| 0).map_err(|error| format!("{error:?}"))
        }
        Work::Replicate => match objects::queue_replication(&bucket, &object.key) {
            Ok(true) => Ok(0),
            Ok(false) => Err("no replication rule of the bucket takes it".into()),
            Err(error) => Err(format!("{error:?}")),
        },
        Work::Transform { transform, params, target } => transform_object(job, object, &transform, &params, &target),
    }
}

fn transform_object(
    job: &mut Job,
    object: &ObjectInfo,
    transform: &str,
    params: &[(String, String)],
    target: &Location,
) -> Result<u64, String> {
    let bucket = &job.spec.source.bucket;
    let (info, _, download) = objects::get(bucket, &object.key, None, None).map_err(|error| format!("reading it: {error:?}"))?;
    let input = ObjectInput {
        key: info.key.clone(),
        content_type: info.content_type.clone(),
        size: info.size,
        user_metadata: info.user_metadata.clone(),
        tags: info.tags.clone(),
    };
    let run = TransformRun::new(transform, &input, params, Limits { fuel: job.spec.fuel, memory_bytes: job.spec.memory_bytes });
    while let Some(chunk) = download.read().map_err(|error| format!("reading it: {error:?}"))? {
        run.write(&chunk).map_err(|why| format!("{transform}: {why}"))?;
    }
    match run.finish().map_err(|why| format!("{transform}: {why}"))? {
        Verdict::Outputs(outputs) => {
            for output in outputs {
                let relative = output.key.strip_prefix(job.spec.source.prefix.as_str()).unwrap_or(&output.key);
                let key = format!("{}{relative}", target.prefix);
                if let Some((_, report)) = output.user_metadata.iter().find(|(name, _)| name == REPORT_METADATA)
                    && report != "none"
                {
                    push_bounded(&mut job.run.findings, format!("{}: {report}", info.key));
                }
                write(&target.bucket, &key, output.content_type, output.user_metadata, output.tags, &output.content)
                    .map_err(|error| format!("writing {}/{key}: {error:?}", target.bucket))?;
            }
        }
        Verdict::Skip(_) => {}
        Verdict::Reject(why) => return Err(format!("rejected by {transform}: {why}")),
        Verdict::Quarantine(why) => {
            push_bounded(&mut job.run.quarantined, format!("{}: {why}", info.key));
            if let Some(quarantine) = job.spec.quarantine.clone() {
                copy_to(&info, &quarantine).map_err(|error| format!("quarantining it: {error:?}"))?;
            }
        }
    }
    Ok(info.size)
}

fn write(
    bucket: &str,
    key: &str,
    content_type: Option<String>,
    user_metadata: Vec<(String, String)>,
    tags: Vec<(String, String)>,
    content: &[u8],
) -> Result<ObjectInfo, ObjectError> {
    let options = PutOptions {
        content_type,
        user_metadata,
        headers: Vec::new(),
        checksums: Vec::new(),
        condition: None,
        tags,
        size: Some(content.len() as u64),
        content_md5: None,
        replica: None,
    };
    let upload = objects::begin_put(bucket, key, &options)?;
    for chunk in content.chunks(WRITE_CHUNK) {
        upload.write(chunk)?;
    }
    upload.finish()
}

/// Copies a source object under the quarantine location, streaming.
fn copy_to(info: &ObjectInfo, quarantine: &Location) -> Result<ObjectInfo, ObjectError> {
    let (_, _, download) = objects::get(&info.bucket, &info.key, Some(&info.version_id), None)?;
    let options = PutOptions {
        content_type: info.content_type.clone(),
        user_metadata: info.user_metadata.clone(),
        headers: info.headers.clone(),
        checksums: Vec::new(),
        condition: None,
        tags: info.tags.clone(),
        size: Some(info.size),
        content_md5: None,
        replica: None,
    };
    let upload = objects::begin_put(&quarantine.bucket, &format!("{}{}", quarantine.prefix, info.key), &options)?;
    while let Some(chunk) = download.read()? {
        upload.write(&chunk)?;
    }
    upload.finish()
}
