//! Who may log in, and what they may do: the users file, Argon2id verification and the
//! cache of recent successful logins, and system accounts through PAM.

pub mod cache;
pub mod hasher;
pub mod pam;
pub mod users;

pub use users::{Perm, Perms, User, Users};

/// Checks a login against each source of `--auth` in the order written; the first that
/// accepts wins. `None` when none does: the caller applies the same failed-login delay and
/// bans whichever source refused.
pub async fn verify(
    shared: &crate::session::Shared,
    name: &str,
    password: &str,
    peer: std::net::IpAddr,
) -> Option<User> {
    for source in &shared.config.auth {
        let found = match source {
            pam::Source::File => {
                let key = crate::limits::client_key(peer);
                let (n, pw) = (name.to_string(), password.to_string());
                cache::verify(&shared.auth_cache, shared.users(), n, pw, key).await
            }
            pam::Source::Pam => {
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
