//! The `guardrail` component: exports `tessera:node/transform`.

use std::cell::RefCell;

use guardrail_core::{Buffer, GuardrailError, Mode, Outcome, check, mode_from_params, output_metadata};

mod bindings {
    wit_bindgen::generate!({
        world: "transformer",
        path: "../../wit",
    });
}

use bindings::exports::tessera::node::transform::{Guest, GuestRun, ObjectInput, ObjectOutput, Verdict};

struct Guardrail;

/// One object on its way through: what it is, the job's mode, and its bytes so far.
pub struct Run {
    input: ObjectInput,
    /// The constructor cannot fail, so bad parameters are reported by `write` and `finish`.
    mode: Result<Mode, GuardrailError>,
    buffer: RefCell<Buffer>,
}

impl Run {
    fn failure(&self, error: &GuardrailError) -> String {
        format!("{}: {error}", self.input.key)
    }
}

impl Guest for Guardrail {
    type Run = Run;
}

impl GuestRun for Run {
    fn new(input: ObjectInput, params: Vec<(String, String)>) -> Self {
        Self { input, mode: mode_from_params(&params), buffer: RefCell::new(Buffer::default()) }
    }

    fn write(&self, chunk: Vec<u8>) -> Result<(), String> {
        self.mode.as_ref().map_err(|error| self.failure(error))?;
        self.buffer.borrow_mut().write(&chunk).map_err(|error| self.failure(&error))
    }

    fn finish(&self) -> Result<Verdict, String> {
        let mode = *self.mode.as_ref().map_err(|error| self.failure(error))?;
        let input = &self.input;
        let bytes = self.buffer.take().into_bytes();
        Ok(match check(bytes, mode) {
            Outcome::NotText(why) => Verdict::Skip(format!("{}: {why}", input.key)),
            Outcome::Quarantine(counts) => Verdict::Quarantine(format!("{}: found {counts}", input.key)),
            // Same key: the job's target prefix is the runner's to apply.
            Outcome::Output { text, counts } => Verdict::Outputs(vec![ObjectOutput {
                key: input.key.clone(),
                content_type: input.content_type.clone(),
                user_metadata: output_metadata(&input.user_metadata, &input.key, &counts),
                tags: input.tags.clone(),
                content: text.into_bytes(),
            }]),
        })
    }
}

bindings::export!(Guardrail with_types_in bindings);
