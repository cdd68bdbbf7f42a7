//! Names the build in `--version`: the commit it was built from and the
//! day it was built, so a binary found on a laptop or in an image tells
//! which code it runs.
//!
//! The commit comes from `AUDITSHIP_COMMIT` (an image build has no `.git`:
//! `docker build --build-arg AUDITSHIP_COMMIT=$(git rev-parse HEAD)`), else
//! from git, else it is `unknown`. The day is `SOURCE_DATE_EPOCH`'s when set
//! (reproducible builds), else today's (UTC). The script runs again when
//! the checked-out commit changes, not on every build.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-env-changed=AUDITSHIP_COMMIT");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    // Only files that exist: a missing one would make every build rerun this.
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    let watched = ["HEAD".to_string(), "packed-refs".to_string()].into_iter().chain(branch);
    for path in watched.filter_map(|p| git(&["rev-parse", "--git-path", &p])) {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    let commit = std::env::var("AUDITSHIP_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "HEAD"]))
        .map_or("unknown".to_string(), |c| c.chars().take(12).collect());
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()));
    println!("cargo:rustc-env=AUDITSHIP_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=AUDITSHIP_BUILD_DATE={}", civil_date(seconds / 86_400));
}

/// A git command's trimmed output, if git is there and it succeeds.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01 (the proleptic Gregorian
/// calendar, by the well-known `civil_from_days` arithmetic).
fn civil_date(days: u64) -> String {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
