//! Evidence: signed, chained digests of what landed, so that an auditor
//! can check that nothing was altered or removed after it landed, and that
//! nothing the instances wrote went missing, with the public key alone.
//!
//! - `digest`: the digest's layout, the signing string, periods (pure).
//! - `signing`: signers (a local Ed25519 key, a KMS key) and checking a
//!   signature with a public key.
//! - `seal`: a run seals every period that has ended: builds the period's
//!   digest from the checkpoint's ledger, signs it, creates it with
//!   `If-None-Match`, and adopts the one already there if another run got
//!   there first. One chain per instance (resource id).
//!
//! Objects are recorded in the checkpoint's `DigestLedger` as S3 confirms
//! them (`pipeline::file`), in the same write that moves their file's
//! offset past them.

pub mod audit;
pub mod chain;
pub mod digest;
pub mod history;
pub mod seal;
pub mod signing;

use chrono::{DateTime, Utc};
use signing::Signer;
use std::sync::Arc;
use std::time::Duration;

/// What time it is, for digests: the system clock in production, a clock
/// the tests move.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock, moved by a fixed offset (0 in production; the process
/// tests move it to seal periods without waiting for them to end).
pub struct SystemClock {
    pub offset: chrono::Duration,
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }
}

/// Digests for a run: who signs them, how long a period is, and the clock.
#[derive(Clone)]
pub struct Evidence {
    pub signer: Arc<dyn Signer>,
    pub period: Duration,
    pub clock: Arc<dyn Clock>,
}
