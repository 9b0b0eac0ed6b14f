//! Confinement after start-up, while the process is still single-threaded (so every thread
//! the runtime starts later inherits it):
//!
//! - **Landlock** (on by default, `--no-sandbox` turns it off): file access is limited to the served roots (every user's
//!   root and the default root, read-write), the state directory (read-write), the
//!   transfer log's directory (read-write), and the directories of the users file, config
//!   file and certificates (read-only, for SIGHUP reloads). A user added later with a
//!   root outside these cannot log in until restart. Kernels without Landlock log
//!   "Landlock not applied" and carry on.
//! - **seccomp** (`--seccomp`): a system-call allow-list; anything else fails with EPERM
//!   (not a kill, so an unforeseen call is an error reply, not a dead server). Opt-in,
//!   because an allow-list must follow the libraries' system calls.

use landlock::{
    path_beneath_rules, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
    ABI,
};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What Landlock did.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// Every requested restriction is enforced.
    Full,
    /// Enforced with the rights this kernel knows.
    Partial,
    /// The kernel has no Landlock (or it is disabled).
    NotApplied,
}

/// Restricts this thread (and threads started after) to `rw` and `ro`.
pub fn landlock(rw: &[PathBuf], ro: &[PathBuf]) -> Result<Applied, String> {
    let abi = ABI::V5;
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .and_then(|r| r.create())
        .and_then(|r| r.add_rules(path_beneath_rules(rw, AccessFs::from_all(abi))))
        .and_then(|r| r.add_rules(path_beneath_rules(ro, AccessFs::from_read(abi))))
        .and_then(|r| r.restrict_self())
        .map_err(|e| e.to_string())?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => Applied::Full,
        RulesetStatus::PartiallyEnforced => Applied::Partial,
        RulesetStatus::NotEnforced => Applied::NotApplied,
    })
}

/// Applies Landlock and logs the outcome.
pub fn apply_landlock(rw: &[PathBuf], ro: &[PathBuf]) -> anyhow::Result<()> {
    match landlock(rw, ro) {
        Ok(Applied::NotApplied) => {
            tracing::info!(
                "Landlock not applied: this kernel does not support it (file access is limited \
                 by the jail and the process's user only)"
            );
        }
        Ok(a) => tracing::info!(
            enforcement = if a == Applied::Full { "full" } else { "partial" },
            read_write = ?rw,
            read_only = ?ro,
            "Landlock applied"
        ),
        Err(e) => anyhow::bail!("Landlock: {e}"),
    }
    Ok(())
}

/// System calls the server makes after start-up (tokio, std, rustls, kftp-datapath's
/// sendfile/splice/kTLS, openat2 jails, Argon2id).
fn allowed() -> Vec<i64> {
    let mut v = vec![
        libc::SYS_read,
        libc::SYS_write,
        libc::SYS_readv,
        libc::SYS_writev,
        libc::SYS_pread64,
        libc::SYS_pwrite64,
        libc::SYS_preadv,
        libc::SYS_pwritev,
        libc::SYS_close,
        libc::SYS_fstat,
        libc::SYS_newfstatat,
        libc::SYS_statx,
        libc::SYS_lseek,
        libc::SYS_mmap,
        libc::SYS_munmap,
        libc::SYS_mprotect,
        libc::SYS_mremap,
        libc::SYS_madvise,
        libc::SYS_brk,
        libc::SYS_rt_sigaction,
        libc::SYS_rt_sigprocmask,
        libc::SYS_rt_sigreturn,
        libc::SYS_sigaltstack,
        libc::SYS_ioctl,
        libc::SYS_fcntl,
        libc::SYS_dup,
        libc::SYS_dup3,
        libc::SYS_pipe2,
        libc::SYS_socket,
        libc::SYS_socketpair,
        libc::SYS_connect,
        libc::SYS_accept4,
        libc::SYS_bind,
        libc::SYS_listen,
        libc::SYS_getsockname,
        libc::SYS_getpeername,
        libc::SYS_setsockopt,
        libc::SYS_getsockopt,
        libc::SYS_shutdown,
        libc::SYS_sendto,
        libc::SYS_recvfrom,
        libc::SYS_sendmsg,
        libc::SYS_recvmsg,
        libc::SYS_sendmmsg,
        libc::SYS_recvmmsg,
        libc::SYS_sendfile,
        // A listing in MODE E is rendered into an anonymous memory file, then sent as
        // blocks like a file (modee/listing.rs).
        libc::SYS_memfd_create,
        libc::SYS_splice,
        libc::SYS_copy_file_range,
        libc::SYS_epoll_create1,
        libc::SYS_epoll_ctl,
        libc::SYS_epoll_pwait,
        libc::SYS_epoll_pwait2,
        libc::SYS_ppoll,
        libc::SYS_eventfd2,
        libc::SYS_futex,
        libc::SYS_clone,
        libc::SYS_clone3,
        libc::SYS_set_robust_list,
        libc::SYS_rseq,
        libc::SYS_sched_yield,
        libc::SYS_sched_getaffinity,
        libc::SYS_getrandom,
        libc::SYS_clock_gettime,
        libc::SYS_clock_getres,
        libc::SYS_clock_nanosleep,
        libc::SYS_nanosleep,
        libc::SYS_gettimeofday,
        libc::SYS_gettid,
        libc::SYS_getpid,
        libc::SYS_getppid,
        libc::SYS_getuid,
        libc::SYS_geteuid,
        libc::SYS_getgid,
        libc::SYS_getegid,
        libc::SYS_exit,
        libc::SYS_exit_group,
        libc::SYS_tgkill,
        libc::SYS_openat,
        libc::SYS_openat2,
        libc::SYS_mkdirat,
        libc::SYS_unlinkat,
        libc::SYS_renameat,
        libc::SYS_renameat2,
        libc::SYS_linkat,
        libc::SYS_symlinkat,
        libc::SYS_readlinkat,
        libc::SYS_faccessat,
        libc::SYS_faccessat2,
        libc::SYS_fsync,
        libc::SYS_fdatasync,
        libc::SYS_ftruncate,
        // One upload per name (storage::local takes an flock on the file it writes).
        libc::SYS_flock,
        libc::SYS_fallocate,
        libc::SYS_fadvise64,
        libc::SYS_sync_file_range,
        libc::SYS_getdents64,
        libc::SYS_utimensat,
        libc::SYS_fchmod,
        libc::SYS_fchmodat,
        libc::SYS_statfs,
        libc::SYS_fstatfs,
        libc::SYS_uname,
        libc::SYS_prctl,
        libc::SYS_prlimit64,
        libc::SYS_getrlimit,
        libc::SYS_setrlimit,
        libc::SYS_getcwd,
        libc::SYS_membarrier,
        libc::SYS_timerfd_create,
        libc::SYS_timerfd_settime,
        libc::SYS_restart_syscall,
        libc::SYS_getrusage,
        libc::SYS_sched_getparam,
        libc::SYS_sched_getscheduler,
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend([
        libc::SYS_open,
        libc::SYS_stat,
        libc::SYS_lstat,
        libc::SYS_poll,
        libc::SYS_epoll_wait,
        libc::SYS_pipe,
        libc::SYS_access,
        libc::SYS_rename,
        libc::SYS_mkdir,
        libc::SYS_rmdir,
        libc::SYS_unlink,
        libc::SYS_readlink,
        libc::SYS_arch_prctl,
        libc::SYS_time,
        libc::SYS_accept,
        libc::SYS_dup2,
    ]);
    v
}

/// Installs the seccomp allow-list on every thread of the process.
pub fn apply_seccomp() -> anyhow::Result<()> {
    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};
    let arch: TargetArch = std::env::consts::ARCH
        .try_into()
        .map_err(|e| anyhow::anyhow!("seccomp: {e:?}"))?;
    let rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> =
        allowed().into_iter().map(|s| (s, Vec::new())).collect();
    let n = rules.len();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        arch,
    )
    .map_err(|e| anyhow::anyhow!("seccomp filter: {e}"))?;
    let prog: BpfProgram = filter
        .try_into()
        .map_err(|e| anyhow::anyhow!("seccomp filter: {e:?}"))?;
    seccompiler::apply_filter_all_threads(&prog)
        .map_err(|e| anyhow::anyhow!("seccomp not applied: {e}"))?;
    tracing::info!(
        allowed_syscalls = n,
        "seccomp applied (other system calls fail with EPERM)"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Landlock in a child thread: the thread is confined, the test process is not.
    #[test]
    fn landlock_blocks_reads_outside_the_root() {
        let dir = std::env::temp_dir().join(format!("kftpd-landlock-{}", std::process::id()));
        let root = dir.join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("in.txt"), b"in").unwrap();
        std::fs::write(dir.join("out.txt"), b"out").unwrap();
        let (r, d) = (root.clone(), dir.clone());
        let verdict = std::thread::spawn(move || {
            let applied = landlock(std::slice::from_ref(&r), &[])?;
            if applied == Applied::NotApplied {
                return Ok(None);
            }
            let inside = std::fs::read(r.join("in.txt")).map_err(|e| e.to_string())?;
            let outside = std::fs::read(d.join("out.txt"));
            Ok::<_, String>(Some((inside, outside.map_err(|e| e.raw_os_error()))))
        })
        .join()
        .unwrap();
        // Outside the thread, nothing changed.
        assert_eq!(std::fs::read(dir.join("out.txt")).unwrap(), b"out");
        let _ = std::fs::remove_dir_all(&dir);
        match verdict {
            Err(e) => kftp_testkit::skip(&format!("Landlock unavailable: {e}")),
            Ok(None) => kftp_testkit::skip("Landlock not supported by this kernel"),
            Ok(Some((inside, outside))) => {
                assert_eq!(inside, b"in");
                assert_eq!(outside, Err(Some(libc::EACCES)));
            }
        }
    }
}
