//! The binary's commands, one module each, wired from `Config`: build the
//! `Clients`, discover, then ship (`run`, `backfill`) or show (`status`,
//! `verify`, `doctor`, `discover`); `completions` and `man` print what the
//! flags' definitions make.

pub mod discover;
pub mod doctor;
pub mod events;
pub mod reference;
pub mod ship;
pub mod status;
pub mod trail_report;
pub mod verify;

use crate::cli::Command;
use crate::clients::Clients;
use crate::config::Config;
use crate::error::{Failure, Severity};
use crate::instance::Instance;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

pub async fn execute(command: Command) -> ExitCode {
    let result = match command {
        Command::Run(args) => ship::run(shipping(args.to_config())).await,
        Command::Backfill(args) => ship::run(shipping(args.to_config())).await,
        Command::Status(args) => status::command(args).await,
        Command::Verify(args) => verify::command(args).await,
        Command::Events(args) => events::command(args).await,
        Command::Doctor(args) => doctor::command(args).await,
        Command::Discover(args) => discover::command(args).await,
        Command::Completions(args) => return reference::completions(args),
        Command::Man(args) => return reference::man(args),
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

/// A command that writes (not a dry run) finishes whatever becomes of its
/// stdout (see `output`).
fn shipping<E>(cfg: Result<crate::config::Config, E>) -> Result<crate::config::Config, E> {
    if cfg.as_ref().is_ok_and(|c| !c.dry_run) {
        crate::output::ships();
    }
    cfg
}

/// A failure that ends the run before any instance is shipped: one line on
/// stderr and one log event.
pub(crate) fn fatal(f: &Failure) {
    if crate::logging::json() {
        tracing::error!(kind = f.kind.label(), exit_code = f.kind.exit_code(), "{}", f.message);
    }
    eprintln!("auditship: error: {}", f.message);
}

pub(crate) fn config_error(message: String) -> Failure {
    Failure::needs_person(message)
}

/// Builds the clients, checks the bucket, and discovers the selection.
pub(crate) async fn connect(cfg: Arc<Config>) -> Result<(Clients, Vec<Instance>), Failure> {
    let clients = Clients::build(cfg, stop_on_signal(Writes::Nothing)).await?;
    let instances = select(&clients).await?;
    Ok((clients, instances))
}

/// Checks the bucket and discovers the selection (afresh on every pass:
/// roles change with failover, instances come and go).
pub(crate) async fn select(clients: &Clients) -> Result<Vec<Instance>, Failure> {
    clients.s3.check_bucket().await?;
    let instances = crate::discover::discover(&clients.rds, &clients.cfg.selection, clients.db_login()).await?;
    crate::discover::check_unique_resource_ids(&instances)?;
    if instances.is_empty() {
        return Err(no_instance_selected());
    }
    Ok(instances)
}

pub(crate) fn no_instance_selected() -> Failure {
    Failure::needs_person("the selection matches no instance: check --cluster / --instance / --tag and --region")
}

/// What a command writes, which decides how a signal stops it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writes {
    /// Objects and checkpoints: stop starting work, commit what S3
    /// confirmed, then exit.
    Trail,
    /// Nothing: exit at once.
    Nothing,
}

/// A token cancelled by SIGTERM (ECS stopping the task: 30 s until SIGKILL
/// by default) or SIGINT: the run stops starting work, abandons reads in
/// flight, commits what S3 confirmed, and exits 1; a second signal exits 1
/// at once. A command that writes nothing exits 1 at once.
pub(crate) fn stop_on_signal(writes: Writes) -> CancellationToken {
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
        if writes == Writes::Nothing {
            eprintln!("auditship: interrupted by {name}; stopped (this command writes nothing)");
            std::process::exit(1);
        }
        tracing::warn!(
            signal = name,
            "interrupted: no new work; confirmed progress is committed, the next run continues (a second signal \
             stops at once)"
        );
        trigger.cancel();
        // A person who presses Ctrl-C twice means it: stop now. What is
        // committed stays; objects written since are verified next run.
        let again = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        eprintln!("auditship: {again} again: stopped at once; the next run continues from the last commit");
        std::process::exit(1);
    });
    token
}
