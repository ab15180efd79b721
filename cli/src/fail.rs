//! The one error type of the tool, and how errors reach the user: one line on
//! stderr, `shmlane: <what>: <why>`, and an exit code.
//!
//! Exit codes: 0 success, 1 a failure at run time (no such ring, timeout, a
//! peer that is gone, an I/O error, a corrupt ring file), 2 a bad command line
//! (unknown flag, a value that does not parse, a bad ring name, a geometry the
//! library refuses at create; a header that fails its checks is `Corrupt`).

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

/// Exit code of a failure at run time.
pub const EXIT_RUNTIME: u8 = 1;
/// Exit code of a bad command line.
pub const EXIT_USAGE: u8 = 2;

/// Why a command failed: what it was doing, why it failed, and whether the
/// command line was to blame.
#[derive(Debug)]
pub struct Failure {
    what: String,
    why: String,
    usage: bool,
}

impl Failure {
    /// A failure at run time.
    pub fn runtime(what: impl Into<String>, why: impl fmt::Display) -> Failure {
        Failure {
            what: what.into(),
            why: why.to_string(),
            usage: false,
        }
    }

    /// A bad command line.
    pub fn usage(what: impl Into<String>, why: impl fmt::Display) -> Failure {
        Failure {
            what: what.into(),
            why: why.to_string(),
            usage: true,
        }
    }

    /// An error of the library: a bad name or a geometry it refuses are the
    /// command line's fault, everything else happened at run time. The
    /// library's remedy is said in the tool's flags, not the library's API.
    pub fn ring(what: impl Into<String>, error: shmlane::Error) -> Failure {
        let usage = matches!(
            error.kind(),
            shmlane::ErrorKind::BadName | shmlane::ErrorKind::BadGeometry
        );
        let mut why = error.message().to_string();
        if let Some(hint) = error.remedy().and_then(hint) {
            why.push_str("; ");
            why.push_str(hint);
        }
        Failure {
            what: what.into(),
            why: one_line(&why),
            usage,
        }
    }

    /// Prints the failure on stderr and gives the exit code.
    pub fn report(&self) -> ExitCode {
        let line = format!("shmlane: {}: {}\n", self.what, one_line(&self.why));
        // Nothing is left to do if stderr is gone.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
        ExitCode::from(if self.usage { EXIT_USAGE } else { EXIT_RUNTIME })
    }
}

/// What to give on the command line to get past a refusal of the library.
fn hint(remedy: shmlane::Remedy) -> Option<&'static str> {
    use shmlane::Remedy as R;
    match remedy {
        // `send` and `recv`, the commands that join a ring, take the flag.
        R::AllowOtherOwner | R::AllowSharedMode => Some("to accept that, give --allow-shared"),
        R::UsePath => Some("to give a path, use --path"),
        R::JoinUntethered => Some("to join it, give recv --untethered"),
        _ => None,
    }
}

/// Reports an error of the command-line parser in the tool's one-line form, or
/// prints the help or version it asked for.
pub fn clap_error(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Help and version go to stdout with success, as clap would.
            let _ = error.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => Failure::usage(
            "usage",
            "a subcommand is needed: create, stat, send, recv, bench or rm (see 'shmlane --help')",
        )
        .report(),
        _ => {
            let message = clap_message(&error.render().to_string());
            let hint = help_hint();
            Failure::usage("usage", format!("{message} (see '{hint}')")).report()
        }
    }
}

/// The message of clap's rendered error on one line: the lines before its
/// usage and tips, the first without its `error: ` prefix, a list of missing
/// arguments joined with commas.
fn clap_message(rendered: &str) -> String {
    let mut lines = rendered
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .take_while(|line| !line.starts_with("Usage:") && !line.starts_with("For more information"))
        .filter(|line| !line.starts_with("tip:"));
    let mut message = lines
        .next()
        .unwrap_or("bad command line")
        .trim_start_matches("error: ")
        .to_owned();
    for (i, line) in lines.enumerate() {
        message.push_str(if i == 0 { " " } else { ", " });
        message.push_str(line);
    }
    message
}

/// `shmlane <subcommand> --help` for the subcommand the bad line was for.
fn help_hint() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    const SUBCOMMANDS: [&str; 6] = ["create", "stat", "send", "recv", "bench", "rm"];
    match args.iter().find(|arg| SUBCOMMANDS.contains(&arg.as_str())) {
        Some(subcommand) => format!("shmlane {subcommand} --help"),
        None => "shmlane --help".to_owned(),
    }
}

/// Joins the lines of a message so that an error stays on one line.
fn one_line(text: &str) -> String {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut joined = lines.next().unwrap_or("").to_owned();
    for line in lines {
        joined.push_str("; ");
        joined.push_str(line);
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_reasons_become_one_line() {
        assert_eq!(one_line("first\n\n  second\n"), "first; second");
    }

    #[test]
    fn clap_errors_fit_on_one_line() {
        let rendered = "error: the following required arguments were not provided:\n  --capacity <N>\n  --slot-size <BYTES>\n\nUsage: shmlane create\n\nFor more information, try '--help'.\n";
        assert_eq!(
            clap_message(rendered),
            "the following required arguments were not provided: --capacity <N>, --slot-size <BYTES>"
        );
        let rendered = "error: unexpected argument '--foo' found\n\n  tip: to pass '--foo' as a value, use '-- --foo'\n\nUsage: x\n";
        assert_eq!(clap_message(rendered), "unexpected argument '--foo' found");
    }

    #[test]
    fn bad_names_and_geometry_are_usage_errors() {
        let refused =
            shmlane::Ring::create("cli-fail-geometry-test", &shmlane::RingOptions::spsc(3, 64))
                .unwrap_err();
        assert_eq!(refused.kind(), shmlane::ErrorKind::BadGeometry);
        assert!(Failure::ring("create x", refused).usage);
        let missing = shmlane::Ring::open(std::path::Path::new("/nonexistent/ring")).unwrap_err();
        assert_eq!(missing.kind(), shmlane::ErrorKind::NotFound);
        assert!(!Failure::ring("open x", missing).usage);
    }
}
