//! The `to-markdown` component: exports `tessera:node/transform`.

use std::cell::RefCell;

use crate::{MAX_INPUT_BYTES, convert, kind_of, output_key};

mod bindings {
    wit_bindgen::generate!({
        world: "transformer",
        path: "../../wit",
    });
}

use bindings::exports::tessera::node::transform::{Guest, GuestRun, ObjectInput, ObjectOutput, Verdict};

struct ToMarkdown;

/// One object on its way through: what it is, and its bytes so far.
pub struct Run {
    input: ObjectInput,
    bytes: RefCell<Vec<u8>>,
}

impl Guest for ToMarkdown {
    type Run = Run;
}

impl GuestRun for Run {
    fn new(input: ObjectInput, _params: Vec<(String, String)>) -> Self {
        Self { input, bytes: RefCell::new(Vec::new()) }
    }

    fn write(&self, chunk: Vec<u8>) -> Result<(), String> {
        let mut bytes = self.bytes.borrow_mut();
        if bytes.len() + chunk.len() > MAX_INPUT_BYTES {
            return Err(format!("{} is over the {} MiB this transform converts", self.input.key, MAX_INPUT_BYTES >> 20));
        }
        bytes.extend_from_slice(&chunk);
        Ok(())
    }

    fn finish(&self) -> Result<Verdict, String> {
        let input = &self.input;
        let Some(kind) = kind_of(&input.key, input.content_type.as_deref()) else {
            return Ok(Verdict::Skip(format!("{}: not HTML, CSV, TSV, JSON or text", input.key)));
        };
        let markdown = match convert(kind, &self.bytes.borrow()) {
            Ok(markdown) => markdown,
            Err(why) => return Ok(Verdict::Reject(format!("{}: {why}", input.key))),
        };
        let mut user_metadata = input.user_metadata.clone();
        user_metadata.push(("source-key".into(), input.key.clone()));
        Ok(Verdict::Outputs(vec![ObjectOutput {
            key: output_key(&input.key),
            content_type: Some("text/markdown; charset=utf-8".into()),
            user_metadata,
            tags: input.tags.clone(),
            content: markdown.into_bytes(),
        }]))
    }
}

bindings::export!(ToMarkdown with_types_in bindings);
