//! The opt-in behaviours: off by default, and EC2's throttling semantics
//! when on.

use std::time::Duration;

use ec2_tier_scheduler::instance::{Discovery, InstanceState};
use ec2_tier_scheduler::ports::Compute;
use tokio::time::Instant;

use super::fake::{FakeCloud, Latencies, SdkRetry, EC2_LIMITS, START_LIMITS, STOP_LIMITS};

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|k| format!("i-{prefix}{k:04}")).collect()
}

fn fleet(cloud: &FakeCloud, ids: &[String], state: InstanceState) {
    for id in ids {
        cloud.add(id, "ENV001", "Role_Web", state);
    }
}

fn query() -> Discovery {
    Discovery {
        workload_tag: ("Environment".into(), "ENV001".into()),
        tier_tag_key: "Role".into(),
        vpc_id: None,
        override_tag_key: "SchedulerOverride".into(),
        preferred_types_tag_key: "SchedulerPreferredTypes".into(),
    }
}

#[tokio::test(start_paused = true)]
async fn plain_fake_answers_at_once_and_never_throttles() {
    let cloud = FakeCloud::new();
    let all = ids("a", 3000);
    fleet(&cloud, &all, InstanceState::Stopped);
    let began = Instant::now();
    for batch in all.chunks(500) {
        cloud.start(batch).await.unwrap();
    }
    cloud.discover(&query()).await.unwrap();
    assert_eq!(began.elapsed(), Duration::ZERO);
    assert_eq!(cloud.throttled(), 0);
    assert_eq!(cloud.calls_of("StartInstances").len(), 6);
    let stats = cloud.stats();
    assert_eq!(
        (stats["StartInstances"].ok, stats["StartInstances"].instances),
        (6, 3000)
    );
    // 3000 matches are three pages, in one logged call.
    assert_eq!(stats["DescribeInstances"].ok, 3);
    assert_eq!(cloud.calls_of("DescribeInstances").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_over_the_instance_bucket_is_refused_whole_and_takes_no_token() {
    let cloud = FakeCloud::new().with_ec2_limits(EC2_LIMITS);
    let all = ids("b", 1500);
    fleet(&cloud, &all, InstanceState::Stopped);
    cloud.start(&all[..500]).await.unwrap();
    cloud.start(&all[500..1000]).await.unwrap();

    // The 1000-instance burst is spent.
    let err = cloud.start(&all[1000..]).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("RequestLimitExceeded"));
    assert!(all[1000..]
        .iter()
        .all(|id| cloud.state_of(id) == InstanceState::Stopped));
    assert_eq!(cloud.calls_of("StartInstances(failed)").len(), 1);
    assert_eq!(cloud.stats()["StartInstances"].throttled, 1);

    // 2 instances/s: 499 tokens after 249.5 s are still too few; the refusal
    // took none, so 500 are there half a second later.
    let refill = |n: f64| Duration::from_secs_f64(n / START_LIMITS.instances.unwrap().per_sec);
    tokio::time::sleep(refill(499.0)).await;
    assert!(cloud.start(&all[1000..]).await.is_err());
    tokio::time::sleep(refill(1.0)).await;
    cloud.start(&all[1000..]).await.unwrap();
    assert_eq!(cloud.stats()["StartInstances"].throttled, 2);
}

#[tokio::test(start_paused = true)]
async fn the_request_bucket_refuses_past_its_burst() {
    let cloud = FakeCloud::new().with_ec2_limits(EC2_LIMITS);
    let all = ids("c", 60);
    fleet(&cloud, &all, InstanceState::Running);
    let burst = STOP_LIMITS.requests.burst as usize;
    for id in &all[..burst] {
        cloud.stop(std::slice::from_ref(id)).await.unwrap();
    }
    let err = cloud.stop(&all[burst..burst + 1]).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("RequestLimitExceeded"));
    // 5 requests/s.
    tokio::time::sleep(Duration::from_millis(200)).await;
    cloud.stop(&all[burst..burst + 1]).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn latencies_grow_with_the_request_and_refusals_are_quick() {
    let cloud = FakeCloud::new()
        .with_ec2_limits(EC2_LIMITS)
        .with_latencies(Latencies::TYPICAL);
    let all = ids("d", 1500);
    fleet(&cloud, &all, InstanceState::Stopped);
    let t0 = Instant::now();
    cloud.start(&all[..500]).await.unwrap();
    assert_eq!(t0.elapsed(), Latencies::TYPICAL.mutate.of(500));
    // The instance changes state when EC2 answers.
    assert_eq!(cloud.state_of(&all[0]), InstanceState::Pending);

    cloud.start(&all[500..1000]).await.unwrap();
    let t1 = Instant::now();
    cloud.start(&all[1000..]).await.unwrap_err();
    assert_eq!(t1.elapsed(), Latencies::TYPICAL.refused.of(0));
    let last = cloud.stats()["StartInstances"].last_ok_at.unwrap();
    assert_eq!(last - t0, Latencies::TYPICAL.mutate.of(500) * 2);
}

#[tokio::test(start_paused = true)]
async fn the_sdk_model_retries_throttling_out_of_sight() {
    // Two throttled attempts, then an admitted one: the caller sees success.
    let cloud = FakeCloud::new().with_sdk_retry(SdkRetry::Standard);
    fleet(&cloud, &ids("e", 1), InstanceState::Running);
    cloud.fault("StopInstances", None, "RequestLimitExceeded", 2);
    cloud.stop(&ids("e", 1)).await.unwrap();
    assert_eq!(cloud.state_of("i-e0000"), InstanceState::Stopping);
    assert_eq!(cloud.calls_of("StopInstances").len(), 1);
    assert_eq!(cloud.stats()["StopInstances"].faulted, 2);

    // Other errors are not retried; six throttled attempts are the most.
    cloud.fault("StopInstances", None, "IncorrectInstanceState", 1);
    assert!(cloud.stop(&ids("e", 1)).await.is_err());
    cloud.fault("StopInstances", None, "RequestLimitExceeded", 6);
    assert!(cloud.stop(&ids("e", 1)).await.is_err());
    assert_eq!(cloud.stats()["StopInstances"].faulted, 2 + 1 + 6);
}

#[tokio::test(start_paused = true)]
async fn retries_until_the_deadline_then_give_up() {
    let cloud = FakeCloud::new()
        .with_ec2_limits(EC2_LIMITS)
        .with_sdk_retry(SdkRetry::UntilDeadline);
    let all = ids("f", 1500);
    fleet(&cloud, &all, InstanceState::Stopped);
    cloud.start(&all[..500]).await.unwrap();
    cloud.start(&all[500..1000]).await.unwrap();

    // 500 tokens take 250 s: a 60 s deadline gives up, none does not.
    cloud.set_retry_deadline(Some(Instant::now() + Duration::from_secs(60)));
    let t0 = Instant::now();
    assert!(cloud.start(&all[1000..]).await.is_err());
    assert!(t0.elapsed() < Duration::from_secs(60));
    cloud.set_retry_deadline(None);
    cloud.start(&all[1000..]).await.unwrap();
    assert!(t0.elapsed() >= Duration::from_secs(250));
}

#[tokio::test(start_paused = true)]
async fn without_call_log_faults_still_apply() {
    let cloud = FakeCloud::new().without_call_log();
    fleet(&cloud, &ids("g", 2), InstanceState::Running);
    cloud.fault("StopInstances", Some("i-g0001"), "IncorrectInstanceState", 1);
    assert!(cloud.stop(&ids("g", 2)).await.is_err());
    cloud.stop(&ids("g", 2)).await.unwrap();
    assert!(cloud.calls().is_empty());
    assert_eq!(cloud.stats()["StopInstances"].ok, 1);
}

#[tokio::test(start_paused = true)]
async fn starts_and_stops_can_take_different_times() {
    let cloud = FakeCloud::new().with_transitions(Duration::from_secs(60), Duration::from_secs(40));
    fleet(&cloud, &ids("h", 1), InstanceState::Stopped);
    cloud.start(&ids("h", 1)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(40)).await;
    assert_eq!(cloud.state_of("i-h0000"), InstanceState::Running);
    cloud.stop(&ids("h", 1)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(59)).await;
    assert_eq!(cloud.state_of("i-h0000"), InstanceState::Stopping);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(cloud.state_of("i-h0000"), InstanceState::Stopped);
}
