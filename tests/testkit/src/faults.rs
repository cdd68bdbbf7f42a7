//! The faults the rig's servers inject, as their control endpoints take
//! them: a JSON list posted to `POST /_emulator/faults` (the RDS emulator,
//! [`RdsFault`]) or `POST /_proxy/faults` (the S3 fault proxy,
//! [`S3Fault`]); `DELETE` on the same path removes them all.
//!
//! A fault matches requests by its filters, lets the first `skip` matches
//! through, then applies to the next `times` matches and is spent. Faults
//! are tried in the order they were posted; the first that applies wins.
//!
//! The JSON is the serde form of these types: field names as written,
//! kinds in snake_case (`"empty_listing"`, `"slow_down"`), absent fields
//! taking the defaults [`RdsFault::new`] and [`S3Fault::new`] set.
//!
//! ```
//! use auditship_testkit::faults::{RdsFault, RdsFaultKind, S3Fault, S3FaultKind};
//! let rds = RdsFault::new("DescribeDBLogFiles", RdsFaultKind::EmptyListing).instance("primary").times(100);
//! let s3 = S3Fault::new("PUT", S3FaultKind::SlowDown).path_contains("/primary/").times(2);
//! assert_eq!(
//!     serde_json::to_string(&[rds]).unwrap(),
//!     r#"[{"action":"DescribeDBLogFiles","kind":"empty_listing","instance":"primary","skip":0,"times":100,"after_bytes":0,"delay_ms":0}]"#
//! );
//! assert_eq!(
//!     serde_json::to_string(&[s3]).unwrap(),
//!     r#"[{"method":"PUT","path_contains":"/primary/","query_contains":"","kind":"slow_down","skip":0,"times":2}]"#
//! );
//! ```

use serde::{Deserialize, Serialize};

fn one() -> u32 {
    1
}

/// A fault the RDS emulator injects into matching API requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RdsFault {
    /// The action it applies to (`DescribeDBInstances`, `DescribeDBLogFiles`,
    /// `DownloadCompleteDBLogFile`, …), or `*` for every action.
    pub action: String,
    /// What happens to a matching request.
    pub kind: RdsFaultKind,
    /// Only requests for a log file whose name contains this (a request
    /// naming no file does not match). Default: any file, or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_contains: Option<String>,
    /// Only requests for this DB instance identifier. Default: any instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Matching requests let through before the fault applies. Default 0.
    #[serde(default)]
    pub skip: u32,
    /// How many matching requests it applies to (after `skip`). Default 1.
    #[serde(default = "one")]
    pub times: u32,
    /// For `reset_mid_body`, `stall_body` and `splice_on_rotation`: body
    /// bytes sent before the break, stall or rotation. Default 0.
    #[serde(default)]
    pub after_bytes: u64,
    /// For `slow_body`: milliseconds of pause before each 16 KiB chunk.
    /// Default 0.
    #[serde(default)]
    pub delay_ms: u64,
}

impl RdsFault {
    /// A fault on `action` (`*`: every action), any instance and file,
    /// applying once, at once.
    pub fn new(action: impl Into<String>, kind: RdsFaultKind) -> RdsFault {
        RdsFault {
            action: action.into(),
            kind,
            file_contains: None,
            instance: None,
            skip: 0,
            times: 1,
            after_bytes: 0,
            delay_ms: 0,
        }
    }

    /// Only requests for files whose name contains `part`.
    pub fn file_contains(mut self, part: impl Into<String>) -> RdsFault {
        self.file_contains = Some(part.into());
        self
    }

    /// Only requests for this DB instance identifier.
    pub fn instance(mut self, id: impl Into<String>) -> RdsFault {
        self.instance = Some(id.into());
        self
    }

    /// Lets `n` matching requests through first.
    pub fn skip(mut self, n: u32) -> RdsFault {
        self.skip = n;
        self
    }

    /// Applies to `n` matching requests.
    pub fn times(mut self, n: u32) -> RdsFault {
        self.times = n;
        self
    }

    /// Body bytes sent before a body fault acts.
    pub fn after_bytes(mut self, n: u64) -> RdsFault {
        self.after_bytes = n;
        self
    }

    /// Pause before each body chunk (`slow_body`).
    pub fn delay_ms(mut self, ms: u64) -> RdsFault {
        self.delay_ms = ms;
        self
    }
}

/// What the RDS emulator does to a request an [`RdsFault`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RdsFaultKind {
    /// 400 Throttling: Rate exceeded.
    Throttle,
    /// 400 ThrottlingException.
    ThrottlingException,
    /// 500 InternalFailure.
    ServerError,
    /// 503 ServiceUnavailable.
    Unavailable,
    /// 403 AccessDenied.
    Forbidden,
    /// An empty DescribeDBLogFiles answer. Only with action
    /// `DescribeDBLogFiles` or `*`; the emulator applies it to every
    /// instance's listing, without looking at `instance` or `file_contains`.
    EmptyListing,
    /// Complete-file body breaks off after `after_bytes`.
    ResetMidBody,
    /// Complete-file body stops sending after `after_bytes` (for an hour).
    StallBody,
    /// Complete-file body sent slowly: `delay_ms` before each chunk.
    SlowBody,
    /// The database rotates its audit file just before the download is
    /// served (the instance's `rotate_command`): names shift under the reader.
    RotateFirst,
    /// The body is read by name, chunk by chunk, and the database rotates
    /// after `after_bytes`: the rest comes from whatever file now has the
    /// name. A server that reads this way splices two files into one body.
    SpliceOnRotation,
}

impl RdsFaultKind {
    /// Whether it acts on a complete-file download's body (applied by the
    /// download itself) rather than answering in place of the API.
    pub fn is_body_fault(self) -> bool {
        matches!(
            self,
            RdsFaultKind::ResetMidBody
                | RdsFaultKind::StallBody
                | RdsFaultKind::SlowBody
                | RdsFaultKind::RotateFirst
                | RdsFaultKind::SpliceOnRotation
        )
    }
}

/// A fault the S3 proxy injects into matching requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Fault {
    /// HTTP method (`PUT`, `POST`, `GET`, …), or `*` for every method.
    pub method: String,
    /// Only requests whose path (`/bucket/key`) contains this. Default
    /// `""`: any path.
    #[serde(default)]
    pub path_contains: String,
    /// Only requests whose query string contains this (e.g. `uploadId`).
    /// Default `""`: any query.
    #[serde(default)]
    pub query_contains: String,
    /// What happens to a matching request.
    pub kind: S3FaultKind,
    /// Matching requests let through before the fault applies. Default 0.
    #[serde(default)]
    pub skip: u32,
    /// How many matching requests it applies to (after `skip`). Default 1.
    #[serde(default = "one")]
    pub times: u32,
}

impl S3Fault {
    /// A fault on requests with `method` (`*`: every method), any path and
    /// query, applying once, at once.
    pub fn new(method: impl Into<String>, kind: S3FaultKind) -> S3Fault {
        S3Fault {
            method: method.into(),
            path_contains: String::new(),
            query_contains: String::new(),
            kind,
            skip: 0,
            times: 1,
        }
    }

    /// Only requests whose path contains `part`.
    pub fn path_contains(mut self, part: impl Into<String>) -> S3Fault {
        self.path_contains = part.into();
        self
    }

    /// Only requests whose query string contains `part`.
    pub fn query_contains(mut self, part: impl Into<String>) -> S3Fault {
        self.query_contains = part.into();
        self
    }

    /// Lets `n` matching requests through first.
    pub fn skip(mut self, n: u32) -> S3Fault {
        self.skip = n;
        self
    }

    /// Applies to `n` matching requests.
    pub fn times(mut self, n: u32) -> S3Fault {
        self.times = n;
        self
    }
}

/// What the S3 proxy does with a request an [`S3Fault`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum S3FaultKind {
    /// 500 InternalError, not forwarded.
    InternalError,
    /// 503 SlowDown, not forwarded.
    SlowDown,
    /// 409 ConditionalRequestConflict, not forwarded.
    Conflict,
    /// 403 AccessDenied, not forwarded.
    Forbidden,
    /// Never answer (until the client gives up or is killed).
    Stall,
    /// Forward the request, then drop the connection instead of answering:
    /// the write happened but the client never hears of it.
    ForwardThenDrop,
    /// Drop the connection without forwarding.
    Drop,
    /// Forward the request, then answer 412 as if another writer's
    /// identical request had won the race a moment earlier.
    ForwardThenPreconditionFailed,
    /// Forward the request without its If-Match / If-None-Match headers,
    /// as an S3-compatible store that does not implement them would.
    IgnorePreconditions,
    /// 200 with an XML body that is not the call's response, as an
    /// S3-compatible store answers a call it implements otherwise.
    ForeignAnswer,
}

/// What the emulator's complete-file download does with a `Range` header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RangeBehaviour {
    /// `206` with the bytes asked for and their `Content-Range`; `416`
    /// past the end.
    #[default]
    Honoured,
    /// `200` and the whole file, as an endpoint that knows no ranges.
    Ignored,
    /// `206` for another range than asked, honestly labelled.
    Misplaced,
    /// `206` labelled as the range asked for, with bytes from elsewhere.
    Shifted,
}

/// What it does with `Accept-Encoding: gzip` (on a whole-file read).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GzipBehaviour {
    /// `Content-Encoding: gzip`, the body compressed as it streams.
    #[default]
    Honoured,
    /// Identity bytes, no `Content-Encoding`.
    Ignored,
    /// `Content-Encoding: gzip` on identity bytes.
    Lying,
}

/// `POST /_emulator/download`: how the download endpoint behaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadBehaviour {
    #[serde(default)]
    pub ranges: RangeBehaviour,
    #[serde(default)]
    pub gzip: GzipBehaviour,
}

/// What the RDS emulator has streamed of one instance's complete-file
/// download bodies (`GET /_emulator/bodies`: instance id → this), for
/// tests that must act while a download is under way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyCounts {
    /// Bodies the emulator began to stream.
    pub started: u64,
    /// Bodies it stopped streaming: the whole file sent, an injected break,
    /// or the client gone (noticed within one chunk, or at once while a
    /// body stalls or pauses).
    pub finished: u64,
    /// Body bytes handed to the connection (compressed, for a gzip
    /// body), over all bodies.
    pub bytes: u64,
    /// Bytes of files those bodies held.
    #[serde(default)]
    pub file_bytes: u64,
}

impl BodyCounts {
    /// Bodies being streamed right now.
    pub fn in_flight(&self) -> u64 {
        self.started.saturating_sub(self.finished)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON tests used to post by hand reads as the builders' values,
    /// and the builders' JSON reads back as itself.
    #[test]
    fn the_json_shape_is_the_one_the_endpoints_always_took() {
        let rds: Vec<RdsFault> = serde_json::from_str(
            r#"[{"action":"DownloadCompleteDBLogFile","kind":"stall_body","instance":"primary","file_contains":"server_audit.log.1","after_bytes":3000,"skip":1,"times":1},
                {"action":"DescribeDBLogFiles","kind":"empty_listing"},
                {"action":"*","kind":"slow_body","delay_ms":400,"times":1000}]"#,
        )
        .unwrap();
        let want = [
            RdsFault::new("DownloadCompleteDBLogFile", RdsFaultKind::StallBody)
                .instance("primary")
                .file_contains("server_audit.log.1")
                .after_bytes(3000)
                .skip(1),
            RdsFault::new("DescribeDBLogFiles", RdsFaultKind::EmptyListing),
            RdsFault::new("*", RdsFaultKind::SlowBody).delay_ms(400).times(1000),
        ];
        assert_eq!(rds, want);
        assert_eq!(serde_json::from_str::<Vec<RdsFault>>(&serde_json::to_string(&want).unwrap()).unwrap(), want);

        let s3: Vec<S3Fault> = serde_json::from_str(
            r#"[{"method":"PUT","path_contains":"/primary/","kind":"forward_then_precondition_failed","times":2},
                {"method":"POST","query_contains":"uploadId","kind":"stall"},
                {"method":"*","kind":"ignore_preconditions","skip":3}]"#,
        )
        .unwrap();
        let want = [
            S3Fault::new("PUT", S3FaultKind::ForwardThenPreconditionFailed).path_contains("/primary/").times(2),
            S3Fault::new("POST", S3FaultKind::Stall).query_contains("uploadId"),
            S3Fault::new("*", S3FaultKind::IgnorePreconditions).skip(3),
        ];
        assert_eq!(s3, want);
        assert_eq!(serde_json::from_str::<Vec<S3Fault>>(&serde_json::to_string(&want).unwrap()).unwrap(), want);

        // Every kind by its snake_case name.
        for (name, kind) in [
            ("throttle", RdsFaultKind::Throttle),
            ("throttling_exception", RdsFaultKind::ThrottlingException),
            ("server_error", RdsFaultKind::ServerError),
            ("unavailable", RdsFaultKind::Unavailable),
            ("forbidden", RdsFaultKind::Forbidden),
            ("empty_listing", RdsFaultKind::EmptyListing),
            ("reset_mid_body", RdsFaultKind::ResetMidBody),
            ("stall_body", RdsFaultKind::StallBody),
            ("slow_body", RdsFaultKind::SlowBody),
            ("rotate_first", RdsFaultKind::RotateFirst),
            ("splice_on_rotation", RdsFaultKind::SpliceOnRotation),
        ] {
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
        }
        for (name, kind) in [
            ("internal_error", S3FaultKind::InternalError),
            ("slow_down", S3FaultKind::SlowDown),
            ("conflict", S3FaultKind::Conflict),
            ("forbidden", S3FaultKind::Forbidden),
            ("stall", S3FaultKind::Stall),
            ("forward_then_drop", S3FaultKind::ForwardThenDrop),
            ("drop", S3FaultKind::Drop),
            ("forward_then_precondition_failed", S3FaultKind::ForwardThenPreconditionFailed),
            ("ignore_preconditions", S3FaultKind::IgnorePreconditions),
        ] {
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{name}\""));
        }
    }
}
