//! In-process simulation: the pipeline driven through its `LogSource` and
//! `ObjectStore` traits against a simulated instance and an in-memory store
//! with S3's conditional-write rules. Test support only: compiled for
//! `cargo test`, never into the binary.
//!
//! Every call the pipeline makes (a listing, an open, each chunk of a
//! download, each S3 request) is a numbered step of one `World`. A schedule
//! places events (appends, rotations, an instance replacement) before any
//! step and can kill a run at any step, so a rotation can land between any
//! two calls. The world keeps the truth (every file that ever existed, with
//! all its bytes), so the oracle in `check` is exact.

pub mod failing;
pub mod instance;
pub mod store;
pub mod world;

#[cfg(test)]
mod check;
