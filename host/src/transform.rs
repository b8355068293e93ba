//! The `transforms` import: batch transforms (`wit/transform.wit`) in wasmtime. Each object
//! gets a fresh instance of the transform in its own store, with a fuel limit (a transform that
//! loops forever runs out and is stopped) and a memory limit (one that grows without end hits
//! it), a wall-clock limit per call (one that waits, on a clock, uses no fuel), and no WASI
//! capabilities beyond clocks and randomness: no files, no network, no environment. Built-ins (`to-markdown`, `guardrail`) are embedded in the binary; anything else
//! is an absolute path to a `.wasm` component, compiled once per process (again when the file
//! changes).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use wasmtime::component::{Component, Linker, Resource, ResourceAny, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::transforms;
use crate::bindings::transforms::{self as node, Limits};
use crate::runtime::{State, anyhow_error};

mod guest {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "tessera:node/transformer",
        exports: { default: async },
    });
}

use guest::exports::tessera::node::transform as guest_transform;

/// The longest one call into a transform may take, waiting included.
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A call into a transform, stopped when it outlasts `CALL_TIMEOUT`.
async fn limited<T>(call: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| Err(format!("the transform took longer than {} s: stopped", CALL_TIMEOUT.as_secs())))
}

static TO_MARKDOWN_WASM: &[u8] = include_bytes!(env!("TESSERA_TO_MARKDOWN_WASM"));
static GUARDRAIL_WASM: &[u8] = include_bytes!(env!("TESSERA_GUARDRAIL_WASM"));

/// What a transform's store holds.
struct TransformState {
    table: ResourceTable,
    wasi: WasiCtx,
    limits: StoreLimits,
}

impl WasiView for TransformState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// One object going through a transform; the error when it could not start or has failed.
pub struct TransformRunHandle {
    run: Result<Running, String>,
}

struct Running {
    store: Store<TransformState>,
    transformer: guest::Transformer,
    handle: ResourceAny,
}

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model(true).consume_fuel(true);
        Engine::new(&config).expect("a fuel-metered engine can always be made")
    })
}

/// The compiled component a job names.
fn component(name: &str) -> Result<Component, String> {
    static CACHE: OnceLock<Mutex<HashMap<String, (Option<SystemTime>, Component)>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    enum Source<'a> {
        Builtin(&'static [u8]),
        File(&'a str),
    }
    let (source, modified) = match name {
        "to-markdown" => (Source::Builtin(TO_MARKDOWN_WASM), None),
        "guardrail" => (Source::Builtin(GUARDRAIL_WASM), None),
        path if path.starts_with('/') && path.ends_with(".wasm") => {
            let modified = std::fs::metadata(path).and_then(|meta| meta.modified()).map_err(|error| format!("{path}: {error}"))?;
            (Source::File(path), Some(modified))
        }
        other => {
            return Err(format!(
                "unknown transform {other:?}: the built-ins are to-markdown and guardrail; a plug-in is an absolute path to a .wasm component"
            ));
        }
    };
    if let Some((when, component)) = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(name)
        && *when == modified
    {
        return Ok(component.clone());
    }
    let component = match source {
        Source::Builtin(bytes) => Component::new(engine(), bytes),
        Source::File(path) => Component::from_file(engine(), path),
    }
    .map_err(|error| format!("{name} is not a component this node can run: {error}"))?;
    cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(name.to_owned(), (modified, component.clone()));
    Ok(component)
}

impl Running {
    async fn start(name: &str, input: node::ObjectInput, params: Vec<(String, String)>, limits: Limits) -> Result<Self, String> {
        let component = component(name)?;
        let mut linker = Linker::new(engine());
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|error| error.to_string())?;
        let limits_for_store = StoreLimitsBuilder::new().memory_size(limits.memory_bytes.try_into().unwrap_or(usize::MAX)).build();
        let state = TransformState { table: ResourceTable::new(), wasi: WasiCtx::builder().build(), limits: limits_for_store };
        let mut store = Store::new(engine(), state);
        store.limiter(|state| &mut state.limits);
        store.set_fuel(limits.fuel).map_err(|error| error.to_string())?;
        let transformer =
            guest::Transformer::instantiate_async(&mut store, &component, &linker).await.map_err(|error| trap(name, error))?;
        let input = guest_transform::ObjectInput {
            key: input.key,
            content_type: input.content_type,
            size: input.size,
            user_metadata: input.user_metadata,
            tags: input.tags,
        };
        let handle = transformer
            .tessera_node_transform()
            .run()
            .call_constructor(&mut store, &input, &params)
            .await
            .map_err(|error| trap(name, error))?;
        Ok(Self { store, transformer, handle })
    }

    async fn write(&mut self, chunk: &[u8]) -> Result<Result<(), String>, String> {
        let run = self.transformer.tessera_node_transform().run();
        run.call_write(&mut self.store, self.handle, chunk).await.map_err(|error| trap("the transform", error))
    }

    async fn finish(&mut self) -> Result<Result<node::Verdict, String>, String> {
        let run = self.transformer.tessera_node_transform().run();
        let verdict = run.call_finish(&mut self.store, self.handle).await.map_err(|error| trap("the transform", error))?;
        Ok(verdict.map(|verdict| match verdict {
            guest_transform::Verdict::Outputs(outputs) => node::Verdict::Outputs(
                outputs
                    .into_iter()
                    .map(|output| node::ObjectOutput {
                        key: output.key,
                        content_type: output.content_type,
                        user_metadata: output.user_metadata,
                        tags: output.tags,
                        content: output.content,
                    })
                    .collect(),
            ),
            guest_transform::Verdict::Skip(why) => node::Verdict::Skip(why),
            guest_transform::Verdict::Reject(why) => node::Verdict::Reject(why),
            guest_transform::Verdict::Quarantine(why) => node::Verdict::Quarantine(why),
        }))
    }
}

/// A trap, out of fuel or out of memory, as the job records it.
fn trap(name: &str, error: wasmtime::Error) -> String {
    let error = anyhow_error(error);
    if error.chain().any(|cause| cause.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::OutOfFuel)) {
        return format!("{name} ran out of fuel (the job's limits.fuel): stopped");
    }
    format!("{name} failed: {error:#}")
}

impl TransformRunHandle {
    /// Runs `op` on a live run; a run that failed once stays failed.
    async fn with_run<T>(&mut self, op: impl AsyncFnOnce(&mut Running) -> Result<Result<T, String>, String>) -> Result<T, String> {
        let outcome = match &mut self.run {
            Ok(running) => op(running).await,
            Err(why) => return Err(why.clone()),
        };
        match outcome {
            Ok(result) => result,
            Err(trapped) => {
                self.run = Err(trapped.clone());
                Err(trapped)
            }
        }
    }
}

impl transforms::Host for State {}

impl transforms::HostTransformRun for State {
    async fn new(
        &mut self,
        transform: String,
        input: node::ObjectInput,
        params: Vec<(String, String)>,
        limits: Limits,
    ) -> wasmtime::Result<Resource<TransformRunHandle>> {
        let run = limited(Running::start(&transform, input, params, limits)).await;
        Ok(self.table.push(TransformRunHandle { run })?)
    }

    async fn write(&mut self, this: Resource<TransformRunHandle>, chunk: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        let handle = self.table.get_mut(&this)?;
        Ok(handle.with_run(async |running: &mut Running| limited(running.write(&chunk)).await).await)
    }

    async fn finish(&mut self, this: Resource<TransformRunHandle>) -> wasmtime::Result<Result<node::Verdict, String>> {
        let handle = self.table.get_mut(&this)?;
        Ok(handle.with_run(async |running: &mut Running| limited(running.finish()).await).await)
    }

    async fn drop(&mut self, this: Resource<TransformRunHandle>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

pub fn add_to_linker(linker: &mut wasmtime::component::Linker<State>) -> wasmtime::Result<()> {
    transforms::add_to_linker::<State, wasmtime::component::HasSelf<State>>(linker, |state| state)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLENTY: Limits = Limits { fuel: 5_000_000_000, memory_bytes: 256 << 20 };

    async fn transform(name: &str, limits: Limits, key: &str, body: &[u8]) -> Result<node::Verdict, String> {
        let input =
            node::ObjectInput { key: key.into(), content_type: None, size: body.len() as u64, user_metadata: Vec::new(), tags: Vec::new() };
        let mut handle = TransformRunHandle { run: Running::start(name, input, Vec::new(), limits).await };
        for chunk in body.chunks(1 << 20) {
            handle.with_run(async |running: &mut Running| running.write(chunk).await).await?;
        }
        handle.with_run(async |running: &mut Running| running.finish().await).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn to_markdown_runs_in_wasm_and_a_fuel_limit_stops_it() {
        let html =
            b"<html><head><title>x</title></head><body><h1>Title</h1><p>A <a href=\"https://example.com\">link</a>.</p></body></html>";
        match transform("to-markdown", PLENTY, "docs/page.html", html).await.unwrap() {
            node::Verdict::Outputs(outputs) => {
                assert_eq!(outputs.len(), 1);
                assert_eq!(outputs[0].key, "docs/page.md");
                let markdown = String::from_utf8(outputs[0].content.clone()).unwrap();
                assert!(markdown.starts_with("# Title") && markdown.contains("[link](https://example.com)"), "{markdown}");
                assert!(outputs[0].user_metadata.contains(&("source-key".into(), "docs/page.html".into())));
            }
            other => panic!("expected outputs, got {other:?}"),
        }
        match transform("to-markdown", PLENTY, "photo.jpg", b"\xff\xd8").await.unwrap() {
            node::Verdict::Skip(why) => assert!(why.contains("photo.jpg"), "{why}"),
            other => panic!("expected a skip, got {other:?}"),
        }
        // Out of fuel is a trap the runner reports, never a hang.
        let starved = transform("to-markdown", Limits { fuel: 10_000, ..PLENTY }, "docs/page.html", html).await;
        assert!(starved.is_err_and(|error| error.contains("ran out of fuel")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn guardrail_redacts_in_wasm_and_counts_what_it_found() {
        let text = b"Refund ann@example.com on card 4111 1111 1111 1111, not order 4111 1111 1111 1112.\n";
        match transform("guardrail", PLENTY, "mail/refund.txt", text).await.unwrap() {
            node::Verdict::Outputs(outputs) => {
                assert_eq!(outputs.len(), 1);
                assert_eq!(outputs[0].key, "mail/refund.txt");
                let redacted = String::from_utf8(outputs[0].content.clone()).unwrap();
                assert_eq!(redacted, "Refund [REDACTED:email] on card [REDACTED:card], not order 4111 1111 1111 1112.\n");
                assert!(outputs[0].user_metadata.contains(&("guardrail-redactions".into(), "email=1,card=1".into())));
            }
            other => panic!("expected outputs, got {other:?}"),
        }
        // Binary is skipped, not mangled.
        match transform("guardrail", PLENTY, "photo.jpg", b"\xff\xd8").await.unwrap() {
            node::Verdict::Skip(why) => assert!(why.contains("photo.jpg"), "{why}"),
            other => panic!("expected a skip, got {other:?}"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn unknown_transforms_are_named() {
        let error = transform("to-pdf", PLENTY, "a", b"x").await.unwrap_err();
        assert!(error.contains("unknown transform \"to-pdf\""), "{error}");
        let error = transform("/nowhere/plugin.wasm", PLENTY, "a", b"x").await.unwrap_err();
        assert!(error.contains("/nowhere/plugin.wasm"), "{error}");
    }
}
