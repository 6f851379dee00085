//! Issue 15 against moto: override tags through the CLI, hibernation.

use ec2_tier_scheduler::action::Action;

use crate::support::moto::Stack;
use crate::support::{request, run_fast, three_tiers, workload_item};

#[tokio::test]
async fn override_tags_are_set_listed_honoured_and_cleared_through_the_cli() {
    let stack = Stack::start().await;
    let (_, subnet) = stack.vpc("10.11.0.0").await;
    let web = stack.launch_tier(&subnet, "Role_Web", 2).await;
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    stack.put_config(workload, three_tiers("W", 0)).await;
    let scope = ["-w", "W", "-r", "us-west-2"];

    let (code, out, err) = stack
        .cli(
            &[
                &["override", "set"][..],
                &scope,
                &["--instance", &web[0], "--for", "3h", "--reason", "month-end batch"],
            ]
            .concat(),
        )
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("1 instance(s) tagged SchedulerOverride=keep-running until"),
        "{out}"
    );
    let (code, out, _) = stack.cli(&[&["override", "list"][..], &scope].concat()).await;
    assert_eq!(code, 0);
    assert!(
        out.contains(&web[0]) && out.contains("active: override tag: keep-running until"),
        "{out}"
    );
    assert!(out.contains("month-end batch"), "{out}");
    // A stray instance id is refused, not tagged.
    let (code, _, err) = stack
        .cli(
            &[
                &["override", "set"][..],
                &scope,
                &["--instance", "i-0123456789abcdef0", "--for", "1h"],
            ]
            .concat(),
        )
        .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is not an instance of workload"));

    let report = run_fast(&stack.cloud(), &request("W", Action::Stop)).await;
    let tier = report.summary.tiers.iter().find(|t| t.tier == "Role_Web").unwrap();
    assert_eq!(tier.acted, [web[1].clone()]);
    assert!(tier.skipped[0].reason.contains("month-end batch"));
    assert_eq!(stack.instance(&web[0]).await.0, "running");

    let (code, _, _) = stack.cli(&[&["override", "clear"][..], &scope].concat()).await;
    assert_eq!(code, 0);
    let (_, out, _) = stack.cli(&[&["override", "list"][..], &scope].concat()).await;
    assert!(out.contains("no SchedulerOverride tags"), "{out}");
    let report = run_fast(&stack.cloud(), &request("W", Action::Stop)).await;
    let tier = report.summary.tiers.iter().find(|t| t.tier == "Role_Web").unwrap();
    assert_eq!(tier.acted, [web[0].clone()]);
}

#[tokio::test]
async fn hibernation_configured_instances_are_hibernated() {
    use aws_sdk_ec2::types::{HibernationOptionsRequest, InstanceType, ResourceType, Tag, TagSpecification};
    let stack = Stack::start().await;
    let (_, subnet) = stack.vpc("10.12.0.0").await;
    let spec = TagSpecification::builder()
        .resource_type(ResourceType::Instance)
        .tags(Tag::builder().key("Environment").value("ENV001").build())
        .tags(Tag::builder().key("Role").value("Role_Web").build())
        .build();
    let out = stack
        .ec2
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(1)
        .max_count(1)
        .instance_type(InstanceType::M5Large)
        .subnet_id(&subnet)
        .hibernation_options(HibernationOptionsRequest::builder().configured(true).build())
        .tag_specifications(spec)
        .send()
        .await
        .unwrap();
    let hibernating = out.instances()[0].instance_id().unwrap().to_string();
    let plain = stack.launch_tier(&subnet, "Role_Web", 1).await;
    let mut tiers = three_tiers("W", 0);
    tiers[0]["TierStop"]["TierHibernate"] = serde_json::json!("True");
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    stack.put_config(workload, tiers).await;

    let report = run_fast(&stack.cloud(), &request("W", Action::Stop)).await;
    let tier = report.summary.tiers.iter().find(|t| t.tier == "Role_Web").unwrap();
    assert_eq!(
        tier.hibernated,
        std::slice::from_ref(&hibernating),
        "{}",
        report.summary.to_table()
    );
    assert_eq!(tier.acted.len(), 2);
    assert_eq!(stack.instance(&hibernating).await.0, "stopped");
    assert_eq!(stack.instance(&plain[0]).await.0, "stopped");
}

#[tokio::test]
async fn auto_scaling_members_are_skipped_or_stopped_with_their_group_suspended() {
    let stack = Stack::start().await;
    // Suspend mode records what it suspended in the run ledger.
    stack.ledger_table().await;
    let (_, subnet) = stack.vpc("10.13.0.0").await;
    let ours = [("Environment", "ENV001"), ("Role", "Role_Web")];
    let asg = stack
        .auto_scaling_group("web-asg", &subnet, (1, 1, 1), &ours, true)
        .await;
    let plain = stack.launch_tier(&subnet, "Role_Web", 1).await;
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    stack.put_config(workload.clone(), three_tiers("W", 0)).await;

    // Default: the member is left alone.
    let report = run_fast(&stack.cloud(), &request("W", Action::Stop)).await;
    let tier = report.summary.tiers.iter().find(|t| t.tier == "Role_Web").unwrap();
    assert_eq!(tier.acted, plain, "{}", report.summary.to_table());
    let member = tier.skipped[0].id.clone();
    assert!(tier.skipped[0].reason.contains("member of Auto Scaling group web-asg"));
    assert_eq!(stack.instance(&member).await.0, "running");

    // Suspend: processes suspended (recorded in the ledger), then the member stopped.
    let mut tiers = three_tiers("W", 0);
    tiers[0]["TierStop"]["TierAutoScalingGroups"] = serde_json::json!("Suspend");
    tiers[0]["TierStart"]["TierAutoScalingGroups"] = serde_json::json!("Suspend");
    stack.put_config(workload, tiers).await;
    let report = run_fast(&stack.cloud(), &request("W", Action::Stop)).await;
    let tier = report.summary.tiers.iter().find(|t| t.tier == "Role_Web").unwrap();
    assert_eq!(
        tier.acted,
        std::slice::from_ref(&member),
        "{}",
        report.summary.to_table()
    );
    assert_eq!(stack.instance(&member).await.0, "stopped");
    let group = |asg: aws_sdk_autoscaling::Client| async move {
        let out = asg
            .describe_auto_scaling_groups()
            .auto_scaling_group_names("web-asg")
            .send()
            .await
            .unwrap();
        let g = out.auto_scaling_groups()[0].clone();
        let mut suspended: Vec<String> = g
            .suspended_processes()
            .iter()
            .map(|p| p.process_name().unwrap().to_string())
            .collect();
        suspended.sort();
        let record = g
            .tags()
            .iter()
            .find(|t| t.key() == Some(ec2_tier_scheduler::aws::SUSPENDED_TAG))
            .and_then(|t| t.value().map(str::to_string));
        (suspended, record)
    };
    let (suspended, record) = group(asg.clone()).await;
    assert_eq!(
        suspended,
        ["AZRebalance", "HealthCheck", "Launch", "ReplaceUnhealthy", "Terminate"]
    );
    assert_eq!(record, None, "recorded in the run ledger, never as a tag");

    // Start: the member starts, then the processes are resumed.
    let report = run_fast(&stack.cloud(), &request("W", Action::Start)).await;
    let tier = report.summary.tiers.iter().find(|t| t.tier == "Role_Web").unwrap();
    assert_eq!(tier.auto_scaling[0].resumed.len(), 5, "{}", report.summary.to_table());
    assert_eq!(stack.instance(&member).await.0, "running");
    let (suspended, record) = group(asg).await;
    assert!(suspended.is_empty(), "{suspended:?}");
    assert_eq!(record, None);
}
