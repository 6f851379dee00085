//! The gate alone: a pacing and the one port its check reads, no run.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::config::ReadinessCheck;
use crate::error::CloudError;
use crate::orchestrator::{Budget, Settings};

/// EC2 status checks that pass, for the instances of `passing`, from the
/// `from`-th read on.
struct Checks {
    reads: Mutex<u32>,
    from: u32,
    passing: Vec<&'static str>,
}

#[async_trait]
impl StatusChecks for Checks {
    async fn status_checks_ok(&self, ids: &[String]) -> Result<Vec<(String, bool)>, CloudError> {
        let mut reads = self.reads.lock().unwrap();
        *reads += 1;
        let ok = |id: &String| *reads >= self.from && self.passing.contains(&id.as_str());
        Ok(ids.iter().map(|id| (id.clone(), ok(id))).collect())
    }
}

fn readiness(on_timeout: ReadinessOnTimeout) -> Readiness {
    Readiness {
        check: ReadinessCheck::StatusChecks,
        timeout: Duration::from_secs(60),
        on_timeout,
    }
}

async fn wait(checks: &Checks, budget: &Budget, on_timeout: ReadinessOnTimeout) -> (GateOutcome, TierEnd) {
    let settings = Settings::default();
    let gate = Gate {
        pacing: Pacing {
            budget,
            settings: &settings,
        },
        action: Action::Start,
        reader: Reader::StatusChecks(checks),
    };
    let ids = ["i-1".to_string(), "i-2".to_string()];
    gate.wait("Role_DB", &readiness(on_timeout), &ids, &HashSet::new())
        .await
}

#[tokio::test(start_paused = true)]
async fn a_gate_polls_until_every_instance_is_ready() {
    let checks = Checks {
        reads: Mutex::new(0),
        from: 3,
        passing: vec!["i-1", "i-2"],
    };
    let (outcome, end) = wait(&checks, &Budget::unlimited(), ReadinessOnTimeout::Abort).await;
    assert_eq!(end, TierEnd::Done);
    assert_eq!((outcome.ready, outcome.timed_out), (2, false));
    assert_eq!(*checks.reads.lock().unwrap(), 3, "polled until the third read");
}

#[tokio::test(start_paused = true)]
async fn a_gate_that_times_out_aborts_or_goes_on_as_configured() {
    let checks = || Checks {
        reads: Mutex::new(0),
        from: 1,
        passing: vec!["i-1"],
    };
    let (outcome, end) = wait(&checks(), &Budget::unlimited(), ReadinessOnTimeout::Abort).await;
    assert_eq!(outcome.not_ready, ["i-2"]);
    assert!(
        matches!(&end, TierEnd::Abort(why) if why.contains("after 60s: i-2")),
        "{end:?}"
    );
    let (_, end) = wait(&checks(), &Budget::unlimited(), ReadinessOnTimeout::Continue).await;
    assert_eq!(end, TierEnd::Done);
    // A budget shorter than the gate's timeout: the deadline, not a timeout.
    let budget = Budget::from_now(Duration::from_secs(20), Duration::ZERO);
    let (_, end) = wait(&checks(), &budget, ReadinessOnTimeout::Abort).await;
    assert!(
        matches!(&end, TierEnd::Deadline(why) if why.contains("time ran out")),
        "{end:?}"
    );
}
