//! Waits between attempts after a failure: 100 ms doubling to at most 5 s, with jitter, on
//! every retry path (history pages, the shared namespace reader), so that many streams that
//! failed together do not retry together.

use std::hash::BuildHasher;
use std::time::Duration;

/// The first wait.
const FIRST: Duration = Duration::from_millis(100);
/// The longest wait.
pub(crate) const CAP: Duration = Duration::from_secs(5);

/// The wait before attempt `failures + 1`: 100 ms, 200 ms, 400 ms, ... up to 5 s, each
/// scaled by a random factor in [0.75, 1.25) and never above 5 s.
pub(crate) fn backoff(failures: u32) -> Duration {
    let base = FIRST.saturating_mul(1 << failures.saturating_sub(1).min(6));
    let base = base.min(CAP);
    // A fresh random key per call (std's RandomState), hashed to a fraction in [0, 1).
    let random = std::hash::RandomState::new().hash_one(failures);
    let fraction = (random >> 11) as f64 / (1u64 << 53) as f64;
    base.mul_f64(0.75 + fraction / 2.0).min(CAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_from_100_ms_and_is_capped_at_5_s() {
        for _ in 0..200 {
            let first = backoff(1);
            assert!(
                first >= Duration::from_millis(75) && first < Duration::from_millis(125),
                "{first:?}"
            );
            let third = backoff(3);
            assert!(
                third >= Duration::from_millis(300) && third < Duration::from_millis(500),
                "{third:?}"
            );
            for failures in [7, 8, 20, u32::MAX] {
                let late = backoff(failures);
                assert!(
                    late >= Duration::from_millis(3_750) && late <= CAP,
                    "{late:?}"
                );
            }
        }
    }

    #[test]
    fn waits_are_jittered() {
        let waits: std::collections::BTreeSet<Duration> = (0..50).map(|_| backoff(4)).collect();
        assert!(waits.len() > 10, "{waits:?}");
    }
}
