//! Bad input gets a clear error, the right exit code, and loses nothing:
//! damaged state, foreign or diverged objects, and audit files with odd
//! contents (binary bytes, overlong lines, empty files, partial lines,
//! foreign files).

use crate::common::*;
use auditship::identify::{identity_prefix, Fingerprint};

fn fatal_or_error_lines(out: &RunOutput) -> Vec<&str> {
    out.stderr.lines().filter(|l| l.contains("\"level\":\"ERROR\"") || l.starts_with("auditship: error")).collect()
}

async fn put(stack: &Stack, key: &str, body: Vec<u8>, metadata: &[(&str, &str)]) {
    let mut req = stack.s3.put_object().bucket(&stack.bucket).key(key).body(body.into());
    for (k, v) in metadata {
        req = req.metadata(*k, *v);
    }
    req.send().await.unwrap();
}

/// A checkpoint that is not JSON, or from a newer version, is refused with
/// exit 2 naming it, and never overwritten; other instances still ship.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_or_newer_checkpoint_is_refused_and_left_untouched() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(100, None);
    let key = format!("{PREFIX}/_state/{}.json", stack.primary_rid);
    for (body, says) in [
        (b"{\"format\": 1, \"files\": {".to_vec(), "is unreadable"),
        (br#"{"format": 7, "dbi_resource_id": "x"}"#.to_vec(), "upgrade auditship"),
    ] {
        put(&stack, &key, body.clone(), &[]).await;
        let out = stack.run(&[]).await;
        assert_eq!(out.code, 2, "{out:?}");
        let errors = fatal_or_error_lines(&out);
        assert!(errors.iter().any(|l| l.contains(&key) && l.contains(says)), "{errors:?}");
        assert_eq!(out.outcome("replica"), "ok", "{out:?}");
        assert_eq!(stack.objects().await[&key].bytes, body, "checkpoint was overwritten");
        assert!(stack.object_keys("primary").await.is_empty(), "nothing shipped without state");

        // status says it could not read the instance: no zeros, no "never".
        let mut cmd = stack.bare_command_for("status");
        cmd.args(stack.selection());
        let table = finished(cmd).await;
        assert_eq!(table.code, 2, "{table:?}");
        let row = table.stdout.lines().find(|l| l.starts_with("primary ")).unwrap();
        assert!(row.ends_with("unknown: the instance could not be read") && !row.contains("never"), "{row}");
        assert!(table.stdout.contains(&key), "names the checkpoint: {}", table.stdout);
        let mut cmd = stack.bare_command_for("status");
        cmd.args(stack.selection()).arg("--json");
        let json = finished(cmd).await;
        let primary: serde_json::Value = json
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["instance"] == "primary")
            .unwrap();
        assert!(primary["error"].as_str().is_some_and(|e| e.contains(says)), "{primary}");
        assert!(
            primary.get("files").is_none() && primary.get("last_commit").is_none(),
            "unknown is not zero: {primary}"
        );
    }
}

/// An object at a key the worker would write, holding different bytes:
/// divergence, exit 3, named, untouched; the instance's other files ship.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diverged_or_foreign_object_at_a_worker_key_exits_3_untouched() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(200, None);
    stack.primary.rotate();
    stack.primary.traffic(50, None);
    let files = stack.primary.audit_files();
    let rotated = &files["server_audit.log.1"];
    let id = Fingerprint::of_prefix(identity_prefix(rotated).unwrap()).file_id();
    let key = format!("{PREFIX}/standalone/primary/dt={}/{id}/{:020}.log.gz", id.date(), 0);
    let forged = b"not the file's bytes\n".to_vec();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&forged));
    let end = forged.len().to_string();
    let metadata = [("start-offset", "0"), ("end-offset", end.as_str()), ("sha256", sha.as_str()), ("lines", "1")];
    put(&stack, &key, forged.clone(), &metadata).await;

    let out = stack.run(&[]).await;
    assert_eq!(out.code, 3, "{out:?}");
    let errors = fatal_or_error_lines(&out);
    assert!(errors.iter().any(|l| l.contains(&key) && l.contains("different bytes")), "{errors:?}");
    assert_eq!(stack.objects().await[&key].bytes, forged, "diverged object was touched");
    // The active file is unaffected and ships: compared with the file as it
    // is after the run (MariaDB may have appended a record since).
    let objects = stack.objects().await;
    assert_active_file_shipped(
        &objects,
        &format!("{PREFIX}/standalone/primary/"),
        "server_audit.log",
        &files["server_audit.log"],
        &stack.primary.audit_files()["server_audit.log"],
    );

    // Without auditship metadata the object is foreign: still exit 3, untouched.
    put(&stack, &key, b"foreign".to_vec(), &[]).await;
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        fatal_or_error_lines(&out).iter().any(|l| l.contains(&key) && l.contains("without valid auditship metadata")),
        "{}",
        out.stderr
    );
    assert_eq!(stack.objects().await[&key].bytes, b"foreign");
}

/// Audit files with hard contents, served in the Aurora layout (which lets
/// the test write files directly): every byte value in lines, a 1.5 MiB
/// line, an empty file, a file without a complete line, foreign files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odd_file_contents_ship_byte_exact_or_wait_for_a_line() {
    let stack = Stack::start(Options { aurora: true, ..Options::default() }).await;
    let dir = stack.aurora_dir();
    let mut binary = b"20261122 00:00:00,host,app,10.0.0.1,1,1,QUERY,db,'".to_vec();
    binary.extend((0u8..=255).filter(|&b| b != b'\n'));
    binary.extend_from_slice(b"',0\n\xff\xfe\x00 invalid utf-8 \xc3\x28 and NUL\n");
    let mut long = b"20261122 00:00:01,host,app,10.0.0.1,2,2,QUERY,db,'".to_vec();
    long.extend(std::iter::repeat_n(b'x', 1_536 * 1024));
    long.extend_from_slice(b"',0\nshort line after the long one\n");
    let partial = b"20261122 00:00:02,host,app,10.0.0.1,3,3,QUERY,db,'no newline yet".to_vec();
    let files = [
        ("audit.log.0.2026-11-22-00-00.1", binary.clone()),
        ("audit.log.1.2026-11-22-00-00.1", long.clone()),
        ("audit.log.2.2026-11-22-00-00.1", Vec::new()),
        ("audit.log.3.2026-11-22-00-00.1", partial.clone()),
        ("audit.log.bak", b"foreign\n".to_vec()),
        ("notes.txt", b"foreign\n".to_vec()),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    let run = |extra: &'static [&'static str]| {
        let mut cmd = stack.bare_command();
        cmd.args(["--cluster", "aur", "--object-size", "1048576"]).args(extra);
        cmd
    };
    let out = run(&[]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let objects = stack.objects().await;
    let at = format!("{PREFIX}/aur/aurora-1/");
    assert_file_shipped(&objects, &at, "binary", &binary, true);
    assert_file_shipped(&objects, &at, "long line", &long, true);
    let long_objects = objects
        .keys()
        .filter(|k| {
            k.starts_with(&at) && k.contains(&Fingerprint::of_prefix(identity_prefix(&long).unwrap()).file_id().0)
        })
        .count();
    assert!(long_objects >= 2, "a line over the hard cap is cut inside");
    assert!(!objects.keys().any(|k| k.contains("19700101")), "no object for files without a first line");

    // The partial line completes and the stripes rotate: all of it ships.
    let mut completed = partial.clone();
    completed.extend_from_slice(b"',0\n");
    std::fs::write(dir.join("audit.log.3.2026-11-22-00-00.1"), &completed).unwrap();
    std::fs::write(dir.join("audit.log.2.2026-11-22-00-00.1"), b"20261122 00:00:03,late first line\n").unwrap();
    for stripe in 0..4 {
        std::fs::write(dir.join(format!("audit.log.{stripe}.2026-11-22-00-05.2")), b"20261122 00:05:00,next\n")
            .unwrap();
    }
    let out = run(&[]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let objects = stack.objects().await;
    assert_file_shipped(&objects, &at, "completed", &completed, false);
    assert_file_shipped(&objects, &at, "late", b"20261122 00:00:03,late first line\n", false);
    assert_file_shipped(&objects, &at, "binary", &binary, false);
}
