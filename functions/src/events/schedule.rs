//! When a failed delivery is tried again: 5 s, 5 min, 30 min, 2 h, 5 h,
//! 10 h and 10 h after the attempts before, eight attempts in all over
//! about 27.6 hours; then the delivery is marked failed.

/// The pause after each failed attempt, in seconds.
pub const RETRY_DELAYS: [i64; 7] = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// The most attempts a delivery gets.
pub const MAX_ATTEMPTS: u32 = RETRY_DELAYS.len() as u32 + 1;

/// When to try again after `attempts` attempts, the last of which failed
/// at `failed_at`; `None` once the schedule is spent.
pub fn next_attempt(attempts: u32, failed_at: i64) -> Option<i64> {
    let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
    RETRY_DELAYS.get(index).map(|delay| failed_at + delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_the_designed_one_then_stops() {
        let mut at = 0;
        let mut pauses = Vec::new();
        for attempts in 1.. {
            match next_attempt(attempts, at) {
                Some(next) => {
                    pauses.push(next - at);
                    at = next;
                }
                None => {
                    assert_eq!(attempts, MAX_ATTEMPTS);
                    break;
                }
            }
        }
        assert_eq!(pauses, [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000]);
        assert_eq!(at, 99_305);
        assert_eq!(next_attempt(0, 100), None);
    }
}
