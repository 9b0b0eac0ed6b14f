//! The transfer log in the xferlog format of wu-ftpd and vsftpd, one line per file transfer:
//!
//! ```text
//! Wed Nov 25 09:00:00 2026 1 127.0.0.1 1234 /path b _ o r alice ftp 0 * c
//! ```
//!
//! Fields: date (UTC), seconds taken (at least 1, as vsftpd), remote host, bytes, file name,
//! type (`a` ASCII, `b` binary), special action (`_` none), direction (`o` out, `i` in),
//! access mode (`a` anonymous, `r` real user), user name, service (`ftp`), authentication
//! method (`0` none), authenticated user id (`*`), and completion (`c` complete, `i`
//! incomplete). The file name is the path in the user's tree; whitespace and control
//! characters in it become `_` so that every line has exactly 18 fields.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One finished (or failed) transfer.
#[derive(Debug)]
pub struct Entry<'a> {
    /// When it ended.
    pub at: SystemTime,
    /// How long it took.
    pub took: Duration,
    /// The client.
    pub host: IpAddr,
    /// Bytes moved.
    pub bytes: u64,
    /// Path in the user's tree.
    pub path: &'a str,
    /// TYPE A.
    pub ascii: bool,
    /// RETR (out) or STOR/APPE/STOU (in).
    pub outgoing: bool,
    /// Anonymous login.
    pub anonymous: bool,
    /// Login name.
    pub user: &'a str,
    /// Completed.
    pub complete: bool,
}

impl Entry<'_> {
    /// The log line, without the newline.
    pub fn line(&self) -> String {
        let secs = self.took.as_secs_f64().round().max(1.0) as u64;
        format!(
            "{} {secs} {} {} {} {} _ {} {} {} ftp 0 * {}",
            ctime(self.at),
            self.host,
            self.bytes,
            sanitize(self.path),
            if self.ascii { 'a' } else { 'b' },
            if self.outgoing { 'o' } else { 'i' },
            if self.anonymous { 'a' } else { 'r' },
            sanitize(self.user),
            if self.complete { 'c' } else { 'i' },
        )
    }
}

fn sanitize(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}

/// `Wed Nov 25 09:00:00 2026` in UTC (the C `ctime` layout, day padded to two columns).
pub fn ctime(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{} {} {d:2} {:02}:{:02}:{:02} {y}",
        DAYS[(days % 7) as usize],
        MONTHS[(m - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The open transfer log. Lines are written whole under a lock; SIGHUP reopens the file
/// (for log rotation).
#[derive(Debug)]
pub struct Xferlog {
    path: PathBuf,
    file: Mutex<File>,
}

impl Xferlog {
    /// Opens (creating, appending) `path`.
    pub fn open(path: &Path) -> io::Result<Xferlog> {
        Ok(Xferlog {
            path: path.to_path_buf(),
            file: Mutex::new(open_append(path)?),
        })
    }

    /// Appends one entry. A failed write is logged, never fatal to the transfer.
    pub fn write(&self, e: &Entry<'_>) {
        let mut line = e.line();
        line.push('\n');
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(err) = f.write_all(line.as_bytes()) {
            tracing::warn!(path = %self.path.display(), error = %err, "xferlog write failed");
        }
    }

    /// Reopens the file (after rotation).
    pub fn reopen(&self) -> io::Result<()> {
        let f = open_append(&self.path)?;
        *self.file.lock().unwrap_or_else(|p| p.into_inner()) = f;
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctime_layout() {
        // 2026-11-25 09:00:00 UTC
        let t = UNIX_EPOCH + Duration::from_secs(1_795_597_200);
        assert_eq!(ctime(t), "Wed Nov 25 09:00:00 2026");
        assert_eq!(ctime(UNIX_EPOCH), "Thu Jan  1 00:00:00 1970");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(ctime(leap), "Tue Feb 29 00:00:00 2000");
    }

    #[test]
    fn line_has_eighteen_fields() {
        let e = Entry {
            at: UNIX_EPOCH + Duration::from_secs(1_795_597_200),
            took: Duration::from_millis(20),
            host: "127.0.0.1".parse().unwrap(),
            bytes: 1234,
            path: "/dir with space/f.bin",
            ascii: false,
            outgoing: true,
            anonymous: false,
            user: "alice",
            complete: true,
        };
        let l = e.line();
        assert_eq!(
            l,
            "Wed Nov 25 09:00:00 2026 1 127.0.0.1 1234 /dir_with_space/f.bin b _ o r alice ftp 0 * c"
        );
        assert_eq!(l.split(' ').count(), 18);
    }
}
