//! The bench's share of the CPU against other work on the machine.
//!
//! With `kernel.sched_autogroup_enabled` (the default of most distributions), the scheduler
//! first shares the CPU between sessions (autogroups) and applies nice only inside one: a
//! `nice -n 10 cargo build` started from another terminal takes as much CPU as the whole
//! bench, servers and clients together. On the shared 2-core VM that halved the MiB/s of
//! whatever ran while four other sessions compiled, in both directions and for every
//! server, and made two measurements of the same binaries disagree run to run
//! (BENCHMARKS.md, "FTPS: why two measurements disagreed").
//!
//! So the bench starts a session of its own (`setsid`: every server and client it starts
//! inherits it) and, as root, gives that autogroup `--autogroup-nice` (default -10: the
//! 9:1 share that nice 0 against nice 10 gives without autogroups, which is what the
//! niced builds mean to leave to a measurement). Servers and clients share the one group,
//! so no server is favoured over another.

use std::io::ErrorKind;

const ENABLED: &str = "/proc/sys/kernel/sched_autogroup_enabled";
const SELF_GROUP: &str = "/proc/self/autogroup";

/// `--autogroup-nice`: leave the caller's autogroup, or a nice for the bench's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutogroupNice {
    /// `off`.
    Off,
    /// -20 to 19.
    Nice(i32),
}

/// `off`, or a nice value from -20 to 19.
pub fn parse_nice(s: &str) -> std::result::Result<AutogroupNice, String> {
    if s == "off" {
        return Ok(AutogroupNice::Off);
    }
    match s.parse::<i32>() {
        Ok(n) if (-20..=19).contains(&n) => Ok(AutogroupNice::Nice(n)),
        _ => Err(format!("'{s}' is not off or a nice value from -20 to 19")),
    }
}

/// Puts this process in a session and autogroup of its own with `nice`, where the kernel
/// groups by session; returns a note for the report saying what it did or why not.
pub fn own_session(nice: AutogroupNice) -> String {
    let AutogroupNice::Nice(nice) = nice else {
        return "autogroup: left as started (--autogroup-nice off)".into();
    };
    match std::fs::read_to_string(ENABLED) {
        Ok(v) if v.trim() == "1" => {}
        Ok(_) => return "autogroup: off in this kernel (nice applies as set)".into(),
        Err(e) => return format!("autogroup: {ENABLED}: {e}"),
    }
    // A process group leader cannot start a session; writing the nice anyway would
    // change the caller's whole session (its shell, its builds), so leave it.
    if let Err(e) = rustix::process::setsid() {
        return format!(
            "autogroup: the caller's (setsid: {e}; run it from a script or under setsid(1))"
        );
    }
    match std::fs::write(SELF_GROUP, nice.to_string()) {
        Ok(()) => format!("autogroup: a session of its own, nice {nice}"),
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            "autogroup: a session of its own, nice 0 (raising it needs root)".into()
        }
        Err(e) => format!("autogroup: a session of its own, nice 0 ({SELF_GROUP}: {e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_is_off_or_in_range() {
        assert_eq!(parse_nice("off"), Ok(AutogroupNice::Off));
        assert_eq!(parse_nice("-10"), Ok(AutogroupNice::Nice(-10)));
        assert_eq!(parse_nice("19"), Ok(AutogroupNice::Nice(19)));
        for bad in ["-21", "20", "", "on", "1.5"] {
            assert!(parse_nice(bad).is_err(), "{bad}");
        }
    }

    /// The session id from /proc: under a container's PID namespace the session leader
    /// can be outside it, and getsid(2) then returns 0, which rustix's `Pid` refuses.
    fn session_id() -> String {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        // Fields after the command's closing parenthesis: state ppid pgrp session ...
        let rest = &stat[stat.rfind(')').unwrap() + 1..];
        rest.split_whitespace().nth(3).unwrap().to_string()
    }

    #[test]
    fn off_leaves_the_session_alone() {
        let sid = session_id();
        let group = std::fs::read_to_string(SELF_GROUP).ok();
        assert!(own_session(AutogroupNice::Off).contains("left as started"));
        assert_eq!(session_id(), sid);
        assert_eq!(std::fs::read_to_string(SELF_GROUP).ok(), group);
    }
}
