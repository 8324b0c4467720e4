//! `ringside`: the one binary of Ringside, real-time operations for Asterisk
//! fleets.
//!
//! Every mode is a subcommand: operator tools (`ami decode`, and soon
//! `ami tail` and `pbx-sim`) today, the services and the monolithic mode in
//! later issues. This crate only composes: it parses the command line, sets up
//! logging and hands over to one module per command under [`commands`]. The
//! protocol and the services live in library crates that know nothing of this
//! binary.

mod bus;
mod cli;
mod commands;
mod logging;
mod settings;
mod shutdown;

use std::process::ExitCode;

use clap::Parser;

/// Services allocate a small object per AMI header and event; mimalloc does
/// that markedly faster than the system allocator under threads (measured
/// with the ingest benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process, before it allocates
/// much.
///
/// mimalloc asks the kernel for huge pages (`madvise(MADV_HUGEPAGE)`), and
/// the first touch of each makes the kernel zero 2 MiB while the touching
/// thread waits: 4–6 ms on the benchmark machine, one runtime worker stalled
/// mid-event every ~2,000 events while the in-process bus and the views grow
/// (`perf sched timehist`: 5 ms runs in `clear_page_erms` under
/// `do_huge_pmd_anonymous_page`). That stall was the whole p99 of `/ws` in
/// monolithic mode: 3–6 ms with huge pages, 0.5 ms without, at 10,000
/// events/s, for an apply rate within 2 % (`scripts/bench state`). Redis
/// recommends the same for the same reason. The flag is the kernel's, per
/// process (`prctl(PR_SET_THP_DISABLE)`), and child processes inherit it.
fn disable_transparent_huge_pages() {
    // A kernel without the flag (before 3.15) refuses it: the process then
    // runs as it would have, with huge pages, so there is nothing to report.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

/// Exit code for a command line that does not parse (`EX_USAGE` from
/// sysexits.h).
const EXIT_USAGE: u8 = 64;

fn main() -> ExitCode {
    disable_transparent_huge_pages();
    // Usage errors exit 64; `--help` and `--version` go to stdout and exit 0.
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(usage) => {
            let _ = usage.print();
            return if usage.use_stderr() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };

    // Services set up logging with the rest of their telemetry, from their
    // settings; the tools log plainly.
    if cli.command.as_ref().is_some_and(|c| !c.is_service()) {
        logging::init();
    }

    match commands::run(cli.command, cli.monolith) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report(&error);
            // Invalid configuration is a usage error too: the caller must fix it.
            if error.downcast_ref::<settings::SettingsError>().is_some() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Prints an error and every cause under it, one per line, to stderr.
fn report(error: &anyhow::Error) {
    eprintln!("error: {error}");
    for cause in error.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
