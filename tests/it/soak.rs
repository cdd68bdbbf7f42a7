//! Soak: many rounds of real traffic and rotations, each followed by a run
//! under a random mix of faults (RDS and S3 errors, resets, stalls,
//! rotations during reads, kills, overlapping runs). Some rounds rotate
//! faster than the plugin keeps files, forcing a real loss.
//!
//! At the end every byte of every file the rig saw is in S3 exactly once
//! and byte-identical, except files the worker reported lost; every forced
//! loss was reported (exit 3), and nothing else was.
//!
//! `AUDITSHIP_SOAK_ROUNDS` (default 12) sets the rounds; with
//! `AUDITSHIP_SOAK_REPORT=FILE` the results table is written there
//! (tests/soak.sh runs 200 rounds into RELIABILITY.md).

use crate::common::*;
use auditship::identify::{identity_prefix, FileId, Fingerprint};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const ROTATIONS: u32 = 4;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What the rig has seen of each file: the longest bytes, and whether it
/// was seen rotated (then those bytes are final).
#[derive(Default)]
struct Truth {
    files: BTreeMap<FileId, (Vec<u8>, bool)>,
}

impl Truth {
    fn snapshot(&mut self, db: &Db) -> BTreeSet<FileId> {
        let mut present = BTreeSet::new();
        for (name, bytes) in db.audit_files() {
            let Some(prefix) = identity_prefix(&bytes) else { continue };
            let id = Fingerprint::of_prefix(prefix).file_id();
            let closed = name != "server_audit.log";
            let entry = self.files.entry(id.clone()).or_default();
            if bytes.len() >= entry.0.len() {
                entry.0 = bytes;
            }
            entry.1 |= closed;
            present.insert(id);
        }
        present
    }
}

/// One fault of a round, on either side.
enum Fault {
    Rds(RdsFault),
    S3(S3Fault),
}

/// The faults a round draws from, each with its name in the report.
fn faults() -> Vec<(&'static str, Fault)> {
    const DOWNLOAD: &str = "DownloadCompleteDBLogFile";
    use Fault::{Rds, S3};
    vec![
        (
            "reset_mid_body",
            Rds(RdsFault::new(DOWNLOAD, RdsFaultKind::ResetMidBody)
                .instance("primary")
                .after_bytes(3000)
                .skip(1)
                .times(2)),
        ),
        ("throttling_exception", Rds(RdsFault::new(DOWNLOAD, RdsFaultKind::ThrottlingException).times(3))),
        ("server_error", Rds(RdsFault::new(DOWNLOAD, RdsFaultKind::ServerError).skip(2).times(2))),
        (
            "stall_body",
            Rds(RdsFault::new(DOWNLOAD, RdsFaultKind::StallBody).instance("primary").after_bytes(2000).skip(2)),
        ),
        ("rotate_first", Rds(RdsFault::new(DOWNLOAD, RdsFaultKind::RotateFirst).instance("primary").skip(1))),
        (
            "splice_on_rotation",
            Rds(RdsFault::new(DOWNLOAD, RdsFaultKind::SpliceOnRotation)
                .instance("primary")
                .file_contains(".log.1")
                .skip(1)
                .after_bytes(4000)),
        ),
        ("empty_listing", Rds(RdsFault::new("DescribeDBLogFiles", RdsFaultKind::EmptyListing))),
        ("internal_error", S3(S3Fault::new("PUT", S3FaultKind::InternalError).path_contains("/primary/").times(2))),
        ("slow_down", S3(S3Fault::new("PUT", S3FaultKind::SlowDown).path_contains("/primary/").times(2))),
        ("conflict", S3(S3Fault::new("PUT", S3FaultKind::Conflict).skip(1).times(2))),
        (
            "forward_then_drop",
            S3(S3Fault::new("PUT", S3FaultKind::ForwardThenDrop).path_contains("/rds-audit/").skip(1)),
        ),
        ("checkpoint_stall", S3(S3Fault::new("PUT", S3FaultKind::Stall).path_contains("/_state/"))),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_with_random_faults_loses_nothing_it_does_not_report() {
    let rounds: u32 = std::env::var("AUDITSHIP_SOAK_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(12);
    let seed: u64 =
        std::env::var("AUDITSHIP_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_a0d1_7000_0001);
    let mut rng = Rng(seed);
    let stack = Stack::start(Options { rotations: ROTATIONS, rotate_size: 8_000, ..Options::default() }).await;
    let mut truth = Truth::default();
    let mut faults_injected: BTreeMap<&str, u32> = BTreeMap::new();
    let mut exit_codes: BTreeMap<i32, u32> = BTreeMap::new();
    let mut reported_lost: BTreeSet<String> = BTreeSet::new();
    let mut reported_ranges: Vec<(String, String)> = Vec::new();
    let (mut forced, mut kills, mut overlaps) = (0u32, 0u32, 0u32);
    let started = Instant::now();
    let faults = faults();

    for round in 0..rounds {
        let force_loss = round % 10 == 7;
        truth.snapshot(&stack.primary);
        if force_loss {
            // Far more rotations than the plugin keeps, in one burst: the
            // file that was active at the last run, with new lines, is gone.
            stack.primary.traffic(40 * (ROTATIONS + 3), Some(40));
            forced += 1;
        } else {
            // Within the plugin's budget: at most three 8 KB rotations.
            stack.primary.traffic(30 + rng.below(90) as u32, None);
        }
        stack.replica.traffic_with(10, None, &["--read-only", "--tag", &format!("r{round}")]);
        truth.snapshot(&stack.primary);
        truth.snapshot(&stack.replica);

        let (kind, fault) = &faults[rng.below(faults.len() as u64) as usize];
        match fault {
            Fault::Rds(f) => stack.rds_faults(std::slice::from_ref(f)),
            Fault::S3(f) => stack.s3_faults(std::slice::from_ref(f)),
        }
        *faults_injected.entry(*kind).or_default() += 1;

        let args = ["--read-timeout-seconds", "2", "--object-size", "6000"];
        let mode = rng.below(10);
        let code = if mode == 0 {
            // Killed at a random moment.
            let child = stack.command(&args).spawn().unwrap();
            tokio::time::sleep(Duration::from_millis(rng.below(600))).await;
            let _ = std::process::Command::new("kill").args(["-KILL", &child.id().unwrap_or(0).to_string()]).status();
            let out = child.wait_with_output().await.unwrap();
            kills += 1;
            out.status.code().unwrap_or(-9)
        } else if mode == 1 {
            // Two runs at once.
            let a = stack.command(&args).spawn().unwrap();
            let b = stack.command(&args).spawn().unwrap();
            let (a, b) = (a.wait_with_output().await.unwrap(), b.wait_with_output().await.unwrap());
            overlaps += 1;
            for o in [&a, &b] {
                collect_losses(&String::from_utf8_lossy(&o.stderr), &mut reported_lost, &mut reported_ranges);
            }
            a.status.code().unwrap_or(-1).max(b.status.code().unwrap_or(-1))
        } else {
            let out = stack.run(&args).await;
            collect_losses(&out.stderr, &mut reported_lost, &mut reported_ranges);
            if out.code == 3 {
                // What paged, for the reader of a failed soak.
                for line in out.stderr.lines().filter(|l| l.contains("\"ERROR\"")) {
                    eprintln!("soak round {round}: {line}");
                }
            }
            out.code
        };
        *exit_codes.entry(code).or_default() += 1;
        eprintln!("soak round {round}: force_loss={force_loss} fault={kind} mode={mode} exit={code}");
        stack.clear_rds_faults();
        stack.clear_s3_faults();

        // A reported loss must be real: the file is no longer on disk.
        let now_present = truth.snapshot(&stack.primary);
        for lost in &reported_lost {
            assert!(
                !now_present.iter().any(|id| &id.0 == lost),
                "round {round}: {lost} reported lost but still present"
            );
        }
    }

    // Faults off; a clean run (or two: a kill may have left work).
    let mut last = stack.run(&[]).await;
    collect_losses(&last.stderr, &mut reported_lost, &mut reported_ranges);
    if last.code != 0 {
        last = stack.run(&[]).await;
    }
    assert_eq!(last.code, 0, "{last:?}");
    truth.snapshot(&stack.primary);
    truth.snapshot(&stack.replica);

    // Every file the rig saw is in S3 exactly once (contiguous objects,
    // right hashes), byte-identical, unless reported lost.
    let objects = stack.objects().await;
    let mut shipped_bytes = 0u64;
    let mut lost_files = 0;
    for (id, (bytes, closed)) in &truth.files {
        let prefix = ["primary", "replica"]
            .iter()
            .map(|i| format!("{PREFIX}/standalone/{i}/dt={}/{id}/", id.date()))
            .find(|p| objects.keys().any(|k| k.starts_with(p)));
        let Some(prefix) = prefix else {
            // Named, or begun inside a reported range of unseen losses.
            let in_range =
                reported_ranges.iter().any(|(from, to)| from.as_str() <= id.time() && id.time() <= to.as_str());
            assert!(
                reported_lost.contains(&id.0) || in_range,
                "file {id} ({} bytes) is not in S3 and was not reported lost; reported: {reported_lost:?}, ranges: {reported_ranges:?}",
                bytes.len()
            );
            lost_files += 1;
            continue;
        };
        let mut joined = Vec::new();
        for (key, o) in objects.range(prefix.clone()..).take_while(|(k, _)| k.starts_with(&prefix)) {
            let plain = gunzip(&o.bytes);
            assert_eq!(o.metadata["start-offset"].parse::<usize>().unwrap(), joined.len(), "{key}: overlap or hole");
            assert_eq!(o.metadata["sha256"], hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&plain)), "{key}");
            joined.extend_from_slice(&plain);
        }
        if reported_lost.contains(&id.0) {
            // Lost in part: what shipped is still exact.
            assert!(bytes.starts_with(&joined) || joined.starts_with(bytes), "{id}: shipped bytes differ");
            lost_files += 1;
            continue;
        }
        let complete_lines = &bytes[..bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)];
        if *closed {
            assert!(
                joined == *bytes,
                "{id}: closed file not shipped byte-identical ({} of {} bytes)",
                joined.len(),
                bytes.len()
            );
        } else {
            assert!(joined.starts_with(complete_lines), "{id}: active file's lines not all shipped");
        }
        shipped_bytes += joined.len() as u64;
    }
    // A forced loss is reported by name, or by place (a file that had no
    // first line yet when last seen, as the active file is right after a
    // rotation): either way a range of files is declared lost.
    assert!(
        forced == 0 || !reported_lost.is_empty() || !reported_ranges.is_empty(),
        "forced losses were never reported"
    );
    assert!(exit_codes.get(&3).copied().unwrap_or(0) >= forced.min(1), "forced losses exit 3: {exit_codes:?}");

    if let Ok(path) = std::env::var("AUDITSHIP_SOAK_REPORT") {
        let mut md = String::new();
        md.push_str("# Reliability\n\n");
        md.push_str(&format!(
            "Produced by `AUDITSHIP_SOAK_ROUNDS={rounds} AUDITSHIP_TEST_SEED={seed} tests/soak.sh` in {:.0} s.\n\n",
            started.elapsed().as_secs_f64()
        ));
        md.push_str("Each round: real traffic with rotations on a MariaDB primary (ROTATIONS=4, rotate size 8 KB) and reads on its replica, one injected fault, then a run (1 in 10 killed with SIGKILL at a random moment, 1 in 10 two runs at once). Every 10th round rotates faster than the plugin keeps files, forcing a loss.\n\n");
        md.push_str("| measure | value |\n|---|---|\n");
        md.push_str(&format!(
            "| rounds | {rounds} |\n| runs killed | {kills} |\n| rounds with overlapping runs | {overlaps} |\n"
        ));
        md.push_str(&format!(
            "| files seen by the rig | {} |\n| bytes shipped and verified byte-identical | {shipped_bytes} |\n",
            truth.files.len()
        ));
        md.push_str(&format!("| losses forced | {forced} rounds |\n| files lost, each reported with exit 3 (by name, or begun inside a reported range of unseen files) | {} |\n| files lost without a report | 0 |\n", lost_files));
        md.push_str("| duplicate or overlapping objects | 0 |\n\n");
        md.push_str("The last two rows are assertions: a file lost without a report, or objects that overlap or leave a hole, fail the test. Every file seen and not reported lost was compared byte for byte with its objects.\n\n");
        md.push_str("| fault injected | rounds |\n|---|---|\n");
        for (k, v) in &faults_injected {
            md.push_str(&format!("| {k} | {v} |\n"));
        }
        md.push_str("\n| exit code | runs |\n|---|---|\n");
        for (k, v) in &exit_codes {
            let label = if *k < 0 { "killed".to_string() } else { k.to_string() };
            md.push_str(&format!("| {label} | {v} |\n"));
        }
        std::fs::write(path, md).unwrap();
    }
}

/// File ids named in loss reports (their structured `lost_*` fields), and
/// the first-record time ranges of unseen files they declare lost with them.
fn collect_losses(stderr: &str, lost: &mut BTreeSet<String>, ranges: &mut Vec<(String, String)>) {
    for event in stderr.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()) {
        let Some(id) = event.get("lost_file_id").and_then(|v| v.as_str()) else { continue };
        if event["lost_unnamed"] == true {
            // A file never named, begun after `id`: reported by place.
            ranges.push((id[..16.min(id.len())].to_string(), "99999999T999999Z".to_string()));
            continue;
        }
        lost.insert(id.to_string());
        let message = event["message"].as_str().unwrap_or_default();
        if let Some(rest) = message.split("any file begun from ").nth(1) {
            let mut times = rest.split(' ');
            if let (Some(from), Some("to"), Some(to)) = (times.next(), times.next(), times.next()) {
                ranges.push((from.to_string(), to.to_string()));
            }
        }
    }
}
