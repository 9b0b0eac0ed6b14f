//! Version stamp, the build script of both kftpd and kftp (`build = ...` in their
//! Cargo.toml): `kftpd --version` says the commit it was built from,
//! `kftpd 0.1.0 (abc1234 2026-12-07)`. Outside git (a source tarball) it says `unknown`.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=KFTP_BUILD_COMMIT");
    let stamp = match std::env::var("KFTP_BUILD_COMMIT") {
        // Packagers building from a tarball can say which commit it was.
        Ok(s) if !s.is_empty() => s,
        _ => match (
            git(&["rev-parse", "--short=7", "HEAD"]),
            git(&["log", "-1", "--format=%cs", "HEAD"]),
        ) {
            (Some(hash), Some(date)) => format!("{hash} {date}"),
            (Some(hash), None) => hash,
            _ => "unknown".to_string(),
        },
    };
    // Rebuild when HEAD moves: HEAD itself (a checkout), the branch it points to (a commit),
    // and packed-refs (a gc). Paths from git, so worktrees work too.
    for path in [
        git(&["rev-parse", "--git-path", "HEAD"]),
        git(&["symbolic-ref", "-q", "HEAD"])
            .and_then(|r| git(&["rev-parse", "--git-path", r.as_str()])),
        git(&["rev-parse", "--git-path", "packed-refs"]),
    ]
    .into_iter()
    .flatten()
    {
        let p = PathBuf::from(path);
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    println!("cargo:rustc-env=KFTP_BUILD={stamp}");
}
