//! Instances in another account (`--assume-role`): the RDS API, the log
//! downloads and database tokens use the role's credentials, S3 the task's
//! own (the S3 proxy counts the access keys it sees). Against the emulator's STS, where RDS answers only the role's
//! credentials, and against moto's STS, whose assumed credentials land in
//! the role's account.

use crate::common::*;

const ROLE: &str = "arn:aws:iam::111111111111:role/auditship-reader";
const ROLE_KEY_ID: &str = "ASIAEMULATORROLE0001";

/// The stack's instances move to account 111111111111: only ROLE's
/// credentials (with the external id `fleet-7`) read them.
fn move_instances_to_another_account(stack: &Stack) {
    let role = serde_json::json!({
        "arn": ROLE, "external_id": "fleet-7",
        "access_key_id": ROLE_KEY_ID, "secret_access_key": "emulator-role-secret",
    });
    stack.emulator_control("POST", "account", &role.to_string());
}

/// Without the role RDS refuses (exit 2, the action named); with it the
/// run ships everything into the task's own bucket; a wrong external id is
/// one line naming the role and the fix, exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reads_another_accounts_instances_through_an_assumed_role() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(200, Some(80));
    stack.replica.traffic_with(30, None, &["--read-only"]);
    move_instances_to_another_account(&stack);
    let sts = ["--sts-endpoint-url", stack.emulator.url.as_str()];

    let refused = stack.run(&[]).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("AccessDenied"), "{}", refused.stderr);

    let wrong = stack.run(&[&["--assume-role", ROLE, "--external-id", "fleet-8"][..], &sts].concat()).await;
    assert_eq!(wrong.code, 2, "{wrong:?}");
    let line = wrong.stderr.lines().find(|l| l.starts_with("auditship: error:")).unwrap_or_default();
    assert!(line.contains(&format!("cannot assume role {ROLE}")) && line.contains("trust policy"), "{}", wrong.stderr);

    let out = stack.run(&[&["--assume-role", ROLE, "--external-id", "fleet-7"][..], &sts].concat()).await;
    assert_eq!(out.code, 0, "{out:?}");
    stack.assert_all_shipped("primary").await;
    stack.assert_all_shipped("replica").await;
    // S3 is the task's own: not one request went out signed by the role.
    let keys = stack.s3_access_keys();
    assert!(!keys.contains_key(ROLE_KEY_ID) && keys.get(KEY_ID) > Some(&0), "{keys:?}");

    // The read-only commands go the same way.
    let mut status = stack.bare_command_for("status");
    status.args(stack.selection()).args(["--assume-role", ROLE, "--external-id", "fleet-7"]).args(sts);
    let status = finished(status).await;
    assert_eq!(status.code, 0, "{status:?}");
}

fn sts_client(url: &str, creds: aws_sdk_sts::config::Credentials) -> aws_sdk_sts::Client {
    let conf = aws_sdk_sts::config::Builder::new()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new(REGION))
        .credentials_provider(creds)
        .endpoint_url(url)
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}

/// moto's STS: credentials it hands out for a role belong to the role's
/// account, and so do the instances created with them. `discover` finds
/// such an instance only through the role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_through_moto_sts_sees_the_roles_account() {
    let (url, _moto) = s3_server_for_tests();
    let base = aws_sdk_sts::config::Credentials::new(KEY_ID, SECRET, None, None, "test");
    let role = format!("arn:aws:iam::{}:role/auditship-reader", 200_000_000_000u64 + u64::from(std::process::id()));
    let assumed = sts_client(&url, base)
        .assume_role()
        .role_arn(&role)
        .role_session_name("setup")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let creds = aws_sdk_rds::config::Credentials::new(
        assumed.access_key_id(),
        assumed.secret_access_key(),
        Some(assumed.session_token().to_string()),
        None,
        "assumed",
    );
    let rds = aws_sdk_rds::Client::from_conf(
        aws_sdk_rds::config::Builder::new()
            .behavior_version(aws_sdk_rds::config::BehaviorVersion::latest())
            .region(aws_sdk_rds::config::Region::new(REGION))
            .credentials_provider(creds)
            .endpoint_url(&url)
            .build(),
    );
    let db = unique("x").to_lowercase().replace('-', "");
    rds.create_db_instance()
        .db_instance_identifier(&db)
        .engine("mysql")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("admin")
        .master_user_password("password123")
        .send()
        .await
        .unwrap();

    let discover = |extra: &[&str]| {
        let mut cmd = auditship_command();
        cmd.args(["discover", "--json", "--instance", &db, "--rds-endpoint-url", &url]).args(extra);
        cmd
    };
    let through_role = discover(&["--assume-role", &role, "--sts-endpoint-url", &url]).output().await.unwrap();
    let said = String::from_utf8_lossy(&through_role.stdout);
    assert_eq!(through_role.status.code(), Some(0), "{}", String::from_utf8_lossy(&through_role.stderr));
    let found: serde_json::Value = serde_json::from_str(said.lines().next().unwrap()).unwrap();
    assert_eq!(found["instance"], db.as_str(), "{said}");

    let own_account = discover(&[]).output().await.unwrap();
    assert_eq!(own_account.status.code(), Some(2), "the task's own account has no such instance");
}
