//! The time a run may use: the Lambda deadline minus a safety margin.

use std::time::Duration;

use tokio::time::Instant;

/// The run's time budget. Every wait is cut to what is left of it, so a run
/// that runs out of time stops acting and reports, instead of being killed
/// mid-call by the Lambda runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    end: Option<Instant>,
}

impl Budget {
    /// No deadline (CLI runs).
    pub fn unlimited() -> Self {
        Self { end: None }
    }

    /// Ends `margin` before `deadline`.
    pub fn until(deadline: Instant, margin: Duration) -> Self {
        Self {
            end: Some(deadline.checked_sub(margin).unwrap_or_else(Instant::now)),
        }
    }

    /// Ends `time_left - margin` from now.
    pub fn from_now(time_left: Duration, margin: Duration) -> Self {
        Self::until(Instant::now() + time_left, margin)
    }

    /// Time left; `Duration::MAX` when unlimited.
    pub fn remaining(&self) -> Duration {
        match self.end {
            None => Duration::MAX,
            Some(end) => end.saturating_duration_since(Instant::now()),
        }
    }

    /// True when no time is left.
    pub fn expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// `limit` cut to the time left, and whether the budget did the cutting.
    pub fn cap(&self, limit: Duration) -> (Duration, bool) {
        let left = self.remaining();
        if left < limit {
            (left, true)
        } else {
            (limit, false)
        }
    }
}

/// How every part of a run waits: the deadline budget and the settings'
/// pauses, handed to each part that polls or pauses.
#[derive(Clone, Copy)]
pub(crate) struct Pacing<'a> {
    pub(crate) budget: &'a Budget,
    pub(crate) settings: &'a super::Settings,
}

impl Pacing<'_> {
    /// The pace of a polling loop bounded by `limit` (which the caller cut
    /// to the budget): the settings' backoff.
    pub(crate) fn pacer(&self, limit: Duration) -> Pacer {
        Pacer::new(limit, self.settings.poll_initial, self.settings.poll_max)
    }

    /// Sleeps for `delay`, cut to what the budget allows.
    pub(crate) async fn pause(&self, delay: Duration) {
        let (limit, _) = self.budget.cap(delay);
        tokio::time::sleep(limit).await;
    }
}

/// Exponential backoff: `initial * 2^(attempt-1)`, at most `max`.
pub(crate) fn backoff(initial: Duration, max: Duration, attempt: u32) -> Duration {
    initial.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(max)
}

/// The pace of one polling loop: pauses with [`backoff`] from `initial` to
/// `max`, never past `limit` (counted from its creation). Poll, then
/// `if done || !pace.wait().await { break }`.
pub(crate) struct Pacer {
    began: Instant,
    limit: Duration,
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Pacer {
    pub(crate) fn new(limit: Duration, initial: Duration, max: Duration) -> Self {
        Self {
            began: Instant::now(),
            limit,
            initial,
            max,
            attempt: 1,
        }
    }

    /// Time since the loop began.
    pub(crate) fn waited(&self) -> Duration {
        self.began.elapsed()
    }

    /// Sleeps until the next poll is due; `false` (at once) when the limit
    /// has passed.
    pub(crate) async fn wait(&mut self) -> bool {
        let waited = self.began.elapsed();
        if waited >= self.limit {
            return false;
        }
        let pause = backoff(self.initial, self.max, self.attempt).min(self.limit - waited);
        tokio::time::sleep(pause).await;
        self.attempt += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn budget_counts_down_with_the_margin() {
        let budget = Budget::from_now(Duration::from_secs(60), Duration::from_secs(10));
        assert_eq!(budget.remaining(), Duration::from_secs(50));
        assert_eq!(budget.cap(Duration::from_secs(20)), (Duration::from_secs(20), false));
        tokio::time::sleep(Duration::from_secs(45)).await;
        assert_eq!(budget.cap(Duration::from_secs(20)), (Duration::from_secs(5), true));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(budget.expired());
        assert!(!Budget::unlimited().expired());
    }
}
