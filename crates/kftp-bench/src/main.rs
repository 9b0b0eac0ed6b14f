//! `kftp-bench`: the paper's experiments on this machine (see the crate docs and
//! BENCHMARKS.md). Exit codes are kftp's (`kftp --help`).

use clap::Parser;
use std::process::ExitCode;

/// Measure kftpd (and vsftpd, proftpd, pure-ftpd if installed) on loopback against the raw
/// data-path ceiling: throughput, CPU/GiB, concurrency, small files, logins.
#[derive(Parser, Debug)]
#[command(name = "kftp-bench", version, about, long_about)]
struct Cli {
    #[command(flatten)]
    args: kftp_bench::BenchArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KFTP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .with_target(false)
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kftp-bench: starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(kftp_bench::run(cli.args)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kftp-bench: {e}");
            ExitCode::from(e.kind().exit_code())
        }
    }
}
