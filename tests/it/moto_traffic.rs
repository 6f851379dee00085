//! Traffic-aware tiers through the CLI against moto: a web tier in two
//! target groups is drained (recorded in the run ledger), stopped, started,
//! registered again to the same groups and ports, and the next tier starts
//! only after its targets are healthy; an alarm selected by prefix is
//! disabled by the Stop and enabled by the Start, one an operator disabled
//! stays disabled.

use aws_sdk_cloudwatch::types::ComparisonOperator;
use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, TargetDescription, TargetTypeEnum};
use serde_json::{json, Value};

use crate::support::moto::Stack;
use crate::support::{tier_item, tier_json, workload_item};

/// (instance, port) registered in target group `arn`.
async fn registered(elb: &aws_sdk_elasticloadbalancingv2::Client, arn: &str) -> Vec<(String, i32)> {
    let out = elb.describe_target_health().target_group_arn(arn).send().await.unwrap();
    let mut found: Vec<(String, i32)> = out
        .target_health_descriptions()
        .iter()
        .filter_map(|d| Some((d.target()?.id()?.to_string(), d.target()?.port()?)))
        .collect();
    found.sort();
    found
}

async fn target_group(elb: &aws_sdk_elasticloadbalancingv2::Client, name: &str, port: i32, vpc: &str) -> String {
    let out = elb
        .create_target_group()
        .name(name)
        .protocol(ProtocolEnum::Http)
        .port(port)
        .vpc_id(vpc)
        .target_type(TargetTypeEnum::Instance)
        .tags(
            aws_sdk_elasticloadbalancingv2::types::Tag::builder()
                .key("Environment")
                .value("ENV001")
                .build(),
        )
        .send()
        .await
        .unwrap();
    out.target_groups()[0].target_group_arn().unwrap().to_string()
}

async fn alarm(cw: &aws_sdk_cloudwatch::Client, name: &str) {
    cw.put_metric_alarm()
        .alarm_name(name)
        .metric_name("HTTPCode_Target_5XX_Count")
        .namespace("AWS/ApplicationELB")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .alarm_actions("arn:aws:sns:us-west-2:123456789012:pager")
        .send()
        .await
        .unwrap();
}

/// Whether alarm `name`'s actions are enabled.
async fn actions_enabled(cw: &aws_sdk_cloudwatch::Client, name: &str) -> bool {
    let out = cw.describe_alarms().alarm_names(name).send().await.unwrap();
    out.metric_alarms()[0].actions_enabled().unwrap()
}

async fn run(stack: &Stack, action: &str) -> Value {
    stack.run_json("W", action).await
}

#[tokio::test]
async fn a_web_tier_in_two_groups_is_drained_stopped_started_and_registered_again() {
    let stack = Stack::start().await;
    stack.ledger_table().await;
    let (vpc, subnet) = stack.vpc("10.11.0.0").await;
    let web = stack.launch_tier(&subnet, "Role_Web", 2).await;
    stack.launch_tier(&subnet, "Role_App", 1).await;
    let other = stack
        .launch(&subnet, &[("Environment", "ENV002"), ("Role", "Role_Web")], 1)
        .await;
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&stack.config);
    let http = target_group(&elb, "web-http", 80, &vpc).await;
    let admin = target_group(&elb, "web-admin", 8080, &vpc).await;
    let target = |id: &String, port| TargetDescription::builder().id(id).port(port).build();
    elb.register_targets()
        .target_group_arn(&http)
        .targets(target(&web[0], 80))
        .targets(target(&web[1], 80))
        .targets(target(&other[0], 80))
        .send()
        .await
        .unwrap();
    elb.register_targets()
        .target_group_arn(&admin)
        .targets(target(&web[0], 8080))
        .send()
        .await
        .unwrap();
    let cw = aws_sdk_cloudwatch::Client::new(&stack.config);
    alarm(&cw, "w-web-5xx").await;
    alarm(&cw, "w-web-paused").await;
    cw.disable_alarm_actions()
        .alarm_names("w-web-paused")
        .send()
        .await
        .unwrap();
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    workload["AlarmPrefixes"] = json!("w-web-");
    let mut web_tier = tier_item("W", "Role_Web", 0, 0, false, 0);
    web_tier["TierStop"]["TierLoadBalancing"] = json!("Drain");
    web_tier["TierStart"]["TierLoadBalancing"] = json!("Drain");
    stack
        .put_config(workload, vec![web_tier, tier_item("W", "Role_App", 1, 1, false, 0)])
        .await;

    let printed = run(&stack, "Stop").await;
    assert_eq!(printed["summary"]["status"], "completed", "{printed:#}");
    assert_eq!(
        registered(&elb, &http).await,
        [(other[0].clone(), 80)],
        "only the tier's targets leave"
    );
    assert!(registered(&elb, &admin).await.is_empty());
    assert_eq!(stack.instance(&web[0]).await.0, "stopped");
    let warnings = printed["plan"]["warnings"].to_string();
    assert!(
        warnings.contains("target group web-admin would be left with no registered target"),
        "{warnings}"
    );
    assert!(!actions_enabled(&cw, "w-web-5xx").await, "muted while stopped");
    let (code, out, err) = stack.cli(&["status", "-w", "W", "-r", "us-west-2"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("registrations recorded by a drain"), "{out}");
    assert!(out.contains("w-web-5xx MUTED by the scheduler"), "{out}");

    let printed = run(&stack, "Start").await;
    let summary = &printed["summary"];
    assert_eq!(summary["status"], "completed", "{printed:#}");
    let mut both = vec![(other[0].clone(), 80), (web[0].clone(), 80), (web[1].clone(), 80)];
    both.sort();
    assert_eq!(registered(&elb, &http).await, both, "the same groups and ports");
    assert_eq!(registered(&elb, &admin).await, [(web[0].clone(), 8080)]);
    let gate = &tier_json(summary, "Role_Web")["gate"];
    assert_eq!(
        (gate["check"].as_str(), gate["ready"].as_u64()),
        (Some("TargetsHealthy"), Some(2)),
        "{summary:#}"
    );
    let began = |name: &str| tier_json(summary, name)["startedAtMs"].as_u64().unwrap();
    let web_took = tier_json(summary, "Role_Web")["durationMs"].as_u64().unwrap();
    assert!(
        began("Role_App") >= began("Role_Web") + web_took,
        "App after Web's targets are healthy"
    );
    assert!(actions_enabled(&cw, "w-web-5xx").await, "unmuted after the Start");
    assert!(
        !actions_enabled(&cw, "w-web-paused").await,
        "an operator's stays disabled"
    );
}
