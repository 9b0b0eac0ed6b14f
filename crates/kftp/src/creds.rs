//! Where credentials come from, in order: the URL (user, and a password with a warning
//! from the CLI), `KFTP_PASSWORD`, `~/.netrc`, then a prompt. Without a user anywhere the
//! login is anonymous. A password is never needed on the command line.

use crate::client::Credentials;
use crate::netrc::Netrc;
use crate::target::Target;
use kftp_proto::Password;
use std::path::{Path, PathBuf};

/// The environment variable read for a password.
pub const PASSWORD_ENV: &str = "KFTP_PASSWORD";

/// `~/.netrc`, if `HOME` is set.
pub fn default_netrc_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".netrc"))
}

/// Reads a netrc file; a missing file is an empty one.
pub fn load_netrc(path: &Path) -> std::io::Result<Netrc> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Netrc::parse(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Netrc::default()),
        Err(e) => Err(e),
    }
}

fn is_anonymous(user: &str) -> bool {
    user.eq_ignore_ascii_case("anonymous") || user.eq_ignore_ascii_case("ftp")
}

/// Works out who to log in as. `env_password` is the value of [`PASSWORD_ENV`];
/// `prompt` asks for a password for the given user (return `None` when there is no
/// terminal to ask on).
pub fn resolve(
    target: &Target,
    netrc: &Netrc,
    env_password: Option<String>,
    prompt: impl FnOnce(&str) -> Option<Password>,
) -> Credentials {
    let (user, mut password) = match &target.user {
        Some(u) => {
            let from_netrc = netrc
                .lookup(&target.host, Some(u))
                .and_then(|e| e.password.clone());
            let pw = target
                .password
                .clone()
                .or(env_password.map(Password::new))
                .or(from_netrc);
            (u.clone(), pw)
        }
        None => match netrc.lookup(&target.host, None) {
            Some(e) if e.login.is_some() => {
                let user = e.login.clone().unwrap_or_default();
                let pw = env_password.map(Password::new).or(e.password.clone());
                (user, pw)
            }
            _ => return Credentials::anonymous(),
        },
    };
    if password.is_none() {
        password = if is_anonymous(&user) {
            Credentials::anonymous().password
        } else {
            prompt(&user)
        };
    }
    Credentials { user, password }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(url: &str) -> Target {
        Target::parse(url).unwrap()
    }

    #[test]
    fn order_of_sources() {
        let n = Netrc::parse(
            "machine h login alice password fromnetrc\nmachine h login bob password b",
        );
        let no_prompt = |_: &str| -> Option<Password> { panic!("must not prompt") };
        // No user: netrc's first entry for the host.
        let c = resolve(&t("ftp://h/"), &n, None, no_prompt);
        assert_eq!(
            (c.user.as_str(), c.password.unwrap().expose()),
            ("alice", "fromnetrc")
        );
        // The environment wins over netrc.
        let c = resolve(&t("ftp://alice@h/"), &n, Some("env".into()), no_prompt);
        assert_eq!(c.password.unwrap().expose(), "env");
        // The URL's password wins over everything.
        let c = resolve(&t("ftp://alice:url@h/"), &n, Some("env".into()), no_prompt);
        assert_eq!(c.password.unwrap().expose(), "url");
        // netrc by user.
        let c = resolve(&t("ftp://bob@h/"), &n, None, no_prompt);
        assert_eq!(c.password.unwrap().expose(), "b");
        // Unknown host, no user: anonymous.
        let c = resolve(&t("ftp://other/"), &n, None, no_prompt);
        assert_eq!(c.user, "anonymous");
        // Unknown user: prompt.
        let c = resolve(&t("ftp://carol@other/"), &n, None, |u| {
            Some(Password::new(format!("typed-{u}")))
        });
        assert_eq!(c.password.unwrap().expose(), "typed-carol");
        // Explicit anonymous needs no prompt.
        let c = resolve(&t("ftp://ftp@other/"), &n, None, no_prompt);
        assert!(c.password.is_some());
    }
}
