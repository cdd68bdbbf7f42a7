//! List: an instance's audit files, as DescribeDBLogFiles reports them.
//!
//! Two naming schemes exist. The MariaDB audit plugin (RDS for MySQL and
//! MariaDB) writes `audit/server_audit.log` and renames it to `.1`, `.1` to
//! `.2`, … on rotation (zero-padded when ROTATIONS ≥ 10). Aurora MySQL writes
//! four stripes at once, `audit/audit.log.<0-3>.<YYYY-MM-DD-HH-MM>.<n>`, with
//! stable names. Either way a name only tells whether the file can still
//! grow and how old it is relative to its siblings; identity comes from the
//! content (see `identify`).

use crate::aws::{classify, instance_not_found, permission_hint, status_of};
use crate::error::{Failure, FailureKind};
use crate::instance::Instance;
use aws_sdk_rds::error::ProvideErrorMetadata;
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    pub name: String,
    pub size: u64,
    pub last_written_ms: i64,
    pub kind: AuditName,
}

/// What a file's name says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditName {
    /// `audit/server_audit.log`: the plugin's active file.
    MariaDbActive,
    /// `audit/server_audit.log.N`: rotated, N-th newest.
    MariaDbRotated(u32),
    /// `audit/audit.log.<stripe>.<YYYY-MM-DD-HH-MM>.<n>`.
    Aurora { stripe: u8, minute: u64, seq: u32 },
}

impl AuditName {
    /// The Aurora stripe the file belongs to; MariaDB files have none.
    pub fn stripe(&self) -> Option<u8> {
        match self {
            AuditName::Aurora { stripe, .. } => Some(*stripe),
            _ => None,
        }
    }

    pub fn parse(name: &str) -> Option<AuditName> {
        let base = name.strip_prefix("audit/")?;
        if let Some(rest) = base.strip_prefix("server_audit.log") {
            return match rest {
                "" => Some(AuditName::MariaDbActive),
                _ => {
                    let n = rest.strip_prefix('.')?;
                    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                        return None;
                    }
                    Some(AuditName::MariaDbRotated(n.parse().ok()?))
                }
            };
        }
        let rest = base.strip_prefix("audit.log.")?;
        let mut parts = rest.split('.');
        let stripe: u8 = parts.next()?.parse().ok()?;
        let stamp = parts.next()?;
        let seq: u32 = parts.next()?.parse().ok()?;
        if parts.next().is_some() || stripe > 9 {
            return None;
        }
        let digits: String = stamp.split('-').collect();
        if stamp.split('-').count() != 5 || digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(AuditName::Aurora { stripe, minute: digits.parse().ok()?, seq })
    }
}

impl LogFile {
    /// Newest first: the active MariaDB file, then `.1`, `.2`, …; Aurora
    /// files by their name's time, newest first.
    pub fn newest_first(a: &LogFile, b: &LogFile) -> Ordering {
        use AuditName::*;
        match (a.kind, b.kind) {
            (MariaDbActive, MariaDbActive) => Ordering::Equal,
            (MariaDbActive, _) => Ordering::Less,
            (_, MariaDbActive) => Ordering::Greater,
            (MariaDbRotated(x), MariaDbRotated(y)) => x.cmp(&y),
            (Aurora { minute: m1, seq: s1, stripe: t1 }, Aurora { minute: m2, seq: s2, stripe: t2 }) => {
                (m2, s2, t2).cmp(&(m1, s1, t1))
            }
            (Aurora { .. }, _) => Ordering::Less,
            (_, Aurora { .. }) => Ordering::Greater,
        }
    }
}

/// Marks which files can still grow. MariaDB: only `server_audit.log`.
/// Aurora: the newest file of each stripe.
pub fn active_flags(files: &[LogFile]) -> Vec<bool> {
    files
        .iter()
        .map(|f| match f.kind {
            AuditName::MariaDbActive => true,
            AuditName::MariaDbRotated(_) => false,
            AuditName::Aurora { stripe, minute, seq } => !files.iter().any(|g| {
                matches!(g.kind, AuditName::Aurora { stripe: s2, minute: m2, seq: q2 }
                    if s2 == stripe && (m2, q2) > (minute, seq))
            }),
        })
        .collect()
}

/// Lists the instance's audit files, every page, newest first. Files that
/// are not audit files (foreign names under `audit/`) are left out.
pub async fn audit_files(rds: &aws_sdk_rds::Client, instance: &Instance) -> Result<Vec<LogFile>, Failure> {
    let mut files = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = rds
            .describe_db_log_files()
            .db_instance_identifier(&instance.id.0)
            .filename_contains("audit")
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| {
                let f = classify(&e);
                match e.code() {
                    code if instance_not_found(code) => Failure::data_loss(format!(
                        "instance {} ({}) vanished after discovery ({}): audit bytes not yet shipped from it are lost",
                        instance.id, instance.resource_id, f.message
                    )),
                    _ if f.kind == FailureKind::NeedsPerson && status_of(&e).is_some() => f.context(format!(
                        "DescribeDBLogFiles {} ({})",
                        instance.id,
                        permission_hint("rds:DescribeDBLogFiles")
                    )),
                    _ => f.context(format!("DescribeDBLogFiles {}", instance.id)),
                }
            })?;
        for d in page.describe_db_log_files() {
            let Some(name) = d.log_file_name() else { continue };
            match AuditName::parse(name) {
                Some(kind) => files.push(LogFile {
                    name: name.to_string(),
                    size: d.size().unwrap_or(0).max(0) as u64,
                    last_written_ms: d.last_written().unwrap_or(0),
                    kind,
                }),
                None => tracing::debug!(instance = %instance.id, file = name, "not an audit file; ignored"),
            }
        }
        match page.marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_string()),
            _ => break,
        }
    }
    files.sort_by(LogFile::newest_first);
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> LogFile {
        LogFile { name: name.into(), size: 1, last_written_ms: 0, kind: AuditName::parse(name).unwrap() }
    }

    #[test]
    fn parses_mariadb_names_including_zero_padded() {
        assert_eq!(AuditName::parse("audit/server_audit.log"), Some(AuditName::MariaDbActive));
        assert_eq!(AuditName::parse("audit/server_audit.log.3"), Some(AuditName::MariaDbRotated(3)));
        assert_eq!(AuditName::parse("audit/server_audit.log.07"), Some(AuditName::MariaDbRotated(7)));
        assert_eq!(AuditName::parse("audit/server_audit.log.12"), Some(AuditName::MariaDbRotated(12)));
    }

    #[test]
    fn parses_aurora_names() {
        assert_eq!(
            AuditName::parse("audit/audit.log.2.2026-11-21-22-39.1"),
            Some(AuditName::Aurora { stripe: 2, minute: 202611212239, seq: 1 })
        );
    }

    #[test]
    fn foreign_names_are_not_audit_files() {
        for n in [
            "error/mysql-error.log",
            "audit/server_audit.log.bak",
            "audit/server_audit.log.",
            "audit/notes.txt",
            "server_audit.log",
            "audit/audit.log.1.2026-11-21.0",
            "audit/audit.log.x.2026-11-21-22-39.0",
        ] {
            assert_eq!(AuditName::parse(n), None, "{n}");
        }
    }

    #[test]
    fn newest_first_order() {
        let mut files = [
            file("audit/server_audit.log.2"),
            file("audit/server_audit.log"),
            file("audit/server_audit.log.10"),
            file("audit/server_audit.log.1"),
        ];
        files.sort_by(LogFile::newest_first);
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "audit/server_audit.log",
                "audit/server_audit.log.1",
                "audit/server_audit.log.2",
                "audit/server_audit.log.10"
            ]
        );
    }

    #[test]
    fn aurora_newest_file_per_stripe_is_active() {
        let files = vec![
            file("audit/audit.log.0.2026-11-21-22-39.0"),
            file("audit/audit.log.0.2026-11-21-23-10.0"),
            file("audit/audit.log.1.2026-11-21-22-39.0"),
            file("audit/audit.log.1.2026-11-21-22-39.1"),
        ];
        assert_eq!(active_flags(&files), vec![false, true, false, true]);
        let maria = vec![file("audit/server_audit.log"), file("audit/server_audit.log.1")];
        assert_eq!(active_flags(&maria), vec![true, false]);
    }
}
