//! Failure kinds and the exit status they map to.
//!
//! The exit status drives alarms and paging, so every error that can end a
//! run is classified here, once. The worst outcome of a run decides its exit
//! code (ripgrep's sticky-error pattern): one instance failing never hides
//! another's data loss.

use std::fmt;
use std::process::ExitCode;

/// What kind of failure happened, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// Throttling, network, S3 or RDS 5xx, a reset body, a lost race:
    /// checkpoints are intact and the next run retries.
    Transient,
    /// Configuration, credentials, permissions, bad input: a person must
    /// fix something before any run can succeed.
    NeedsPerson,
    /// A gap (bytes rotated away before they were shipped), a fingerprint or
    /// content mismatch, or auditing switched off.
    DataLoss,
}

impl FailureKind {
    pub fn exit_code(self) -> u8 {
        match self {
            FailureKind::Transient => 1,
            FailureKind::NeedsPerson => 2,
            FailureKind::DataLoss => 3,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            FailureKind::Transient => "transient",
            FailureKind::NeedsPerson => "needs_person",
            FailureKind::DataLoss => "data_loss",
        }
    }
}

/// An error whose exit code matters: a kind plus a one-line message that
/// names the thing, the cause and the fix.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    /// A wait this run gave up on itself (its time limit, a signal): the
    /// work is left for the next run, which is a deferral, not a failure.
    pub abandoned: bool,
}

impl Failure {
    pub fn transient(message: impl Into<String>) -> Self {
        Failure { kind: FailureKind::Transient, message: message.into(), abandoned: false }
    }
    /// A read or call this run abandoned (time limit, signal).
    pub fn abandoned(message: impl Into<String>) -> Self {
        Failure { abandoned: true, ..Failure::transient(message) }
    }
    pub fn needs_person(message: impl Into<String>) -> Self {
        Failure { kind: FailureKind::NeedsPerson, message: message.into(), abandoned: false }
    }
    pub fn data_loss(message: impl Into<String>) -> Self {
        Failure { kind: FailureKind::DataLoss, message: message.into(), abandoned: false }
    }

    /// Prefix the message with where it happened, keeping the kind.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// The exit status of a whole run: the most severe failure seen, if any.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Severity(Option<FailureKind>);

impl Severity {
    pub fn record(&mut self, kind: FailureKind) {
        self.0 = self.0.max(Some(kind));
    }
    pub fn worst(self) -> Option<FailureKind> {
        self.0
    }
    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(self.0.map_or(0, FailureKind::exit_code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_failure_decides_exit_code() {
        let mut s = Severity::default();
        assert_eq!(s.worst(), None);
        s.record(FailureKind::DataLoss);
        s.record(FailureKind::Transient);
        s.record(FailureKind::NeedsPerson);
        assert_eq!(s.worst(), Some(FailureKind::DataLoss));
        assert_eq!(FailureKind::DataLoss.exit_code(), 3);
        assert_eq!(FailureKind::NeedsPerson.exit_code(), 2);
        assert_eq!(FailureKind::Transient.exit_code(), 1);
    }
}
