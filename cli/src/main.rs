//! `shmlane`: create, inspect, feed, drain, benchmark, bridge and remove
//! shared-memory rings from the shell.
//!
//! Each subcommand lives in its own module; `args` holds the command line,
//! `fail` the one error type and the exit codes. Every error ends the process
//! with one line on stderr, `shmlane: <what>: <why>`, and exit code 2 for a bad
//! command line or 1 for a failure at run time.

mod args;
mod bench;
mod bridge;
mod clock;
mod create;
mod ends;
mod fail;
mod framing;
mod stat;
mod target;
mod transfer;
mod units;

use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use fail::Failure;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return fail::clap_error(error),
    };
    let result = match cli.command {
        Command::Create(args) => create::create(&args),
        Command::Stat(args) => stat::stat(&args),
        Command::Send(args) => transfer::send(&args),
        Command::Recv(args) => transfer::recv(&args),
        Command::Bench(args) => bench::bench(&args),
        Command::Rm(args) => create::remove(&args),
        Command::Bridge(command) => bridge::bridge(&command),
        Command::BenchChild(args) => bench::child::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

/// What every subcommand returns.
pub(crate) type Outcome = Result<(), Failure>;
