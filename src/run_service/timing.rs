//! The run service's clock: seconds since the epoch that follow tokio's
//! paused test clock, and the time kept back from the Lambda deadline.

use std::time::Duration;

use crate::clock;

/// Time kept back from the deadline: enough to finish the SNS summary and
/// return the response after the last wait is cut short. A tenth of the
/// time left, between 2 and 20 seconds, so short test timeouts stay usable.
pub fn safety_margin(time_left: Duration) -> Duration {
    (time_left / 10).clamp(Duration::from_secs(2), Duration::from_secs(20))
}

/// Seconds since the epoch as the run service reads them: [`clock::now`]
/// plus however far tokio's clock has run ahead of the real monotonic
/// clock. In the function and the CLI the two are one clock and nothing is
/// added; under tokio's paused test clock it adds the time a test let pass,
/// so due times and delivery windows can be tested without real waiting.
pub fn now() -> u64 {
    clock::now_following_tokio()
}

/// [`now`], rounded up like [`clock::now_ceil`]: a due time from it is never early.
pub(super) fn now_ceil() -> u64 {
    clock::now_ceil() + clock::tokio_ahead_secs()
}
