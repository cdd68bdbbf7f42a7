//! The binary's commands, wired together: build the clients from `Config`,
//! discover, ship every instance with bounded concurrency, report.

use crate::cli::{Command, DiscoverArgs, DoctorArgs, StatusArgs, VerifyArgs};
use crate::clients::Clients;
use crate::config::{Config, Scope};
use crate::discover;
use crate::error::{Failure, FailureKind, Severity};
use crate::instance::Instance;
use crate::pipeline::Shipper;
use crate::report::{self, InstanceReport};
use crate::status::InstanceStatus;
use crate::{doctor, metrics, verify};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub async fn execute(command: Command) -> ExitCode {
    let result = match command {
        Command::Run(args) => run(args.to_config()).await,
        Command::Backfill(args) => run(args.to_config()).await,
        Command::Status(args) => status_cmd(args).await,
        Command::Verify(args) => verify_cmd(args).await,
        Command::Doctor(args) => doctor_cmd(args).await,
        Command::Discover(args) => discover_cmd(args).await,
    };
    match result {
        Ok(severity) => severity.exit_code(),
        Err(f) => {
            fatal(&f);
            let mut s = Severity::default();
            s.record(f.kind);
            s.exit_code()
        }
    }
}

/// A failure that ends the run before any instance is shipped: one line on
/// stderr and one log event.
fn fatal(f: &Failure) {
    tracing::error!(kind = f.kind.label(), exit_code = f.kind.exit_code(), "{}", f.message);
    eprintln!("auditship: error: {}", f.message);
}

fn config_error(message: String) -> Failure {
    Failure::needs_person(message)
}

/// `run` and `backfill`: the same pipeline, over a different scope. With
/// `--interval`, `run` repeats as a long-running service.
async fn run(cfg: Result<Config, String>) -> Result<Severity, Failure> {
    let started = Instant::now();
    let cfg = Arc::new(cfg.map_err(config_error)?);
    let clients = Clients::build(cfg.clone(), stop_on_signal()).await?;
    match cfg.interval {
        None => one_pass(&clients, started).await,
        Some(every) => serve(&clients, every).await,
    }
}

/// The service mode: a pass every `every` (measured from each pass's
/// start), until SIGTERM / SIGINT. A failing pass is reported (summary,
/// metrics, logs) and the loop goes on; only configuration errors end it.
/// Stopped by a signal it exits 0, unless the pass the signal interrupted
/// found something worse than a transient failure.
async fn serve(clients: &Clients, every: Duration) -> Result<Severity, Failure> {
    tracing::info!(interval_seconds = every.as_secs(), "service mode: a pass every interval until SIGTERM");
    loop {
        let started = Instant::now();
        let severity = match one_pass(clients, started).await {
            Ok(severity) => severity,
            Err(f) if f.kind == FailureKind::NeedsPerson => return Err(f),
            Err(f) => {
                fatal(&f);
                let mut s = Severity::default();
                s.record(f.kind);
                s
            }
        };
        if clients.stop.is_cancelled() {
            let worse_than_interrupted = severity.worst() > Some(FailureKind::Transient);
            return Ok(if worse_than_interrupted { severity } else { Severity::default() });
        }
        tokio::select! {
            _ = tokio::time::sleep(every.saturating_sub(started.elapsed())) => {}
            _ = clients.stop.cancelled() => return Ok(Severity::default()),
        }
    }
}

/// One pass over the selection: discover, ship, report, metrics.
async fn one_pass(clients: &Clients, started: Instant) -> Result<Severity, Failure> {
    let cfg = &clients.cfg;
    let instances = select(clients).await?;
    check_file_names_for_one_instance(cfg, &instances)?;
    tracing::info!(instances = instances.len(), bucket = %cfg.bucket, prefix = %cfg.prefix, "run started");
    let shipper = Arc::new(clients.shipper(cfg.max_run.map(|d| started + d)));
    let reports = ship_all(shipper, instances, cfg.concurrency).await;
    clients.progress.finish();
    let severity = report::finish(&reports, None);
    if cfg.dry_run {
        println!("dry run: nothing was written to s3://{}", cfg.bucket);
    }
    // A dry run shipped nothing: it must not count as shipping.
    if let Some(namespace) = cfg.metrics_namespace.as_ref().filter(|_| !cfg.dry_run) {
        let now_ms = chrono::Utc::now().timestamp_millis();
        for r in &reports {
            println!("{}", metrics::instance_line(namespace, now_ms, r));
        }
        let command = if matches!(cfg.scope, Scope::Backfill(_)) { "backfill" } else { "run" };
        let exit_code = severity.worst().map_or(0, |k| k.exit_code());
        println!("{}", metrics::run_line(namespace, now_ms, command, exit_code, started.elapsed().as_millis() as u64));
    }
    tracing::info!(
        duration_ms = started.elapsed().as_millis() as u64,
        exit_code = severity.worst().map_or(0, |k| k.exit_code()),
        "run finished"
    );
    Ok(severity)
}

/// Builds the clients, checks the bucket, and discovers the selection.
async fn connect(cfg: Arc<Config>) -> Result<(Clients, Vec<Instance>), Failure> {
    let clients = Clients::build(cfg, stop_on_signal()).await?;
    let instances = select(&clients).await?;
    Ok((clients, instances))
}

/// Checks the bucket and discovers the selection (afresh on every pass:
/// roles change with failover, instances come and go).
async fn select(clients: &Clients) -> Result<Vec<Instance>, Failure> {
    clients.s3.check_bucket().await?;
    let instances = discover::discover(&clients.rds, &clients.cfg.selection, clients.db_login()).await?;
    discover::check_unique_resource_ids(&instances)?;
    if instances.is_empty() {
        return Err(Failure::needs_person(
            "the selection matches no instance: check --cluster / --instance / --tag and --region",
        ));
    }
    Ok(instances)
}

/// `status`: a table (or JSON lines) of where each instance stands.
/// Read-only. Exit 0 even with warnings (they are the report); an
/// instance that cannot be read counts like a failed run.
async fn status_cmd(args: StatusArgs) -> Result<Severity, Failure> {
    let cfg = Arc::new(args.to_config().map_err(config_error)?);
    let (clients, instances) = connect(cfg).await?;
    let shipper = clients.shipper(None);
    let mut severity = Severity::default();
    if !args.json {
        println!("{}", InstanceStatus::table_header());
    }
    for instance in &instances {
        let status = match shipper.survey(instance).await {
            Ok(survey) => InstanceStatus::of(instance, &survey),
            Err(f) => {
                tracing::error!(instance = %instance.id, kind = f.kind.label(), "{}", f.message);
                severity.record(f.kind);
                InstanceStatus::failed(instance, f.message)
            }
        };
        if args.json {
            println!("{}", serde_json::to_string(&status).expect("status serializes"));
        } else {
            println!("{}", status.table_row());
        }
    }
    Ok(severity)
}

/// File names are per instance (every instance has its own
/// `audit/server_audit.log.3`): a backfill by name takes one instance.
fn check_file_names_for_one_instance(cfg: &Config, instances: &[Instance]) -> Result<(), Failure> {
    match &cfg.scope {
        Scope::Backfill(filter) if !filter.names.is_empty() && instances.len() > 1 => {
            Err(Failure::needs_person(format!(
                "--file names the files of one instance but the selection matches {}: select one with --instance ID",
                instances.iter().map(|i| i.id.0.as_str()).collect::<Vec<_>>().join(", ")
            )))
        }
        _ => Ok(()),
    }
}

/// A token cancelled by SIGTERM (ECS stopping the task: 30 s until SIGKILL
/// by default) or SIGINT: the run stops starting work, abandons reads in
/// flight, commits what S3 confirmed, and exits 1.
fn stop_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            tracing::warn!("cannot listen for signals; SIGTERM will end the run abruptly");
            return;
        };
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::warn!(signal = name, "stopping: no new work; confirmed progress is committed, the next run continues");
        trigger.cancel();
    });
    token
}

/// Ships instances concurrently, at most `limit` at once, and returns their
/// reports in discovery order.
async fn ship_all(shipper: Arc<Shipper>, instances: Vec<Instance>, limit: usize) -> Vec<InstanceReport> {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
    let mut tasks = JoinSet::new();
    for (index, instance) in instances.iter().cloned().enumerate() {
        let shipper = shipper.clone();
        let semaphore = semaphore.clone();
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await.expect("semaphore open");
            let mut report = InstanceReport::new(instance.clone());
            if shipper.out_of_time() {
                report.deferred = true;
            } else {
                report = shipper.ship_instance(&instance).await;
            }
            (index, report)
        });
    }
    let mut reports: Vec<Option<InstanceReport>> = vec![None; instances.len()];
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, report)) => reports[index] = Some(report),
            Err(e) => tracing::error!(error = %e, "an instance task panicked"),
        }
    }
    reports
        .into_iter()
        .zip(instances)
        .map(|(r, instance)| {
            r.unwrap_or_else(|| {
                let mut r = InstanceReport::new(instance);
                r.fail(Failure::transient("the instance's task ended abnormally; the next run retries"));
                r
            })
        })
        .collect()
}

/// `verify`: one line per finding and a summary per instance; exit 3 if
/// anything is missing, duplicated or diverged.
async fn verify_cmd(args: VerifyArgs) -> Result<Severity, Failure> {
    let cfg = Arc::new(args.to_config().map_err(config_error)?);
    let (clients, instances) = connect(cfg).await?;
    let shipper = clients.shipper(None);
    let mut severity = Severity::default();
    for instance in &instances {
        let report = match verify::verify_instance(&shipper, instance, args.deep).await {
            Ok(report) => report,
            Err(f) => {
                tracing::error!(instance = %instance.id, kind = f.kind.label(), "{}", f.message);
                eprintln!("auditship: error: {}", f.message);
                severity.record(f.kind);
                continue;
            }
        };
        if !report.findings.is_empty() {
            severity.record(FailureKind::DataLoss);
        }
        print_verify_report(instance, &report, args.json, args.deep);
    }
    Ok(severity)
}

fn print_verify_report(instance: &Instance, report: &verify::VerifyReport, json: bool, deep: bool) {
    if json {
        for f in &report.findings {
            let mut line = serde_json::to_value(f).expect("finding serializes");
            line["instance"] = instance.id.0.clone().into();
            println!("{line}");
        }
        let summary = serde_json::json!({
            "instance": instance.id.0,
            "files": report.files,
            "objects": report.objects,
            "deep": deep,
            "problems": report.findings.len(),
            "recorded_losses": report.recorded_losses,
            "earlier_trails": report.earlier_trails,
        });
        println!("{summary}");
        return;
    }
    for f in &report.findings {
        println!("{} {f}", instance.id);
    }
    for loss in &report.recorded_losses {
        println!("{} recorded loss: {loss}", instance.id);
    }
    for (rid, objects) in &report.earlier_trails {
        println!(
            "{} earlier instance {rid} under this identifier: {objects} objects, a trail of its own (verify counts it apart)",
            instance.id
        );
    }
    println!(
        "{}: {} files, {} objects{} checked: {} problems, {} recorded losses: {}",
        instance.id,
        report.files,
        report.objects,
        if deep { " (deep)" } else { "" },
        report.findings.len(),
        report.recorded_losses.len(),
        if report.findings.is_empty() { "ok" } else { "data_loss" }
    );
}

/// `doctor`: one line per check, the worst failure decides the exit code.
async fn doctor_cmd(args: DoctorArgs) -> Result<Severity, Failure> {
    let cfg = Arc::new(args.to_config().map_err(config_error)?);
    match Clients::build(cfg.clone(), stop_on_signal()).await {
        Ok(clients) => Ok(doctor::examine(&clients, cfg.db.as_ref()).await),
        Err(f) => {
            println!("{}", doctor::Check::failed("aws credentials", f.clone()).line());
            Err(f)
        }
    }
}

async fn discover_cmd(args: DiscoverArgs) -> Result<Severity, Failure> {
    let cfg = Arc::new(args.to_config().map_err(config_error)?);
    let clients = Clients::build(cfg, stop_on_signal()).await?;
    let instances = discover::discover(&clients.rds, &clients.cfg.selection, clients.db_login()).await?;
    for i in &instances {
        println!("{}", serde_json::to_string(i).expect("instance serializes"));
    }
    // Shown as the API reports them; `run` refuses to ship this.
    if let Err(f) = discover::check_unique_resource_ids(&instances) {
        tracing::warn!("{}", f.message);
    }
    Ok(Severity::default())
}
