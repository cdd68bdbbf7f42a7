//! auditship: ships Amazon RDS / Aurora MySQL audit logs to S3 exactly once.
//!
//! Modules follow the pipeline; ARCHITECTURE.md has the map.

pub mod aws;
pub mod checkpoint;
pub mod cli;
pub mod clients;
pub mod commands;
pub mod compress;
pub mod config;
pub mod cut;
pub mod db;
pub mod discover;
pub mod error;
pub mod events;
pub mod evidence;
pub mod fetch;
pub mod identify;
pub mod instance;
pub mod keys;
pub mod list;
pub mod logging;
pub mod metrics;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod retry;
pub mod run_id;
pub mod signer;
#[cfg(test)]
pub mod sim;
pub mod source;
pub mod store;

/// A boxed, sendable future: what the I/O traits' methods return, so the
/// pipeline can hold their implementations as trait objects.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
