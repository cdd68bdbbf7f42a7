use auditship::cli::Cli;
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    keep_large_blocks_mapped();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with 0; a wrong flag is a
            // configuration error: exit 2, like every other one.
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let verbosity = if cli.quiet { -1 } else { i8::try_from(cli.verbose).unwrap_or(i8::MAX) };
    auditship::logging::init(cli.log_format, verbosity);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("auditship: error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(auditship::commands::execute(cli.command))
}

/// glibc raises its mmap threshold each time a large block is freed (up to
/// 32 MiB): from then on the pipeline's 1 MiB blocks and gzip members come
/// from heap arenas, which fragment, and memory grows with the bytes shipped
/// (measured: 102 MiB peak shipping a 1 GiB file, 41 MiB with the threshold
/// fixed). Fixing it keeps large blocks mapped and returned when freed.
/// (musl, the container's build, always maps large blocks.)
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_large_blocks_mapped() {
    // SAFETY: mallopt only sets an allocator parameter; it is called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_large_blocks_mapped() {}
