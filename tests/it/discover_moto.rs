//! Discovery against moto's RDS: a third-party implementation of the RDS
//! wire format, so the emulator in this repository is not the only judge
//! of how the worker parses DescribeDBInstances / DescribeDBClusters.

use crate::common::*;

fn rds_client(url: &str) -> aws_sdk_rds::Client {
    let creds = aws_sdk_rds::config::Credentials::new(KEY_ID, SECRET, None, None, "test");
    let conf = aws_sdk_rds::config::Builder::new()
        .behavior_version(aws_sdk_rds::config::BehaviorVersion::latest())
        .region(aws_sdk_rds::config::Region::new(REGION))
        .credentials_provider(creds)
        .endpoint_url(url)
        .build();
    aws_sdk_rds::Client::from_conf(conf)
}

async fn discover(url: &str, args: &[&str]) -> Vec<serde_json::Value> {
    let out = auditship_command()
        .arg("discover")
        .args(args)
        .args(["--json", "--rds-endpoint-url", url])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn find<'a>(found: &'a [serde_json::Value], id: &str) -> &'a serde_json::Value {
    found.iter().find(|i| i["instance"] == id).unwrap_or_else(|| panic!("{id} not in {found:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_reads_moto_rds_replicas_clusters_and_tags() {
    let (url, _moto) = s3_server_for_tests();
    let rds = rds_client(&url);
    let n = unique("m").to_lowercase().replace('-', "");
    let (primary, replica, cluster) = (format!("p{n}"), format!("r{n}"), format!("c{n}"));
    let team = aws_sdk_rds::types::Tag::builder().key("team").value(&n).build();
    rds.create_db_instance()
        .db_instance_identifier(&primary)
        .engine("mysql")
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("admin")
        .master_user_password("password123")
        .tags(team)
        .send()
        .await
        .unwrap();
    rds.create_db_instance_read_replica()
        .db_instance_identifier(&replica)
        .source_db_instance_identifier(&primary)
        .send()
        .await
        .unwrap();
    rds.create_db_cluster()
        .db_cluster_identifier(&cluster)
        .engine("aurora-mysql")
        .master_username("admin")
        .master_user_password("password123")
        .send()
        .await
        .unwrap();
    for member in ["w", "r"] {
        rds.create_db_instance()
            .db_instance_identifier(format!("{cluster}{member}"))
            .db_cluster_identifier(&cluster)
            .engine("aurora-mysql")
            .db_instance_class("db.r5.large")
            .send()
            .await
            .unwrap();
    }
    let truth = rds.describe_db_instances().db_instance_identifier(&primary).send().await.unwrap();
    let primary_rid = truth.db_instances()[0].dbi_resource_id().unwrap().to_string();

    let found = discover(&url, &["--instance", &primary, "--with-replicas"]).await;
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(find(&found, &primary)["role"], "writer");
    assert_eq!(find(&found, &primary)["dbi_resource_id"], primary_rid.as_str());
    assert_eq!(find(&found, &replica)["role"], "reader");

    // moto gives every instance the same DbiResourceId (real RDS never
    // does). `discover` shows what the API says; `run` must refuse, since
    // state is keyed by it and two instances would share a checkpoint.
    if find(&found, &replica)["dbi_resource_id"] == primary_rid.as_str() {
        let bucket = unique("moto").to_lowercase();
        s3_client(&url).create_bucket().bucket(&bucket).send().await.unwrap();
        let out = auditship_command()
            .args(["run", "--instance", &primary, "--with-replicas", "--bucket", &bucket])
            .args(["--rds-endpoint-url", &url, "--s3-endpoint-url", &url])
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("both report DbiResourceId"), "{stderr}");
    }

    let found = discover(&url, &["--cluster", &cluster]).await;
    assert_eq!(found.len(), 2, "{found:?}");
    let roles: Vec<&str> = found.iter().map(|i| i["role"].as_str().unwrap()).collect();
    assert_eq!(roles.iter().filter(|r| **r == "writer").count(), 1, "{found:?}");
    assert_eq!(roles.iter().filter(|r| **r == "reader").count(), 1, "{found:?}");
    assert!(found.iter().all(|i| i["cluster"] == cluster.as_str() && i["engine"] == "aurora-mysql"));

    let found = discover(&url, &["--tag", &format!("team={n}")]).await;
    assert!(found.iter().any(|i| i["instance"] == primary.as_str()), "{found:?}");
    assert!(found.iter().all(|i| i["instance"] != format!("{cluster}w").as_str()), "{found:?}");

    // A selection that matches nothing is said, and exits 2, as `run`
    // does for it.
    let out = auditship_command()
        .args(["discover", "--tag", "team=nobody-has-this", "--rds-endpoint-url", &url])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the selection matches no instance"), "{stderr}");
}
