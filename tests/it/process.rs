//! The process being stopped: SIGTERM (ECS stopping the task) and SIGKILL
//! at arbitrary moments. Whatever happens, a later run converges to every
//! byte shipped exactly once.

use crate::common::*;
use std::time::Duration;

fn signal(child: &tokio::process::Child, name: &str) {
    let pid = child.id().expect("child running").to_string();
    assert!(std::process::Command::new("kill").args([&format!("-{name}"), &pid]).status().unwrap().success());
}

/// SIGTERM: stop starting work, abandon slow reads at once, commit only
/// confirmed progress, exit 1 well inside ECS's 30 s grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_promptly_with_exit_1_and_loses_nothing() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(800, Some(100));
    // Slow bodies: the run is mid-download when the signal comes.
    stack.rds_faults(&[RdsFault::new("DownloadCompleteDBLogFile", RdsFaultKind::SlowBody).delay_ms(400).times(1000)]);
    let mut child = stack.command(&["--concurrency", "1"]).spawn().unwrap();
    stack.wait_for_download_in_flight(&mut child, None).await;
    signal(&child, "TERM");
    // ECS kills the task 30 s after SIGTERM: the contract, not a speed
    // measurement. The slow download alone would take minutes.
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("exits within ECS's grace period after SIGTERM")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");

    stack.clear_faults_and_converge().await;
}

/// A signal stops every command promptly, read-only ones included, and
/// says it was interrupted (not that time ran out): `status` and `verify
/// --deep` exit at once (they write nothing); `run` on Ctrl-C stops like
/// on SIGTERM, and its summary says the instance was interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_stops_promptly_on_a_signal_and_says_it_was_interrupted() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(400, Some(100));
    stack.rds_faults(&[RdsFault::new("DownloadCompleteDBLogFile", RdsFaultKind::SlowBody).delay_ms(400).times(1000)]);
    let commands: [(&str, &[&str], &str); 3] =
        [("status", &[], "INT"), ("verify", &["--deep"], "TERM"), ("run", &["--concurrency", "1"], "INT")];
    for (command, extra, name) in commands {
        let mut cmd = stack.bare_command_for(command);
        cmd.args(stack.selection()).args(extra);
        let mut child = cmd.spawn().unwrap();
        stack.wait_for_download_in_flight(&mut child, None).await;
        signal(&child, name);
        // A bound for a person waiting, not a speed measurement: the slow
        // downloads alone would take minutes.
        let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("{command} exits within 30 s of SIG{name}"))
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
        assert!(stderr.contains(&format!("SIG{name}")) && stderr.contains("interrupted"), "{command}: {stderr}");
        assert!(!stderr.contains("time limit"), "{command}: {stderr}");
        if command == "run" {
            assert!(stdout.lines().any(|l| l.ends_with(": interrupted")), "{stdout}");
        }
    }
    stack.clear_faults_and_converge().await;
}

/// SIGKILL at random moments, many times, with traffic and rotations in
/// between; then one clean run. Objects stay contiguous and exact (no
/// duplicate, no hole), whatever was interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_then_a_run_converges() {
    let stack = Stack::start(Options { rotations: 20, ..Options::default() }).await;
    // A cheap, seedable sequence of kill delays (xorshift).
    let mut seed: u64 =
        std::env::var("AUDITSHIP_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x9e37_79b9_7f4a_7c15);
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..8 {
        stack.primary.traffic(150, Some(60));
        let child = stack.command(&["--object-size", "4096"]).spawn().unwrap();
        tokio::time::sleep(Duration::from_millis(next() % 400)).await;
        signal(&child, "KILL");
        let out = child.wait_with_output().await.unwrap();
        assert!(out.status.code().is_none() || out.status.code() == Some(0), "round {round}: {:?}", out.status);
    }
    let out = stack.run(&["--object-size", "4096"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    stack.assert_all_shipped("primary").await;
    stack.assert_all_shipped("replica").await;
}

/// Service mode (`run --interval`): passes repeat, each shipping what is
/// new, until SIGTERM, which ends the loop promptly with exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_mode_repeats_passes_until_sigterm_then_exits_0() {
    use tokio::io::AsyncBufReadExt;
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(100, None);
    let mut child = stack.command(&["--interval", "1s", "--metrics", "off"]).spawn().unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut passes = 0;
    passes += wait_passes(&mut lines, 1).await;
    stack.assert_all_shipped("primary").await;
    // New lines are shipped by a later pass of the same process.
    stack.primary.traffic(60, Some(40));
    passes += wait_passes(&mut lines, 2).await;
    stack.assert_all_shipped("primary").await;
    stack.assert_all_shipped("replica").await;

    signal(&child, "TERM");
    // Within ECS's 30 s grace period, rather than after the next interval.
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(passes >= 3);
}

/// Waits for `n` more passes of the primary to finish (one summary line
/// each) and returns `n`.
async fn wait_passes(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    n: usize,
) -> usize {
    let mut seen = 0;
    while seen < n {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("a pass finishes within a minute")
            .unwrap()
            .expect("the service is still running");
        if line.starts_with("primary (") {
            seen += 1;
        }
    }
    n
}
