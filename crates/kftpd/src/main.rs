//! The `kftpd` binary: parse the command line, then serve ([`kftpd::startup`]) or run a
//! subcommand.

use anyhow::{Context, Result};
use clap::FromArgMatches;
use kftpd::auth::users;
use kftpd::cli::{Cli, Sub, UserCmd};
use kftpd::storage::Root;
use std::io::BufRead;
use std::process::ExitCode;

#[path = "../../../dist/generate.rs"]
mod generate;

fn main() -> ExitCode {
    if let Some(code) = generate::requested(kftpd::cli::command, "8") {
        return code;
    }
    let matches = kftpd::cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let result = match &cli.command {
        Some(Sub::User(cmd)) => user_cmd(cmd),
        Some(Sub::Admin(a)) => kftpd::admin::client::run(a),
        Some(Sub::CheckConfig { file }) => {
            kftpd::config::check_cmd(file.as_deref().or(cli.serve.config.as_deref()))
        }
        None => kftpd::startup::serve(cli.serve),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kftpd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn user_cmd(cmd: &UserCmd) -> Result<()> {
    let UserCmd::Add {
        name,
        users: path,
        root,
        perms,
        password_stdin,
        tls_reuse,
        quota_bytes,
        quota_files,
        quota_upload_per_day,
        quota_download_per_day,
    } = cmd;
    let password = if *password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let p = rpassword::prompt_password(format!("Password for {name}: "))?;
        let again = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(p == again, "passwords differ");
        p
    };
    anyhow::ensure!(!password.is_empty(), "empty password");
    let root = match root {
        Some(r) if !Root::is_local(r) => {
            Root::parse(r).map_err(anyhow::Error::msg)?;
            Some(r.clone())
        }
        Some(r) => Some(std::fs::canonicalize(r).with_context(|| format!("root {}", r.display()))?),
        None => None,
    };
    let existed = users::add_user(path, name, &password, root, perms.clone())?;
    if let Some(reuse) = tls_reuse {
        users::set_tls_reuse_required(path, name, reuse.required())?;
    }
    let quota = kftpd::quota::Limits {
        bytes: *quota_bytes,
        files: *quota_files,
        upload_per_day: *quota_upload_per_day,
        download_per_day: *quota_download_per_day,
    };
    if quota.any() {
        users::set_quota(path, name, quota)?;
    }
    println!(
        "{} user '{name}' in {}",
        if existed { "updated" } else { "added" },
        path.display()
    );
    Ok(())
}
