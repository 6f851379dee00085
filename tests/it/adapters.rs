//! Adapter error mapping and retries for responses moto cannot give, with
//! the SDK team's aws-smithy-mocks (stub responses inside the real clients).

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use ec2_tier_scheduler::aws::{ec2_retry, Ec2Compute, SsmRemoteCheck};
use ec2_tier_scheduler::ports::{CheckPoll, Compute, OutputLocation, RemoteCheck};

fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
    rules.iter().fold(
        MockResponseInterceptor::new().rule_mode(RuleMode::Sequential),
        |i, r| i.with_rule(r),
    )
}

fn ssm(rules: &[&Rule]) -> SsmRemoteCheck {
    let ssm = aws_sdk_ssm::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("a", "b", None, None, "test"))
        .http_client(create_mock_http_client())
        .interceptor(interceptor(rules))
        .build();
    let s3 = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("a", "b", None, None, "test"))
        .http_client(create_mock_http_client())
        .interceptor(interceptor(&[]))
        .build();
    SsmRemoteCheck::new(aws_sdk_ssm::Client::from_conf(ssm), aws_sdk_s3::Client::from_conf(s3))
}

fn ec2(rules: &[&Rule]) -> Ec2Compute {
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("a", "b", None, None, "test"))
        .http_client(create_mock_http_client())
        .retry_config(ec2_retry())
        .interceptor(interceptor(rules))
        .build();
    Ec2Compute::new(aws_sdk_ec2::Client::from_conf(conf))
}

fn output() -> OutputLocation {
    OutputLocation {
        bucket: "b".into(),
        prefix: "p".into(),
    }
}

#[tokio::test]
async fn terminal_ssm_statuses_end_the_check_at_once_on_the_per_instance_fallback() {
    use aws_sdk_ssm::operation::get_command_invocation::{GetCommandInvocationError, GetCommandInvocationOutput};
    use aws_sdk_ssm::operation::list_command_invocations::ListCommandInvocationsError;
    use aws_sdk_ssm::types::CommandInvocationStatus as S;
    // A service without ListCommandInvocations: polled per instance from then on.
    let unavailable = mock!(aws_sdk_ssm::Client::list_command_invocations).then_error(|| {
        ListCommandInvocationsError::generic(ErrorMetadata::builder().code("UnknownOperationException").build())
    });
    let not_yet = mock!(aws_sdk_ssm::Client::get_command_invocation).then_error(|| {
        GetCommandInvocationError::generic(ErrorMetadata::builder().code("InvocationDoesNotExist").build())
    });
    let failed = mock!(aws_sdk_ssm::Client::get_command_invocation).then_output(|| {
        GetCommandInvocationOutput::builder()
            .status(S::Failed)
            .status_details("Undeliverable")
            .build()
    });
    let timed_out = mock!(aws_sdk_ssm::Client::get_command_invocation)
        .then_output(|| GetCommandInvocationOutput::builder().status(S::TimedOut).build());
    let delayed_undeliverable = mock!(aws_sdk_ssm::Client::get_command_invocation).then_output(|| {
        GetCommandInvocationOutput::builder()
            .status(S::Delayed)
            .status_details("Undeliverable")
            .build()
    });
    let in_progress = mock!(aws_sdk_ssm::Client::get_command_invocation)
        .then_output(|| GetCommandInvocationOutput::builder().status(S::InProgress).build());
    let inline = mock!(aws_sdk_ssm::Client::get_command_invocation).then_output(|| {
        GetCommandInvocationOutput::builder()
            .status(S::Success)
            .standard_output_content("EC2TS_OVERRIDE=PRESENT\n")
            .build()
    });
    let remote = ssm(&[
        &unavailable,
        &not_yet,
        &failed,
        &timed_out,
        &delayed_undeliverable,
        &in_progress,
        &inline,
    ]);
    let out = output();
    let ids = ["i-1".to_string()];
    let poll = || async { remote.poll_command("cmd", &ids, &out).await.map(|mut p| p.remove(0).1) };
    assert_eq!(
        poll().await.unwrap(),
        CheckPoll::Pending,
        "invocations appear after SendCommand returns"
    );
    assert_eq!(
        poll().await.unwrap(),
        CheckPoll::Failed {
            status: "Failed".into(),
            detail: "Undeliverable".into()
        }
    );
    assert!(matches!(poll().await.unwrap(), CheckPoll::Failed { status, .. } if status == "TimedOut"));
    assert!(matches!(poll().await.unwrap(), CheckPoll::Failed { status, .. } if status == "Undeliverable"));
    assert_eq!(poll().await.unwrap(), CheckPoll::Pending);
    assert_eq!(
        poll().await.unwrap(),
        CheckPoll::Output("EC2TS_OVERRIDE=PRESENT\n".into())
    );
}

#[tokio::test]
async fn one_list_call_polls_a_whole_command_with_inline_output() {
    use aws_sdk_ssm::operation::list_command_invocations::ListCommandInvocationsOutput;
    use aws_sdk_ssm::types::{CommandInvocation, CommandInvocationStatus as S, CommandPlugin};
    let invocation = |id: &str, status: S, output: Option<&str>| {
        let mut b = CommandInvocation::builder().instance_id(id).status(status.clone());
        if let Some(o) = output {
            b = b.command_plugins(
                CommandPlugin::builder()
                    .status(status.as_str().into())
                    .output(o)
                    .build(),
            );
        }
        b.build()
    };
    let page = mock!(aws_sdk_ssm::Client::list_command_invocations)
        .match_requests(|r| r.command_id() == Some("cmd") && r.details() == Some(true) && r.max_results() == Some(50))
        .then_output(move || {
            ListCommandInvocationsOutput::builder()
                .command_invocations(invocation("i-1", S::Success, Some("EC2TS_OVERRIDE=ABSENT\n")))
                .command_invocations(invocation("i-2", S::InProgress, None))
                .command_invocations(invocation("i-4", S::TimedOut, None))
                .command_invocations(invocation("i-other", S::Success, Some("EC2TS_OVERRIDE=PRESENT\n")))
                .build()
        });
    let remote = ssm(&[&page]);
    let ids: Vec<String> = ["i-1", "i-2", "i-3", "i-4"].iter().map(|s| s.to_string()).collect();
    let mut polls = remote.poll_command("cmd", &ids, &output()).await.unwrap();
    polls.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(polls.len(), 4, "only the instances asked about: {polls:?}");
    assert_eq!(
        polls[0],
        ("i-1".into(), CheckPoll::Output("EC2TS_OVERRIDE=ABSENT\n".into()))
    );
    assert_eq!(polls[1], ("i-2".into(), CheckPoll::Pending));
    assert_eq!(polls[2], ("i-3".into(), CheckPoll::Pending), "not listed yet");
    assert!(matches!(&polls[3].1, CheckPoll::Failed { status, .. } if status == "TimedOut"));
}

#[tokio::test]
async fn ec2_error_codes_survive_the_mapping() {
    use aws_sdk_ec2::operation::stop_instances::StopInstancesError;
    let refused = mock!(aws_sdk_ec2::Client::stop_instances).then_error(|| {
        StopInstancesError::generic(
            ErrorMetadata::builder()
                .code("IncorrectInstanceState")
                .message("The instance 'i-1' is not in a state from which it can be stopped.")
                .build(),
        )
    });
    let err = ec2(&[&refused]).stop(&["i-1".to_string()]).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("IncorrectInstanceState"));
    assert_eq!(err.operation, "StopInstances");
    assert!(err.message.contains("not in a state"));
    assert!(err.is_instance_specific(), "so the orchestrator splits the batch");
}

#[tokio::test]
async fn request_limit_exceeded_is_retried_by_the_sdk() {
    use aws_sdk_ec2::operation::start_instances::StartInstancesOutput;
    let throttled_then_ok = mock!(aws_sdk_ec2::Client::start_instances)
        .sequence()
        .http_status(503, Some("<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>slow down</Message></Error></Errors></Response>".into()))
        .times(2)
        .output(|| StartInstancesOutput::builder().build())
        .build();
    ec2(&[&throttled_then_ok])
        .start(&["i-1".to_string()])
        .await
        .expect("retried to success");
    assert_eq!(throttled_then_ok.num_calls(), 3, "two throttled attempts, then success");
}

#[tokio::test]
async fn change_calendar_states_and_errors_are_read_from_ssm() {
    use aws_sdk_ssm::operation::get_calendar_state::{GetCalendarStateError, GetCalendarStateOutput};
    use aws_sdk_ssm::types::CalendarState as S;
    use ec2_tier_scheduler::aws::SsmCalendar;
    use ec2_tier_scheduler::ports::ChangeCalendar;
    let open = mock!(aws_sdk_ssm::Client::get_calendar_state)
        .match_requests(|r| r.calendar_names() == ["holidays".to_string()])
        .then_output(|| GetCalendarStateOutput::builder().state(S::Open).build());
    let closed = mock!(aws_sdk_ssm::Client::get_calendar_state).then_output(|| {
        GetCalendarStateOutput::builder()
            .state(S::Closed)
            .next_transition_time("2026-12-26T00:00:00Z")
            .build()
    });
    let missing = mock!(aws_sdk_ssm::Client::get_calendar_state).then_error(|| {
        GetCalendarStateError::generic(
            ErrorMetadata::builder()
                .code("InvalidDocument")
                .message("no such calendar")
                .build(),
        )
    });
    let conf = aws_sdk_ssm::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("a", "b", None, None, "test"))
        .http_client(create_mock_http_client())
        .interceptor(interceptor(&[&open, &closed, &missing]))
        .build();
    let calendar = SsmCalendar::new(aws_sdk_ssm::Client::from_conf(conf));
    let names = ["holidays".to_string()];
    let state = calendar.state(&names).await.unwrap();
    assert!(state.open);
    let state = calendar.state(&names).await.unwrap();
    assert!(!state.open);
    assert_eq!(state.next_transition.as_deref(), Some("2026-12-26T00:00:00Z"));
    let err = calendar.state(&names).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("InvalidDocument"));
}

#[tokio::test]
async fn throttled_attempts_are_counted_for_the_throttles_metric() {
    use aws_sdk_ec2::operation::start_instances::StartInstancesOutput;
    use ec2_tier_scheduler::aws::ApiCounter;
    let throttled = "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>slow down</Message></Error></Errors></Response>";
    let throttled_then_ok = mock!(aws_sdk_ec2::Client::start_instances)
        .sequence()
        .http_status(503, Some(throttled.into()))
        .times(2)
        .output(|| StartInstancesOutput::builder().build())
        .build();
    let denied = mock!(aws_sdk_ec2::Client::start_instances)
        .sequence()
        .http_status(
            403,
            Some("<Response><Errors><Error><Code>UnauthorizedOperation</Code></Error></Errors></Response>".into()),
        )
        .build();
    let counter = ApiCounter::new();
    let conf = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("a", "b", None, None, "test"))
        .http_client(create_mock_http_client())
        // Standard retry with a short backoff: what is counted does not
        // depend on the policy, and the test need not wait.
        .retry_config(
            aws_sdk_ec2::config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(std::time::Duration::from_millis(1)),
        )
        .interceptor(interceptor(&[&throttled_then_ok, &denied]))
        .interceptor(counter.clone())
        .build();
    let compute = Ec2Compute::new(aws_sdk_ec2::Client::from_conf(conf));
    compute.start(&["i-1".to_string()]).await.expect("retried to success");
    assert_eq!(
        counter.throttles(),
        2,
        "both throttled attempts, though the SDK retried them"
    );
    assert_eq!(counter.count("EC2", "StartInstances"), 1, "one call");
    let err = compute.start(&["i-1".to_string()]).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("UnauthorizedOperation"));
    assert_eq!(counter.throttles(), 2, "other errors are not throttles");
}
