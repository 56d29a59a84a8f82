//! Time as the simulated server reads and prints it: Unix nanoseconds inside, RFC 3339 on the
//! wire. Built on `jiff`, not on the provider's own `Timestamp`, so the two cannot share a bug.

/// Now, in Unix nanoseconds.
pub fn now_nanos() -> i64 {
    i64::try_from(jiff::Timestamp::now().as_nanosecond()).unwrap_or(i64::MAX)
}

/// An RFC 3339 time (`T`, `Z` or an offset, optional fraction) in Unix nanoseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let ts: jiff::Timestamp = text.parse().ok()?;
    i64::try_from(ts.as_nanosecond()).ok()
}

/// Unix nanoseconds as RFC 3339 in UTC, the fraction with no trailing zeros (Go's
/// `RFC3339Nano`), none at all for a whole second.
pub fn rfc3339(nanos: i64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(nanos))
        .map(|ts| ts.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_go_rfc3339_nano() {
        let cases = [
            ("2026-01-01T00:00:00Z", 1_767_225_600_000_000_000),
            ("2026-01-01T00:00:00.5Z", 1_767_225_600_500_000_000),
            ("2026-01-01T00:00:00.000000001Z", 1_767_225_600_000_000_001),
        ];
        for (text, nanos) in cases {
            assert_eq!(parse_rfc3339(text), Some(nanos), "{text}");
            assert_eq!(rfc3339(nanos), text);
        }
        assert_eq!(
            parse_rfc3339("2026-01-01T01:00:00+01:00"),
            Some(1_767_225_600_000_000_000)
        );
        assert_eq!(parse_rfc3339("2026-01-01"), None);
    }
}
