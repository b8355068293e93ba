//! Host-side bindings of `tessera:node` (world `host`). Generated names stay in here; the rest
//! of the host uses the re-exports.

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "tessera:node/host",
        imports: {
            "tessera:node/drive.[method]drive.label": trappable,
            "tessera:node/erasure.engine": trappable,
            default: async | trappable,
        },
        with: {
            "tessera:node/drive.drive": crate::drive::DriveHandle,
            "tessera:node/drive.writer": crate::drive::WriterHandle,
        },
        trappable_error_type: { "tessera:node/drive.drive-error" => crate::drive::HostDriveError },
    });
}

pub use generated::tessera::node::{drive, erasure};
