//! The integration-test rig: real MariaDB servers with the audit plugin, the
//! RDS emulator, an S3 server (moto) behind the fault proxy, and the real
//! `auditship` binary. Every test gets its own servers and bucket, so tests
//! run in parallel without seeing each other's traffic or faults.
#![allow(dead_code)]

use auditship::identify::{identity_prefix, Fingerprint};
pub use auditship_testkit::faults::{BodyCounts, RdsFault, RdsFaultKind, S3Fault, S3FaultKind};
use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

pub const KEY_ID: &str = "AKIDAUDITSHIPTEST";
pub const SECRET: &str = "auditship-test-secret";
pub const REGION: &str = "us-east-1";
pub const PREFIX: &str = "rds-audit";
pub const CLUSTER: &str = "shop";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn auditship_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_auditship"))
}

/// The binary with a clean environment holding only the rig's credentials,
/// so nothing on the machine (profiles, instance metadata) leaks in.
pub fn auditship_command() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(auditship_bin());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .kill_on_drop(true);
    cmd
}

pub fn testkit_bin() -> PathBuf {
    let p = auditship_bin().with_file_name("auditship-testkit");
    assert!(p.exists(), "{} is missing: build it with `cargo build --workspace`", p.display());
    p
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other test in this or a parallel process uses.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let t = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{}-{n}-{:x}", std::process::id(), t % 0xffff_ffff)
}

fn resource_id() -> String {
    let h = hex::encode(Sha256::digest(unique("rid").as_bytes())).to_uppercase();
    format!("db-{}", &h[..26])
}

/// How many times `wait_while_running` checks, and how far apart: the
/// bound on a wait for the worker to reach a state (30 s in all).
const POLLS: u32 = 600;
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Waits for `reached` to hold while `run` is still running: checks it
/// every `POLL_INTERVAL`, at most `POLLS` times. Fails the test, naming
/// `what`, if the run ends first or the state is never reached.
pub async fn wait_while_running(run: &mut tokio::process::Child, what: &str, mut reached: impl FnMut() -> bool) {
    for _ in 0..POLLS {
        if reached() {
            return;
        }
        if let Some(status) = run.try_wait().expect("poll the run") {
            panic!("the run ended ({status}) before {what}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    panic!("{what}: not reached after {POLLS} checks {POLL_INTERVAL:?} apart");
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A plain HTTP/1.1 request on loopback (control endpoints of the rig).
pub fn http(method: &str, url: &str, body: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut s = TcpStream::connect(host).expect("connect");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// A child process that announced its URL on stdout; killed on drop.
pub struct Service {
    child: Child,
    pub url: String,
}

impl Service {
    pub fn spawn(mut cmd: Command) -> Service {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn service");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url =
            line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("service said {line:?}")).to_string();
        Service { child, url }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running MariaDB server with the audit plugin; stopped on drop.
pub struct Db {
    pub dir: PathBuf,
    pub port: u16,
}

impl Db {
    fn start(dir: &Path, server_id: u32, primary: Option<u16>, rotate_size: u64, rotations: u32) -> Db {
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(repo_root().join("tests/stack/mariadb.sh"));
            cmd.arg("start").arg(dir).arg(port.to_string()).arg(server_id.to_string());
            if let Some(p) = primary {
                cmd.arg(p.to_string());
            }
            cmd.env("ROTATE_SIZE", rotate_size.to_string()).env("ROTATIONS", rotations.to_string());
            if cmd.status().expect("run mariadb.sh").success() {
                return Db { dir: dir.to_path_buf(), port };
            }
            let _ = Command::new(repo_root().join("tests/stack/mariadb.sh")).arg("stop").arg(dir).status();
            let _ = std::fs::remove_dir_all(dir);
        }
        panic!("MariaDB would not start in {}", dir.display());
    }

    pub fn audit_dir(&self) -> PathBuf {
        self.dir.join("audit")
    }

    /// The command that makes the plugin rotate now.
    pub fn rotate_command(&self) -> Vec<String> {
        let sock = self.dir.join("mysqld.sock").to_string_lossy().to_string();
        ["mariadb", "--no-defaults", "-S", &sock, "-uroot", "-e", "SET GLOBAL server_audit_file_rotate_now = ON"]
            .map(String::from)
            .to_vec()
    }

    /// Runs real client traffic; `rotate_every` forces rotations.
    pub fn traffic(&self, queries: u32, rotate_every: Option<u32>) {
        self.traffic_with(queries, rotate_every, &[]);
    }

    pub fn traffic_with(&self, queries: u32, rotate_every: Option<u32>, extra: &[&str]) {
        let mut cmd = Command::new(testkit_bin());
        cmd.args(["traffic", "--port", &self.port.to_string(), "--queries", &queries.to_string()]);
        if let Some(k) = rotate_every {
            cmd.args(["--rotate-every", &k.to_string()]);
        }
        cmd.args(extra);
        assert!(cmd.status().unwrap().success(), "traffic against port {} failed", self.port);
    }

    pub fn rotate(&self) {
        self.sql("SET GLOBAL server_audit_file_rotate_now = ON");
    }

    /// Runs a statement as root over the socket.
    pub fn sql(&self, statement: &str) {
        let status = Command::new("mariadb")
            .args(["--no-defaults", "-S"])
            .arg(self.dir.join("mysqld.sock"))
            .args(["-uroot", "-e", statement])
            .status()
            .unwrap();
        assert!(status.success(), "{statement}");
    }

    /// Runs a statement given as bytes (any bytes, not only UTF-8) as
    /// root over the socket; whether the server accepted it.
    pub fn sql_bytes(&self, statement: &[u8]) -> bool {
        use std::os::unix::ffi::OsStrExt;
        Command::new("mariadb")
            .args(["--no-defaults", "-S"])
            .arg(self.dir.join("mysqld.sock"))
            .args(["-uroot", "-e"])
            .arg(std::ffi::OsStr::from_bytes(statement))
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
    }

    /// A login over TCP as `user` with `password`; whether it was let in.
    /// Returns once the audit log holds the attempt: the server sends a
    /// refusal to the client before it writes the FAILED_CONNECT record,
    /// so the client's exit alone does not mean the line is on disk.
    pub fn login(&self, user: &str, password: &str) -> bool {
        let before = self.connection_records(user);
        let let_in = Command::new("mariadb")
            .args(["--no-defaults", "-h127.0.0.1", "-P", &self.port.to_string(), "-u", user])
            .arg(format!("-p{password}"))
            .args(["-e", "SELECT 1"])
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap()
            .success();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while self.connection_records(user) <= before {
            assert!(std::time::Instant::now() < deadline, "no audit record of {user}'s login after 60 s");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let_in
    }

    /// How many CONNECT and FAILED_CONNECT records of `user` the audit
    /// files hold.
    fn connection_records(&self, user: &str) -> usize {
        let user = format!(",{user},");
        self.audit_files()
            .values()
            .flat_map(|bytes| bytes.split(|&b| b == b'\n'))
            .map(String::from_utf8_lossy)
            .filter(|l| l.contains(&user) && (l.contains(",CONNECT,") || l.contains(",FAILED_CONNECT,")))
            .count()
    }

    /// The audit files now on disk: name → bytes.
    pub fn audit_files(&self) -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(self.audit_dir())
            .unwrap()
            .flatten()
            .map(|e| (e.file_name().to_string_lossy().to_string(), std::fs::read(e.path()).unwrap()))
            .collect()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("tests/stack/mariadb.sh")).arg("stop").arg(&self.dir).status();
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Topology {
    /// `primary` with a read replica `replica` (no cluster).
    Replicas,
    /// Cluster `shop`: `primary` writer, `replica` reader.
    Cluster,
}

pub struct Options {
    pub topology: Topology,
    pub rotate_size: u64,
    pub rotations: u32,
    /// Also an Aurora-layout instance `aurora-1` (cluster `aur`) whose
    /// four-stripe files are re-written from the primary's audit lines.
    pub aurora: bool,
    /// The emulator's account-wide token bucket: (burst, per second).
    pub rate_limit: Option<(f64, f64)>,
    /// The engine both instances report (default: by topology).
    pub engine: Option<&'static str>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            topology: Topology::Replicas,
            rotate_size: 20_000,
            rotations: 5,
            aurora: false,
            rate_limit: None,
            engine: None,
        }
    }
}

/// What a run of the binary did.
#[derive(Debug)]
pub struct RunOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl RunOutput {
    /// Objects the run created for an instance (its "instance shipped"
    /// event).
    pub fn objects_new(&self, instance: &str) -> u64 {
        self.shipped_number(instance, "objects_created")
    }

    /// Objects the run found already in S3 and verified for an instance.
    pub fn objects_verified(&self, instance: &str) -> u64 {
        self.shipped_number(instance, "objects_verified")
    }

    /// The run's JSON log events (stderr is no terminal: JSON lines).
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.stderr.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).collect()
    }

    /// The losses the run reported, as its JSON log events (`lost_*`
    /// fields, see `InstanceReport::lose`).
    pub fn losses(&self) -> Vec<serde_json::Value> {
        self.events().into_iter().filter(|v| v.get("lost_file_id").is_some()).collect()
    }

    /// The "instance shipped" event of an instance: what its pass did and
    /// its `outcome`, `role`, `dbi_resource_id`.
    pub fn shipped(&self, instance: &str) -> serde_json::Value {
        self.events()
            .into_iter()
            .find(|v| v["message"] == "instance shipped" && v["instance"] == instance)
            .unwrap_or_else(|| panic!("no \"instance shipped\" event for {instance} in {self:?}"))
    }

    /// The outcome of an instance's pass: ok, transient, data_loss, ...
    pub fn outcome(&self, instance: &str) -> String {
        self.shipped(instance)["outcome"].as_str().unwrap_or_default().to_string()
    }

    fn shipped_number(&self, instance: &str, field: &str) -> u64 {
        let event = self.shipped(instance);
        event[field].as_u64().unwrap_or_else(|| panic!("no number {field} in {event}"))
    }
}

/// What S3 holds at a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub bytes: Vec<u8>,
    pub metadata: BTreeMap<String, String>,
}

/// Fields drop in order: servers stop first, the directory holding their
/// sockets and pid files goes last.
pub struct Stack {
    pub topology: Topology,
    pub primary: Db,
    pub replica: Db,
    pub primary_rid: String,
    pub replica_rid: String,
    pub emulator: Service,
    pub proxy: Service,
    pub s3_url: String,
    pub bucket: String,
    pub s3: aws_sdk_s3::Client,
    _moto: Option<Service>,
    /// The audit files of each instance as they were when the last command
    /// was started: what that run had to ship at least (an active file keeps
    /// growing, so an oracle compares with the file after the run).
    before_last_command: std::sync::Mutex<BTreeMap<String, BTreeMap<String, Vec<u8>>>>,
    pub tmp: tempfile::TempDir,
}

pub fn s3_client(url: &str) -> aws_sdk_s3::Client {
    let creds = aws_sdk_s3::config::Credentials::new(KEY_ID, SECRET, None, None, "test");
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(REGION))
        .credentials_provider(creds)
        .endpoint_url(url)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// KMS at `url` (moto serves it beside S3: `Stack::s3_url`), with the
/// rig's credentials.
pub fn kms_client(url: &str) -> aws_sdk_kms::Client {
    let creds = aws_sdk_kms::config::Credentials::new(KEY_ID, SECRET, None, None, "test");
    let conf = aws_sdk_kms::config::Builder::new()
        .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
        .region(aws_sdk_kms::config::Region::new(REGION))
        .credentials_provider(creds)
        .endpoint_url(url)
        .build();
    aws_sdk_kms::Client::from_conf(conf)
}

/// A moto server (S3 and RDS): the shared one the test script started, or
/// our own. The `Service`, if any, must be kept alive while it is used.
pub fn s3_server_for_tests() -> (String, Option<Service>) {
    s3_server()
}

fn s3_server() -> (String, Option<Service>) {
    if let Ok(url) = std::env::var("AUDITSHIP_TEST_S3_URL") {
        return (url, None);
    }
    let moto = std::env::var("AUDITSHIP_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
    let port = free_port();
    let mut child = Command::new(&moto)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {moto} ({e}): run tests/run-all.sh, which installs it"));
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            // Service's Drop kills it; it never printed a URL, so build it by hand.
            let svc = Service { child, url: url.clone() };
            return (url, Some(svc));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("moto did not start");
}

impl Stack {
    pub async fn start(opts: Options) -> Stack {
        let tmp = tempfile::Builder::new().prefix("auditship-test-").tempdir().unwrap();
        let primary = Db::start(&tmp.path().join("primary"), 1, None, opts.rotate_size, opts.rotations);
        let replica = Db::start(&tmp.path().join("replica"), 2, Some(primary.port), opts.rotate_size, opts.rotations);
        let primary_rid = resource_id();
        let replica_rid = resource_id();
        let mut world = world_json(opts.topology, &primary, &replica, &primary_rid, &replica_rid);
        if let Some(engine) = opts.engine {
            for i in world["instances"].as_array_mut().unwrap() {
                i["engine"] = serde_json::json!(engine);
            }
        }
        if let Some((burst, per_second)) = opts.rate_limit {
            world["rate_limit"] = serde_json::json!({ "burst": burst, "per_second": per_second });
        }
        if opts.aurora {
            let dir = tmp.path().join("aurora");
            std::fs::create_dir_all(&dir).unwrap();
            world["instances"].as_array_mut().unwrap().push(serde_json::json!({
                "id": "aurora-1", "resource_id": resource_id(), "engine": "aurora-mysql",
                "audit_dir": dir, "cluster": "aur"
            }));
            world["clusters"].as_array_mut().unwrap().push(serde_json::json!({
                "id": "aur", "members": ["aurora-1"], "writer": "aurora-1"
            }));
        }
        let world_path = tmp.path().join("world.json");
        std::fs::write(&world_path, world.to_string()).unwrap();
        let mut cmd = Command::new(testkit_bin());
        cmd.arg("rds-emulator").arg("--config").arg(&world_path);
        let emulator = Service::spawn(cmd);
        let (s3_url, moto) = s3_server();
        let mut cmd = Command::new(testkit_bin());
        cmd.args(["s3-proxy", "--upstream", &s3_url]);
        let proxy = Service::spawn(cmd);
        let s3 = s3_client(&s3_url);
        let bucket = unique("audit").to_lowercase();
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        Stack {
            topology: opts.topology,
            primary,
            replica,
            primary_rid,
            replica_rid,
            emulator,
            proxy,
            s3_url,
            bucket,
            s3,
            _moto: moto,
            before_last_command: Default::default(),
            tmp,
        }
    }

    /// The selection flags that cover both instances.
    pub fn selection(&self) -> Vec<String> {
        match self.topology {
            Topology::Replicas => vec!["--instance".into(), "primary".into(), "--with-replicas".into()],
            Topology::Cluster => vec!["--cluster".into(), CLUSTER.into()],
        }
    }

    /// The key segment before the instance id.
    pub fn location(&self) -> &'static str {
        match self.topology {
            Topology::Replicas => "standalone",
            Topology::Cluster => CLUSTER,
        }
    }

    /// The binary, configured for this stack through its environment (as
    /// the ECS task does), S3 reached through the fault proxy.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = self.bare_command();
        cmd.args(self.selection()).args(args);
        cmd
    }

    /// `auditship run` with this stack's environment and no selection.
    pub fn bare_command(&self) -> tokio::process::Command {
        self.bare_command_for("run")
    }

    /// A subcommand (`run`, `backfill`, …) with this stack's environment.
    pub fn bare_command_for(&self, subcommand: &str) -> tokio::process::Command {
        let snapshot = ["primary", "replica"].map(|i| (i.to_string(), self.db(i).audit_files()));
        *self.before_last_command.lock().unwrap() = snapshot.into_iter().collect();
        let mut cmd = auditship_command();
        cmd.arg(subcommand)
            .env("AUDITSHIP_BUCKET", &self.bucket)
            .env("AUDITSHIP_PREFIX", PREFIX)
            .env("AUDITSHIP_RDS_ENDPOINT_URL", &self.emulator.url)
            .env("AUDITSHIP_S3_ENDPOINT_URL", &self.proxy.url)
            .env("AUDITSHIP_MAX_ATTEMPTS", "3")
            .env("AUDITSHIP_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// `backfill` with this stack's selection and environment.
    pub fn backfill_command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = self.bare_command_for("backfill");
        cmd.args(self.selection()).args(args);
        cmd
    }

    pub async fn run(&self, args: &[&str]) -> RunOutput {
        finished(self.command(args)).await
    }

    pub async fn backfill(&self, args: &[&str]) -> RunOutput {
        finished(self.backfill_command(args)).await
    }

    pub fn emulator_control(&self, method: &str, path: &str, body: &str) {
        let (status, text) = http(method, &format!("{}/_emulator/{path}", self.emulator.url), body);
        assert_eq!(status, 200, "emulator control {path}: {text}");
    }

    /// The primary deleted and created again under its identifier, with
    /// resource id `new` and new local storage holding one audit line.
    pub fn recreate_primary(&self, new: &str) {
        let fresh = self.tmp.path().join("recreated-audit");
        std::fs::create_dir_all(&fresh).unwrap();
        std::fs::write(
            fresh.join("server_audit.log"),
            b"20261201 10:00:00,new,app,10.0.0.1,1,1,QUERY,db,'SELECT 1',0\n",
        )
        .unwrap();
        self.emulator_control(
            "POST",
            &format!("recreate-instance?id=primary&resource_id={new}&audit_dir={}", fresh.display()),
            "",
        );
    }

    pub fn proxy_control(&self, method: &str, path: &str, body: &str) {
        let (status, text) = http(method, &format!("{}/_proxy/{path}", self.proxy.url), body);
        assert_eq!(status, 200, "proxy control {path}: {text}");
    }

    /// How many S3 requests the proxy saw signed with each access key id.
    pub fn s3_access_keys(&self) -> BTreeMap<String, u64> {
        let (status, text) = http("GET", &format!("{}/_proxy/access_keys", self.proxy.url), "");
        assert_eq!(status, 200, "proxy access_keys: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Adds faults to the RDS emulator's (after those already there).
    pub fn rds_faults(&self, faults: &[RdsFault]) {
        self.emulator_control("POST", "faults", &serde_json::to_string(faults).unwrap());
    }

    /// Adds faults to the S3 proxy's (after those already there).
    pub fn s3_faults(&self, faults: &[S3Fault]) {
        self.proxy_control("POST", "faults", &serde_json::to_string(faults).unwrap());
    }

    /// Removes every RDS emulator fault.
    pub fn clear_rds_faults(&self) {
        self.emulator_control("DELETE", "faults", "");
    }

    /// Removes every S3 proxy fault.
    pub fn clear_s3_faults(&self) {
        self.proxy_control("DELETE", "faults", "");
    }

    /// Turns every fault off, runs once more, and checks the run succeeds
    /// and both instances are fully shipped: how every fault test ends.
    pub async fn clear_faults_and_converge(&self) {
        self.clear_rds_faults();
        self.clear_s3_faults();
        let out = self.run(&[]).await;
        assert_eq!(out.code, 0, "{out:?}");
        self.assert_all_shipped("primary").await;
        self.assert_all_shipped("replica").await;
    }

    pub fn emulator_stats(&self) -> BTreeMap<String, u64> {
        serde_json::from_str(&http("GET", &format!("{}/_emulator/stats", self.emulator.url), "").1).unwrap()
    }

    /// The emulator's complete-file download bodies, per instance id.
    pub fn download_bodies(&self) -> BTreeMap<String, BodyCounts> {
        serde_json::from_str(&http("GET", &format!("{}/_emulator/bodies", self.emulator.url), "").1).unwrap()
    }

    /// Waits until the emulator is streaming a complete-file download body
    /// (of `instance`, or of any instance) to `run`: the run is mid-download.
    pub async fn wait_for_download_in_flight(&self, run: &mut tokio::process::Child, instance: Option<&str>) {
        let what = format!("a download body of {} was in flight", instance.unwrap_or("any instance"));
        wait_while_running(run, &what, || {
            self.download_bodies().iter().any(|(id, b)| instance.is_none_or(|i| i == id) && b.in_flight() > 0)
        })
        .await;
    }

    /// Every object in the bucket with its bytes (gzip as stored) and metadata.
    pub async fn objects(&self) -> BTreeMap<String, StoredObject> {
        objects_in(&self.s3, &self.bucket).await
    }

    /// Keys of audit objects (not state) for one instance.
    pub async fn object_keys(&self, instance: &str) -> Vec<String> {
        let prefix = format!("{PREFIX}/{}/{instance}/", self.location());
        self.objects().await.into_keys().filter(|k| k.starts_with(&prefix)).collect()
    }

    pub fn aurora_dir(&self) -> PathBuf {
        self.tmp.path().join("aurora")
    }

    /// Deals the primary's new audit lines out over the Aurora stripes.
    pub fn stripe(&self, rotate_size: u64) {
        let status = Command::new(testkit_bin())
            .arg("aurora-stripe")
            .arg("--from")
            .arg(self.primary.audit_dir())
            .arg("--to")
            .arg(self.aurora_dir())
            .args(["--rotate-size", &rotate_size.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn db(&self, instance: &str) -> &Db {
        match instance {
            "primary" => &self.primary,
            "replica" => &self.replica,
            other => panic!("no instance {other}"),
        }
    }

    /// Checks invariant 5 for every audit file on the instance: its objects,
    /// gunzipped in offset order, are exactly the file's bytes (the active
    /// file's up to its last newline), contiguous, with truthful metadata.
    ///
    /// The truth is the files as they are *after* the run: a rotated file's
    /// objects hold all of it; the active file's objects hold a prefix of it
    /// that ends on a line and covers every line it had when the last
    /// command started (MariaDB may append a record after the run read it).
    pub async fn assert_all_shipped(&self, instance: &str) {
        let objects = self.objects().await;
        let files = self.db(instance).audit_files();
        assert!(!files.is_empty(), "{instance} has no audit files");
        let before = self.before_last_command.lock().unwrap().get(instance).cloned().unwrap_or_default();
        let at = format!("{PREFIX}/{}/{instance}/", self.location());
        for (name, bytes) in files {
            if name != "server_audit.log" {
                assert_file_shipped(&objects, &at, &name, &bytes, false);
                continue;
            }
            let id = identity_prefix(&bytes).map(|p| Fingerprint::of_prefix(p).file_id());
            let earlier =
                before.values().find(|b| identity_prefix(b).map(|p| Fingerprint::of_prefix(p).file_id()) == id);
            assert_active_file_shipped(&objects, &at, &name, earlier.map_or(&[][..], Vec::as_slice), &bytes);
        }
    }
}

/// Runs the command to its end (at most 5 minutes) and collects its output.
/// The command under a pseudo-terminal (`script`), as a person at a
/// terminal runs it; `then` is shell text appended to its command line
/// (e.g. `| cat`). What the terminal showed is the output's stdout.
pub fn at_a_terminal(cmd: &tokio::process::Command, then: &str) -> tokio::process::Command {
    let std = cmd.as_std();
    let mut line = format!("{:?}", std.get_program());
    for a in std.get_args() {
        line.push(' ');
        line.push_str(&format!("{a:?}"));
    }
    line.push(' ');
    line.push_str(then);
    let mut script = tokio::process::Command::new("script");
    script.args(["-qec", &line, "/dev/null"]).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    // The terminal's colour setting is the command's own, not the test's.
    script.env_remove("NO_COLOR");
    for (k, v) in std.get_envs() {
        if let Some(v) = v {
            script.env(k, v);
        }
    }
    script
}

/// What a terminal shows after `raw` was written to it: carriage return,
/// newline, cursor up and down, erase in line and below are applied;
/// colours and modes are dropped. Enough for what a progress bar draws.
pub fn screen(raw: &str) -> Vec<String> {
    let mut lines: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => col = 0,
            '\n' => {
                row += 1;
                col = 0;
                if lines.len() <= row {
                    lines.push(Vec::new());
                }
            }
            '\u{1b}' if chars.peek() == Some(&'[') => {
                chars.next();
                let mut params = String::new();
                let end = loop {
                    match chars.next() {
                        Some(p) if p.is_ascii_digit() || p == ';' || p == '?' => params.push(p),
                        other => break other,
                    }
                };
                let n = params.trim_start_matches('?').parse::<usize>().unwrap_or(0);
                match end {
                    Some('A') => row = row.saturating_sub(n.max(1)),
                    Some('B') => {
                        row += n.max(1);
                        while lines.len() <= row {
                            lines.push(Vec::new());
                        }
                    }
                    Some('G') => col = n.saturating_sub(1),
                    Some('K') if n == 2 => lines[row].clear(),
                    Some('K') if n == 1 => lines[row].iter_mut().take(col + 1).for_each(|c| *c = ' '),
                    Some('K') => lines[row].truncate(col),
                    Some('J') => {
                        lines[row].truncate(col);
                        lines.truncate(row + 1);
                    }
                    _ => {}
                }
            }
            c if c.is_control() => {}
            c => {
                let line = &mut lines[row];
                while line.len() < col {
                    line.push(' ');
                }
                if col < line.len() {
                    line[col] = c;
                } else {
                    line.push(c);
                }
                col += 1;
            }
        }
    }
    lines.into_iter().map(|l| l.into_iter().collect::<String>().trim_end().to_string()).collect()
}

pub async fn finished(mut cmd: tokio::process::Command) -> RunOutput {
    let child = cmd.spawn().unwrap();
    let out = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
        .await
        .expect("auditship finished within 5 minutes")
        .unwrap();
    RunOutput {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

pub async fn objects_in(s3: &aws_sdk_s3::Client, bucket: &str) -> BTreeMap<String, StoredObject> {
    let mut out = BTreeMap::new();
    let mut token = None;
    loop {
        let page = s3.list_objects_v2().bucket(bucket).set_continuation_token(token).send().await.unwrap();
        for o in page.contents() {
            let key = o.key().unwrap().to_string();
            let got = s3.get_object().bucket(bucket).key(&key).send().await.unwrap();
            let metadata = got.metadata().cloned().unwrap_or_default().into_iter().collect();
            let bytes = got.body.collect().await.unwrap().into_bytes().to_vec();
            out.insert(key, StoredObject { bytes, metadata });
        }
        match page.next_continuation_token() {
            Some(t) => token = Some(t.to_string()),
            None => return out,
        }
    }
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

/// Asserts one file's objects reproduce it byte for byte.
/// A file that no longer changes (rotated, or written by the test itself):
/// its objects hold exactly its bytes, all of them if `active` is false, its
/// complete lines if true.
pub fn assert_file_shipped(
    objects: &BTreeMap<String, StoredObject>,
    instance_prefix: &str,
    name: &str,
    bytes: &[u8],
    active: bool,
) {
    let expected = if active { complete_lines(bytes) } else { bytes };
    let Some(joined) = shipped_bytes(objects, instance_prefix, name, bytes) else { return };
    assert_eq!(
        joined.len(),
        expected.len(),
        "file {name} has {} bytes to ship but its objects hold {}",
        expected.len(),
        joined.len()
    );
    assert!(joined == expected, "file {name}: objects differ from the file's bytes");
}

/// A file that may still grow: its objects hold a prefix of its bytes now
/// (`after`, read after the run) that ends on a line and covers at least the
/// complete lines it had before the run (`before`).
pub fn assert_active_file_shipped(
    objects: &BTreeMap<String, StoredObject>,
    instance_prefix: &str,
    name: &str,
    before: &[u8],
    after: &[u8],
) {
    let Some(joined) = shipped_bytes(objects, instance_prefix, name, after) else { return };
    assert!(after.starts_with(&joined), "file {name}: objects are not a prefix of the file's bytes");
    assert!(joined.is_empty() || joined.ends_with(b"\n"), "file {name}: objects end inside a line");
    let needed = complete_lines(before).len();
    assert!(
        joined.len() >= needed,
        "file {name} had {needed} bytes of complete lines before the run but its objects hold {}",
        joined.len()
    );
}

fn complete_lines(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)]
}

/// The bytes of a file's objects joined in offset order, checked to be
/// contiguous and to match their metadata; `None` while the file has no id.
fn shipped_bytes(
    objects: &BTreeMap<String, StoredObject>,
    instance_prefix: &str,
    name: &str,
    bytes: &[u8],
) -> Option<Vec<u8>> {
    let id = Fingerprint::of_prefix(identity_prefix(bytes)?).file_id();
    let file_prefix = format!("{instance_prefix}dt={}/{id}/", id.date());
    let mut joined = Vec::new();
    for (key, o) in objects.range(file_prefix.clone()..).take_while(|(k, _)| k.starts_with(&file_prefix)) {
        let plain = gunzip(&o.bytes);
        let start: usize = o.metadata["start-offset"].parse().unwrap();
        let end: usize = o.metadata["end-offset"].parse().unwrap();
        assert_eq!(start, joined.len(), "{key}: objects of {name} are not contiguous (overlap or hole)");
        assert_eq!(end - start, plain.len(), "{key}: end-offset disagrees with content");
        assert_eq!(o.metadata["sha256"], hex::encode(Sha256::digest(&plain)), "{key}: sha256 metadata");
        assert!(key.ends_with(&format!("{start:020}.log.gz")), "{key}: key offset");
        joined.extend_from_slice(&plain);
    }
    Some(joined)
}

fn world_json(
    topology: Topology,
    primary: &Db,
    replica: &Db,
    primary_rid: &str,
    replica_rid: &str,
) -> serde_json::Value {
    let (cluster, replica_of, engine) = match topology {
        Topology::Replicas => (serde_json::Value::Null, serde_json::json!("primary"), "mariadb"),
        Topology::Cluster => (serde_json::json!(CLUSTER), serde_json::Value::Null, "mysql"),
    };
    let clusters = match topology {
        Topology::Replicas => serde_json::json!([]),
        Topology::Cluster => {
            serde_json::json!([{ "id": CLUSTER, "members": ["primary", "replica"], "writer": "primary" }])
        }
    };
    serde_json::json!({
        "credentials": { KEY_ID: SECRET },
        "instances": [
            { "id": "primary", "resource_id": primary_rid, "engine": engine, "audit_dir": primary.audit_dir(),
              "endpoint": format!("127.0.0.1:{}", primary.port),
              "cluster": cluster, "tags": { "team": "shop", "env": "test" }, "rotate_command": primary.rotate_command() },
            { "id": "replica", "resource_id": replica_rid, "engine": engine, "audit_dir": replica.audit_dir(),
              "endpoint": format!("127.0.0.1:{}", replica.port),
              "cluster": cluster, "replica_of": if topology == Topology::Replicas { replica_of } else { serde_json::Value::Null },
              "tags": { "team": "shop" }, "rotate_command": replica.rotate_command() }
        ],
        "clusters": clusters
    })
}
