//! USER, PASS, ACCT, REIN, QUIT, HOST.

use super::Answer;
use crate::auth::{Perms, User};
use crate::session::{Login, Phase, Session, Shared};
use kftp_proto::path::VPath;
use kftp_proto::{Password, Reply};
use std::sync::atomic::Ordering;

fn is_anonymous_name(name: &str) -> bool {
    name.eq_ignore_ascii_case("anonymous") || name.eq_ignore_ascii_case("ftp")
}

/// USER: remember the name and ask for a password. The reply is the same whether or not
/// the account exists, so names cannot be probed.
pub async fn user(s: &mut Session, name: String) -> Answer {
    if let Phase::Authed(l) = &s.phase {
        return Err(Reply::new(
            530,
            format!(
                "Already logged in as '{}'; send REIN to start over.",
                l.user
            ),
        ));
    }
    if is_anonymous_name(&name) && s.shared.config.anonymous {
        s.phase = Phase::NeedPass {
            user: "anonymous".into(),
        };
        return Ok(Reply::new(
            331,
            "Anonymous login ok; send your e-mail address as password.",
        ));
    }
    s.phase = Phase::NeedPass { user: name.clone() };
    Ok(Reply::new(331, format!("Password required for '{name}'.")))
}

/// PASS: check the password (the users file's Argon2id on the hashing pool, or PAM; see
/// `verify`), then open the user's jail.
pub async fn pass(s: &mut Session, pw: Password) -> Answer {
    let name = match std::mem::replace(&mut s.phase, Phase::Greeted) {
        Phase::NeedPass { user } => user,
        Phase::Authed(l) => {
            s.phase = Phase::Authed(l);
            return Err(Reply::new(503, "Already logged in."));
        }
        Phase::Greeted => return Err(Reply::new(503, "Send USER first.")),
    };
    let cfg = &s.shared.config;
    let (root, perms, anonymous, account_reuse, quota_limits) = if name == "anonymous"
        && cfg.anonymous
    {
        // Read-only, plus STOR into the drop folder when there is one (crate::anon).
        let perms = Perms {
            write: cfg.abuse.anonymous_upload_dir.is_some(),
            ..Perms::READ_ONLY
        };
        (
            cfg.root.clone(),
            perms,
            true,
            None,
            crate::quota::Limits::default(),
        )
    } else {
        let verified = verify(&s.shared, &name, pw.expose(), s.peer.ip()).await;
        match verified {
            Some(u) if u.disabled => {
                tracing::warn!(session = s.id, peer = %s.peer, user = %name, "login refused: account disabled");
                return Err(Reply::new(530, "Login refused: this account is disabled."));
            }
            Some(u) => (
                u.root.clone().unwrap_or_else(|| cfg.root.clone()),
                u.perms,
                false,
                u.tls_reuse_required,
                u.quota,
            ),
            None => {
                s.shared
                    .metrics
                    .logins_failed
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(session = s.id, peer = %s.peer, user = %name, "login failed");
                // The delay grows with each failure from this address; enough failures
                // ban it (crate::limits).
                let v = s.shared.abuse.login_failed(s.peer.ip(), &s.shared.metrics);
                tokio::time::sleep(v.delay).await;
                if v.banned {
                    s.quit = true;
                    return Err(Reply::new(
                        421,
                        format!(
                            "Too many failed logins from {}: banned for {} s.",
                            s.peer.ip(),
                            cfg.abuse.ban_time.as_secs()
                        ),
                    ));
                }
                return Err(Reply::new(530, "Login incorrect."));
            }
        }
    };
    let opened = match crate::storage::open_root_at_login(&root, &cfg.s3).await {
        Ok(fs) => fs.check().await.map(|()| fs).map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    let fs = match opened {
        Ok(fs) => fs,
        Err(e) => {
            tracing::error!(session = s.id, user = %name, root = %root.display(), error = %e, "cannot open user root");
            return Err(Reply::new(
                530,
                "Login failed: your home directory is unavailable.",
            ));
        }
    };
    let guard = match s.shared.abuse.admit_user(&name, anonymous) {
        Ok(g) => g,
        Err(why) => {
            s.shared
                .metrics
                .sessions_refused
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(session = s.id, peer = %s.peer, user = %name, reason = %why, "login refused by limit");
            s.quit = true;
            return Err(Reply::new(421, format!("{why}; try again later.")));
        }
    };
    let quota = if quota_limits.any() {
        let local = crate::storage::Root::is_local(&root).then_some(root.as_path());
        let q = s.shared.quotas.user(&name, quota_limits, local);
        s.shared.quotas.refresh(&q).await;
        Some(q)
    } else {
        None
    };
    s.shared.abuse.login_ok(s.peer.ip());
    s.shared
        .events
        .emit(crate::events::Event::new("login", s.id, &name, s.peer.ip()));
    s.shared.metrics.logins_ok.fetch_add(1, Ordering::Relaxed);
    tracing::info!(session = s.id, peer = %s.peer, user = %name, root = %root.display(), "logged in");
    if s.shared.config.ops.allow_root && crate::hardening::is_root() {
        tracing::warn!(session = s.id, user = %name, "--allow-root: this session acts as root on the file system");
    }
    s.cwd = VPath::root();
    s.phase = Phase::Authed(Login {
        user: name.clone(),
        storage: fs,
        perms,
        anonymous,
        guard,
        tls_reuse_required: cfg.tls_reuse_for(account_reuse, s.peer.ip()),
        quota_limits,
        quota,
    });
    Ok(if anonymous {
        match crate::anon::upload_dir(s) {
            Some(d) => Reply::new(
                230,
                format!("Anonymous login ok; access is read-only, uploads go to {d}."),
            ),
            None => Reply::new(230, "Anonymous login ok; access is read-only."),
        }
    } else {
        Reply::new(230, format!("User '{name}' logged in."))
    })
}

/// ACCT: no accounts beyond users.
pub fn acct(s: &Session) -> Answer {
    match s.phase {
        Phase::Authed(_) => Ok(Reply::new(202, "ACCT not needed.")),
        _ => Err(Reply::new(503, "Send USER and PASS; ACCT is not used.")),
    }
}

/// REIN: back to the state of a new connection (TLS stays, as RFC 4217 allows).
pub fn rein(s: &mut Session) -> Answer {
    s.phase = Phase::Greeted;
    s.cwd = VPath::root();
    s.rest = Default::default();
    s.rnfr = None;
    s.close_data();
    s.ttype = kftp_proto::TransferType::Image;
    s.tcp_buffer = None;
    // MODE S again, and the cached MODE E streams closed: the next login, perhaps another
    // user, must not inherit them.
    s.modee = Default::default();
    Ok(Reply::new(220, "Session reinitialised; send USER."))
}

/// QUIT.
pub fn quit(s: &mut Session) -> Answer {
    s.quit = true;
    Ok(Reply::new(221, "Goodbye."))
}

/// HOST (RFC 7151): one virtual host, so any name is accepted, but only before login.
pub fn host(s: &Session, name: &str) -> Answer {
    match s.phase {
        Phase::Greeted => Ok(Reply::new(220, format!("Host '{name}' accepted."))),
        _ => Err(Reply::new(503, "HOST must be sent before USER.")),
    }
}

/// Checks a login against each source of `--auth` in the order written; the first that
/// accepts wins. `None` when none does: the caller applies the same failed-login delay and
/// bans whichever source refused.
async fn verify(
    shared: &Shared,
    name: &str,
    password: &str,
    peer: std::net::IpAddr,
) -> Option<User> {
    for source in &shared.config.auth {
        let found = match source {
            crate::auth::pam::Source::File => {
                let key = crate::limits::client_key(peer);
                let (n, pw) = (name.to_string(), password.to_string());
                crate::auth::cache::verify(&shared.auth_cache, shared.users(), n, pw, key).await
            }
            crate::auth::pam::Source::Pam => {
                (shared
                    .pam
                    .verify(name.to_string(), password.to_string(), peer))
                .await
            }
        };
        if found.is_some() {
            return found;
        }
    }
    None
}
