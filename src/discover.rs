//! Discover: which instances to ship, with their identity and role.
//!
//! Identity is the `DbiResourceId` (region-unique, never reused); roles are
//! worked out afresh on every run because failover swaps writer and reader
//! without changing identifiers. Every Describe call is paged.

use crate::aws::{classify, instance_not_found};
use crate::config::DbAccess;
use crate::config::Selection;
use crate::db::{self, Replication};
use crate::error::Failure;
use crate::instance::{Instance, InstanceId, ResourceId, Role};
use crate::signer::AwsIdentity;
use aws_sdk_rds::error::ProvideErrorMetadata;
use aws_sdk_rds::types::{DbInstance, Filter};
use std::collections::BTreeMap;

/// Engines whose audit logs are MariaDB-plugin or Aurora MySQL audit files.
const AUDIT_ENGINES: &[&str] = &["mysql", "mariadb", "aurora-mysql", "aurora"];

/// Finds every selected instance. An unknown cluster or instance is an
/// error (exit 2): a typo in a schedule must not read as "nothing to ship".
/// With `--discover sql` the database names the instances first.
pub async fn discover(
    rds: &aws_sdk_rds::Client,
    sel: &Selection,
    db: Option<(&DbAccess, &AwsIdentity)>,
) -> Result<Vec<Instance>, Failure> {
    if sel.via_sql {
        let (access, aws) =
            db.ok_or_else(|| Failure::needs_person("--discover sql needs --db-user and --db-endpoint"))?;
        let ids = instances_via_sql(rds, access, aws).await?;
        let by_id = Selection { instances: ids, ..Selection::default() };
        return Box::pin(discover(rds, &by_id, None)).await;
    }
    // Keyed by identifier: a selection may name an instance twice (as a
    // cluster member and by tag, say).
    let mut found: BTreeMap<String, Instance> = BTreeMap::new();
    let mut add = |i: Instance| {
        found.entry(i.id.0.clone()).or_insert(i);
    };
    for cluster in &sel.clusters {
        for i in cluster_instances(rds, cluster).await? {
            add(i);
        }
    }
    for id in &sel.instances {
        let primary = describe_instance(rds, id).await?;
        let replicas = primary.read_replica_db_instance_identifiers().to_vec();
        add(to_instance(rds, &primary, None).await?);
        if sel.with_replicas {
            for replica in replicas {
                let r = describe_instance(rds, &replica).await?;
                add(to_instance(rds, &r, None).await?);
            }
        }
    }
    if !sel.tags.is_empty() {
        for raw in describe_instances(rds, None).await? {
            if has_all_tags(&raw, &sel.tags) {
                add(to_instance(rds, &raw, None).await?);
            }
        }
    }
    let instances: Vec<Instance> = found.into_values().collect();
    for i in &instances {
        check_engine(i)?;
    }
    Ok(instances)
}

/// Asks the database at `--db-endpoint` for its writer and replicas and
/// maps them to instance identifiers. Aurora names its instances itself;
/// for MySQL/MariaDB the endpoints (`host:port`) are matched against each
/// instance's endpoint from DescribeDBInstances. Every replica the database
/// reports must map to an instance: one that does not would go unshipped.
async fn instances_via_sql(
    rds: &aws_sdk_rds::Client,
    access: &DbAccess,
    aws: &AwsIdentity,
) -> Result<Vec<String>, Failure> {
    let entry = access.endpoint.clone().expect("checked with the flags");
    let mut conn = db::connect(access, &entry, aws).await?;
    let mut replication = db::replication(&mut conn).await?;
    let _ = conn.disconnect().await;
    let mut primary_at = entry.clone();
    // Connected to a replica: ask its primary instead, once.
    if let Replication::Classic { primary: Some((host, port)), .. } = &replication {
        primary_at = format!("{host}:{port}");
        let mut conn = db::connect(access, &primary_at, aws).await?;
        replication = db::replication(&mut conn).await?;
        let _ = conn.disconnect().await;
    }
    let ids = match replication {
        Replication::Aurora(members) => {
            tracing::info!(endpoint = %entry, members = ?members, "Aurora cluster members from replica_host_status");
            members.into_iter().map(|(id, _)| id).collect()
        }
        Replication::Classic { replicas, .. } => {
            let endpoints: Vec<String> =
                std::iter::once(primary_at).chain(replicas.iter().map(|(h, p)| format!("{h}:{p}"))).collect();
            let all = describe_instances(rds, None).await?;
            let mut ids = Vec::new();
            for endpoint in &endpoints {
                let found = all.iter().find(|raw| endpoint_of(raw).is_some_and(|e| e.eq_ignore_ascii_case(endpoint)));
                let raw = found.ok_or_else(|| {
                    Failure::needs_person(format!(
                        "the database reports a server at {endpoint} that matches no instance's endpoint in \
                         DescribeDBInstances: pass --db-endpoint as the instance endpoint (DNS name:port), or \
                         select with --instance ID --with-replicas"
                    ))
                })?;
                ids.push(raw.db_instance_identifier().unwrap_or_default().to_string());
            }
            tracing::info!(endpoints = ?endpoints, instances = ?ids, "instances from the primary's replica list");
            ids
        }
    };
    Ok(ids)
}

fn endpoint_of(raw: &DbInstance) -> Option<String> {
    raw.endpoint().and_then(|e| Some(format!("{}:{}", e.address()?, e.port()?)))
}

/// State is keyed by `DbiResourceId`, so two instances reporting the same
/// one could overwrite each other's checkpoint: refuse to ship either. Real
/// RDS never does this; an emulator or a proxy in the way might.
pub fn check_unique_resource_ids(instances: &[Instance]) -> Result<(), Failure> {
    let mut seen: BTreeMap<&str, &InstanceId> = BTreeMap::new();
    for i in instances {
        if let Some(other) = seen.insert(&i.resource_id.0, &i.id) {
            return Err(Failure::needs_person(format!(
                "instances {other} and {} both report DbiResourceId {}: state is keyed by it, so neither is shipped; \
                 check that --rds-endpoint-url points at the real RDS API",
                i.id, i.resource_id
            )));
        }
    }
    Ok(())
}

fn check_engine(i: &Instance) -> Result<(), Failure> {
    if AUDIT_ENGINES.contains(&i.engine.as_str()) {
        Ok(())
    } else {
        Err(Failure::needs_person(format!(
            "instance {} runs engine {}, which writes no MySQL audit log: remove it from the selection",
            i.id, i.engine
        )))
    }
}

fn has_all_tags(raw: &DbInstance, wanted: &[(String, String)]) -> bool {
    wanted
        .iter()
        .all(|(k, v)| raw.tag_list().iter().any(|t| t.key() == Some(k.as_str()) && t.value() == Some(v.as_str())))
}

/// Writer and readers of a cluster, roles from `DBClusterMembers`.
async fn cluster_instances(rds: &aws_sdk_rds::Client, cluster: &str) -> Result<Vec<Instance>, Failure> {
    let writers = cluster_writers(rds, cluster).await?;
    let filter = Filter::builder().name("db-cluster-id").values(cluster).build();
    let mut out = Vec::new();
    for raw in describe_instances(rds, Some(filter)).await? {
        out.push(to_instance(rds, &raw, Some(&writers)).await?);
    }
    Ok(out)
}

/// Members of a cluster and whether each is the writer.
async fn cluster_writers(rds: &aws_sdk_rds::Client, cluster: &str) -> Result<BTreeMap<String, bool>, Failure> {
    let out = rds.describe_db_clusters().db_cluster_identifier(cluster).send().await.map_err(|e| {
        let f = classify(&e);
        if e.code() == Some("DBClusterNotFoundFault") {
            Failure::needs_person(format!("cluster {cluster} not found ({}): check --cluster and --region", f.message))
        } else {
            f.context(format!("DescribeDBClusters {cluster}"))
        }
    })?;
    let cluster = out
        .db_clusters()
        .first()
        .ok_or_else(|| Failure::needs_person(format!("cluster {cluster} not found: check --cluster and --region")))?;
    Ok(cluster
        .db_cluster_members()
        .iter()
        .filter_map(|m| Some((m.db_instance_identifier()?.to_string(), m.is_cluster_writer().unwrap_or(false))))
        .collect())
}

/// The resource id an identifier stands for now; `None` when no instance
/// has it (deleted, not yet created again).
pub async fn current_resource_id(rds: &aws_sdk_rds::Client, id: &InstanceId) -> Result<Option<ResourceId>, Failure> {
    match rds.describe_db_instances().db_instance_identifier(&id.0).send().await {
        Ok(out) => Ok(out.db_instances().first().and_then(|i| i.dbi_resource_id()).map(|r| ResourceId(r.to_string()))),
        Err(e) if instance_not_found(e.code()) => Ok(None),
        Err(e) => Err(classify(&e).context(format!("DescribeDBInstances {id}"))),
    }
}

async fn describe_instance(rds: &aws_sdk_rds::Client, id: &str) -> Result<DbInstance, Failure> {
    let out = rds.describe_db_instances().db_instance_identifier(id).send().await.map_err(|e| {
        let f = classify(&e);
        if instance_not_found(e.code()) {
            Failure::needs_person(format!("instance {id} not found ({}): check --instance and --region", f.message))
        } else {
            f.context(format!("DescribeDBInstances {id}"))
        }
    })?;
    out.db_instances()
        .first()
        .cloned()
        .ok_or_else(|| Failure::needs_person(format!("instance {id} not found: check --instance and --region")))
}

/// All instances matching an optional filter, every page.
async fn describe_instances(rds: &aws_sdk_rds::Client, filter: Option<Filter>) -> Result<Vec<DbInstance>, Failure> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = rds
            .describe_db_instances()
            .set_filters(filter.clone().map(|f| vec![f]))
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| classify(&e).context("DescribeDBInstances"))?;
        out.extend(page.db_instances().iter().cloned());
        match page.marker() {
            Some(m) if !m.is_empty() => marker = Some(m.to_string()),
            _ => return Ok(out),
        }
    }
}

/// Builds an `Instance`, working out its role. A cluster member's role comes
/// from its cluster; otherwise a primary with replicas is the writer, a
/// replica a reader, anything else standalone.
async fn to_instance(
    rds: &aws_sdk_rds::Client,
    raw: &DbInstance,
    writers: Option<&BTreeMap<String, bool>>,
) -> Result<Instance, Failure> {
    let id = raw.db_instance_identifier().unwrap_or_default().to_string();
    let resource_id = raw
        .dbi_resource_id()
        .map(str::to_string)
        .ok_or_else(|| Failure::transient(format!("instance {id}: DescribeDBInstances returned no DbiResourceId")))?;
    let cluster = raw.db_cluster_identifier().map(str::to_string);
    let role = match (&cluster, writers) {
        (Some(_), Some(w)) => role_in_cluster(w, &id),
        (Some(c), None) => role_in_cluster(&cluster_writers(rds, c).await?, &id),
        (None, _) if raw.read_replica_source_db_instance_identifier().is_some() => Role::Reader,
        (None, _) if !raw.read_replica_db_instance_identifiers().is_empty() => Role::Writer,
        (None, _) => Role::Standalone,
    };
    Ok(Instance {
        id: InstanceId(id),
        resource_id: ResourceId(resource_id),
        cluster,
        role,
        engine: raw.engine().unwrap_or_default().to_string(),
        status: raw.db_instance_status().unwrap_or_default().to_string(),
        endpoint: endpoint_of(raw),
        account: raw.db_instance_arn().and_then(account_of_arn),
    })
}

/// The account of an ARN (`arn:aws:rds:eu-west-1:123456789012:db:name`).
fn account_of_arn(arn: &str) -> Option<String> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then(|| account.to_string())
}

fn role_in_cluster(writers: &BTreeMap<String, bool>, id: &str) -> Role {
    match writers.get(id) {
        Some(true) => Role::Writer,
        Some(false) => Role::Reader,
        None => Role::Standalone,
    }
}
