//! The auditship test rig: real protocols on loopback, with fault switches.
//!
//! - `rds-emulator`: the RDS API (Query protocol Describe* and
//!   DownloadDBLogFilePortion, REST DownloadCompleteDBLogFile) backed by
//!   real MariaDB audit directories, verifying SigV4 signatures.
//! - `s3-proxy`: an HTTP proxy in front of an S3 server that fails, stalls
//!   or resets chosen requests.
//! - `traffic`: real client traffic (mysql_async) that makes the audit
//!   plugin write and rotate its files.
//! - `aurora-stripe`: re-writes a MariaDB audit directory's lines into
//!   Aurora's four-stripe file layout.
//!
//! The fault types the emulator and the proxy accept are the library's
//! (`auditship_testkit::faults`), shared with the tests that post them.

mod aurora;
mod body;
mod emulator;
mod proxy;
mod sigv4;
mod traffic;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "auditship-testkit")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    RdsEmulator(emulator::Args),
    S3Proxy(proxy::Args),
    Traffic(traffic::Args),
    AuroraStripe(aurora::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::RdsEmulator(a) => emulator::main(a).await,
        Command::S3Proxy(a) => proxy::main(a).await,
        Command::Traffic(a) => traffic::main(a).await,
        Command::AuroraStripe(a) => aurora::main(a),
    }
}
