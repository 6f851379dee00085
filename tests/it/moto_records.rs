//! Issue 29 through the CLI against moto: a group at 0 carrying the
//! capacity tag an earlier version wrote is not trusted (a Start leaves it
//! at 0 and fails it, naming `records adopt`), `records list` shows it,
//! `records adopt` moves it into the run ledger and the next Start restores
//! it; a forged tag is dropped on purpose with `records forget`.

use serde_json::json;

use crate::support::moto::Stack;
use crate::support::{tier_item, workload_item};

/// (min, desired, max) of group `name`.
async fn capacity(asg: &aws_sdk_autoscaling::Client, name: &str) -> (i32, i32, i32) {
    let out = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .unwrap();
    let g = &out.auto_scaling_groups()[0];
    (
        g.min_size().unwrap_or(-1),
        g.desired_capacity().unwrap_or(-1),
        g.max_size().unwrap_or(-1),
    )
}

/// Puts a record tag on group `name`, as an earlier version (or a tagger) would.
async fn tag(asg: &aws_sdk_autoscaling::Client, name: &str, value: &str) {
    asg.create_or_update_tags()
        .tags(
            aws_sdk_autoscaling::types::Tag::builder()
                .resource_id(name)
                .resource_type("auto-scaling-group")
                .key(ec2_tier_scheduler::member::CAPACITY_TAG)
                .value(value)
                .propagate_at_launch(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn old_record_tags_are_adopted_by_an_operator_and_forged_ones_forgotten() {
    let stack = Stack::start().await;
    stack.ledger_table().await;
    let (_, subnet) = stack.vpc("10.21.0.0").await;
    let ours = [("Environment", "ENV001"), ("Role", "Role_Web")];
    // What an earlier version left after its Stop: groups at 0 with tags.
    let asg = stack.auto_scaling_group("web", &subnet, (0, 0, 0), &ours, false).await;
    stack.auto_scaling_group("api", &subnet, (0, 0, 0), &ours, false).await;
    tag(&asg, "web", "1,2,3").await;
    tag(&asg, "api", "0,5000,5000").await;
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    let mut web = tier_item("W", "Role_Web", 0, 0, false, 0);
    web["TierStop"]["TierAutoScalingGroups"] = json!("ScaleToZero");
    web["TierStart"]["TierAutoScalingGroups"] = json!("ScaleToZero");
    stack.put_config(workload, vec![web]).await;
    let cli = |args: &'static [&'static str]| {
        let mut all = args.to_vec();
        all.extend(["-w", "W", "-r", "us-west-2"]);
        all
    };

    // Not trusted: listed, and a Start leaves both at 0 and fails them.
    let (code, out, err) = stack.cli(&cli(&["records", "list"])).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("NOT TRUSTED: asg:web: ec2-tier-scheduler:capacity=1,2,3"),
        "{out}"
    );
    let (code, out, err) = stack
        .cli(&["-w", "W", "-r", "us-west-2", "-a", "Start", "--json"])
        .await;
    assert_eq!(code, 3, "{out}\n{err}");
    assert!(out.contains("orchestrator records adopt -w W"), "{out}");
    assert_eq!(capacity(&asg, "web").await, (0, 0, 0));
    assert_eq!(capacity(&asg, "api").await, (0, 0, 0));

    // The operator forgets the forged one and adopts the rest.
    let (code, out, err) = stack.cli(&cli(&["records", "forget", "asg:api"])).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let (code, out, err) = stack.cli(&cli(&["records", "adopt"])).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("adopted: asg:web: capacity min 1, desired 2, max 3"),
        "{out}"
    );
    assert!(!out.contains("asg:api"), "forgotten: {out}");
    let (code, out, _) = stack.cli(&cli(&["records", "list"])).await;
    assert_eq!(code, 0);
    assert!(!out.contains("NOT TRUSTED"), "{out}");
    assert!(
        out.contains("asg:web") && out.contains("capacity min 1, desired 2, max 3"),
        "{out}"
    );

    // The next Start restores the adopted record; the forged one stays at 0.
    let (code, out, err) = stack
        .cli(&["-w", "W", "-r", "us-west-2", "-a", "Start", "--json"])
        .await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(capacity(&asg, "web").await, (1, 2, 3));
    assert_eq!(capacity(&asg, "api").await, (0, 0, 0));
}
