//! The run id: one per process (`run`, `backfill`; per pass with
//! `--interval`), in its "run started" and "run finished" log lines, in
//! every loss it logs, and in the checkpoint and digest records of the
//! losses it detected and reported. It is how an auditor gets from a loss
//! in a digest to the logs and the exit-3 alarm of the run behind it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// `20261206T214512Z-9f3a1c2b`: when the run began (UTC, to the second)
/// and 32 random bits, so runs that begin in the same second differ.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub String);

impl RunId {
    /// A new run's id, from the clock and the system's random source.
    pub fn generate() -> RunId {
        let mut nonce = [0u8; 4];
        // The id names a run in logs; it guards nothing, so a source that
        // fails (it does not on Linux) falls back to the process id.
        if aws_lc_rs::rand::fill(&mut nonce).is_err() {
            nonce = std::process::id().to_le_bytes();
        }
        RunId::of(Utc::now(), nonce)
    }

    pub fn of(began: DateTime<Utc>, nonce: [u8; 4]) -> RunId {
        RunId(format!("{}-{}", began.format("%Y%m%dT%H%M%SZ"), hex::encode(nonce)))
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_id_names_its_start_and_differs_between_runs_of_one_second() {
        let began: DateTime<Utc> = "2026-12-06T21:45:12.734Z".parse().unwrap();
        assert_eq!(RunId::of(began, [0x9f, 0x3a, 0x1c, 0x2b]).0, "20261206T214512Z-9f3a1c2b");
        let ids: std::collections::BTreeSet<RunId> = (0..64).map(|_| RunId::generate()).collect();
        assert!(ids.len() > 60, "32 random bits repeat in 64 draws only by rare chance: {ids:?}");
    }
}
