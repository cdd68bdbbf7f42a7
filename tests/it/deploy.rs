//! What is deployed matches the code: the IAM actions the Terraform module
//! and the plain-JSON policy grant the task are exactly the AWS calls the
//! binary makes, no more and no fewer.

use std::collections::BTreeSet;
use std::path::Path;

/// SDK operations (as the fluent method names the code calls) and the IAM
/// action each needs. A call not listed here fails the test: add it here
/// and to the policies.
const OPERATIONS: &[(&str, &str)] = &[
    ("describe_db_instances", "rds:DescribeDBInstances"),
    ("describe_db_clusters", "rds:DescribeDBClusters"),
    ("describe_db_log_files", "rds:DescribeDBLogFiles"),
    ("head_bucket", "s3:ListBucket"),
    ("list_objects_v2", "s3:ListBucket"),
    ("list_object_versions", "s3:ListBucketVersions"),
    ("get_object", "s3:GetObject"),
    ("head_object", "s3:GetObject"),
    ("put_object", "s3:PutObject"),
    ("create_multipart_upload", "s3:PutObject"),
    ("upload_part", "s3:PutObject"),
    ("complete_multipart_upload", "s3:PutObject"),
    ("abort_multipart_upload", "s3:AbortMultipartUpload"),
    ("get_bucket_versioning", "s3:GetBucketVersioning"),
    ("get_object_lock_configuration", "s3:GetBucketObjectLockConfiguration"),
    ("get_public_key", "kms:GetPublicKey"),
    ("sign", "kms:Sign"),
];

/// Methods on the clients that are not API calls.
const NOT_CALLS: &[&str] = &["clone", "config"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every `client.<op>()` / `rds.<op>()` in the source, whitespace and line
/// breaks between the parts ignored.
fn sdk_calls_in(source: &str) -> Vec<String> {
    let compact: String = source.chars().filter(|c| !c.is_whitespace()).collect();
    let mut calls = Vec::new();
    for receiver in ["client.", "rds."] {
        let mut rest = compact.as_str();
        while let Some(at) = rest.find(receiver) {
            let after = &rest[at + receiver.len()..];
            // `words.last()` is no call on `rds`.
            let part_of_a_name = rest[..at].chars().last().is_some_and(|c| c.is_alphanumeric() || c == '_');
            if part_of_a_name {
                rest = after;
                continue;
            }
            let name: String =
                after.chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
            if !name.is_empty() && after[name.len()..].starts_with("()") {
                calls.push(name);
            }
            rest = after;
        }
    }
    calls
}

/// Every source file of the binary (`src/sim` is test-only and left out).
fn binary_sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "sim") {
                binary_sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The IAM actions the binary needs, read off its source.
fn actions_the_code_needs() -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    let mut sources = Vec::new();
    binary_sources(&root().join("src"), &mut sources);
    assert!(sources.iter().any(|p| p.ends_with("pipeline/file.rs")), "sources under src/ are read recursively");
    for path in sources {
        let source = std::fs::read_to_string(&path).unwrap();
        for call in sdk_calls_in(&source) {
            if NOT_CALLS.contains(&call.as_str()) {
                continue;
            }
            let action = OPERATIONS
                .iter()
                .find(|(op, _)| *op == call)
                .unwrap_or_else(|| panic!("{}: AWS call {call}() has no IAM action in tests/deploy.rs", path.display()))
                .1;
            actions.insert(action.to_string());
        }
        // The two calls that are not SDK operations.
        if source.contains("/v13/downloadCompleteLogFile/") {
            actions.insert("rds:DownloadCompleteDBLogFile".into());
        }
        // The IAM database token is presigned for the `rds-db` service.
        if source.contains("\"rds-db\"") {
            actions.insert("rds-db:connect".into());
        }
        // A write with Object Lock headers is also authorized as
        // s3:PutObjectRetention.
        if source.contains(".object_lock_retain_until_date(") || source.contains(".set_object_lock_retain_until_date(")
        {
            actions.insert("s3:PutObjectRetention".into());
        }
        // --assume-role: aws-config's provider calls STS AssumeRole.
        if source.contains("AssumeRoleProvider::builder") {
            actions.insert("sts:AssumeRole".into());
        }
    }
    actions
}

/// Quoted `rds:…`, `rds-db:…`, `s3:…`, `sts:…` and `kms:…` actions in a text.
fn actions_in(text: &str) -> BTreeSet<String> {
    text.split('"')
        .filter(|s| {
            ["rds:", "rds-db:", "s3:", "sts:", "kms:"].iter().any(|p| s.starts_with(p))
                && s.split_once(':').is_some_and(|(_, a)| !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric()))
        })
        .map(str::to_string)
        .collect()
}

/// The actions granted between `# BEGIN {what}` and `# END {what}` of a
/// Terraform file; only `actions = [...]` lines (condition keys look like
/// actions too).
fn actions_between(tf: &str, what: &str) -> BTreeSet<String> {
    let begin = tf.find(&format!("# BEGIN {what}")).unwrap_or_else(|| panic!("no BEGIN {what} marker"));
    let end = tf.find(&format!("# END {what}")).unwrap_or_else(|| panic!("no END {what} marker"));
    let action_lines: Vec<&str> = tf[begin..end].lines().filter(|l| l.trim_start().starts_with("actions")).collect();
    actions_in(&action_lines.join("\n"))
}

#[test]
fn terraform_task_role_grants_exactly_what_the_code_calls() {
    let granted = actions_between(&read("terraform/modules/auditship/iam.tf"), "auditship task actions");
    let needed = actions_the_code_needs();
    assert_eq!(granted, needed, "terraform/modules/auditship/iam.tf task policy vs the AWS calls in src/");
    assert!(needed.len() >= 10, "the scan found too few calls: {needed:?}");
}

/// The role a target account creates grants exactly the RDS calls the
/// worker makes there (everything but S3, STS and database tokens, which
/// stay with the task's own role).
#[test]
fn target_account_role_grants_exactly_the_rds_calls() {
    let granted = actions_between(&read("terraform/modules/auditship-target-role/main.tf"), "auditship target actions");
    let rds: BTreeSet<String> = actions_the_code_needs().into_iter().filter(|a| a.starts_with("rds:")).collect();
    assert!(rds.len() >= 4, "{rds:?}");
    assert_eq!(granted, rds, "auditship-target-role vs the RDS calls in src/");
}

#[test]
fn plain_json_policy_grants_exactly_what_the_code_calls() {
    let text = read("deploy/iam-task-policy.json");
    let policy: serde_json::Value = serde_json::from_str(&text).expect("deploy/iam-task-policy.json is JSON");
    let mut granted = BTreeSet::new();
    for statement in policy["Statement"].as_array().expect("Statement list") {
        assert_eq!(statement["Effect"], "Allow", "{statement}");
        let actions = &statement["Action"];
        let list = actions.as_array().cloned().unwrap_or_else(|| vec![actions.clone()]);
        granted.extend(list.iter().map(|a| a.as_str().unwrap().to_string()));
    }
    // The bucket's SSE-KMS key is used by S3 on the task's behalf: no call
    // in the code names it, and without it every upload is denied.
    let kms: BTreeSet<String> = ["kms:Decrypt", "kms:GenerateDataKey"].map(String::from).into();
    assert!(kms.is_subset(&granted), "deploy/iam-task-policy.json lacks the bucket key's statement: {granted:?}");
    let called: BTreeSet<String> = granted.difference(&kms).cloned().collect();
    assert_eq!(called, actions_the_code_needs(), "deploy/iam-task-policy.json vs the AWS calls in src/");
}

#[test]
fn the_call_scan_sees_calls_split_over_lines() {
    let source = "let out = self\n    .client\n    .put_object()\n    .bucket(b);\nrds.describe_db_clusters().send();\nwords.last()";
    assert_eq!(sdk_calls_in(source), ["put_object", "describe_db_clusters"]);
}
