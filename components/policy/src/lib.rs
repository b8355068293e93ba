//! IAM-style access policies, as MinIO and AWS write them: JSON documents of Allow and Deny
//! statements over actions (`s3:GetObject`, `s3:*`, `admin:*`), resources
//! (`arn:aws:s3:::bucket/prefix*`) and a subset of conditions. The gateway evaluates every
//! request with them; this crate has no I/O, so all of it is unit-tested natively.
//!
//! - `document`: parsing and validation, with errors that name the offending field;
//! - `evaluate`: the decision for one request (explicit Deny wins, then Allow, else deny);
//! - `canned`: `readwrite`, `readonly`, `writeonly`, `consoleAdmin`;
//! - `actions`: which action each S3 operation needs.

pub mod actions;
pub mod canned;
pub mod document;
pub mod evaluate;
mod glob;
mod ip;

pub use document::{Effect, Kind, Policy, PolicyError, parse};
pub use evaluate::{Decision, RequestContext, evaluate};
