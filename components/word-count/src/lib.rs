//! An example batch transform plug-in (see README.md beside this file): for each text object it
//! writes `<key>.json` with the object's lines, words and bytes. Everything a plug-in needs is
//! here: the WIT world (`transformer` in `wit/transform.wit`), a `run` resource that receives
//! the object in chunks, and a verdict at the end.

mod bindings {
    wit_bindgen::generate!({
        world: "transformer",
        path: "../../wit",
    });
}

use std::cell::RefCell;

use bindings::exports::tessera::node::transform::{Guest, GuestRun, ObjectInput, ObjectOutput, Verdict};

/// The most bytes counted; larger objects are skipped (a plug-in should bound its memory: the
/// node stops it at the job's `limits.memory-mib` anyway).
const MAX_BYTES: usize = 64 << 20;

struct WordCount;

impl Guest for WordCount {
    type Run = Run;
}

pub struct Run {
    input: ObjectInput,
    params: Vec<(String, String)>,
    content: RefCell<Vec<u8>>,
}

impl GuestRun for Run {
    fn new(input: ObjectInput, params: Vec<(String, String)>) -> Self {
        Self { input, params, content: RefCell::new(Vec::new()) }
    }

    fn write(&self, chunk: Vec<u8>) -> Result<(), String> {
        let mut content = self.content.borrow_mut();
        if content.len() + chunk.len() > MAX_BYTES {
            return Err(format!("{}: over the {} MiB this plug-in counts", self.input.key, MAX_BYTES >> 20));
        }
        content.extend_from_slice(&chunk);
        Ok(())
    }

    fn finish(&self) -> Result<Verdict, String> {
        // `spin: forever` shows what the node does with a plug-in that never ends: the job's
        // fuel runs out, the object is recorded as failed, the job goes on.
        if self.params.iter().any(|(name, value)| name == "spin" && value == "forever") {
            let mut turns: u64 = 0;
            loop {
                turns = std::hint::black_box(turns.wrapping_add(1));
            }
        }
        let content = self.content.borrow();
        let Ok(text) = std::str::from_utf8(&content) else {
            return Ok(Verdict::Skip(format!("{} is not UTF-8 text", self.input.key)));
        };
        let report = format!(
            "{{\"key\":{:?},\"lines\":{},\"words\":{},\"bytes\":{}}}\n",
            self.input.key,
            text.lines().count(),
            text.split_whitespace().count(),
            content.len()
        );
        Ok(Verdict::Outputs(vec![ObjectOutput {
            key: format!("{}.json", self.input.key),
            content_type: Some("application/json".into()),
            user_metadata: vec![("source-key".into(), self.input.key.clone())],
            tags: Vec::new(),
            content: report.into_bytes(),
        }]))
    }
}

bindings::export!(WordCount with_types_in bindings);
