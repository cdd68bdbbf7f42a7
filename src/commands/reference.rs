//! `completions` and `man`: shell completion scripts and man pages, made
//! from the same clap definitions as the flags, so they never drift.

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use clap::CommandFactory;
use std::io::Write;
use std::process::ExitCode;

pub fn completions(args: CompletionsArgs) -> ExitCode {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "auditship", &mut script);
    print(&script)
}

pub fn man(args: ManArgs) -> ExitCode {
    let command = Cli::command();
    let Some(dir) = args.out_dir else {
        let mut page = Vec::new();
        return match clap_mangen::Man::new(command).render(&mut page) {
            Ok(()) => print(&page),
            Err(e) => fail(format!("cannot render the man page: {e}")),
        };
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return fail(format!("man --out-dir {}: cannot create it ({e}); give a writable directory", dir.display()));
    }
    match clap_mangen::generate_to(command, &dir) {
        Ok(()) => {
            crate::outln!("man pages written to {} (auditship.1, auditship-COMMAND.1)", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            fail(format!("man --out-dir {}: cannot write the pages ({e}); give a writable directory", dir.display()))
        }
    }
}

/// Writes to stdout; a reader that stops reading ends it quietly.
fn print(bytes: &[u8]) -> ExitCode {
    match std::io::stdout().lock().write_all(bytes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(format!("cannot write to stdout: {e}")),
    }
}

/// A local failure a person must fix (exit 2).
fn fail(message: String) -> ExitCode {
    eprintln!("auditship: error: {message}");
    ExitCode::from(2)
}
