//! What the download endpoint does with `Range` and `Accept-Encoding` is
//! not documented: each behaviour the emulator can take (honoured,
//! ignored, lying) is run end to end, and the trail is byte-exact in each.

use crate::common::*;
use auditship_testkit::faults::{DownloadBehaviour, GzipBehaviour, RangeBehaviour};

fn behave(stack: &Stack, ranges: RangeBehaviour, gzip: GzipBehaviour) {
    let body = serde_json::to_string(&DownloadBehaviour { ranges, gzip }).unwrap();
    stack.emulator_control("POST", "download", &body);
}

fn count(out: &RunOutput, field: &str) -> u64 {
    out.shipped("primary")[field].as_u64().unwrap_or_else(|| panic!("no {field}: {out:?}"))
}

/// Every combination of range and gzip behaviour, over a growing active
/// file and a rotation each round (a range read of the rotated file, a
/// whole read of the new one): the objects are exactly the files' bytes,
/// and the run's counters say what the endpoint did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_download_behaviour_ships_the_files_bytes_exactly() {
    let stack = Stack::start(Options { rotate_size: 10_000_000, rotations: 30, ..Options::default() }).await;
    stack.primary.traffic(120, None);
    assert_eq!(stack.run(&[]).await.code, 0);
    for ranges in
        [RangeBehaviour::Honoured, RangeBehaviour::Ignored, RangeBehaviour::Misplaced, RangeBehaviour::Shifted]
    {
        for gzip in [GzipBehaviour::Honoured, GzipBehaviour::Ignored, GzipBehaviour::Lying] {
            behave(&stack, ranges, gzip);
            stack.primary.traffic(60, None);
            stack.primary.rotate();
            stack.primary.traffic(60, None);
            let out = stack.run(&[]).await;
            let case = format!("{ranges:?} ranges, {gzip:?} gzip");
            assert_eq!(out.code, 0, "{case}: {out:?}");
            stack.assert_all_shipped("primary").await;
            let (field, at_least) = match ranges {
                RangeBehaviour::Honoured => ("ranges_honoured", 1),
                RangeBehaviour::Ignored => ("ranges_ignored", 1),
                RangeBehaviour::Misplaced => ("ranges_wrong", 1),
                RangeBehaviour::Shifted => ("overlap_mismatches", 1),
            };
            assert!(count(&out, field) >= at_least, "{case}: {field}: {out:?}");
            let field = match gzip {
                GzipBehaviour::Honoured => "gzip_responses",
                GzipBehaviour::Ignored => "identity_responses",
                GzipBehaviour::Lying => "gzip_wrong",
            };
            assert!(count(&out, field) >= 1, "{case}: {field}: {out:?}");
        }
    }
    behave(&stack, RangeBehaviour::Honoured, GzipBehaviour::Honoured);
    stack.clear_faults_and_converge().await;
}

/// Where ranges are honoured, a growing active file is read from its
/// shipped offset: one download, a range read honoured, no head read and
/// no whole read; the bytes sent are the new ones and the 4 KiB overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_growing_active_file_is_read_from_its_shipped_offset() {
    let stack = Stack::start(Options { rotate_size: 10_000_000, ..Options::default() }).await;
    stack.primary.traffic(600, None);
    let first = stack.run(&[]).await;
    assert_eq!(first.code, 0, "{first:?}");
    let shipped_before = count(&first, "bytes_shipped");
    stack.primary.traffic(40, None);
    let before = stack.download_bodies().get("primary").copied().unwrap_or_default();
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    stack.assert_all_shipped("primary").await;
    let after = stack.download_bodies()["primary"];
    assert!(count(&out, "bytes_shipped") > 0, "{out:?}");
    assert_eq!(count(&out, "ranges_honoured"), 1, "{out:?}");
    assert_eq!(after.started - before.started, 1, "one download, the range read: {out:?}");
    // The truth after the run: the file as it is now.
    let size_now = stack.primary.audit_files()["server_audit.log"].len() as u64;
    let sent = after.file_bytes - before.file_bytes;
    assert!(
        sent <= size_now - shipped_before + 4096,
        "{sent} bytes sent; {shipped_before} of {size_now} were shipped before"
    );
}

/// A run with nothing new downloads nothing when the listing shows the
/// active file as it was shipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_run_downloads_nothing() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(100, None);
    stack.replica.traffic_with(20, None, &["--read-only"]);
    assert_eq!(stack.run(&[]).await.code, 0);
    assert_eq!(stack.run(&[]).await.code, 0);
    let files_before = [stack.primary.audit_files(), stack.replica.audit_files()];
    let before = stack.download_bodies();
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    // Only if nothing wrote to the files meanwhile (the truth after the run).
    if [stack.primary.audit_files(), stack.replica.audit_files()] == files_before {
        assert_eq!(stack.download_bodies(), before, "an idle run downloaded: {out:?}");
    }
}
