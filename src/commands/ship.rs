//! `run` and `backfill`: the pipeline over every selected instance, at
//! most `--concurrency` at once, then the report and the exit status.

use super::{config_error, fatal, select, stop_on_signal, Writes};
use crate::clients::Clients;
use crate::config::{Config, Scope};
use crate::error::{Failure, FailureKind, Severity};
use crate::instance::Instance;
use crate::metrics;
use crate::pipeline::{self, Shipper};
use crate::report::{self, InstanceReport};
use crate::run_id::RunId;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// `run` and `backfill`: the same pipeline, over a different scope. With
/// `--interval`, `run` repeats as a long-running service.
pub(crate) async fn run(cfg: Result<Config, String>) -> Result<Severity, Failure> {
    let started = Instant::now();
    let cfg = Arc::new(cfg.map_err(config_error)?);
    let clients = Clients::build(
        cfg.clone(),
        stop_on_signal(if cfg.dry_run && cfg.interval.is_none() { Writes::Nothing } else { Writes::Trail }),
    )
    .await?;
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
    let deadline = cfg.max_run.map(|d| started + d);
    let instances = tokio::select! {
        biased;
        found = select(clients) => found?,
        () = pipeline::cut(deadline, &clients.stop) => return Err(Failure::transient(format!(
            "{} while the bucket was checked and the instances discovered, and AWS had not answered {}s later: \
             nothing was shipped; the next run tries again",
            pipeline::why_cut(&clients.stop),
            pipeline::CUT_GRACE.as_secs()
        ))),
    };
    check_file_names_for_one_instance(cfg, &instances)?;
    let run = RunId::generate();
    tracing::info!(run_id = %run, instances = instances.len(), bucket = %cfg.bucket, prefix = %cfg.prefix, "run started");
    let shipper = Arc::new(clients.shipper(deadline, run.clone()));
    let reports = ship_all(shipper, instances, cfg.concurrency).await;
    clients.progress.finish();
    let mut severity = report::finish(&reports, None);
    // Said like a failure that ends the run, and counted in its metrics.
    if let Some(f) = empty_window(cfg, &reports) {
        fatal(&f);
        severity.record(f.kind);
    }
    if cfg.dry_run {
        crate::outln!("dry run: nothing was written to s3://{}", cfg.bucket);
    }
    // A dry run shipped nothing: it must not count as shipping.
    if let Some(namespace) = cfg.metrics_namespace.as_ref().filter(|_| !cfg.dry_run) {
        let now_ms = chrono::Utc::now().timestamp_millis();
        for r in &reports {
            crate::outln!("{}", metrics::instance_line(namespace, now_ms, r));
        }
        let command = if matches!(cfg.scope, Scope::Backfill(_)) { "backfill" } else { "run" };
        let exit_code = severity.worst().map_or(0, |k| k.exit_code());
        crate::outln!(
            "{}",
            metrics::run_line(
                namespace,
                now_ms,
                command,
                cfg.shard.as_deref(),
                exit_code,
                started.elapsed().as_millis() as u64
            )
        );
    }
    tracing::info!(
        run_id = %run,
        duration_ms = started.elapsed().as_millis() as u64,
        exit_code = severity.worst().map_or(0, |k| k.exit_code()),
        "run finished"
    );
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

/// A backfill whose window holds no file of any instance did nothing: most
/// likely the window is not the one meant (the times are UTC).
fn empty_window(cfg: &Config, reports: &[InstanceReport]) -> Option<Failure> {
    let Scope::Backfill(filter) = &cfg.scope else { return None };
    if !filter.names.is_empty() || (filter.since.is_none() && filter.until.is_none()) {
        return None;
    }
    let read_all = reports.iter().all(|r| r.worst().is_none());
    if !read_all || reports.iter().any(|r| r.files_chosen > 0) {
        return None;
    }
    let at = |t: Option<chrono::DateTime<chrono::Utc>>| t.map_or("…".to_string(), crate::output::rfc3339);
    Some(Failure::needs_person(format!(
        "backfill: no audit file of the {} selected instance(s) has records from {} to {} (UTC): nothing was \
         read; check --since/--until against the files' times (`aws rds describe-db-log-files` lists them)",
        reports.len(),
        at(filter.since),
        at(filter.until)
    )))
}

/// Ships instances concurrently, at most `limit` at once, and returns their
/// reports in discovery order.
async fn ship_all(shipper: Arc<Shipper>, instances: Vec<Instance>, limit: usize) -> Vec<InstanceReport> {
    shipper.progress.expect(instances.len());
    let semaphore = Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
    let mut tasks = JoinSet::new();
    for (index, instance) in instances.iter().cloned().enumerate() {
        let shipper = shipper.clone();
        let semaphore = semaphore.clone();
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await.expect("semaphore open");
            // An instance whose turn comes after the time limit is only
            // estimated (bounded on its own: the cut may be past already).
            if shipper.out_of_time() {
                return (index, shipper.unreached(&instance).await);
            }
            // The report lives outside the pass's future, so a cut keeps
            // what the pass found (a loss above all).
            let mut report = InstanceReport::new(instance.clone());
            let cut = tokio::select! {
                biased;
                () = shipper.ship_instance_into(&instance, &mut report) => false,
                () = shipper.cut() => true,
            };
            if cut {
                shipper.cut_off(&instance, &mut report).await;
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
    let mut reports: Vec<InstanceReport> = reports
        .into_iter()
        .zip(instances)
        .map(|(r, instance)| {
            r.unwrap_or_else(|| {
                let mut r = InstanceReport::new(instance);
                r.fail(Failure::transient("the instance's task ended abnormally; the next run retries"));
                r
            })
        })
        .collect();
    // Only a run's progress is kept progress: a backfill walks again from
    // the first byte each time, and a dry run commits nothing.
    if shipper.cfg.scope == Scope::New && !shipper.cfg.dry_run {
        report::judge_deferrals(&mut reports);
    }
    reports
}
