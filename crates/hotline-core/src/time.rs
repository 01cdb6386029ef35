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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(951_782_400).to_rfc3339(), "2000-02-29T00:00:00Z");
        assert_eq!(Timestamp(1_795_376_701).to_rfc3339(), "2026-11-22T19:45:01Z");
    }
}
