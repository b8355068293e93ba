//! Batch transforms in wasmtime: a transform component (`wit/transform.wit`) run on one
//! object under a fuel limit, so that a transform that loops forever is stopped instead of the
//! node. Today this is the test harness of the built-in `to-markdown` and `guardrail`; the
//! batch runner (issue 8) grows from it.

#[cfg(test)]
mod tests {
    use std::path::Path;

    use wasmtime::component::{Component, Linker, ResourceTable};
    use wasmtime::{Config, Engine, Store};
    use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

    mod bindings {
        wasmtime::component::bindgen!({
            path: "../wit",
            world: "tessera:node/transformer",
            exports: { default: async },
        });
    }

    use bindings::exports::tessera::node::transform::{ObjectInput, Verdict};

    struct Ctx {
        table: ResourceTable,
        wasi: WasiCtx,
    }

    impl WasiView for Ctx {
        fn ctx(&mut self) -> WasiCtxView<'_> {
            WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
        }
    }

    fn engine() -> Engine {
        let mut config = Config::new();
        config.wasm_component_model(true).consume_fuel(true);
        Engine::new(&config).unwrap()
    }

    async fn transform(engine: &Engine, component: &Component, fuel: u64, key: &str, body: &[u8]) -> wasmtime::Result<Verdict> {
        let mut linker = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        let mut store = Store::new(engine, Ctx { table: ResourceTable::new(), wasi: WasiCtx::builder().build() });
        store.set_fuel(fuel)?;
        let transformer = bindings::Transformer::instantiate_async(&mut store, component, &linker).await?;
        let run = transformer.tessera_node_transform().run();
        let input =
            ObjectInput { key: key.into(), content_type: None, size: body.len() as u64, user_metadata: Vec::new(), tags: Vec::new() };
        let handle = run.call_constructor(&mut store, &input, &[]).await?;
        for chunk in body.chunks(1 << 20) {
            run.call_write(&mut store, handle, chunk).await?.map_err(wasmtime::Error::msg)?;
        }
        run.call_finish(&mut store, handle).await?.map_err(wasmtime::Error::msg)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn to_markdown_runs_in_wasm_and_a_fuel_limit_stops_it() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release/to_markdown.wasm");
        assert!(path.exists(), "{} is missing: run the tests with `cargo xtask test`", path.display());
        let engine = engine();
        let component = Component::from_file(&engine, &path).unwrap();
        let html =
            b"<html><head><title>x</title></head><body><h1>Title</h1><p>A <a href=\"https://example.com\">link</a>.</p></body></html>";
        match transform(&engine, &component, 5_000_000_000, "docs/page.html", html).await.unwrap() {
            Verdict::Outputs(outputs) => {
                assert_eq!(outputs.len(), 1);
                assert_eq!(outputs[0].key, "docs/page.md");
                let markdown = String::from_utf8(outputs[0].content.clone()).unwrap();
                assert!(markdown.starts_with("# Title") && markdown.contains("[link](https://example.com)"), "{markdown}");
                assert!(outputs[0].user_metadata.contains(&("source-key".into(), "docs/page.html".into())));
            }
            other => panic!("expected outputs, got {other:?}"),
        }
        match transform(&engine, &component, 5_000_000_000, "photo.jpg", b"\xff\xd8").await.unwrap() {
            Verdict::Skip(why) => assert!(why.contains("photo.jpg"), "{why}"),
            other => panic!("expected a skip, got {other:?}"),
        }
        // Out of fuel is a trap the runner reports, never a hang.
        let starved = transform(&engine, &component, 10_000, "docs/page.html", html).await;
        assert!(starved.is_err_and(|error| format!("{error:?}").contains("fuel")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn guardrail_redacts_in_wasm_and_counts_what_it_found() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release/guardrail.wasm");
        assert!(path.exists(), "{} is missing: run the tests with `cargo xtask test`", path.display());
        let engine = engine();
        let component = Component::from_file(&engine, &path).unwrap();
        let text = b"Refund ann@example.com on card 4111 1111 1111 1111, not order 4111 1111 1111 1112.\n";
        match transform(&engine, &component, 5_000_000_000, "mail/refund.txt", text).await.unwrap() {
            Verdict::Outputs(outputs) => {
                assert_eq!(outputs.len(), 1);
                assert_eq!(outputs[0].key, "mail/refund.txt");
                let redacted = String::from_utf8(outputs[0].content.clone()).unwrap();
                assert_eq!(redacted, "Refund [REDACTED:email] on card [REDACTED:card], not order 4111 1111 1111 1112.\n");
                assert!(outputs[0].user_metadata.contains(&("guardrail-redactions".into(), "email=1,card=1".into())));
            }
            other => panic!("expected outputs, got {other:?}"),
        }
        // Binary is skipped, not mangled.
        match transform(&engine, &component, 5_000_000_000, "photo.jpg", b"\xff\xd8").await.unwrap() {
            Verdict::Skip(why) => assert!(why.contains("photo.jpg"), "{why}"),
            other => panic!("expected a skip, got {other:?}"),
        }
    }
}
