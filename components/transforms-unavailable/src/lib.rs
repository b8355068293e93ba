//! The `transforms` interface where there is no native host to run transform components (under
//! `wasmtime serve` or Spin a component cannot load another): every run fails with that reason,
//! so a batch job with a transform records it per object, and jobs with built-in actions
//! (expire, tag, replicate) still run.

mod bindings {
    wit_bindgen::generate!({
        world: "transforms-unavailable",
        path: "../../wit",
    });
}

use bindings::exports::tessera::node::transforms::{Guest, GuestTransformRun, Limits, ObjectInput, Verdict};

const WHY: &str = "transforms run only under the native host (tessera serve); this node has none";

struct Unavailable;

impl Guest for Unavailable {
    type TransformRun = Run;
}

struct Run;

impl GuestTransformRun for Run {
    fn new(_transform: String, _input: ObjectInput, _params: Vec<(String, String)>, _limits: Limits) -> Self {
        Run
    }

    fn write(&self, _chunk: Vec<u8>) -> Result<(), String> {
        Err(WHY.into())
    }

    fn finish(&self) -> Result<Verdict, String> {
        Err(WHY.into())
    }
}

bindings::export!(Unavailable with_types_in bindings);
