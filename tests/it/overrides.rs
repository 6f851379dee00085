//! Override file checks against the in-memory cloud: the simulated SSM agent
//! answers per instance, SendCommand batches of 50 run concurrently, anything
//! but a clear "absent" keeps the instance running, and every bypass is
//! announced on SNS.

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::error::RunError;
use ec2_tier_scheduler::instance::InstanceState::*;
use ec2_tier_scheduler::orchestrator::{self, Budget, Settings};
use ec2_tier_scheduler::run::RunReport;
use ec2_tier_scheduler::summary::RunStatus;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::support::fake::{Agent, FakeCloud, MUTATING};
use crate::support::{request, run, run_refused, tier_item, workload_item};

const OVERRIDE_FILE: &str = "/tmp/StopOverride";

/// Web (stop sequence 0) checks for the override file; DB (sequence 1) does not.
fn tiers_with_override(workload: &str) -> Vec<Value> {
    let mut web = tier_item(workload, "Role_Web", 0, 1, false, 5);
    web["TierStop"]["TierStopOverrideFilename"] = json!(OVERRIDE_FILE);
    web["TierStop"]["TierStopOverrideOperatingSystem"] = json!("Linux");
    vec![web, tier_item(workload, "Role_DB", 1, 0, false, 5)]
}

/// Workload "W" with `web` running instances in the checked tier and
/// `db` running instances in the unchecked one.
fn fleet(web: &[&str], db: &[&str]) -> FakeCloud {
    let cloud = FakeCloud::new();
    cloud.put_config(workload_item("W"), tiers_with_override("W"));
    for id in web {
        cloud.add(id, "ENV001", "Role_Web", Running);
    }
    for id in db {
        cloud.add(id, "ENV001", "Role_DB", Running);
    }
    cloud
}

fn agent(cloud: &FakeCloud, id: &str, behaviour: Agent) {
    cloud.lock().agents.insert(id.to_string(), behaviour);
}

fn ids_of(noted: &[ec2_tier_scheduler::summary::Noted]) -> Vec<&str> {
    noted.iter().map(|n| n.id.as_str()).collect()
}

fn assert_no_double_actions(cloud: &FakeCloud) {
    for (id, n) in cloud.action_counts() {
        assert_eq!(n, 1, "{id} was acted on {n} times");
    }
}

fn stopped_ids(cloud: &FakeCloud) -> Vec<String> {
    let mut ids: Vec<String> = cloud
        .calls_of("StopInstances")
        .into_iter()
        .flat_map(|c| c.ids)
        .collect();
    ids.sort();
    ids
}

async fn run_with(cloud: &FakeCloud, settings: &Settings) -> RunReport {
    orchestrator::run(cloud, &request("W", Action::Stop), &Budget::unlimited(), settings)
        .await
        .expect("run")
}

#[tokio::test(start_paused = true)]
async fn present_files_keep_their_instances_running_and_the_rest_of_the_tier_stops() {
    // GIVEN a checked tier where two guests hold the override file (one answers
    // late), two do not (one answers late), and one is already stopped
    let cloud = fleet(&["i-w1", "i-w2", "i-w3", "i-w4"], &["i-d1"]);
    cloud.add("i-w5", "ENV001", "Role_Web", Stopped);
    agent(&cloud, "i-w1", Agent::Present { polls: 1 });
    agent(&cloud, "i-w2", Agent::Absent { polls: 1 });
    agent(&cloud, "i-w3", Agent::Present { polls: 3 });
    agent(&cloud, "i-w4", Agent::Absent { polls: 2 });

    // WHEN the workload is stopped
    let report = run(&cloud, &request("W", Action::Stop)).await;

    // THEN only the guests without the file are stopped
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    let web = &s.tiers[0];
    assert_eq!(web.tier, "Role_Web");
    assert_eq!(ids_of(&web.bypassed), ["i-w1", "i-w3"]);
    for b in &web.bypassed {
        assert!(
            b.reason.contains("override file /tmp/StopOverride present") && b.reason.contains("not stopped"),
            "{}",
            b.reason
        );
    }
    assert_eq!(web.acted, ["i-w2", "i-w4"]);
    assert_eq!(ids_of(&web.skipped), ["i-w5"]);
    assert_eq!(s.tiers[1].acted, ["i-d1"], "the unchecked tier is stopped as usual");
    assert!(s.message.contains("2 bypassed"), "{}", s.message);

    // one command for the tier; the already stopped instance and the unchecked
    // tier are not checked
    let sends = cloud.calls_of("SendCommand");
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].ids, ["i-w1", "i-w2", "i-w3", "i-w4"]);
    assert_eq!(stopped_ids(&cloud), ["i-d1", "i-w2", "i-w4"]);

    tokio::time::sleep(Duration::from_secs(60)).await;
    for (id, state) in [
        ("i-w1", Running),
        ("i-w2", Stopped),
        ("i-w3", Running),
        ("i-w4", Stopped),
        ("i-w5", Stopped),
        ("i-d1", Stopped),
    ] {
        assert_eq!(cloud.state_of(id), state, "{id}");
    }
    assert_no_double_actions(&cloud);
}

#[tokio::test(start_paused = true)]
async fn one_send_command_per_fifty_instances_all_sent_at_once() {
    // GIVEN 120 instances in the checked tier, all without the file
    let ids: Vec<String> = (0..120).map(|n| format!("i-{n:04}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let cloud = fleet(&refs, &[]);
    let began = Instant::now();

    // WHEN the workload is stopped
    let report = run(&cloud, &request("W", Action::Stop)).await;

    // THEN three commands of 50, 50 and 20 went out at the same instant
    let sends = cloud.calls_of("SendCommand");
    let sizes: Vec<usize> = sends.iter().map(|c| c.ids.len()).collect();
    assert_eq!(sizes, [50, 50, 20]);
    assert!(sends.iter().all(|c| c.at == began), "the chunks are sent concurrently");
    let mut sent: Vec<String> = sends.iter().flat_map(|c| c.ids.clone()).collect();
    sent.sort();
    assert_eq!(sent, ids, "every instance checked exactly once");

    // and polled by command, not by instance: one ListCommandInvocations
    // per command (⌈120/50⌉ = 3), all in the first round, a second after
    let polls = cloud.calls_of("ListCommandInvocations");
    assert_eq!(polls.len(), 3);
    assert_eq!(polls.iter().map(|c| c.ids.len()).sum::<usize>(), 120);
    assert!(polls.iter().all(|c| c.at == began + Duration::from_secs(1)));

    // and all were stopped in one batch right away
    let web = &report.summary.tiers[0];
    assert_eq!(web.acted.len(), 120);
    assert!(web.bypassed.is_empty());
    let stops = cloud.calls_of("StopInstances");
    assert_eq!(stops.len(), 1);
    assert_eq!(stops[0].at, began + Duration::from_secs(1));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(ids.iter().all(|id| cloud.state_of(id) == Stopped));
    assert_no_double_actions(&cloud);
}

#[tokio::test(start_paused = true)]
async fn a_terminal_ssm_status_ends_the_check_at_once_and_bypasses_the_instance() {
    for status in ["Failed", "TimedOut", "Undeliverable"] {
        // GIVEN an agent that ends with a terminal status next to a healthy one
        let cloud = fleet(&["i-bad", "i-ok"], &[]);
        agent(&cloud, "i-bad", Agent::Fails(status));
        let began = Instant::now();

        // WHEN the workload is stopped
        let report = run(&cloud, &request("W", Action::Stop)).await;

        // THEN the check did not wait for the 120 s override timeout
        let elapsed = Instant::now() - began;
        assert!(elapsed < Duration::from_secs(5), "{status}: took {elapsed:?}");
        assert_eq!(
            cloud
                .calls_of("ListCommandInvocations")
                .iter()
                .filter(|c| c.ids.iter().any(|id| id == "i-bad"))
                .count(),
            1,
            "{status}: polled once, not again"
        );

        // and the instance is bypassed with the status in the reason
        let web = &report.summary.tiers[0];
        assert_eq!(ids_of(&web.bypassed), ["i-bad"], "{status}");
        let reason = &web.bypassed[0].reason;
        assert!(
            reason.contains(&format!("ended {status}")) && reason.contains("not stopped"),
            "{status}: {reason}"
        );
        assert_eq!(web.acted, ["i-ok"]);
        assert_eq!(report.summary.status, RunStatus::Completed);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(cloud.state_of("i-bad"), Running, "{status}");
        assert_eq!(cloud.state_of("i-ok"), Stopped, "{status}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_silent_agent_is_bypassed_after_the_override_timeout() {
    // GIVEN an agent that never answers and a 90 s override timeout
    let cloud = fleet(&["i-mute", "i-ok"], &[]);
    agent(&cloud, "i-mute", Agent::Silent);
    let settings = Settings {
        override_timeout: Duration::from_secs(90),
        ..Settings::default()
    };
    let began = Instant::now();

    // WHEN the workload is stopped
    let report = run_with(&cloud, &settings).await;

    // THEN the tier waited exactly the override timeout, then stopped the other
    let web = &report.summary.tiers[0];
    assert_eq!(ids_of(&web.bypassed), ["i-mute"]);
    let reason = &web.bypassed[0].reason;
    assert!(reason.contains("no answer within 90s"), "{reason}");
    assert_eq!(web.acted, ["i-ok"]);
    let stops = cloud.calls_of("StopInstances");
    assert_eq!(stops.len(), 1);
    assert_eq!((stops[0].at - began).as_secs(), 90);

    // polling backed off instead of hammering SSM: the first poll a second
    // after SendCommand, then 2, 4, 8 and 15 s pauses up to the timeout
    let polls: Vec<u64> = cloud
        .calls_of("ListCommandInvocations")
        .iter()
        .filter(|c| c.ids.iter().any(|id| id == "i-mute"))
        .map(|c| (c.at - began).as_secs())
        .collect();
    assert_eq!(polls, [1, 3, 7, 15, 30, 45, 60, 75, 90]);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(cloud.state_of("i-mute"), Running);
    assert_eq!(cloud.state_of("i-ok"), Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_slow_agent_is_polled_with_backoff_and_then_stopped() {
    // GIVEN an agent that answers "absent" on the fourth poll
    let cloud = fleet(&["i-slow"], &[]);
    agent(&cloud, "i-slow", Agent::Absent { polls: 4 });
    let began = Instant::now();

    // WHEN the workload is stopped
    let report = run(&cloud, &request("W", Action::Stop)).await;

    // THEN it was polled at 1, 3, 7 and 15 s and stopped right after
    let polls: Vec<u64> = cloud.call_seconds("ListCommandInvocations", began);
    assert_eq!(polls, [1, 3, 7, 15]);
    let web = &report.summary.tiers[0];
    assert!(web.bypassed.is_empty());
    assert_eq!(web.acted, ["i-slow"]);
    assert_eq!((cloud.calls_of("StopInstances")[0].at - began).as_secs(), 15);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(cloud.state_of("i-slow"), Stopped);
}

#[tokio::test(start_paused = true)]
async fn errors_while_polling_are_retried_not_taken_as_an_answer() {
    // GIVEN the poll of i-1's command throttled twice
    let cloud = fleet(&["i-1", "i-2"], &[]);
    cloud.fault("ListCommandInvocations", Some("i-1"), "ThrottlingException", 2);

    // WHEN the workload is stopped
    let report = run(&cloud, &request("W", Action::Stop)).await;

    // THEN the instance was polled until it answered, and stopped
    let web = &report.summary.tiers[0];
    assert!(web.bypassed.is_empty(), "{:?}", web.bypassed);
    assert_eq!(web.acted, ["i-1", "i-2"]);
    let i1_polls = cloud
        .calls()
        .iter()
        .filter(|c| c.op == "ListCommandInvocations" && c.ids.iter().any(|id| id == "i-1"))
        .count();
    assert_eq!(i1_polls, 3, "two throttled polls, then the answer");
}

#[tokio::test(start_paused = true)]
async fn unclear_output_is_treated_as_present() {
    let cloud = fleet(&["i-junk", "i-ok"], &[]);
    agent(&cloud, "i-junk", Agent::Garbage);
    let report = run(&cloud, &request("W", Action::Stop)).await;
    let web = &report.summary.tiers[0];
    assert_eq!(ids_of(&web.bypassed), ["i-junk"]);
    assert!(
        web.bypassed[0].reason.contains("no clear answer"),
        "{}",
        web.bypassed[0].reason
    );
    assert_eq!(web.acted, ["i-ok"]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_send_command_bypasses_its_chunk_and_the_rest_proceeds() {
    // GIVEN 60 checked instances and SSM refusing the first command sent
    let ids: Vec<String> = (0..60).map(|n| format!("i-{n:04}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let cloud = fleet(&refs, &["i-db"]);
    cloud.fault("SendCommand", None, "AccessDeniedException", 1);

    // WHEN the workload is stopped
    let report = run(&cloud, &request("W", Action::Stop)).await;

    // THEN the refused chunk is bypassed with the reason, the other is checked
    let failed_sends = cloud.calls_of("SendCommand(failed)");
    assert_eq!(failed_sends.len(), 1);
    let refused = &failed_sends[0].ids;
    assert_eq!(refused.len(), 50);
    let sent = cloud.calls_of("SendCommand");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].ids.len(), 10);

    let web = &report.summary.tiers[0];
    let bypassed: Vec<String> = web.bypassed.iter().map(|b| b.id.clone()).collect();
    assert_eq!(&bypassed, refused);
    for b in &web.bypassed {
        assert!(
            b.reason.contains("could not be sent") && b.reason.contains("AccessDeniedException"),
            "{}",
            b.reason
        );
    }
    assert_eq!(web.acted, sent[0].ids);
    assert_eq!(report.summary.tiers[1].acted, ["i-db"]);
    assert_eq!(report.summary.status, RunStatus::Completed);

    tokio::time::sleep(Duration::from_secs(60)).await;
    for id in refused {
        assert_eq!(cloud.state_of(id), Running, "{id}");
    }
    for id in &sent[0].ids {
        assert_eq!(cloud.state_of(id), Stopped, "{id}");
    }
    assert_no_double_actions(&cloud);
}

#[tokio::test(start_paused = true)]
async fn an_instance_not_managed_by_ssm_does_not_block_the_checks_of_the_others() {
    // GIVEN 60 checked instances, one of which SSM does not manage
    let ids: Vec<String> = (0..60).map(|n| format!("i-{n:04}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let cloud = fleet(&refs, &["i-db"]);
    cloud.fault("SendCommand", Some("i-0007"), "InvalidInstanceId", usize::MAX);

    // WHEN the workload is stopped
    let report = run(&cloud, &request("W", Action::Stop)).await;

    // THEN only that instance is bypassed; the chunk was split around it
    let web = &report.summary.tiers[0];
    let bypassed: Vec<&str> = web.bypassed.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(bypassed, ["i-0007"]);
    assert!(web.bypassed[0].reason.contains("InvalidInstanceId"));
    assert_eq!(web.acted.len(), 59);
    let sent: usize = cloud.calls_of("SendCommand").iter().map(|c| c.ids.len()).sum();
    assert_eq!(sent, 59, "every managed instance checked exactly once");
    assert_no_double_actions(&cloud);
}

#[tokio::test(start_paused = true)]
async fn an_output_bucket_in_another_region_refuses_the_run_before_any_action() {
    // GIVEN the SSM output bucket lives in eu-west-1, the workload in us-west-2
    let cloud = fleet(&["i-w1"], &["i-d1"]);
    cloud.lock().bucket_region = "eu-west-1".into();

    // WHEN the workload is stopped
    let err = run_refused(&cloud, &request("W", Action::Stop)).await;

    // THEN the run is refused, naming the bucket and both regions
    assert!(matches!(err, RunError::Precondition { .. }), "{err}");
    let text = err.to_string();
    for needle in ["\"W\"", "ssm-output", "eu-west-1", "us-west-2"] {
        assert!(text.contains(needle), "{text} should mention {needle}");
    }
    // and nothing at all was changed, not even a notification
    assert!(cloud.mutating_calls().is_empty(), "{:?}", cloud.mutating_calls());
    assert!(cloud
        .calls()
        .iter()
        .all(|c| !MUTATING.iter().any(|m| c.op.starts_with(m))));
    assert_eq!(cloud.state_of("i-w1"), Running);
    assert_eq!(cloud.state_of("i-d1"), Running);

    // GIVEN the bucket's location cannot be read at all
    let cloud = fleet(&["i-w1"], &[]);
    cloud.fault("GetBucketLocation", None, "AccessDenied", usize::MAX);
    let err = run_refused(&cloud, &request("W", Action::Stop)).await;
    assert!(matches!(err, RunError::Precondition { .. }), "{err}");
    assert!(err.to_string().contains("AccessDenied"), "{err}");
    assert!(cloud.mutating_calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_bucket_is_not_consulted_when_nothing_needs_a_check() {
    // Everything in the checked tier is already stopped: no check, no precondition.
    let cloud = fleet(&[], &["i-d1"]);
    cloud.add("i-w1", "ENV001", "Role_Web", Stopped);
    cloud.lock().bucket_region = "eu-west-1".into();
    let report = run(&cloud, &request("W", Action::Stop)).await;
    assert_eq!(report.summary.status, RunStatus::Completed);
    assert!(cloud.calls_of("GetBucketLocation").is_empty());
    assert!(cloud.calls_of("SendCommand").is_empty());
    assert_eq!(report.summary.tiers[1].acted, ["i-d1"]);
}

#[tokio::test(start_paused = true)]
async fn one_sns_message_per_bypass_and_one_summary() {
    // GIVEN a workload with a long name (subjects must still fit SNS's 100 chars)
    let name = format!("Workload-{}", "x".repeat(150));
    let cloud = FakeCloud::new();
    cloud.put_config(workload_item(&name), tiers_with_override(&name));
    for id in ["i-keep", "i-fail", "i-go"] {
        cloud.add(id, "ENV001", "Role_Web", Running);
    }
    agent(&cloud, "i-keep", Agent::Present { polls: 1 });
    agent(&cloud, "i-fail", Agent::Fails("Failed"));

    // WHEN the workload is stopped
    let report = run(&cloud, &request(&name, Action::Stop)).await;

    // THEN two bypass messages and one summary went to the topic
    let published = cloud.lock().published.clone();
    assert_eq!(published.len(), 3, "{published:#?}");
    assert_eq!(cloud.calls_of("Publish").len(), 3);
    for (topic, subject, body) in &published {
        assert_eq!(topic, "SchedulerTesting");
        assert!(subject.len() <= 100, "{} chars: {subject}", subject.len());
        assert!(!subject.is_empty() && !body.trim().is_empty());
        assert!(!subject.contains('\n'));
    }
    let (bypass_msgs, summary_msgs): (Vec<_>, Vec<_>) =
        published.iter().partition(|(_, _, body)| body.contains("Not stopped:"));
    assert_eq!(bypass_msgs.len(), 2);
    assert_eq!(summary_msgs.len(), 1);
    for id in ["i-keep", "i-fail"] {
        let (_, subject, body) = bypass_msgs
            .iter()
            .find(|(_, _, body)| body.contains(&format!("Instance: {id}")))
            .unwrap_or_else(|| panic!("no bypass message for {id}"));
        assert!(subject.contains(id), "{subject}");
        assert!(body.contains("Tier: Role_Web"), "{body}");
    }
    assert!(bypass_msgs
        .iter()
        .any(|(_, _, b)| b.contains("override file /tmp/StopOverride present")));
    assert!(bypass_msgs.iter().any(|(_, _, b)| b.contains("ended Failed")));

    // and the summary is the last message and lists the bypasses
    let (_, subject, body) = published.last().unwrap();
    assert!(subject.starts_with("EC2 scheduler: Stop"), "{subject}");
    assert!(
        body.contains("bypassed i-keep") && body.contains("bypassed i-fail"),
        "{body}"
    );
    assert!(report.summary.notification_errors.is_empty());
    assert_eq!(report.summary.tiers[0].acted, ["i-go"]);
}

#[tokio::test(start_paused = true)]
async fn a_failing_topic_is_reported_and_the_run_still_completes() {
    // GIVEN SNS refuses every message
    let cloud = fleet(&["i-keep", "i-go"], &["i-d1"]);
    agent(&cloud, "i-keep", Agent::Present { polls: 1 });
    cloud.fault("Publish", None, "InternalError", usize::MAX);

    // WHEN the workload is stopped
    let report = run(&cloud, &request("W", Action::Stop)).await;

    // THEN the run completed and stopped what it should
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::Completed, "{}", s.to_table());
    assert_eq!(s.tiers[0].acted, ["i-go"]);
    assert_eq!(s.tiers[1].acted, ["i-d1"]);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(cloud.state_of("i-go"), Stopped);
    assert_eq!(cloud.state_of("i-d1"), Stopped);
    assert_eq!(cloud.state_of("i-keep"), Running);

    // and both lost notifications are listed
    assert_eq!(s.notification_errors.len(), 2, "{:?}", s.notification_errors);
    assert!(s
        .notification_errors
        .iter()
        .any(|e| e.contains("bypass of i-keep") && e.contains("InternalError")));
    assert!(s
        .notification_errors
        .iter()
        .any(|e| e.starts_with("summary:") && e.contains("InternalError")));
    assert!(cloud.lock().published.is_empty());
    assert_eq!(cloud.calls_of("Publish(failed)").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_sends_no_command() {
    let cloud = fleet(&["i-w1", "i-w2"], &["i-d1"]);
    agent(&cloud, "i-w1", Agent::Present { polls: 1 });
    let mut req = request("W", Action::Stop);
    req.dry_run = true;
    let report = run(&cloud, &req).await;
    assert_eq!(report.summary.status, RunStatus::DryRun);
    for op in ["SendCommand", "ListCommandInvocations", "GetBucketLocation", "Publish"] {
        assert!(cloud.calls_of(op).is_empty(), "{op} in a dry run");
    }
    assert!(cloud.mutating_calls().is_empty());
    let web = &report.plan.groups[0].tiers[0];
    assert_eq!(web.override_check.as_ref().map(|c| c.path()), Some(OVERRIDE_FILE));
    assert!(web.instances.iter().all(|i| i.check_override));
}

#[tokio::test(start_paused = true)]
async fn starting_never_checks_for_the_override_file() {
    let cloud = fleet(&[], &[]);
    cloud.add("i-w1", "ENV001", "Role_Web", Stopped);
    cloud.add("i-d1", "ENV001", "Role_DB", Stopped);
    agent(&cloud, "i-w1", Agent::Present { polls: 1 });
    let report = run(&cloud, &request("W", Action::Start)).await;
    assert_eq!(report.summary.status, RunStatus::Completed);
    assert!(cloud.calls_of("SendCommand").is_empty());
    assert!(cloud.calls_of("GetBucketLocation").is_empty());
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(cloud.state_of("i-w1"), Running);
}

#[tokio::test(start_paused = true)]
async fn no_override_check_is_sent_once_the_tier_ran_out_of_time() {
    // GIVEN a checked tier where one instance is stuck in `pending` (waited out
    // before stopping) and the budget ends while waiting for it
    let cloud = fleet(&["i-ok"], &[]);
    cloud.add("i-stuck", "ENV001", "Role_Web", Pending);
    cloud.lock().stuck.insert("i-stuck".into());
    agent(&cloud, "i-ok", Agent::Absent { polls: 2 });
    let budget = Budget::from_now(Duration::from_secs(60), Duration::from_secs(10));

    // WHEN the workload is stopped
    let report = orchestrator::run(&cloud, &request("W", Action::Stop), &budget, &Settings::default())
        .await
        .unwrap();

    // THEN the run reports the deadline and says i-ok was not done...
    let s = &report.summary;
    assert_eq!(s.status, RunStatus::DeadlineReached, "{}", s.to_table());
    assert!(ids_of(&s.tiers[0].not_done).contains(&"i-ok"), "{}", s.to_table());
    // ...without acting after the deadline: no command, no bypass message
    assert!(
        cloud.calls_of("SendCommand").is_empty(),
        "SendCommand at {:?} after the budget ran out",
        cloud.calls_of("SendCommand")[0].at
    );
    assert!(s.tiers[0].bypassed.is_empty(), "{:?}", s.tiers[0].bypassed);
}
