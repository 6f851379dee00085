//! A workload whose DB tier holds an EC2 instance, an RDS DB instance and an
//! Aurora DB cluster, stopped and started through the CLI against moto: the
//! databases act in their tier's turn, come back `available` before the
//! next tier starts, and same-tagged databases of another workload, or of a
//! tier that does not hold RDS, are never touched.

use aws_sdk_rds::types::Tag;
use serde_json::{json, Value};

use crate::support::moto::Stack;
use crate::support::{three_tiers, tier_json, workload_item};

fn tags(env: &str, role: &str) -> Option<Vec<Tag>> {
    Some(vec![
        Tag::builder().key("Environment").value(env).build(),
        Tag::builder().key("Role").value(role).build(),
    ])
}

async fn postgres(stack: &Stack, id: &str, env: &str, role: &str) {
    stack
        .rds
        .create_db_instance()
        .db_instance_identifier(id)
        .db_instance_class("db.t3.micro")
        .engine("postgres")
        .allocated_storage(20)
        .master_username("scheduler")
        .master_user_password("not-a-secret-1")
        .set_tags(tags(env, role))
        .send()
        .await
        .unwrap();
}

async fn aurora(stack: &Stack, id: &str, env: &str, role: &str) {
    stack
        .rds
        .create_db_cluster()
        .db_cluster_identifier(id)
        .engine("aurora-postgresql")
        .master_username("scheduler")
        .master_user_password("not-a-secret-1")
        .set_tags(tags(env, role))
        .send()
        .await
        .unwrap();
}

async fn statuses(stack: &Stack) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let instances = stack.rds.describe_db_instances().send().await.unwrap();
    for db in instances.db_instances() {
        let id = db.db_instance_identifier().unwrap_or_default();
        out.push((
            format!("rds:{id}"),
            db.db_instance_status().unwrap_or_default().to_string(),
        ));
    }
    let clusters = stack.rds.describe_db_clusters().send().await.unwrap();
    for c in clusters.db_clusters() {
        let id = c.db_cluster_identifier().unwrap_or_default();
        out.push((format!("aurora:{id}"), c.status().unwrap_or_default().to_string()));
    }
    out.sort();
    out
}

/// The spec's three tiers of workload W (no SNS topic), its DB tier
/// holding `types`.
async fn configure(stack: &Stack, types: &str) {
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    let mut tiers = three_tiers("W", 0);
    tiers[2]["TierResourceTypes"] = json!(types);
    stack.put_config(workload, tiers).await;
}

async fn run(stack: &Stack, action: &str) -> Value {
    stack.run_json("W", action).await
}

#[tokio::test]
async fn a_db_tier_with_instances_rds_and_aurora_stops_last_and_starts_first() {
    let stack = Stack::start().await;
    let (_, subnet) = stack.vpc("10.8.0.0").await;
    for tier in ["Role_Web", "Role_App", "Role_DB"] {
        stack.launch_tier(&subnet, tier, 1).await;
    }
    postgres(&stack, "orders-db", "ENV001", "Role_DB").await;
    postgres(&stack, "their-db", "ENV002", "Role_DB").await;
    postgres(&stack, "app-db", "ENV001", "Role_App").await;
    aurora(&stack, "ledger", "ENV001", "Role_DB").await;
    configure(&stack, "EC2,RDS,Aurora").await;

    // Stop: Web, App, then DB with its databases.
    let printed = run(&stack, "Stop").await;
    let summary = &printed["summary"];
    let db = tier_json(summary, "Role_DB");
    for member in ["rds:orders-db", "aurora:ledger"] {
        assert!(
            db["acted"].as_array().unwrap().contains(&json!(member)),
            "{member}: {db:#}"
        );
    }
    assert!(
        db["startedAtMs"].as_u64() >= tier_json(summary, "Role_App")["startedAtMs"].as_u64(),
        "DB after App: {summary:#}"
    );
    assert_eq!(
        statuses(&stack).await,
        [
            ("aurora:ledger".to_string(), "stopped".to_string()),
            ("rds:app-db".to_string(), "available".to_string()),
            ("rds:orders-db".to_string(), "stopped".to_string()),
            ("rds:their-db".to_string(), "available".to_string()),
        ],
        "only the workload's databases of a tier that holds them"
    );
    // `status` shows them in their tier.
    let (code, out, err) = stack.cli(&["status", "-w", "W", "-r", "us-west-2"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("OTHER MEMBERS"), "{out}");
    assert!(out.contains("rds:orders-db stopped, aurora:ledger stopped"), "{out}");
    assert!(!out.contains("their-db") && !out.contains("app-db"), "{out}");

    // Start: DB first, confirmed available before App.
    let printed = run(&stack, "Start").await;
    assert_eq!(printed["summary"]["status"], "completed", "{printed:#}");
    let statuses = statuses(&stack).await;
    assert!(statuses.iter().all(|(_, s)| s == "available"), "{statuses:?}");
}

#[tokio::test]
async fn read_replicas_and_their_sources_are_skipped_at_stop_with_rdss_reason() {
    let stack = Stack::start().await;
    postgres(&stack, "reports-db", "ENV001", "Role_DB").await;
    stack
        .rds
        .create_db_instance_read_replica()
        .db_instance_identifier("reports-replica")
        .source_db_instance_identifier("reports-db")
        .set_tags(tags("ENV001", "Role_DB"))
        .send()
        .await
        .unwrap();
    configure(&stack, "RDS").await;

    let printed = run(&stack, "Stop").await;
    let db = tier_json(&printed["summary"], "Role_DB");
    let skipped: Vec<(String, String)> = db["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["id"].as_str().unwrap().to_string(),
                n["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        skipped,
        [
            (
                "rds:reports-db".to_string(),
                "the source of read replica(s) reports-replica: RDS cannot stop it".to_string()
            ),
            (
                "rds:reports-replica".to_string(),
                "a read replica of reports-db: RDS cannot stop it".to_string()
            ),
        ],
        "{db:#}"
    );
    assert!(db["failed"].as_array().is_none_or(|f| f.is_empty()), "{db:#}");
    assert!(statuses(&stack).await.iter().all(|(_, s)| s == "available"));
}

/// Web holds an Auto Scaling group (ScaleToZero) and a plain instance, App
/// an ECS service, DB an RDS instance and an Aurora cluster: each a member
/// of its tier, every kind acted on in the tier order and its capacity
/// restored exactly.
#[tokio::test]
async fn a_whole_workload_stops_web_app_db_and_starts_db_app_web_restoring_capacity() {
    let stack = Stack::start().await;
    stack.ledger_table().await;
    let (_, subnet) = stack.vpc("10.9.0.0").await;
    let plain = stack.launch_tier(&subnet, "Role_Web", 1).await;
    stack.launch_tier(&subnet, "Role_App", 1).await;
    stack.launch_tier(&subnet, "Role_DB", 1).await;
    let ours = [("Environment", "ENV001"), ("Role", "Role_Web")];
    let asg = stack.auto_scaling_group("web", &subnet, (1, 2, 3), &ours, true).await;
    let ecs = stack
        .ecs_service("prod", "api", 2, &[("Environment", "ENV001"), ("Role", "Role_App")])
        .await;
    undoers(&stack, &asg).await;
    postgres(&stack, "orders-db", "ENV001", "Role_DB").await;
    postgres(&stack, "their-db", "ENV002", "Role_DB").await;
    postgres(&stack, "app-db", "ENV001", "Role_App").await;
    aurora(&stack, "ledger", "ENV001", "Role_DB").await;
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    let mut tiers = three_tiers("W", 0);
    tiers[0]["TierStop"]["TierAutoScalingGroups"] = json!("ScaleToZero");
    tiers[1]["TierResourceTypes"] = json!("EC2,ECS");
    tiers[2]["TierResourceTypes"] = json!("EC2,RDS,Aurora");
    stack.put_config(workload, tiers).await;

    let printed = run(&stack, "Stop").await;
    let summary = &printed["summary"];
    assert_eq!(summary["status"], "completed", "{summary:#}");
    let warnings = printed["plan"]["warnings"].to_string();
    assert!(
        warnings.contains("asg:web: scheduled action morning sets min 1, desired 2"),
        "{warnings}"
    );
    assert!(
        warnings.contains("ecs:prod/api: service auto scaling keeps at least 1 task(s)"),
        "{warnings}"
    );
    let acted = |name: &str| tier_json(summary, name)["acted"].as_array().unwrap().clone();
    assert!(acted("Role_Web").contains(&json!("asg:web")) && acted("Role_Web").contains(&json!(plain[0])));
    assert!(acted("Role_App").contains(&json!("ecs:prod/api")), "{summary:#}");
    assert!(acted("Role_DB").contains(&json!("rds:orders-db")) && acted("Role_DB").contains(&json!("aurora:ledger")));
    let began = |name: &str| tier_json(summary, name)["startedAtMs"].as_u64().unwrap();
    assert!(began("Role_Web") <= began("Role_App") && began("Role_App") <= began("Role_DB"));
    assert_eq!(group_capacity(&stack, &asg).await, ((0, 0, 0), Some("1,2,3".into())));
    assert_eq!(service_count(&stack, &ecs).await, (0, Some("2".into())));
    let stopped = statuses(&stack).await;
    let of = |id: &str| stopped.iter().find(|(m, _)| m == id).unwrap().1.clone();
    assert_eq!(
        (of("rds:orders-db"), of("aurora:ledger")),
        ("stopped".into(), "stopped".into())
    );
    assert_eq!(
        (of("rds:their-db"), of("rds:app-db")),
        ("available".into(), "available".into())
    );
    let (code, out, err) = stack.cli(&["status", "-w", "W", "-r", "us-west-2"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("asg:web desired 0, 0 InService"), "{out}");
    assert!(out.contains("a Start restores min 1, desired 2, max 3"), "{out}");
    assert!(
        out.contains("(would undo a stop: service auto scaling keeps at least 1"),
        "{out}"
    );

    let printed = run(&stack, "Start").await;
    let summary = &printed["summary"];
    assert_eq!(summary["status"], "completed", "{summary:#}");
    let began = |name: &str| tier_json(summary, name)["startedAtMs"].as_u64().unwrap();
    assert!(began("Role_DB") <= began("Role_App") && began("Role_App") <= began("Role_Web"));
    assert_eq!(
        group_capacity(&stack, &asg).await,
        ((1, 2, 3), None),
        "restored exactly, record removed"
    );
    assert_eq!(service_count(&stack, &ecs).await, (2, None));
    let statuses = statuses(&stack).await;
    assert!(statuses.iter().all(|(_, s)| s == "available"), "{statuses:?}");
}

/// What would undo a stop: a scheduled action raising group `web`, and
/// service auto scaling of `prod/api` with a minimum of 1.
async fn undoers(stack: &Stack, asg: &aws_sdk_autoscaling::Client) {
    use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
    asg.put_scheduled_update_group_action()
        .auto_scaling_group_name("web")
        .scheduled_action_name("morning")
        .recurrence("0 7 * * *")
        .min_size(1)
        .desired_capacity(2)
        .send()
        .await
        .unwrap();
    aws_sdk_applicationautoscaling::Client::new(&stack.config)
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id("service/prod/api")
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(1)
        .max_capacity(4)
        .send()
        .await
        .unwrap();
}

/// The capacity record the run ledger holds for `id` of `kind` (as tag
/// text, `1,2,3` or a desired count).
async fn ledger_record(stack: &Stack, kind: ec2_tier_scheduler::member::MemberKind, id: &str) -> Option<String> {
    use ec2_tier_scheduler::ports::Cloud;
    let records = stack.cloud().records().expect("the run ledger table");
    let all = records.of_workload("W").await.unwrap();
    all.into_iter()
        .find(|r| r.subject.kind == kind.name() && r.subject.id == id)
        .and_then(|r| match r.restore {
            ec2_tier_scheduler::records::Restore::Capacity(c) => Some(c.to_tag(kind)),
            _ => None,
        })
}

/// (min, desired, max) of group `web` and the scheduler's record in the
/// run ledger (never a tag: the group carries none).
async fn group_capacity(stack: &Stack, asg: &aws_sdk_autoscaling::Client) -> ((i32, i32, i32), Option<String>) {
    let out = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("web")
        .send()
        .await
        .unwrap();
    let g = &out.auto_scaling_groups()[0];
    let tagged = g
        .tags()
        .iter()
        .any(|t| t.key() == Some(ec2_tier_scheduler::member::CAPACITY_TAG));
    assert!(!tagged, "no record tag is written");
    let record = ledger_record(stack, ec2_tier_scheduler::member::MemberKind::Asg, "web").await;
    let n = |v: Option<i32>| v.unwrap_or(-1);
    ((n(g.min_size()), n(g.desired_capacity()), n(g.max_size())), record)
}

/// The desired count of service `prod/api` and the scheduler's record in
/// the run ledger.
async fn service_count(stack: &Stack, ecs: &aws_sdk_ecs::Client) -> (i32, Option<String>) {
    let out = ecs
        .describe_services()
        .cluster("prod")
        .services("api")
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .send()
        .await
        .unwrap();
    let s = &out.services()[0];
    let tagged = s
        .tags()
        .iter()
        .any(|t| t.key() == Some(ec2_tier_scheduler::member::CAPACITY_TAG));
    assert!(!tagged, "no record tag is written");
    let record = ledger_record(stack, ec2_tier_scheduler::member::MemberKind::Ecs, "prod/api").await;
    (s.desired_count(), record)
}
