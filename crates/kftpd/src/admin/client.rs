//! `kftpd admin ...`: a client of the admin API of a running server.

use super::registry::SessionView;
use super::UserView;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `kftpd admin [--admin-url URL] [--token-file FILE] COMMAND`
// The fields' doc comments are clap's `--help` text (`<state-dir>/admin-token`), not rustdoc.
#[allow(rustdoc::invalid_html_tags)]
#[derive(Args, Debug)]
pub struct AdminCli {
    /// The server's admin API (its --admin-listen).
    #[arg(long, default_value = "http://127.0.0.1:2122", env = "KFTPD_ADMIN_URL")]
    pub admin_url: String,
    /// File holding the bearer token (default: <state-dir>/admin-token).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// The server's state directory (where admin-token is).
    #[arg(long, default_value = ".kftpd-state", env = "KFTPD_STATE_DIR")]
    pub state_dir: PathBuf,
    /// PEM certificate to trust for an https:// URL (e.g. <state-dir>/tls-cert.pem when the
    /// server generated its own certificate).
    #[arg(long)]
    pub cacert: Option<PathBuf>,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: AdminCmd,
}

/// `kftpd admin` commands.
#[derive(Subcommand, Debug)]
pub enum AdminCmd {
    /// List sessions: id, user, peer, age, running transfer.
    Sessions,
    /// End a session: 421 on its control connection, its transfer aborted.
    Kick {
        /// Session id (from `kftpd admin sessions` or the logs' session=N).
        id: u64,
    },
    /// List accounts (never their hashes).
    Users,
    /// Reload what SIGHUP reloads.
    Reload,
}

/// Runs one admin command.
pub fn run(cli: &AdminCli) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(cli))
}

fn client(cli: &AdminCli) -> Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(p) = &cli.cacert {
        let pem = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        for c in rustls_pemfile_certs(&pem)? {
            roots.add(c).context("adding --cacert")?;
        }
    } else {
        for c in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(c);
        }
    }
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(std::time::Duration::from_secs(30))
        .build()?)
}

fn rustls_pemfile_certs(pem: &[u8]) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .context("parsing PEM certificates")
}

async fn run_async(cli: &AdminCli) -> Result<()> {
    let token_file = cli
        .token_file
        .clone()
        .unwrap_or_else(|| super::token_path(&cli.state_dir));
    let token = std::fs::read_to_string(&token_file)
        .with_context(|| format!("reading the admin token {}", token_file.display()))?;
    let http = client(cli)?;
    let base = cli.admin_url.trim_end_matches('/');
    let (method, path) = match &cli.command {
        AdminCmd::Sessions => (reqwest::Method::GET, "/api/v1/sessions".to_string()),
        AdminCmd::Kick { id } => (reqwest::Method::DELETE, format!("/api/v1/sessions/{id}")),
        AdminCmd::Users => (reqwest::Method::GET, "/api/v1/users".to_string()),
        AdminCmd::Reload => (reqwest::Method::POST, "/api/v1/reload".to_string()),
    };
    let resp = http
        .request(method, format!("{base}{path}"))
        .bearer_auth(token.trim())
        .send()
        .await
        .with_context(|| format!("{base}{path}"))?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.context("reading the reply")?;
    if !status.is_success() {
        let msg = body["error"].as_str().unwrap_or("(no message)");
        bail!("{status}: {msg}");
    }
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    match &cli.command {
        AdminCmd::Sessions => {
            let list: Vec<SessionView> = serde_json::from_value(body)?;
            print!("{}", sessions_table(&list, now()));
        }
        AdminCmd::Users => {
            let list: Vec<UserView> = serde_json::from_value(body)?;
            println!("{:<20} {:<9} {:<40} ROOT", "NAME", "DISABLED", "PERMS");
            for u in list {
                println!(
                    "{:<20} {:<9} {:<40} {}",
                    u.name,
                    if u.disabled { "yes" } else { "no" },
                    u.perms.join(","),
                    u.root.unwrap_or_else(|| "(server root)".into())
                );
            }
        }
        AdminCmd::Kick { id } => println!("session {id} ended"),
        AdminCmd::Reload => {
            let failed = body["reload_failures"].as_u64().unwrap_or(0);
            if failed > 0 {
                bail!("reload: {failed} part(s) failed; see the server's log");
            }
            println!("reloaded");
        }
    }
    Ok(())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The `kftpd admin sessions` table.
pub fn sessions_table(list: &[SessionView], now: u64) -> String {
    let mut out = format!(
        "{:<6} {:<16} {:<24} {:>8}  TRANSFER\n",
        "ID", "USER", "PEER", "AGE(s)"
    );
    for s in list {
        let transfer = match &s.transfer {
            Some(t) => format!(
                "{} {} {}{} bytes",
                t.verb,
                t.path,
                t.bytes,
                t.total.map(|n| format!("/{n}")).unwrap_or_default()
            ),
            None => "-".into(),
        };
        out.push_str(&format!(
            "{:<6} {:<16} {:<24} {:>8}  {}\n",
            s.id,
            s.user.as_deref().unwrap_or("-"),
            s.peer,
            now.saturating_sub(s.since),
            transfer
        ));
    }
    out
}
