//! Timestamps: nanoseconds since the Unix epoch, parsed from RFC 3339 and written the way Go's
//! `time.RFC3339Nano` writes a UTC time (the format of `Message.timestamp` on the wire).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A point in time, UTC, with nanosecond precision.
///
/// Stored as nanoseconds since 1970-01-01T00:00:00Z in an `i64`, which covers 1677-09-21 to
/// 2262-04-11. Parsed times outside that range saturate to its ends, so a `since` far in the past
/// means "from the beginning" and one far in the future means "nothing yet".
/// [`Timestamp::UNKNOWN`] (the minimum) is written as Go's zero time, `0001-01-01T00:00:00Z`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Why a `since` value is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC3339 timestamp (want e.g. 2006-01-02T15:04:05Z or 2006-01-02T15:04:05.5+01:00)")]
pub struct TimestampError;

const NANOS_PER_SEC: i128 = 1_000_000_000;

impl Timestamp {
    /// An unknown time; written as `0001-01-01T00:00:00Z`, sorts before every known time.
    pub const UNKNOWN: Timestamp = Timestamp(i64::MIN);

    /// From nanoseconds since the Unix epoch.
    pub const fn from_unix_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    /// From microseconds since the Unix epoch (the journal's resolution), saturating.
    pub const fn from_unix_micros(micros: i64) -> Self {
        Timestamp(micros.saturating_mul(1000))
    }

    /// Nanoseconds since the Unix epoch.
    pub const fn unix_nanos(self) -> i64 {
        self.0
    }

    /// The current wall-clock time.
    pub fn now() -> Self {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => Timestamp(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
            Err(e) => Timestamp(-i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX)),
        }
    }

    /// Parses an RFC 3339 timestamp the way Go's `time.Parse(time.RFC3339, s)` does: `T` and
    /// `Z` upper case, a zone (`Z` or `±hh:mm`) required, 1 to 9 fractional digits allowed,
    /// calendar fields range-checked.
    pub fn parse_rfc3339(s: &str) -> Result<Self, TimestampError> {
        let b = s.as_bytes();
        if b.len() < 20 {
            return Err(TimestampError);
        }
        let year = digits(b, 0, 4)?;
        expect(b, 4, b'-')?;
        let month = digits(b, 5, 2)?;
        expect(b, 7, b'-')?;
        let day = digits(b, 8, 2)?;
        expect(b, 10, b'T')?;
        let hour = digits(b, 11, 2)?;
        expect(b, 13, b':')?;
        let minute = digits(b, 14, 2)?;
        expect(b, 16, b':')?;
        let second = digits(b, 17, 2)?;
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(TimestampError);
        }
        let mut i = 19;
        let mut nanos: i64 = 0;
        if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let n = i - start;
            if n == 0 || n > 9 {
                return Err(TimestampError);
            }
            nanos = digits(b, start, n)? * 10_i64.pow(9 - n as u32);
        }
        let offset_secs: i64 = match &b[i..] {
            [b'Z'] => 0,
            [sign @ (b'+' | b'-'), rest @ ..] if rest.len() == 5 => {
                let hh = digits(rest, 0, 2)?;
                expect(rest, 2, b':')?;
                let mm = digits(rest, 3, 2)?;
                if hh > 23 || mm > 59 {
                    return Err(TimestampError);
                }
                let off = hh * 3600 + mm * 60;
                if *sign == b'-' { -off } else { off }
            }
            _ => return Err(TimestampError),
        };
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
        let total = i128::from(secs) * NANOS_PER_SEC + i128::from(nanos);
        Ok(Timestamp(clamp_i64(total)))
    }

    /// Writes this time as Go's `RFC3339Nano` does for a UTC time: fraction with trailing
    /// zeros trimmed (none at all for a whole second), then `Z`.
    pub fn write_rfc3339_nano(self, out: &mut Vec<u8>) {
        if self == Self::UNKNOWN {
            out.extend_from_slice(b"0001-01-01T00:00:00Z");
            return;
        }
        let secs = self.0.div_euclid(1_000_000_000);
        let frac = self.0.rem_euclid(1_000_000_000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let mut buf = [0u8; 30];
        put(&mut buf[0..4], year as u64);
        buf[4] = b'-';
        put(&mut buf[5..7], month as u64);
        buf[7] = b'-';
        put(&mut buf[8..10], day as u64);
        buf[10] = b'T';
        put(&mut buf[11..13], (sod / 3600) as u64);
        buf[13] = b':';
        put(&mut buf[14..16], (sod / 60 % 60) as u64);
        buf[16] = b':';
        put(&mut buf[17..19], (sod % 60) as u64);
        let mut len = 19;
        if frac != 0 {
            buf[19] = b'.';
            put(&mut buf[20..29], frac as u64);
            len = 29;
            while buf[len - 1] == b'0' {
                len -= 1;
            }
        }
        buf[len] = b'Z';
        out.extend_from_slice(&buf[..=len]);
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::with_capacity(30);
        self.write_rfc3339_nano(&mut out);
        // Only ASCII digits and punctuation were written.
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

fn clamp_i64(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

fn digits(b: &[u8], at: usize, n: usize) -> Result<i64, TimestampError> {
    let slice = b.get(at..at + n).ok_or(TimestampError)?;
    slice.iter().try_fold(0i64, |acc, &c| {
        if c.is_ascii_digit() {
            Ok(acc * 10 + i64::from(c - b'0'))
        } else {
            Err(TimestampError)
        }
    })
}

fn expect(b: &[u8], at: usize, want: u8) -> Result<(), TimestampError> {
    if b.get(at) == Some(&want) {
        Ok(())
    } else {
        Err(TimestampError)
    }
}

fn put(dst: &mut [u8], mut v: u64) {
    for slot in dst.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's `days_from_civil` / `civil_from_days` (public domain algorithms).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Result<i64, TimestampError> {
        Timestamp::parse_rfc3339(s).map(Timestamp::unix_nanos)
    }

    #[test]
    fn parses_utc_offsets_and_fractions() {
        assert_eq!(parse("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse("1970-01-01T00:00:01.5Z"), Ok(1_500_000_000));
        assert_eq!(parse("1970-01-01T01:00:00+01:00"), Ok(0));
        assert_eq!(parse("1969-12-31T23:00:00-01:00"), Ok(0));
        assert_eq!(
            parse("2026-01-01T00:00:00.000000001Z"),
            Ok(1_767_225_600_000_000_001)
        );
        assert_eq!(
            parse("2024-02-29T12:00:00,25Z"),
            Ok(1_709_208_000_250_000_000)
        );
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in [
            "",
            "2026-01-01",
            "2026-01-01T00:00:00",
            "2026-01-01t00:00:00Z",
            "2026-01-01T00:00:00z",
            "2026-01-01 00:00:00Z",
            "2026-01-01T00:00:00 01:00",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z",
            "2026-01-01T00:00:60Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00.1234567890Z",
            "2026-01-01T00:00:00+1:00",
            "2026-01-01T00:00:00+01:60",
            "2026-01-01T00:00:00Zjunk",
            "+026-01-01T00:00:00Z",
        ] {
            assert_eq!(
                parse(bad),
                Err(TimestampError),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn out_of_range_years_saturate() {
        assert_eq!(parse("0001-01-01T00:00:00Z"), Ok(i64::MIN));
        assert_eq!(parse("9999-12-31T23:59:59Z"), Ok(i64::MAX));
    }

    #[test]
    fn writes_go_rfc3339_nano() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (1_500_000_000, "1970-01-01T00:00:01.5Z"),
            (1_767_225_600_000_000_001, "2026-01-01T00:00:00.000000001Z"),
            (1_767_225_600_123_456_000, "2026-01-01T00:00:00.123456Z"),
            (-1, "1969-12-31T23:59:59.999999999Z"),
            (i64::MIN, "0001-01-01T00:00:00Z"),
        ];
        for (nanos, want) in cases {
            assert_eq!(Timestamp::from_unix_nanos(nanos).to_string(), want);
        }
    }

    proptest! {
        #[test]
        fn write_then_parse_round_trips(nanos in (i64::MIN + 1)..i64::MAX) {
            let ts = Timestamp::from_unix_nanos(nanos);
            prop_assert_eq!(Timestamp::parse_rfc3339(&ts.to_string()), Ok(ts));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = Timestamp::parse_rfc3339(&s);
        }
    }
}
