//! Host-side bindings of `tessera:node` (world `host`). Generated names stay in here; the rest
//! of the host uses the re-exports.

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "tessera:node/host",
        imports: {
            "tessera:node/drive.[method]drive.label": trappable,
            "tessera:node/drive.[method]reader.size": trappable,
            "tessera:node/erasure.engine": trappable,
            default: async | trappable,
        },
        exports: { default: async },
        with: {
            "tessera:node/drive.drive": crate::drive::DriveHandle,
            "tessera:node/drive.writer": crate::drive::WriterHandle,
            "tessera:node/drive.reader": crate::drive::ReaderHandle,
            "tessera:node/locks.lease": crate::locks::LeaseHandle,
            "tessera:node/transforms.transform-run": crate::transform::TransformRunHandle,
        },
        trappable_error_type: { "tessera:node/drive.drive-error" => crate::drive::HostDriveError },
    });
}

pub use generated::exports::tessera::node::{maintenance, replication};
pub use generated::tessera::node::{drive, erasure, locks, transforms};
/// The node's exports the host calls (`maintenance`), found on an instance of the node.
pub use generated::{Host_ as NodeExports, Host_Pre as NodeExportsPre};
