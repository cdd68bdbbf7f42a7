//! An RDS API emulator backed by real audit directories.
//!
//! Query protocol (form-encoded POST, XML answers): DescribeDBInstances,
//! DescribeDBClusters, DescribeDBLogFiles, DownloadDBLogFilePortion.
//! REST: `GET /v13/downloadCompleteLogFile/{instance}/{file}`, the raw file
//! streamed from an open handle (a rotation renaming the file mid-read does
//! not change what is read, as on a real file system). Every API request
//! must carry a valid SigV4 signature (403 otherwise).
//!
//! Control endpoints under `/_emulator/` (unsigned, loopback only) change
//! the world between or during runs: failover, delete or recreate an
//! instance, inject faults (`POST`/`DELETE faults`, a JSON list of
//! [`RdsFault`]), read request counters (`GET stats`: action → requests)
//! and download body counters (`GET bodies`: instance → [`BodyCounts`]),
//! and set what the download does with `Range` and `Accept-Encoding`
//! (`POST download`, a [`DownloadBehaviour`]: honoured by default).

use crate::body::{bind_and_announce, response, serve, AnyBody, BodyError};
use crate::sigv4;
use auditship_testkit::faults::{BodyCounts, DownloadBehaviour, GzipBehaviour, RangeBehaviour, RdsFault, RdsFaultKind};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// The account every emulated instance is in (its ARN says so).
const ACCOUNT: &str = "123456789012";

#[derive(clap::Args)]
pub struct Args {
    /// Loopback address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// JSON world description (instances, clusters, credentials).
    #[arg(long)]
    config: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
pub struct World {
    /// access key id → secret access key
    credentials: HashMap<String, String>,
    instances: Vec<InstanceSpec>,
    #[serde(default)]
    clusters: Vec<ClusterSpec>,
    /// Records per page of DescribeDBLogFiles / DescribeDBInstances when the
    /// request does not ask for fewer; small, so paging is exercised.
    #[serde(default = "default_page")]
    page_size: usize,
    /// The account's API token bucket, shared by every action, as RDS has
    /// it (about 300 burst, then 12 per second); none if absent.
    #[serde(default)]
    rate_limit: Option<RateLimit>,
    /// The account the instances are in, when it is not the caller's: RDS
    /// then answers only requests signed with this role's credentials,
    /// which the emulator's STS (`AssumeRole`) hands out.
    #[serde(default)]
    account: Option<RoleSpec>,
}

/// A role in another account, as the emulator's STS knows it.
#[derive(Debug, Clone, Deserialize)]
pub struct RoleSpec {
    pub arn: String,
    /// The external id its trust policy asks for, if any.
    #[serde(default)]
    pub external_id: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct RateLimit {
    burst: f64,
    per_second: f64,
}

/// Tokens left and when they were counted.
struct Bucket {
    tokens: f64,
    at: std::time::Instant,
}

fn default_page() -> usize {
    3
}

#[derive(Debug, Clone, Deserialize)]
struct InstanceSpec {
    id: String,
    resource_id: String,
    #[serde(default = "default_engine")]
    engine: String,
    /// Directory served as the instance's `audit/` log directory.
    audit_dir: PathBuf,
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    replica_of: Option<String>,
    /// `host:port` of the database, reported as the instance's Endpoint.
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    /// A command that makes the database rotate its audit file (the
    /// `rotate_first` fault runs it before serving a download).
    #[serde(default)]
    rotate_command: Vec<String>,
}

fn default_engine() -> String {
    "mariadb".into()
}

#[derive(Debug, Clone, Deserialize)]
struct ClusterSpec {
    id: String,
    members: Vec<String>,
    writer: String,
}

struct State {
    bucket: Option<Bucket>,
    world: World,
    faults: Vec<RdsFault>,
    counts: BTreeMap<String, u64>,
    /// Complete-file download bodies per instance id.
    bodies: BTreeMap<String, BodyCounts>,
    deleted: Vec<String>,
    download: DownloadBehaviour,
}

type Shared = Arc<Mutex<State>>;

pub async fn main(args: Args) -> anyhow::Result<()> {
    let world: World = serde_json::from_slice(&std::fs::read(&args.config)?)?;
    let bucket = world.rate_limit.map(|r| Bucket { tokens: r.burst, at: std::time::Instant::now() });
    let state = Arc::new(Mutex::new(State {
        bucket,
        world,
        faults: Vec::new(),
        counts: BTreeMap::new(),
        bodies: BTreeMap::new(),
        deleted: Vec::new(),
        download: DownloadBehaviour::default(),
    }));
    let listener = bind_and_announce(&args.listen).await?;
    serve(listener, move |req| handle(state.clone(), req)).await
}

async fn handle(state: Shared, req: http::Request<hyper::body::Incoming>) -> http::Response<AnyBody> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return response(400, "text/plain", "unreadable body"),
    };
    let path = parts.uri.path().to_string();
    if let Some(control) = path.strip_prefix("/_emulator/") {
        return control_request(&state, &parts.method, control, parts.uri.query(), &body);
    }
    let (mut secrets, account) = {
        let s = state.lock().unwrap();
        (s.world.credentials.clone(), s.world.account.clone())
    };
    let params: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    if parts.method == http::Method::POST && params.get("Action").is_some_and(|a| a == "AssumeRole") {
        if let Err(r) =
            sigv4::verify(parts.method.as_str(), &path, parts.uri.query(), &parts.headers, &body, "sts", &secrets)
        {
            return error_xml(403, "Sender", r.code(), &r.message());
        }
        return assume_role(account.as_ref(), &params);
    }
    if let Some(role) = &account {
        secrets.insert(role.access_key_id.clone(), role.secret_access_key.clone());
    }
    match sigv4::verify(parts.method.as_str(), &path, parts.uri.query(), &parts.headers, &body, "rds", &secrets) {
        Err(r) => return error_xml(403, "Sender", r.code(), &r.message()),
        Ok(key) if account.as_ref().is_some_and(|role| role.access_key_id != key) => {
            return error_xml(
                403,
                "Sender",
                "AccessDenied",
                "User is not authorized to perform this RDS action: the instances are in another account",
            )
        }
        Ok(_) => {}
    }
    if parts.method == http::Method::GET {
        if let Some(rest) = path.strip_prefix("/v13/downloadCompleteLogFile/") {
            let decoded = percent_encoding::percent_decode_str(rest).decode_utf8_lossy().to_string();
            return download_complete(&state, &decoded, &parts.headers).await;
        }
        return error_xml(404, "Sender", "UnknownOperation", "no such REST operation");
    }
    let action = params.get("Action").cloned().unwrap_or_default();
    count(&state, &action);
    if !take_token(&state) {
        return error_xml(400, "Sender", "Throttling", "Rate exceeded");
    }
    let target =
        (params.get("DBInstanceIdentifier").map(String::as_str), params.get("LogFileName").map(String::as_str));
    if let Some(resp) = request_fault(&state, &action, target) {
        return resp;
    }
    match action.as_str() {
        "DescribeDBInstances" => describe_instances(&state, &params),
        "DescribeDBClusters" => describe_clusters(&state, &params),
        "DescribeDBLogFiles" => describe_log_files(&state, &params),
        "DownloadDBLogFilePortion" => download_portion(&state, &params),
        other => {
            error_xml(400, "Sender", "InvalidAction", &format!("The action {other} is not valid for this web service."))
        }
    }
}

/// STS AssumeRole for the one role the world knows: its credentials, if the
/// external id matches what its trust policy asks for.
fn assume_role(role: Option<&RoleSpec>, params: &HashMap<String, String>) -> http::Response<AnyBody> {
    let asked = params.get("RoleArn").map(String::as_str).unwrap_or_default();
    let Some(role) = role.filter(|r| r.arn == asked && r.external_id.as_ref() == params.get("ExternalId")) else {
        return error_xml(
            403,
            "Sender",
            "AccessDenied",
            &format!("User is not authorized to perform: sts:AssumeRole on resource: {asked}"),
        );
    };
    let session = params.get("RoleSessionName").cloned().unwrap_or_default();
    let account = role.arn.split(':').nth(4).unwrap_or_default();
    let name = role.arn.rsplit('/').next().unwrap_or_default();
    let expires = (chrono::Utc::now() + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let xml = format!(
        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials>\
         <AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey><SessionToken>emulator-session</SessionToken>\
         <Expiration>{expires}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROAEMULATOR:{}</AssumedRoleId>\
         <Arn>arn:aws:sts::{account}:assumed-role/{}/{}</Arn></AssumedRoleUser></AssumeRoleResult>\
         <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>\
         </AssumeRoleResponse>",
        esc(&role.access_key_id),
        esc(&role.secret_access_key),
        esc(&session),
        esc(name),
        esc(&session)
    );
    response(200, "text/xml", xml)
}

/// Applies the first matching fault that answers
/// instead of the API (body faults are applied by the download itself).
fn request_fault(
    state: &Shared,
    action: &str,
    target: (Option<&str>, Option<&str>),
) -> Option<http::Response<AnyBody>> {
    let fault = take_fault(state, action, target, |k| !k.is_body_fault() && k != RdsFaultKind::EmptyListing)?;
    Some(match fault.kind {
        RdsFaultKind::Throttle => error_xml(400, "Sender", "Throttling", "Rate exceeded"),
        RdsFaultKind::ThrottlingException => error_xml(400, "Sender", "ThrottlingException", "Rate exceeded"),
        RdsFaultKind::ServerError => error_xml(500, "Receiver", "InternalFailure", "injected server error"),
        RdsFaultKind::Unavailable => error_xml(503, "Receiver", "ServiceUnavailable", "injected unavailability"),
        RdsFaultKind::Forbidden => {
            error_xml(403, "Sender", "AccessDenied", &format!("User is not authorized to perform: rds:{action}"))
        }
        _ => unreachable!("filtered"),
    })
}

/// Finds, consumes and returns a matching fault of an accepted kind.
fn take_fault(
    state: &Shared,
    action: &str,
    target: (Option<&str>, Option<&str>),
    accept: impl Fn(RdsFaultKind) -> bool,
) -> Option<RdsFault> {
    let (instance, file) = target;
    let mut s = state.lock().unwrap();
    for f in s.faults.iter_mut() {
        let instance_ok = f.instance.is_none() || f.instance.as_deref() == instance;
        let action_ok = instance_ok && (f.action == "*" || f.action == action);
        let file_ok = match (&f.file_contains, file) {
            (Some(want), Some(name)) => name.contains(want.as_str()),
            (Some(_), None) => false,
            (None, _) => true,
        };
        if !action_ok || !file_ok || f.times == 0 || !accept(f.kind) {
            continue;
        }
        if f.skip > 0 {
            f.skip -= 1;
            continue;
        }
        f.times -= 1;
        return Some(f.clone());
    }
    None
}

fn count(state: &Shared, action: &str) {
    *state.lock().unwrap().counts.entry(action.to_string()).or_default() += 1;
}

/// Takes a token from the account's bucket; false when it is empty (the
/// request is throttled, and counted as such).
fn take_token(state: &Shared) -> bool {
    let mut s = state.lock().unwrap();
    let Some(limit) = s.world.rate_limit else { return true };
    let bucket = s.bucket.as_mut().expect("bucket with rate limit");
    let now = std::time::Instant::now();
    bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * limit.per_second).min(limit.burst);
    bucket.at = now;
    if bucket.tokens >= 1.0 {
        bucket.tokens -= 1.0;
        true
    } else {
        *s.counts.entry("Throttled".into()).or_default() += 1;
        false
    }
}

fn has_fault(state: &Shared, action: &str, kind: RdsFaultKind) -> bool {
    let mut s = state.lock().unwrap();
    for f in s.faults.iter_mut() {
        if (f.action == action || f.action == "*") && f.kind == kind && f.times > 0 {
            if f.skip > 0 {
                f.skip -= 1;
                return false;
            }
            f.times -= 1;
            return true;
        }
    }
    false
}

fn control_request(
    state: &Shared,
    method: &http::Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> http::Response<AnyBody> {
    let q: HashMap<String, String> = form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect();
    let mut s = state.lock().unwrap();
    match (method.as_str(), path) {
        ("POST", "faults") => match serde_json::from_slice::<Vec<RdsFault>>(body) {
            Ok(faults) => {
                s.faults.extend(faults);
                response(200, "text/plain", "ok")
            }
            Err(e) => response(400, "text/plain", format!("bad faults: {e}")),
        },
        ("DELETE", "faults") => {
            s.faults.clear();
            response(200, "text/plain", "ok")
        }
        ("GET", "stats") => response(200, "application/json", serde_json::to_vec(&s.counts).unwrap()),
        // The instances move to another account, readable with this role.
        ("POST", "account") => match serde_json::from_slice::<RoleSpec>(body) {
            Ok(role) => {
                s.world.account = Some(role);
                response(200, "text/plain", "ok")
            }
            Err(e) => response(400, "text/plain", format!("bad role: {e}")),
        },
        ("GET", "bodies") => response(200, "application/json", serde_json::to_vec(&s.bodies).unwrap()),
        ("POST", "download") => match serde_json::from_slice::<DownloadBehaviour>(body) {
            Ok(behaviour) => {
                s.download = behaviour;
                response(200, "text/plain", "ok")
            }
            Err(e) => response(400, "text/plain", format!("bad download behaviour: {e}")),
        },
        ("POST", "failover") => {
            let (Some(cluster), Some(writer)) = (q.get("cluster"), q.get("writer")) else {
                return response(400, "text/plain", "need cluster and writer");
            };
            match s.world.clusters.iter_mut().find(|c| &c.id == cluster) {
                Some(c) if c.members.contains(writer) => {
                    c.writer = writer.clone();
                    response(200, "text/plain", "ok")
                }
                _ => response(404, "text/plain", "no such cluster member"),
            }
        }
        ("POST", "delete-instance") => {
            let Some(id) = q.get("id") else { return response(400, "text/plain", "need id") };
            s.deleted.push(id.clone());
            response(200, "text/plain", "ok")
        }
        ("POST", "recreate-instance") => {
            let (Some(id), Some(rid)) = (q.get("id"), q.get("resource_id")) else {
                return response(400, "text/plain", "need id and resource_id");
            };
            s.deleted.retain(|d| d != id);
            match s.world.instances.iter_mut().find(|i| &i.id == id) {
                Some(i) => {
                    i.resource_id = rid.clone();
                    if let Some(dir) = q.get("audit_dir") {
                        i.audit_dir = PathBuf::from(dir);
                    }
                    response(200, "text/plain", "ok")
                }
                None => response(404, "text/plain", "no such instance"),
            }
        }
        _ => response(404, "text/plain", "unknown control endpoint"),
    }
}

fn live_instances(s: &State) -> Vec<InstanceSpec> {
    s.world.instances.iter().filter(|i| !s.deleted.contains(&i.id)).cloned().collect()
}

fn find_instance(state: &Shared, id: &str) -> Option<InstanceSpec> {
    live_instances(&state.lock().unwrap()).into_iter().find(|i| i.id == id)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn wrap(action: &str, inner: &str) -> http::Response<AnyBody> {
    let xml = format!(
        "<{action}Response xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><{action}Result>{inner}</{action}Result>\
         <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata></{action}Response>"
    );
    response(200, "text/xml", xml)
}

fn error_xml(status: u16, kind: &str, code: &str, message: &str) -> http::Response<AnyBody> {
    let xml = format!(
        "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><Error><Type>{kind}</Type><Code>{code}</Code>\
         <Message>{}</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>",
        esc(message)
    );
    response(status, "text/xml", xml)
}

/// `Filters.Filter.N.Name` / `Filters.Filter.N.Values.Value.M`.
fn filters(params: &HashMap<String, String>) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for n in 1.. {
        let Some(name) = params.get(&format!("Filters.Filter.{n}.Name")) else { break };
        let mut values = Vec::new();
        for m in 1.. {
            match params.get(&format!("Filters.Filter.{n}.Values.Value.{m}")) {
                Some(v) => values.push(v.clone()),
                None => break,
            }
        }
        out.push((name.clone(), values));
    }
    out
}

fn page<T: Clone>(items: &[T], params: &HashMap<String, String>, default: usize) -> (Vec<T>, Option<String>) {
    let start: usize = params.get("Marker").and_then(|m| m.parse().ok()).unwrap_or(0);
    let size = params.get("MaxRecords").and_then(|m| m.parse().ok()).unwrap_or(default).max(1).min(default.max(1));
    let end = (start + size).min(items.len());
    let marker = (end < items.len()).then(|| end.to_string());
    (items.get(start..end).unwrap_or(&[]).to_vec(), marker)
}

fn describe_instances(state: &Shared, params: &HashMap<String, String>) -> http::Response<AnyBody> {
    let s = state.lock().unwrap();
    let live = live_instances(&s);
    let mut selected: Vec<InstanceSpec> = live.clone();
    if let Some(id) = params.get("DBInstanceIdentifier") {
        selected.retain(|i| &i.id == id);
        if selected.is_empty() {
            return error_xml(404, "Sender", "DBInstanceNotFound", &format!("DBInstance {id} not found."));
        }
    }
    for (name, values) in filters(params) {
        selected.retain(|i| match name.as_str() {
            "db-cluster-id" => i.cluster.as_ref().is_some_and(|c| values.contains(c)),
            "db-instance-id" => values.contains(&i.id),
            "dbi-resource-id" => values.contains(&i.resource_id),
            "engine" => values.contains(&i.engine),
            _ => true,
        });
    }
    let (items, marker) = page(&selected, params, s.world.page_size);
    let mut xml = String::from("<DBInstances>");
    for i in items {
        xml.push_str("<DBInstance>");
        xml.push_str(&format!("<DBInstanceIdentifier>{}</DBInstanceIdentifier>", esc(&i.id)));
        xml.push_str(&format!("<DbiResourceId>{}</DbiResourceId>", esc(&i.resource_id)));
        xml.push_str(&format!("<DBInstanceArn>arn:aws:rds:us-east-1:{ACCOUNT}:db:{}</DBInstanceArn>", esc(&i.id)));
        xml.push_str(&format!("<Engine>{}</Engine><DBInstanceStatus>available</DBInstanceStatus>", esc(&i.engine)));
        if let Some(c) = &i.cluster {
            xml.push_str(&format!("<DBClusterIdentifier>{}</DBClusterIdentifier>", esc(c)));
        }
        if let Some((host, port)) = i.endpoint.as_ref().and_then(|e| e.rsplit_once(':')) {
            xml.push_str(&format!("<Endpoint><Address>{}</Address><Port>{}</Port></Endpoint>", esc(host), esc(port)));
        }
        if let Some(src) = &i.replica_of {
            xml.push_str(&format!(
                "<ReadReplicaSourceDBInstanceIdentifier>{}</ReadReplicaSourceDBInstanceIdentifier>",
                esc(src)
            ));
        }
        xml.push_str("<ReadReplicaDBInstanceIdentifiers>");
        for r in live.iter().filter(|r| r.replica_of.as_deref() == Some(i.id.as_str())) {
            xml.push_str(&format!("<ReadReplicaDBInstanceIdentifier>{}</ReadReplicaDBInstanceIdentifier>", esc(&r.id)));
        }
        xml.push_str("</ReadReplicaDBInstanceIdentifiers><TagList>");
        for (k, v) in &i.tags {
            xml.push_str(&format!("<Tag><Key>{}</Key><Value>{}</Value></Tag>", esc(k), esc(v)));
        }
        xml.push_str("</TagList></DBInstance>");
    }
    xml.push_str("</DBInstances>");
    if let Some(m) = marker {
        xml.push_str(&format!("<Marker>{m}</Marker>"));
    }
    wrap("DescribeDBInstances", &xml)
}

fn describe_clusters(state: &Shared, params: &HashMap<String, String>) -> http::Response<AnyBody> {
    let s = state.lock().unwrap();
    let mut clusters = s.world.clusters.clone();
    if let Some(id) = params.get("DBClusterIdentifier") {
        clusters.retain(|c| &c.id == id);
        if clusters.is_empty() {
            return error_xml(404, "Sender", "DBClusterNotFoundFault", &format!("DBCluster {id} not found."));
        }
    }
    let live = live_instances(&s);
    let mut xml = String::from("<DBClusters>");
    for c in clusters {
        xml.push_str(&format!(
            "<DBCluster><DBClusterIdentifier>{}</DBClusterIdentifier><DBClusterMembers>",
            esc(&c.id)
        ));
        for m in c.members.iter().filter(|m| live.iter().any(|i| &i.id == *m)) {
            xml.push_str(&format!(
                "<DBClusterMember><DBInstanceIdentifier>{}</DBInstanceIdentifier><IsClusterWriter>{}</IsClusterWriter>\
                 <PromotionTier>1</PromotionTier></DBClusterMember>",
                esc(m),
                *m == c.writer
            ));
        }
        xml.push_str("</DBClusterMembers></DBCluster>");
    }
    xml.push_str("</DBClusters>");
    wrap("DescribeDBClusters", &xml)
}

/// The instance's files as `(LogFileName, path, size, mtime ms)`, sorted by name.
fn log_files(instance: &InstanceSpec) -> Vec<(String, PathBuf, u64, i64)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&instance.audit_dir) else { return out };
    for e in entries.flatten() {
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64);
        out.push((format!("audit/{}", e.file_name().to_string_lossy()), e.path(), meta.len(), mtime));
    }
    out.sort();
    out
}

fn describe_log_files(state: &Shared, params: &HashMap<String, String>) -> http::Response<AnyBody> {
    let Some(id) = params.get("DBInstanceIdentifier") else {
        return error_xml(400, "Sender", "MissingParameter", "DBInstanceIdentifier is required");
    };
    let Some(instance) = find_instance(state, id) else {
        return error_xml(404, "Sender", "DBInstanceNotFound", &format!("DBInstance {id} not found."));
    };
    if has_fault(state, "DescribeDBLogFiles", RdsFaultKind::EmptyListing) {
        return wrap("DescribeDBLogFiles", "<DescribeDBLogFiles></DescribeDBLogFiles>");
    }
    let mut files = log_files(&instance);
    if let Some(c) = params.get("FilenameContains") {
        files.retain(|f| f.0.contains(c.as_str()));
    }
    if let Some(since) = params.get("FileLastWritten").and_then(|v| v.parse::<i64>().ok()) {
        files.retain(|f| f.3 >= since);
    }
    if let Some(min) = params.get("FileSize").and_then(|v| v.parse::<u64>().ok()) {
        files.retain(|f| f.2 > min);
    }
    let page_size = state.lock().unwrap().world.page_size;
    let (items, marker) = page(&files, params, page_size);
    let mut xml = String::from("<DescribeDBLogFiles>");
    for (name, _, size, mtime) in items {
        xml.push_str(&format!(
            "<DescribeDBLogFilesDetails><LogFileName>{}</LogFileName><LastWritten>{mtime}</LastWritten><Size>{size}</Size></DescribeDBLogFilesDetails>",
            esc(&name)
        ));
    }
    xml.push_str("</DescribeDBLogFiles>");
    if let Some(m) = marker {
        xml.push_str(&format!("<Marker>{m}</Marker>"));
    }
    wrap("DescribeDBLogFiles", &xml)
}

/// The paged API, with its documented shape (1 MB cap, `N:OFFSET` markers).
/// The worker never ships bytes from it; it is here because tools and
/// operators call it.
fn download_portion(state: &Shared, params: &HashMap<String, String>) -> http::Response<AnyBody> {
    let (Some(id), Some(name)) = (params.get("DBInstanceIdentifier"), params.get("LogFileName")) else {
        return error_xml(400, "Sender", "MissingParameter", "DBInstanceIdentifier and LogFileName are required");
    };
    let Some(instance) = find_instance(state, id) else {
        return error_xml(404, "Sender", "DBInstanceNotFound", &format!("DBInstance {id} not found."));
    };
    let Some((_, path, _, _)) = log_files(&instance).into_iter().find(|f| &f.0 == name) else {
        return error_xml(404, "Sender", "DBLogFileNotFoundFault", &format!("DBLogFile {name} not found."));
    };
    let Ok(data) = std::fs::read(&path) else {
        return error_xml(404, "Sender", "DBLogFileNotFoundFault", &format!("DBLogFile {name} not found."));
    };
    let start = params
        .get("Marker")
        .and_then(|m| m.rsplit(':').next().and_then(|o| o.parse::<usize>().ok()))
        .unwrap_or(0)
        .min(data.len());
    let max_lines: usize = params.get("NumberOfLines").and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let mut end = start;
    let mut lines = 0;
    while end < data.len() && lines < max_lines && end - start < 1_000_000 {
        match data[end..].iter().position(|&b| b == b'\n') {
            Some(nl) if end + nl + 1 - start <= 1_000_000 => {
                end += nl + 1;
                lines += 1;
            }
            _ => {
                end = (start + 1_000_000).min(data.len());
            }
        }
    }
    let text = String::from_utf8_lossy(&data[start..end]);
    let pending = end < data.len();
    wrap(
        "DownloadDBLogFilePortion",
        &format!(
            "<LogFileData>{}</LogFileData><Marker>0:{end}</Marker><AdditionalDataPending>{pending}</AdditionalDataPending>",
            esc(&text)
        ),
    )
}

async fn download_complete(state: &Shared, rest: &str, headers: &http::HeaderMap) -> http::Response<AnyBody> {
    let Some((id, name)) = rest.split_once('/') else {
        return error_xml(400, "Sender", "InvalidParameterValue", "need /{instance}/{file}");
    };
    let action = "DownloadCompleteDBLogFile";
    count(state, action);
    if !take_token(state) {
        return error_xml(400, "Sender", "Throttling", "Rate exceeded");
    }
    if let Some(resp) = request_fault(state, action, (Some(id), Some(name))) {
        return resp;
    }
    let body_fault = take_fault(state, action, (Some(id), Some(name)), RdsFaultKind::is_body_fault);
    let Some(instance) = find_instance(state, id) else {
        return error_xml(404, "Sender", "DBInstanceNotFound", &format!("DBInstance {id} not found."));
    };
    if body_fault.as_ref().is_some_and(|f| f.kind == RdsFaultKind::RotateFirst) {
        if let Some((program, args)) = instance.rotate_command.split_first() {
            let _ = tokio::process::Command::new(program).args(args).status().await;
        }
    }
    let Some(rel) = name.strip_prefix("audit/") else {
        return error_xml(404, "Sender", "DBLogFileNotFoundFault", &format!("DBLogFile {name} not found."));
    };
    if rel.contains('/') || rel.starts_with('.') {
        return error_xml(404, "Sender", "DBLogFileNotFoundFault", &format!("DBLogFile {name} not found."));
    }
    // Open now: the handle keeps reading the same file even if a rotation
    // renames it while the body streams.
    let mut file = match tokio::fs::File::open(instance.audit_dir.join(rel)).await {
        Ok(f) => f,
        Err(_) => return error_xml(404, "Sender", "DBLogFileNotFoundFault", &format!("DBLogFile {name} not found.")),
    };
    let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let behaviour = state.lock().unwrap().download;
    let asked = requested_range(headers);
    let gzip_asked = headers
        .get(http::header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let mut builder = http::Response::builder().header("content-type", "application/octet-stream");
    let mut status = 200;
    // (where the body's bytes begin, how many at most)
    let mut served: (u64, Option<u64>) = (0, None);
    let mut gzip = false;
    match asked.filter(|_| behaviour.ranges != RangeBehaviour::Ignored) {
        Some((first, _)) if first >= len => {
            return http::Response::builder()
                .status(416)
                .header("content-range", format!("bytes */{len}"))
                .body(AnyBody::full(Bytes::new()))
                .expect("valid response");
        }
        Some((first, last)) => {
            let last = last.unwrap_or(len - 1).min(len - 1);
            let count = last - first + 1;
            // Where a lying endpoint starts instead.
            let elsewhere = if first >= 100 { first - 100 } else { first + 1 };
            let (begin, label) = match behaviour.ranges {
                RangeBehaviour::Misplaced => (elsewhere, elsewhere),
                RangeBehaviour::Shifted => (elsewhere, first),
                _ => (first, first),
            };
            let label_last = (label + count - 1).min(len - 1);
            status = 206;
            builder = builder.header("content-range", format!("bytes {label}-{label_last}/{len}"));
            served = (begin, Some(label_last - label + 1));
        }
        None => {
            gzip = gzip_asked && behaviour.gzip != GzipBehaviour::Ignored;
            if gzip {
                builder = builder.header("content-encoding", "gzip");
            }
        }
    }
    let compress = gzip && behaviour.gzip == GzipBehaviour::Honoured;
    if served.0 > 0 {
        use tokio::io::AsyncSeekExt;
        if file.seek(std::io::SeekFrom::Start(served.0)).await.is_err() {
            return error_xml(500, "Receiver", "InternalFailure", "seek failed");
        }
    }
    let (raw_tx, raw_rx) = tokio::sync::mpsc::channel::<Result<Bytes, BodyError>>(4);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, BodyError>>(4);
    let tally = Tally::start(state, id);
    if let Some(f) = body_fault.as_ref().filter(|f| f.kind == RdsFaultKind::SpliceOnRotation) {
        let rotate = instance.rotate_command.clone();
        tokio::spawn(stream_by_name(instance.audit_dir.join(rel), raw_tx, f.after_bytes, rotate, tally.counter()));
    } else {
        tokio::spawn(stream_file(file, raw_tx, body_fault, served.1, tally.counter()));
    }
    tokio::spawn(forward_body(raw_rx, tx, compress, tally));
    builder.status(status).body(AnyBody::Channel(rx)).expect("valid response")
}

/// `Range: bytes=first-[last]` (one range only).
fn requested_range(headers: &http::HeaderMap) -> Option<(u64, Option<u64>)> {
    let value = headers.get(http::header::RANGE)?.to_str().ok()?;
    let (first, last) = value.trim().strip_prefix("bytes=")?.split_once('-')?;
    let last = match last.trim() {
        "" => None,
        l => Some(l.parse().ok()?),
    };
    Some((first.trim().parse().ok()?, last))
}

/// Hands a body's file bytes on to the connection, gzip-compressed as
/// they come when `compress` (flushed per chunk, so the body streams),
/// counting what crosses the wire. Ends when either side does.
async fn forward_body(
    mut raw: tokio::sync::mpsc::Receiver<Result<Bytes, BodyError>>,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, BodyError>>,
    compress: bool,
    tally: Tally,
) {
    use std::io::Write;
    let mut encoder = compress.then(|| flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6)));
    loop {
        let item = tokio::select! {
            item = raw.recv() => item,
            _ = tx.closed() => return,
        };
        // (what to hand on, whether it ends the body)
        let (out, last) = match (item, encoder.as_mut()) {
            (Some(Ok(bytes)), Some(e)) => {
                e.write_all(&bytes).and_then(|_| e.flush()).expect("gzip into memory");
                (Ok(Bytes::from(std::mem::take(e.get_mut()))), false)
            }
            (Some(other), _) => (other, false),
            (None, Some(_)) => {
                let trailer = encoder.take().expect("encoder").finish().expect("gzip into memory");
                (Ok(Bytes::from(trailer)), true)
            }
            (None, None) => return,
        };
        if let Ok(bytes) = &out {
            tally.wire(bytes.len());
        }
        if tx.send(out).await.is_err() || last {
            return;
        }
    }
}

/// Counts one body of an instance in `bodies`: started when made,
/// bytes as they are handed on, finished when dropped (the body ended,
/// whichever way).
struct Tally {
    state: Shared,
    instance: String,
}

/// Counts the file bytes a body holds (its streaming task has one).
struct FileBytes {
    state: Shared,
    instance: String,
}

impl Tally {
    fn start(state: &Shared, instance: &str) -> Tally {
        state.lock().unwrap().bodies.entry(instance.to_string()).or_default().started += 1;
        Tally { state: state.clone(), instance: instance.to_string() }
    }

    fn counter(&self) -> FileBytes {
        FileBytes { state: self.state.clone(), instance: self.instance.clone() }
    }

    fn wire(&self, n: usize) {
        self.state.lock().unwrap().bodies.entry(self.instance.clone()).or_default().bytes += n as u64;
    }
}

impl FileBytes {
    fn sent(&self, n: usize) {
        self.state.lock().unwrap().bodies.entry(self.instance.clone()).or_default().file_bytes += n as u64;
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.state.lock().unwrap().bodies.entry(self.instance.clone()).or_default().finished += 1;
    }
}

/// Waits `d`; false if the client went away meanwhile (the body is then
/// abandoned at once instead of at the next chunk).
async fn pause(tx: &tokio::sync::mpsc::Sender<Result<Bytes, BodyError>>, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = tx.closed() => false,
    }
}

/// Reads a body's bytes off the file into the channel. Without a fault,
/// in growing chunks on one blocking thread: the emulator stands for RDS,
/// whose work is not done on the client's cores, so it should take as
/// little of the machine's as it can (a 16 KiB `tokio::fs` read per chunk
/// cost a thread handoff each, a sixth of a benchmark run's CPU).
async fn stream_file(
    file: tokio::fs::File,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, BodyError>>,
    fault: Option<RdsFault>,
    at_most: Option<u64>,
    tally: FileBytes,
) {
    if fault.is_none() {
        let file = file.into_std().await;
        let _ = tokio::task::spawn_blocking(move || stream_file_blocking(file, &tx, at_most, &tally)).await;
        return;
    }
    stream_file_with_fault(file, tx, fault, at_most, tally).await
}

/// `stream_file` without a fault: reads of 16 KiB, then twice as much
/// each time up to 256 KiB, handed on as they are. Small at first, so that
/// a client that hangs up after the first line (a head read) has had about
/// as much read ahead for it as before, and the count of bytes handed on
/// stays what a client takes rather than how fast the emulator runs.
fn stream_file_blocking(
    mut file: std::fs::File,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, BodyError>>,
    at_most: Option<u64>,
    tally: &FileBytes,
) {
    use std::io::Read;
    const LARGEST: usize = 256 * 1024;
    let mut chunk = 16 * 1024;
    let mut left = at_most.unwrap_or(u64::MAX);
    while left > 0 {
        let mut buf = vec![0u8; chunk.min(usize::try_from(left).unwrap_or(chunk))];
        chunk = (chunk * 2).min(LARGEST);
        match file.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                left -= n as u64;
                if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                    return;
                }
                tally.sent(n);
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(Box::new(e)));
                return;
            }
        }
    }
}

/// `stream_file` with a fault, in the 16 KiB chunks the faults are
/// described in.
async fn stream_file_with_fault(
    mut file: tokio::fs::File,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, BodyError>>,
    fault: Option<RdsFault>,
    at_most: Option<u64>,
    tally: FileBytes,
) {
    let mut sent: u64 = 0;
    let mut buf = vec![0u8; 16 * 1024];
    let breaks_at = fault
        .as_ref()
        .filter(|f| matches!(f.kind, RdsFaultKind::ResetMidBody | RdsFaultKind::StallBody))
        .map(|f| f.after_bytes);
    loop {
        let limit = match breaks_at {
            Some(after) => (after.saturating_sub(sent) as usize).min(buf.len()),
            None => buf.len(),
        };
        let limit = match at_most {
            Some(n) if sent >= n => return,
            Some(n) => limit.min((n - sent) as usize),
            None => limit,
        };
        if limit == 0 {
            if fault.as_ref().is_some_and(|f| f.kind == RdsFaultKind::StallBody) {
                pause(&tx, Duration::from_secs(3600)).await;
            } else {
                let _ = tx.send(Err("injected connection reset".into())).await;
            }
            return;
        }
        if let Some(f) = fault.as_ref().filter(|f| f.kind == RdsFaultKind::SlowBody) {
            if !pause(&tx, Duration::from_millis(f.delay_ms)).await {
                return;
            }
        }
        match file.read(&mut buf[..limit]).await {
            Ok(0) => return,
            Ok(n) => {
                sent += n as u64;
                if tx.send(Ok(Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                    return;
                }
                tally.sent(n);
            }
            Err(e) => {
                let _ = tx.send(Err(Box::new(e))).await;
                return;
            }
        }
    }
}

/// Reads the file by name for every chunk, rotating the database once
/// `rotate_after` bytes are out (the `splice_on_rotation` fault).
async fn stream_by_name(
    path: PathBuf,
    tx: tokio::sync::mpsc::Sender<Result<Bytes, BodyError>>,
    rotate_after: u64,
    rotate_command: Vec<String>,
    tally: FileBytes,
) {
    use tokio::io::AsyncSeekExt;
    let mut offset: u64 = 0;
    let mut rotated = false;
    let mut buf = vec![0u8; 4 * 1024];
    loop {
        if !rotated && offset >= rotate_after {
            if let Some((program, args)) = rotate_command.split_first() {
                let _ = tokio::process::Command::new(program).args(args).status().await;
            }
            rotated = true;
        }
        let Ok(mut file) = tokio::fs::File::open(&path).await else { return };
        if file.seek(std::io::SeekFrom::Start(offset)).await.is_err() {
            return;
        }
        let want = if rotated { buf.len() } else { buf.len().min((rotate_after - offset) as usize).max(1) };
        match file.read(&mut buf[..want]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                offset += n as u64;
                if tx.send(Ok(Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                    return;
                }
                tally.sent(n);
            }
        }
    }
}
