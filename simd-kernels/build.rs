//! For Wasm builds, computes reed-solomon-simd's multiplication and skew tables once, at build
//! time, so that the SIMD128 engine finds them in its data segment: a fresh instance (one per
//! request) then pays nothing, instead of building 8 MiB of tables in ~13 ms before its first
//! encode. The tables are the crate's own, computed by the crate, so every engine still agrees.

use std::io::Write;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("wasm32") {
        return;
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut mul128 = Vec::with_capacity(128 << 16);
    for lut in reed_solomon_simd::engine::tables::get_mul128().iter() {
        for value in lut.lo.iter().chain(lut.hi.iter()) {
            mul128.extend_from_slice(&value.to_le_bytes());
        }
    }
    std::fs::File::create(out.join("mul128.bin")).and_then(|mut file| file.write_all(&mul128)).expect("writing mul128.bin");
    let skew: Vec<u8> = reed_solomon_simd::engine::tables::get_skew().iter().flat_map(|value| value.to_le_bytes()).collect();
    std::fs::write(out.join("skew.bin"), skew).expect("writing skew.bin");
}
