//! The batch runner component: exports `tessera:node/batch` over `objects` (the data, and the
//! jobs' documents) and `transforms` (the native host runs transform components under limits).
//! The host's scheduler calls `step`; the gateway's admin API calls the rest.

pub mod schedule;
pub mod spec;

#[cfg(target_arch = "wasm32")]
mod jobs;
#[cfg(target_arch = "wasm32")]
mod runner;

#[cfg(target_arch = "wasm32")]
mod bindings {
    wit_bindgen::generate!({
        world: "batch-runner",
        path: "../../wit",
    });
}

#[cfg(target_arch = "wasm32")]
mod component {
    use crate::bindings::exports::tessera::node::batch::{Guest, JobStatus};
    use crate::bindings::tessera::node::objects::ObjectError;
    use crate::jobs::{self, Job, Run, State};
    use crate::schedule::Schedule;

    struct Batch;

    fn now_ms() -> u64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as u64)
    }

    fn status_of(job: Job) -> JobStatus {
        let mut error_details: Vec<String> = job.run.error_details.into_iter().collect();
        if let Some(failure) = job.failure {
            error_details.push(failure);
        }
        JobStatus {
            id: job.id,
            name: job.spec.name,
            state: job.state.name().to_owned(),
            schedule: job.spec.schedule,
            objects_total: job.run.objects_total,
            objects_done: job.run.objects_done,
            bytes_done: job.run.bytes_done,
            errors: job.run.errors,
            error_details,
            findings: job.run.findings.into_iter().collect(),
            quarantined: job.run.quarantined.into_iter().collect(),
            runs: job.runs,
            next_run_ms: job.next_run_ms,
        }
    }

    impl Guest for Batch {
        fn submit(text: String) -> Result<String, String> {
            let spec = crate::spec::parse(&text).map_err(|error| error.to_string())?;
            let now = now_ms();
            let schedule = Schedule::parse(&spec.schedule)?;
            let id = jobs::new_id(now, &text);
            let job = Job {
                id: id.clone(),
                next_run_ms: schedule.first(now),
                spec,
                state: State::Queued,
                runs: 0,
                run: Run::new(now),
                since_ms: None,
                failure: None,
            };
            let stored = jobs::save(&job, "").map_err(|error| format!("storing the job: {error:?}"))?;
            if stored.is_none() {
                return Err(format!("a job with id {id} exists already; submit again"));
            }
            jobs::add_to_index(&id).map_err(|error| format!("storing the job: {error:?}"))?;
            Ok(id)
        }

        fn status(id: String) -> Result<Option<JobStatus>, ObjectError> {
            Ok(jobs::load(&id)?.map(|(job, _)| status_of(job)))
        }

        fn list_jobs() -> Result<Vec<JobStatus>, ObjectError> {
            let mut statuses = Vec::new();
            for id in jobs::ids()? {
                if let Some((job, _)) = jobs::load(&id)? {
                    statuses.push(status_of(job));
                }
            }
            Ok(statuses)
        }

        fn cancel(id: String) -> Result<bool, ObjectError> {
            jobs::update(&id, |job| {
                if matches!(job.state, State::Queued | State::Running) {
                    job.state = State::Cancelled;
                    job.next_run_ms = None;
                }
            })
        }

        fn step(max_objects: u32) -> Result<bool, ObjectError> {
            crate::runner::step(max_objects, now_ms())
        }
    }

    crate::bindings::export!(Batch with_types_in crate::bindings);
}
