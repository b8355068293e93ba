//! What every drive implementation shares, as a plain library (no component exports, so any
//! crate can link it):
//! - `local`: the drive contract's path rules, faults and lock polling, and a drive folder over
//!   `std::fs`, which the native host serves its `drive` import with and the `drive-fs`
//!   component exports over `wasi:filesystem` preopens. `drive-kv` and `kv-fs` borrow the rules.

pub mod local;

/// `impl From<Fault> for $error`, for the `drive-error` type that each implementation's WIT
/// bindings generate (the host's, drive-fs's, drive-kv's): one mapping, written once.
#[macro_export]
macro_rules! fault_into_drive_error {
    ($error:ty) => {
        impl From<$crate::local::Fault> for $error {
            fn from(fault: $crate::local::Fault) -> Self {
                match fault {
                    $crate::local::Fault::NotFound => Self::NotFound,
                    $crate::local::Fault::InvalidPath(why) => Self::InvalidPath(why),
                    $crate::local::Fault::NotEmpty => Self::NotEmpty,
                    $crate::local::Fault::TooLarge => Self::TooLarge,
                    $crate::local::Fault::Faulty(why) => Self::Faulty(why),
                }
            }
        }
    };
}
