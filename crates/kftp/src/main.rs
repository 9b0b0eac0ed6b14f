//! `kftp`: thin. Parse the command line, set up logging, run, map the error to an exit
//! code and print it as `kftp: <what>: <cause>`.
#![forbid(unsafe_code)]

mod cli;
#[path = "../../../dist/generate.rs"]
mod generate;

use clap::{CommandFactory, Parser};
use std::process::ExitCode;

fn main() -> ExitCode {
    if let Some(code) = generate::requested(cli::args::Cli::command, "1") {
        return code;
    }
    let cli = match cli::args::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Help and version print to stdout and exit 0; usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    let level = match (cli.global.quiet, cli.global.verbose) {
        (_, 0) => "warn",
        (_, 1) => "kftp=debug,warn",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KFTP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .with_target(false)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kftp: starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kftp: {e}");
            ExitCode::from(e.kind().exit_code())
        }
    }
}
