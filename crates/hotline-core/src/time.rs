//! Time as Unix seconds, and the few calendar conversions the CLI needs.
//!
//! The core never reads a clock: callers pass `now` in, which is what makes
//! the directory rules deterministic and testable at a fixed clock.

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

/// One day, in seconds.
pub const DAY: u64 = 86_400;

impl Timestamp {
    /// This time plus `secs` seconds, saturating.
    pub fn plus(self, secs: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs))
    }

    /// Seconds from `self` until `later`, or 0 if `later` is not later.
    pub fn until(self, later: Timestamp) -> u64 {
        later.0.saturating_sub(self.0)
    }

    /// RFC 3339 form in UTC, for example `2026-11-22T19:45:01Z`.
    pub fn to_rfc3339(self) -> String {
        let days = (self.0 / DAY) as i64;
        let rem = self.0 % DAY;
        let (y, m, d) = civil_from_days(days);
        format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
    }

    /// Parses `YYYY-MM-DDTHH:MM[:SS]Z` (UTC; `T` may be a space, `Z` lower
    /// case), the form [`Timestamp::to_rfc3339`] writes. Dates that do not
    /// exist (`2026-02-30`) and times before 1970 are `None`.
    pub fn parse_utc(text: &str) -> Option<Timestamp> {
        let t = text.strip_suffix(['Z', 'z'])?;
        let (date, time) = t.split_once(['T', 't', ' '])?;
        let mut d = date.split('-');
        let (y, mo, day): (i64, u32, u32) = (d.next()?.parse().ok()?, d.next()?.parse().ok()?, d.next()?.parse().ok()?);
        let mut c = time.split(':');
        let (h, mi): (u64, u64) = (c.next()?.parse().ok()?, c.next()?.parse().ok()?);
        let s: u64 = c.next().map_or(Some(0), |s| s.parse().ok())?;
        if d.next().is_some() || c.next().is_some() || !(1..=12).contains(&mo) || h > 23 || mi > 59 || s > 59 {
            return None;
        }
        let days = days_from_civil(y, mo, day);
        if days < 0 {
            return None;
        }
        let secs = days as u64 * 86_400 + h * 3600 + mi * 60 + s;
        // Refuse dates that do not exist (2026-02-30) by formatting them back.
        Timestamp(secs).to_rfc3339().starts_with(&format!("{y:04}-{mo:02}-{day:02}")).then_some(Timestamp(secs))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Proleptic Gregorian date from days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`), so the core needs no calendar dependency.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub(super) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(951_782_400).to_rfc3339(), "2000-02-29T00:00:00Z");
        assert_eq!(Timestamp(1_795_376_701).to_rfc3339(), "2026-11-22T19:45:01Z");
    }

    #[test]
    fn parses_what_it_formats_and_refuses_what_does_not_exist() {
        assert_eq!(Timestamp::parse_utc("2026-11-22T19:45:01Z"), Some(Timestamp(1_795_376_701)));
        assert_eq!(Timestamp::parse_utc("2026-11-22 19:45z"), Some(Timestamp(1_795_376_700)));
        for bad in [
            "2026-02-30T00:00Z",
            "2026-13-01T00:00Z",
            "2026-11-22T24:00Z",
            "2026-11-22T19:45",
            "1969-12-31T23:59Z",
            "x",
        ] {
            assert_eq!(Timestamp::parse_utc(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_utc_inverts_to_rfc3339(secs in 0u64..253_402_300_800) {
            proptest::prop_assert_eq!(Timestamp::parse_utc(&Timestamp(secs).to_rfc3339()), Some(Timestamp(secs)));
        }
    }
}
