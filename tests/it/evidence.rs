//! Signed digests on the real stack: runs seal a chain that `verify
//! --public-key` finds intact (exit 0, with its report), and each kind of
//! tampering with objects or digests is named precisely, exit 3. A chain
//! signed with a KMS key (moto's) verifies with that key's public half.

use crate::common::*;
use auditship::evidence::digest::{signing_string, Digest};
use auditship::evidence::signing::{Ed25519File, Signer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `openssl genpkey -algorithm ed25519`, and its public half.
pub(crate) const SIGNING_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAYvNeqqMJvSXs/k0JRdLV/gofn7frOzlDWVutqf8fi/\n-----END PRIVATE KEY-----\n";
pub(crate) const PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA4uwsjpe2xx8/WdnPHyiSEVV7uKJsAmPsn7KH8ZGvb/k=\n-----END PUBLIC KEY-----\n";
/// Another key, as a forger would have.
const OTHER_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIHXmOEzBiswyJD+gR0QXjvmZwV5aE3ei61WSgKkeJcDv\n-----END PRIVATE KEY-----\n";

struct Keys {
    _dir: tempfile::TempDir,
    signing: PathBuf,
    public: PathBuf,
    other: PathBuf,
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    Keys {
        signing: write("signing.pem", SIGNING_KEY),
        public: write("public.pem", PUBLIC_KEY),
        other: write("other.pem", OTHER_KEY),
        _dir: dir,
    }
}

/// A run that signs digests of 60 s periods, on a clock `offset` seconds
/// ahead (so periods end without waiting for them).
async fn run_signed(stack: &Stack, keys: &Keys, offset: i64) -> RunOutput {
    let mut cmd = stack.command(&["--object-size", "2048", "--digest-period", "60s"]);
    cmd.env("AUDITSHIP_SIGNING_KEY_FILE", &keys.signing).env("AUDITSHIP_CLOCK_OFFSET_SECONDS", offset.to_string());
    finished(cmd).await
}

async fn verify(stack: &Stack, keys: &Keys, extra: &[&str]) -> RunOutput {
    let mut cmd = stack.bare_command_for("verify");
    cmd.args(stack.selection()).arg("--public-key").arg(&keys.public).arg("--json").args(extra);
    finished(cmd).await
}

/// The evidence lines of `verify --json` for the primary: its problems and
/// its summary.
fn evidence(out: &RunOutput) -> (Vec<serde_json::Value>, serde_json::Value) {
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|v| v["evidence"] == true && v["instance"] == "primary")
        .collect();
    let (summary, problems): (Vec<_>, Vec<_>) = lines.into_iter().partition(|v| v.get("digests").is_some());
    (problems, summary.into_iter().next().unwrap_or_else(|| panic!("no evidence summary: {}", out.stdout)))
}

fn digest_keys(objects: &BTreeMap<String, StoredObject>, rid: &str) -> Vec<String> {
    let prefix = format!("{PREFIX}/_digests/{rid}/");
    objects.keys().filter(|k| k.starts_with(&prefix)).cloned().collect()
}

async fn put_raw(stack: &Stack, key: &str, bytes: &[u8], metadata: &BTreeMap<String, String>) {
    let mut put = stack.s3.put_object().bucket(&stack.bucket).key(key).body(bytes.to_vec().into());
    for (k, v) in metadata {
        put = put.metadata(k, v);
    }
    put.send().await.unwrap();
}

async fn restore(stack: &Stack, original: &BTreeMap<String, StoredObject>, keys: &[&str]) {
    for key in keys {
        let o = &original[*key];
        put_raw(stack, key, &o.bytes, &o.metadata).await;
    }
}

/// Asserts verify exits 3 naming `problem` (with `fault` for digests) for
/// `key`, then puts the objects back and asserts it is clean again.
async fn tampered(stack: &Stack, keys: &Keys, what: &str, expect: &[(&str, &str)], deep: bool) {
    let extra: &[&str] = if deep { &["--deep"] } else { &[] };
    let out = verify(stack, keys, extra).await;
    assert_eq!(out.code, 3, "{what}: {out:?}");
    let (problems, _) = evidence(&out);
    for (kind, key) in expect {
        let named = problems
            .iter()
            .any(|p| p["key"] == *key && (p["problem"] == *kind || (p["problem"] == "digest" && p["fault"] == *kind)));
        assert!(named, "{what}: no {kind} problem for {key} in {problems:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_chain_verifies_and_every_tampering_is_named() {
    let stack = Stack::start(Options::default()).await;
    let keys = keys();
    // Shipped before digests are turned on: in no digest, and not a problem.
    stack.primary.traffic(200, Some(100));
    assert_eq!(stack.run(&["--object-size", "2048"]).await.code, 0);
    let unsigned = stack.object_keys("primary").await.len();
    stack.primary.traffic(200, Some(100));
    let first = run_signed(&stack, &keys, 0).await;
    assert_eq!(first.code, 0, "{first:?}");
    stack.primary.traffic(200, None);
    assert_eq!(run_signed(&stack, &keys, 180).await.code, 0);
    // Nothing new: the periods since still get their (empty) digests.
    let last = run_signed(&stack, &keys, 360).await;
    assert_eq!(last.code, 0, "{last:?}");

    let report_dir = tempfile::tempdir().unwrap();
    let clean = verify(&stack, &keys, &["--deep", "--report", report_dir.path().to_str().unwrap()]).await;
    assert_eq!(clean.code, 0, "{clean:?}");
    let (problems, summary) = evidence(&clean);
    assert!(problems.is_empty(), "{problems:#?}");
    let objects = stack.objects().await;
    let shipped = stack.object_keys("primary").await;
    assert_eq!(summary["before_chain"].as_u64(), Some(unsigned as u64), "{summary}");
    assert_eq!(summary["objects_listed"].as_u64(), Some((shipped.len() - unsigned) as u64), "{summary}");
    assert_eq!(summary["pending"], 0, "{summary}");
    let digests = digest_keys(&objects, &stack.primary_rid);
    assert!(digests.len() >= 5, "60 s periods over 6 minutes: {digests:?}");
    assert_eq!(summary["digests"].as_u64(), Some(digests.len() as u64));
    assert_report(report_dir.path(), &stack, digests.len());
    // A window after the chain's end holds no digest: nothing to check in
    // it, and the chain itself still verifies.
    let later = (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
    let window_dir = tempfile::tempdir().unwrap();
    let windowed = verify(&stack, &keys, &["--since", &later, "--report", window_dir.path().to_str().unwrap()]).await;
    assert_eq!(windowed.code, 0, "{windowed:?}");
    let (_, window_summary) = evidence(&windowed);
    assert_eq!(window_summary["objects_listed"], 0, "{window_summary}");
    let md = std::fs::read_to_string(window_dir.path().join("auditship-report.md")).unwrap();
    assert!(md.contains(&format!("- Window: {later}T00:00:00Z to its end: 0 digests")), "{md}");

    // Objects of one file, in offset order, and digests that list objects.
    let before: std::collections::BTreeSet<String> = unsigned_keys(&objects, &digests);
    let mut file_objects: Vec<&String> = shipped.iter().filter(|k| !before.contains(*k)).collect();
    file_objects.sort();
    assert!(file_objects.len() >= 3, "{file_objects:?}");
    let (a, b) = (file_objects[0].clone(), file_objects[1].clone());

    // A changed byte, metadata kept: only the bytes show it.
    let mut plain = gunzip(&objects[&a].bytes);
    plain[5] ^= 1;
    put_raw(&stack, &a, &gzip(&plain), &objects[&a].metadata).await;
    let shallow = verify(&stack, &keys, &[]).await;
    assert!(evidence(&shallow).0.is_empty(), "metadata alone cannot see a changed byte: {}", shallow.stdout);
    tampered(&stack, &keys, "a changed byte", &[("altered", &a)], true).await;
    restore(&stack, &objects, &[&a]).await;

    stack.s3.delete_object().bucket(&stack.bucket).key(&a).send().await.unwrap();
    tampered(&stack, &keys, "a deleted object", &[("deleted", &a)], false).await;
    restore(&stack, &objects, &[&a]).await;

    put_raw(&stack, &a, &objects[&b].bytes, &objects[&b].metadata).await;
    put_raw(&stack, &b, &objects[&a].bytes, &objects[&a].metadata).await;
    tampered(&stack, &keys, "two swapped objects", &[("replaced", &a), ("replaced", &b)], false).await;
    restore(&stack, &objects, &[&a, &b]).await;

    let a_start: u64 = objects[&a].metadata["start-offset"].parse().unwrap();
    let added = format!("{}/{:020}.log.gz", &a[..a.rfind('/').unwrap()], a_start + 7);
    put_raw(&stack, &added, &objects[&a].bytes, &objects[&a].metadata).await;
    tampered(&stack, &keys, "an object added by hand", &[("unlisted", &added)], false).await;
    stack.s3.delete_object().bucket(&stack.bucket).key(&added).send().await.unwrap();

    let middle = digests[digests.len() / 2].clone();
    let next = digests[digests.len() / 2 + 1].clone();
    stack.s3.delete_object().bucket(&stack.bucket).key(&middle).send().await.unwrap();
    tampered(&stack, &keys, "a deleted digest", &[("missing", &middle)], false).await;
    restore(&stack, &objects, &[&middle]).await;

    let newest = digests.last().unwrap().clone();
    stack.s3.delete_object().bucket(&stack.bucket).key(&newest).send().await.unwrap();
    tampered(&stack, &keys, "the newest digest deleted", &[("missing", &newest)], false).await;
    restore(&stack, &objects, &[&newest]).await;

    let altered =
        String::from_utf8(objects[&middle].bytes.clone()).unwrap().replacen("\"objects\": [", "\"objects\": [ ", 1);
    assert_ne!(altered.as_bytes(), &objects[&middle].bytes[..]);
    put_raw(&stack, &middle, altered.as_bytes(), &objects[&middle].metadata).await;
    tampered(&stack, &keys, "an altered digest", &[("bad_signature", &middle), ("altered", &middle)], false).await;
    restore(&stack, &objects, &[&middle]).await;

    let forged = resign(&stack, &objects[&middle], &middle, &keys.other).await;
    put_raw(&stack, &middle, &objects[&middle].bytes, &forged).await;
    tampered(
        &stack,
        &keys,
        "a digest re-signed with another key",
        &[("bad_signature", &middle), ("altered", &middle)],
        false,
    )
    .await;
    restore(&stack, &objects, &[&middle]).await;
    assert_ne!(middle, next);

    let again = verify(&stack, &keys, &["--deep"]).await;
    assert_eq!(again.code, 0, "restored, the trail verifies again: {again:?}");

    // The checkpoint lost: the next run has no ledger, finds the chain in S3
    // and goes on from its newest digest (a new chain would break it).
    let checkpoint = format!("{PREFIX}/_state/{}.json", stack.primary_rid);
    stack.s3.delete_object().bucket(&stack.bucket).key(&checkpoint).send().await.unwrap();
    stack.primary.traffic(50, None);
    let resumed = run_signed(&stack, &keys, 540).await;
    assert_eq!(resumed.code, 0, "{resumed:?}");
    assert!(resumed.stderr.contains("the chain goes on from"), "{}", resumed.stderr);
    let whole = verify(&stack, &keys, &["--deep"]).await;
    assert_eq!(whole.code, 0, "one chain: {whole:?}");
    let (_, summary) = evidence(&whole);
    assert!(summary["digests"].as_u64().unwrap() > digests.len() as u64, "{summary}");
}

/// Objects no digest lists.
fn unsigned_keys(objects: &BTreeMap<String, StoredObject>, digests: &[String]) -> std::collections::BTreeSet<String> {
    let listed: std::collections::BTreeSet<String> = digests
        .iter()
        .flat_map(|d| Digest::parse(&objects[d].bytes).unwrap().objects.into_iter().map(|o| o.key))
        .collect();
    objects.keys().filter(|k| k.ends_with(".log.gz") && !listed.contains(*k)).cloned().collect()
}

/// The metadata of a digest re-signed with another key.
async fn resign(stack: &Stack, digest: &StoredObject, key: &str, with: &Path) -> BTreeMap<String, String> {
    let parsed = Digest::parse(&digest.bytes).unwrap();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&digest.bytes));
    let message = signing_string(parsed.period_end, &stack.bucket, key, &sha, parsed.previous.as_ref());
    let forger = Ed25519File::from_pem_file(with).unwrap();
    let mut metadata = digest.metadata.clone();
    metadata.insert("signature".into(), hex::encode(forger.sign(message.as_bytes()).await.unwrap()));
    metadata
}

fn gzip(plain: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, plain).unwrap();
    gz.finish().unwrap()
}

/// The report's two files say the same: intact, with the primary's chain.
fn assert_report(dir: &Path, stack: &Stack, digests: usize) {
    let md = std::fs::read_to_string(dir.join("auditship-report.md")).unwrap();
    assert!(md.contains("Result: **intact"), "{md}");
    assert!(md.contains(&format!("## primary ({})", stack.primary_rid)), "{md}");
    assert!(md.contains("- Chain: intact"), "{md}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("auditship-report.json")).unwrap()).unwrap();
    assert_eq!(json["format"], "auditship-report/1");
    assert_eq!(json["result"], "intact");
    let primary = json["instances"].as_array().unwrap().iter().find(|i| i["instance"] == "primary").unwrap();
    assert_eq!(primary["chain"]["digests"].as_u64(), Some(digests as u64));
    assert!(primary["files"].as_array().is_some_and(|f| !f.is_empty()), "{primary}");
    // MariaDB's lines carry their time: the span is known, per instance and
    // per file, and each file's lies within the instance's.
    let span = |v: &serde_json::Value| {
        let time = |field: &str| v[field].as_str().and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok());
        (time("first_record").unwrap_or_else(|| panic!("{v}")), time("last_record").unwrap_or_else(|| panic!("{v}")))
    };
    let (first, last) = span(primary);
    assert!(first <= last && last <= chrono::Utc::now(), "{primary}");
    for file in primary["files"].as_array().unwrap() {
        let (f, l) = span(file);
        assert!(first <= f && f <= l && l <= last, "{file}");
        assert!(["closed", "growing"].contains(&file["state"].as_str().unwrap()), "{file}");
    }
    assert!(md.contains(&format!("- Records from {} to ", auditship::evidence::digest::rfc3339(first))), "{md}");
    // A bucket without Object Lock: no listed object is retained.
    assert_eq!(primary["object_lock"]["unretained"], primary["objects_checked"], "{primary}");
    assert!(md.contains("- Object Lock: no listed object is under retention"), "{md}");
}

/// A chain no run has sealed for longer than a period and its grace is
/// named stale (deleting the newest digests and winding the checkpoint
/// back would otherwise leave no trace). Deleted and created again under
/// the same identifier, the instance begins a new chain; the old one's is
/// audited as its own, marked replaced, and is not stale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_left_unsealed_is_stale_and_a_recreated_instance_keeps_its_old_chain_apart() {
    const NEW: &str = "db-RECREATED000000000000000002";
    let stack = Stack::start(Options::default()).await;
    let keys = keys();
    // Sealed on a clock an hour behind: the chain ends about an hour ago.
    stack.primary.traffic(200, Some(100));
    assert_eq!(run_signed(&stack, &keys, -3600).await.code, 0);
    assert_eq!(run_signed(&stack, &keys, -3480).await.code, 0);
    let out = verify(&stack, &keys, &[]).await;
    assert_eq!(out.code, 3, "{out:?}");
    let (problems, _) = evidence(&out);
    let stale = problems.iter().find(|p| p["problem"] == "stale").unwrap_or_else(|| panic!("{problems:#?}"));
    let sealed_to: chrono::DateTime<chrono::Utc> = stale["sealed_to"].as_str().unwrap().parse().unwrap();
    assert!(sealed_to < chrono::Utc::now() - chrono::Duration::seconds(3000), "{stale}");
    // A window that ends while the chain was still being sealed is whole.
    let until = auditship::evidence::digest::rfc3339(chrono::Utc::now() - chrono::Duration::seconds(3500));
    assert_eq!(verify(&stack, &keys, &["--until", &until]).await.code, 0, "up to {until}");

    stack.recreate_primary(NEW);
    // The old instance's active file is gone: what it had after the last
    // listing is unknowable, a loss (exit 3), as without digests.
    let shipped = run_signed(&stack, &keys, 0).await;
    assert_eq!(shipped.code, 3, "{shipped:?}");
    let dir = tempfile::tempdir().unwrap();
    let out = verify(&stack, &keys, &["--report", dir.path().to_str().unwrap()]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("auditship-report.json")).unwrap()).unwrap();
    let primaries: Vec<&serde_json::Value> =
        json["instances"].as_array().unwrap().iter().filter(|i| i["instance"] == "primary").collect();
    assert_eq!(primaries.len(), 2, "the new instance and the one it replaced: {json:#}");
    assert_eq!(primaries[0]["dbi_resource_id"], NEW);
    assert!(primaries[0].get("replaced_by").is_none(), "{}", primaries[0]);
    let old = primaries[1];
    assert_eq!(old["dbi_resource_id"], stack.primary_rid.as_str());
    assert_eq!(old["replaced_by"], NEW);
    let all = stack.objects().await;
    let old_objects = stack
        .object_keys("primary")
        .await
        .into_iter()
        .filter(|k| all[k].metadata.get("dbi-resource-id").is_some_and(|r| *r == stack.primary_rid));
    assert_eq!(old["objects_checked"].as_u64(), Some(old_objects.count() as u64), "{old}");
    assert_eq!(old["before_chain"], 0, "{old}");
    assert!(old["chain"]["digests"].as_u64().unwrap() > 0, "{old}");
    let md = std::fs::read_to_string(dir.path().join("auditship-report.md")).unwrap();
    assert!(md.contains(&format!("## primary ({})", stack.primary_rid)), "{md}");
    assert!(md.contains(&format!("deleted and created again under this identifier as {NEW}")), "{md}");
}

/// Every listing of `key` in the bucket's digests of the primary.
fn listings(
    objects: &BTreeMap<String, StoredObject>,
    rid: &str,
    key: &str,
) -> Vec<auditship::evidence::digest::Listed> {
    let digests = digest_keys(objects, rid);
    let parsed = digests.iter().map(|k| Digest::parse(&objects[k].bytes).unwrap_or_else(|e| panic!("{k}: {e}")));
    parsed.flat_map(|d| d.objects.into_iter().filter(|l| l.key == key)).collect()
}

/// An object deleted from a signed trail and put back by a backfill of its
/// file (the same bytes under the same key) is listed again by the next
/// digest: the digests vouch for what is there now, not only for what was
/// there once, and the trail verifies again, deep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_a_backfill_puts_back_is_listed_again() {
    let stack = Stack::start(Options::default()).await;
    let keys = keys();
    stack.primary.traffic(600, Some(250));
    assert_eq!(run_signed(&stack, &keys, 0).await.code, 0);
    assert_eq!(run_signed(&stack, &keys, 180).await.code, 0);
    let objects = stack.objects().await;
    let rotated = |k: &&String| objects[*k].metadata.get("source-file").is_some_and(|f| f != "audit/server_audit.log");
    let shipped = stack.object_keys("primary").await;
    let of_rotated: Vec<&String> = shipped.iter().filter(rotated).collect();
    let gone = of_rotated.get(1).map(|k| k.to_string()).unwrap_or_else(|| panic!("{of_rotated:?}"));
    assert_eq!(listings(&objects, &stack.primary_rid, &gone).len(), 1, "{gone} is listed once");
    stack.s3.delete_object().bucket(&stack.bucket).key(&gone).send().await.unwrap();
    let out = verify(&stack, &keys, &[]).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(evidence(&out).0.iter().any(|p| p["problem"] == "deleted" && p["key"] == gone.as_str()), "{}", out.stdout);

    // Put back by hand, without the signing key: recorded for the next
    // signed run to list.
    let source = objects[&gone].metadata["source-file"].clone();
    let mut backfill = stack.bare_command_for("backfill");
    backfill.args(["--instance", "primary", "--file", &source, "--object-size", "2048"]);
    let put_back = finished(backfill).await;
    assert_eq!(put_back.code, 0, "{put_back:?}");
    assert_eq!(put_back.objects_new("primary"), 1, "{}", put_back.stdout);
    assert_eq!(run_signed(&stack, &keys, 360).await.code, 0);
    let now = stack.objects().await;
    let listed = listings(&now, &stack.primary_rid, &gone);
    assert_eq!(listed.len(), 2, "listed when it landed and again once put back: {listed:?}");
    assert_eq!(
        (listed[0].start, listed[0].end, &listed[0].sha256),
        (listed[1].start, listed[1].end, &listed[1].sha256)
    );
    let again = verify(&stack, &keys, &["--deep"]).await;
    assert_eq!(again.code, 0, "put back with the bytes listed: {again:?}");
}

const VERSIONED_BUCKET: &str = "auditship-versioned";

/// In a bucket that keeps versions, verify reads them: a deleted object is
/// named with when it was deleted and the version that still holds it; one
/// put back is history, not a problem; and digests deleted with the
/// checkpoint wound back to before them (which leaves the chain looking
/// whole) are named by their delete markers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_versioned_bucket_verify_names_every_deletion_by_its_marker() {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let stack = Stack::start(Options::default()).await;
    let keys = keys();
    stack.s3.create_bucket().bucket(VERSIONED_BUCKET).send().await.unwrap();
    let on = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    stack.s3.put_bucket_versioning().bucket(VERSIONED_BUCKET).versioning_configuration(on).send().await.unwrap();
    let run = |offset: i64| {
        let mut cmd = stack.command(&["--object-size", "2048", "--digest-period", "60s"]);
        cmd.env("AUDITSHIP_BUCKET", VERSIONED_BUCKET)
            .env("AUDITSHIP_SIGNING_KEY_FILE", &keys.signing)
            .env("AUDITSHIP_CLOCK_OFFSET_SECONDS", offset.to_string());
        finished(cmd)
    };
    let verify = |extra: &'static [&'static str]| {
        let mut cmd = stack.bare_command_for("verify");
        cmd.args(stack.selection()).arg("--public-key").arg(&keys.public).arg("--json").args(extra);
        cmd.env("AUDITSHIP_BUCKET", VERSIONED_BUCKET);
        finished(cmd)
    };
    stack.primary.traffic(200, Some(100));
    assert_eq!(run(0).await.code, 0);
    stack.primary.traffic(100, None);
    assert_eq!(run(180).await.code, 0);
    let checkpoint = format!("{PREFIX}/_state/{}.json", stack.primary_rid);
    let sealed_before = objects_in(&stack.s3, VERSIONED_BUCKET).await;
    assert_eq!(run(360).await.code, 0);
    let objects = objects_in(&stack.s3, VERSIONED_BUCKET).await;

    let clean = verify(&[]).await;
    assert_eq!(clean.code, 0, "{clean:?}");
    let (_, summary) = evidence(&clean);
    assert_eq!(
        (summary["versions_read"].as_bool(), summary["keys_changed_before"].as_u64()),
        (Some(true), Some(0)),
        "{summary}"
    );

    // A listed object deleted: named with its marker and the version that
    // still holds it.
    let listed: Vec<String> = digest_keys(&objects, &stack.primary_rid)
        .iter()
        .flat_map(|k| Digest::parse(&objects[k].bytes).unwrap().objects.into_iter().map(|l| l.key))
        .collect();
    let gone = listed.first().unwrap_or_else(|| panic!("no listed object: {objects:?}")).clone();
    let head = stack.s3.head_object().bucket(VERSIONED_BUCKET).key(&gone).send().await.unwrap();
    let version = head.version_id().expect("a versioned bucket names versions").to_string();
    stack.s3.delete_object().bucket(VERSIONED_BUCKET).key(&gone).send().await.unwrap();
    let out = verify(&[]).await;
    assert_eq!(out.code, 3, "{out:?}");
    let (problems, _) = evidence(&out);
    let deleted = problems.iter().find(|p| p["problem"] == "deleted" && p["key"] == gone.as_str());
    let deleted = deleted.unwrap_or_else(|| panic!("{problems:#?}"));
    assert_eq!(deleted["version_id"], version.as_str(), "{deleted}");
    assert!(deleted["deleted_at"].as_str().is_some(), "{deleted}");

    // Put back with the bytes listed: intact again, and the key's history
    // is shown.
    let put = stack.s3.put_object().bucket(VERSIONED_BUCKET).key(&gone).body(objects[&gone].bytes.clone().into());
    let put = objects[&gone].metadata.iter().fold(put, |put, (k, v)| put.metadata(k, v));
    put.send().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = stack.bare_command_for("verify");
    cmd.args(stack.selection()).arg("--public-key").arg(&keys.public).arg("--report").arg(dir.path());
    cmd.env("AUDITSHIP_BUCKET", VERSIONED_BUCKET);
    let restored = finished(cmd).await;
    assert_eq!(restored.code, 0, "{restored:?}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("auditship-report.json")).unwrap()).unwrap();
    let primary = json["instances"].as_array().unwrap().iter().find(|i| i["instance"] == "primary").unwrap();
    let changes = primary["versions"]["changes"].as_array().unwrap_or_else(|| panic!("{primary}"));
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!((&changes[0]["key"], &changes[0]["change"]), (&serde_json::json!(gone), &serde_json::json!("put_back")));
    let md = std::fs::read_to_string(dir.path().join("auditship-report.md")).unwrap();
    assert!(md.contains(&format!("- `{gone}`: deleted, then written again")), "{md}");

    // The last run's digests deleted and the checkpoint put back as it was
    // before them: the chain ends where the checkpoint says, but the
    // markers tell.
    let newest: Vec<String> =
        digest_keys(&objects, &stack.primary_rid).into_iter().filter(|k| !sealed_before.contains_key(k)).collect();
    assert!(!newest.is_empty(), "the last run sealed digests");
    for key in &newest {
        stack.s3.delete_object().bucket(VERSIONED_BUCKET).key(key).send().await.unwrap();
    }
    let body = sealed_before[&checkpoint].bytes.clone();
    stack.s3.put_object().bucket(VERSIONED_BUCKET).key(&checkpoint).body(body.into()).send().await.unwrap();
    let out = verify(&[]).await;
    assert_eq!(out.code, 3, "{out:?}");
    let (problems, _) = evidence(&out);
    for key in &newest {
        assert!(
            problems.iter().any(|p| p["problem"] == "digest" && p["fault"] == "deleted" && p["key"] == key.as_str()),
            "{key} not named deleted: {problems:#?}"
        );
    }
    assert!(problems.iter().all(|p| p["fault"] != "missing"), "the chain itself looks whole: {problems:#?}");
}

/// The id a run's "run started" line gives it.
fn run_id(out: &RunOutput) -> String {
    let started = out.events().into_iter().find(|v| v["message"] == "run started");
    let id = started.and_then(|v| v["run_id"].as_str().map(str::to_string));
    id.unwrap_or_else(|| panic!("no run id in {out:?}"))
}

/// A loss in a signed trail: the digest of the period it was detected in
/// records it with the run that detected it (signed), and the report names
/// that run as the one that paged (exit 3), from the checkpoint. The loss
/// is evidence, not a problem with the trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_loss_names_the_run_that_detected_it_and_the_run_that_paged() {
    let stack = Stack::start(Options { rotations: 2, ..Options::default() }).await;
    let keys = keys();
    stack.primary.traffic(100, None);
    assert_eq!(run_signed(&stack, &keys, 0).await.code, 0);
    // More rotations than the plugin keeps: the file that was growing at
    // the last run, with new lines in it, is deleted before the next.
    stack.primary.traffic(400, Some(50));
    let paged = run_signed(&stack, &keys, 120).await;
    assert_eq!(paged.code, 3, "{paged:?}");
    let paging_run = run_id(&paged);
    // A later run seals the period the loss was detected in.
    let sealing = run_signed(&stack, &keys, 240).await;
    assert_eq!(sealing.code, 0, "{sealing:?}");
    assert_ne!(run_id(&sealing), paging_run, "every run has its own id");
    let objects = stack.objects().await;
    let sealed: Vec<Digest> = digest_keys(&objects, &stack.primary_rid)
        .iter()
        .map(|k| Digest::parse(&objects[k].bytes).unwrap_or_else(|e| panic!("{k}: {e}")))
        .collect();
    let in_digests: Vec<_> = sealed.iter().flat_map(|d| d.losses.iter()).collect();
    assert_eq!(in_digests.len(), 1, "one loss, in one digest: {in_digests:?}");
    assert_eq!(in_digests[0].detected_by.as_deref(), Some(paging_run.as_str()), "{in_digests:?}");

    let dir = tempfile::tempdir().unwrap();
    let out = verify(&stack, &keys, &["--report", dir.path().to_str().unwrap()]).await;
    assert_eq!(out.code, 0, "a recorded loss is evidence, not a broken trail: {out:?}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("auditship-report.json")).unwrap()).unwrap();
    let primary = json["instances"].as_array().unwrap().iter().find(|i| i["instance"] == "primary").unwrap();
    let losses = primary["losses"].as_array().unwrap_or_else(|| panic!("{primary}"));
    assert_eq!(losses.len(), 1, "{primary}");
    assert_eq!(losses[0]["detected_by"], paging_run.as_str(), "{}", losses[0]);
    assert_eq!(losses[0]["reported_by"], paging_run.as_str(), "{}", losses[0]);
    assert_eq!(losses[0]["reported"], true, "{}", losses[0]);
    let md = std::fs::read_to_string(dir.path().join("auditship-report.md")).unwrap();
    assert!(md.contains(&format!("by run {paging_run}; reported (exit 3) by run {paging_run}")), "{md}");
}

/// A new ECC_NIST_P256 SIGN_VERIFY key in moto, under a new alias: its
/// alias and its ARN.
async fn kms_signing_key(kms: &aws_sdk_kms::Client) -> (String, String) {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType};
    let created =
        kms.create_key().key_spec(KeySpec::EccNistP256).key_usage(KeyUsageType::SignVerify).send().await.unwrap();
    let meta = created.key_metadata().unwrap();
    let alias = format!("alias/{}", unique("digests"));
    kms.create_alias().alias_name(&alias).target_key_id(meta.key_id()).send().await.unwrap();
    (alias, meta.arn().unwrap().to_string())
}

/// A run that signs 60 s periods' digests with a KMS key, on a clock
/// `offset` seconds ahead.
async fn run_kms_signed(stack: &Stack, key_id: &str, offset: i64) -> RunOutput {
    let mut cmd = stack.command(&["--object-size", "2048", "--digest-period", "60s"]);
    cmd.env("AUDITSHIP_SIGNING_KMS_KEY_ID", key_id)
        .env("AUDITSHIP_KMS_ENDPOINT_URL", &stack.s3_url)
        .env("AUDITSHIP_CLOCK_OFFSET_SECONDS", offset.to_string());
    finished(cmd).await
}

async fn verify_kms(stack: &Stack, key_id: &str, extra: &[&str]) -> RunOutput {
    let mut cmd = stack.bare_command_for("verify");
    cmd.args(stack.selection())
        .args(["--kms-key-id", key_id, "--json"])
        .args(extra)
        .env("AUDITSHIP_KMS_ENDPOINT_URL", &stack.s3_url);
    finished(cmd).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_signed_with_a_kms_key_verifies_with_that_key_and_not_with_another() {
    let stack = Stack::start(Options::default()).await;
    let kms = kms_client(&stack.s3_url);
    // Signed through an alias, as a deployment would: the digests name
    // the key's ARN all the same.
    let (alias, arn) = kms_signing_key(&kms).await;
    let (_, other_arn) = kms_signing_key(&kms).await;
    stack.primary.traffic(200, Some(100));
    let first = run_kms_signed(&stack, &alias, 0).await;
    assert_eq!(first.code, 0, "{first:?}");
    stack.primary.traffic(200, None);
    let second = run_kms_signed(&stack, &alias, 180).await;
    assert_eq!(second.code, 0, "{second:?}");

    let objects = stack.objects().await;
    let digests = digest_keys(&objects, &stack.primary_rid);
    assert!(digests.len() >= 2, "60 s periods over 3 minutes: {digests:?}");
    for key in &digests {
        let metadata = &objects[key].metadata;
        assert_eq!(metadata["signature-algorithm"], "ECDSA_SHA_256", "{key}: {metadata:?}");
        assert_eq!(metadata["signing-key"], arn, "{key}: {metadata:?}");
    }

    let report_dir = tempfile::tempdir().unwrap();
    let clean = verify_kms(&stack, &arn, &["--report", report_dir.path().to_str().unwrap()]).await;
    assert_eq!(clean.code, 0, "{clean:?}");
    let (problems, summary) = evidence(&clean);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(summary["digests"].as_u64(), Some(digests.len() as u64), "{summary}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report_dir.path().join("auditship-report.json")).unwrap()).unwrap();
    assert_eq!(json["result"], "intact", "{json:#}");
    let primary = json["instances"].as_array().unwrap().iter().find(|i| i["instance"] == "primary").unwrap();
    assert_eq!(primary["chain"]["signed_by"], serde_json::json!([format!("ECDSA_SHA_256 {arn}")]), "{primary:#}");

    let forged = verify_kms(&stack, &other_arn, &[]).await;
    assert_eq!(forged.code, 3, "another key's public half verifies nothing: {forged:?}");
    let (problems, _) = evidence(&forged);
    for key in &digests {
        let named = problems.iter().any(|p| p["key"] == *key && p["fault"] == "bad_signature");
        assert!(named, "no bad_signature for {key} in {problems:#?}");
    }
}

/// `doctor` reads the signing key a run would use and signs a probe with
/// it: a KMS key (kms:GetPublicKey, kms:Sign) or a key file. A key that
/// cannot sign is a failed check naming it, exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_signs_a_probe_with_the_digest_key() {
    let stack = Stack::start(Options::default()).await;
    let kms = kms_client(&stack.s3_url);
    let (alias, arn) = kms_signing_key(&kms).await;
    let doctor = |env: (&'static str, String)| {
        let mut cmd = stack.bare_command_for("doctor");
        cmd.args(stack.selection()).env(env.0, env.1).env("AUDITSHIP_KMS_ENDPOINT_URL", &stack.s3_url);
        finished(cmd)
    };
    let line = |out: &RunOutput, starts: &str| {
        out.stdout.lines().find(|l| l.starts_with(starts)).map(str::to_string).unwrap_or_else(|| panic!("{out:?}"))
    };
    let by_kms = doctor(("AUDITSHIP_SIGNING_KMS_KEY_ID", alias.clone())).await;
    assert_eq!(by_kms.code, 0, "{by_kms:?}");
    let ok = line(&by_kms, &format!("ok    kms:GetPublicKey, kms:Sign {alias}"));
    assert!(ok.contains(&format!("ECDSA_SHA_256 key {arn}: a probe was signed and verified")), "{ok}");

    let keys = keys();
    let by_file = doctor(("AUDITSHIP_SIGNING_KEY_FILE", keys.signing.display().to_string())).await;
    assert_eq!(by_file.code, 0, "{by_file:?}");
    let ok = line(&by_file, "ok    digest signing key file");
    let fingerprint = Ed25519File::from_pem_file(&keys.signing).unwrap().facts().key.clone();
    assert!(ok.contains(&format!("ED25519 key {fingerprint}: a probe was signed")), "{ok}");

    let missing = doctor(("AUDITSHIP_SIGNING_KMS_KEY_ID", "alias/no-such-digest-key".into())).await;
    assert_eq!(missing.code, 2, "{missing:?}");
    line(&missing, "FAIL  kms:GetPublicKey, kms:Sign alias/no-such-digest-key");

    let unsigned = doctor(("AUDITSHIP_JSON", "false".into())).await;
    line(&unsigned, "ok    digest signing: off");
}
