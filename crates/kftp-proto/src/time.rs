//! Timestamps: `YYYYMMDDHHMMSS` (MDTM, MFMT, MLSx `modify`, always UTC) and `ls -l` dates.
//!
//! Civil-date arithmetic is done here (Howard Hinnant's days-from-civil algorithm) so the
//! protocol crate stays free of a date library for these two fixed formats.

/// Days since 1970-01-01 for a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// (year, month, day) for days since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Broken-down UTC time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    /// Year.
    pub year: i64,
    /// 1..=12.
    pub month: u32,
    /// 1..=31.
    pub day: u32,
    /// 0..=23.
    pub hour: u32,
    /// 0..=59.
    pub min: u32,
    /// 0..=59.
    pub sec: u32,
}

/// Seconds since the epoch -> UTC civil time.
pub fn civil(t: i64) -> Civil {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400) as u32;
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: secs / 3600,
        min: secs / 60 % 60,
        sec: secs % 60,
    }
}

/// `YYYYMMDDHHMMSS` in UTC.
pub fn format_mdtm(t: i64) -> String {
    let c = civil(t);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        c.year, c.month, c.day, c.hour, c.min, c.sec
    )
}

/// Parses `YYYYMMDDHHMMSS[.fff]` (UTC) to seconds since the epoch; fractions are dropped.
pub fn parse_mdtm(s: &str) -> Option<i64> {
    let s = s.trim();
    let main = s.split('.').next()?;
    if main.len() != 14 || !main.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(frac) = s.split('.').nth(1) {
        if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    let n = |a: usize, b: usize| main[a..b].parse::<u32>().ok();
    let (y, mo, d, h, mi, se) = (
        n(0, 4)?,
        n(4, 6)?,
        n(6, 8)?,
        n(8, 10)?,
        n(10, 12)?,
        n(12, 14)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = days_from_civil(y as i64, mo, d);
    // Reject dates like Feb 31 by round-tripping.
    if civil_from_days(days) != (y as i64, mo, d) {
        return None;
    }
    Some(days * 86400 + (h * 3600 + mi * 60 + se.min(59)) as i64)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The date column of `ls -l`: `Mmm dd HH:MM` within six months of `now`, else
/// `Mmm dd  YYYY`.
pub fn format_ls_date(t: i64, now: i64) -> String {
    let c = civil(t);
    let m = MONTHS[(c.month - 1) as usize];
    const HALF_YEAR: i64 = 182 * 86400;
    if t <= now + 3600 && now - t < HALF_YEAR {
        format!("{m} {:>2} {:02}:{:02}", c.day, c.hour, c.min)
    } else {
        format!("{m} {:>2}  {:>4}", c.day, c.year)
    }
}

/// Month number (1..=12) from a three-letter English abbreviation.
pub fn month_from_abbrev(s: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(s))
        .map(|i| i as u32 + 1)
}

/// Seconds since the epoch for a UTC civil time (no validation beyond ranges).
pub fn from_civil(year: i64, month: u32, day: u32, hour: u32, min: u32, sec: u32) -> i64 {
    days_from_civil(year, month, day) * 86400 + (hour * 3600 + min * 60 + sec) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known() {
        assert_eq!(format_mdtm(0), "19700101000000");
        assert_eq!(format_mdtm(951782400), "20000229000000");
        assert_eq!(parse_mdtm("20000229000000"), Some(951782400));
        assert_eq!(parse_mdtm("20010229000000"), None);
        assert_eq!(parse_mdtm("20200101000000.123"), Some(1577836800));
        assert_eq!(parse_mdtm("2020"), None);
        assert_eq!(
            format_ls_date(1577836800, 1577836800 + 86400),
            "Jan  1 00:00"
        );
        assert_eq!(
            format_ls_date(1577836800, 1577836800 + 400 * 86400),
            "Jan  1  2020"
        );
    }

    proptest! {
        #[test]
        fn round_trip(t in 0i64..253402300799) {
            prop_assert_eq!(parse_mdtm(&format_mdtm(t)), Some(t));
        }
    }
}
