//! The kinds of issue 31 against moto: Neptune clusters stopped and started
//! through the CLI in the tier order beside the instances, a same-tagged
//! cluster of another workload untouched; DocumentDB clusters (moto 5.2.5
//! refuses their engine: tests/support/moto_launcher.py adds it) kept
//! apart from Aurora and Neptune by engine; EKS node groups (the launcher
//! gives each its Auto Scaling group, as EKS does) scaled to min 0,
//! desired 0 with their max kept, and restored from the run ledger. Runs
//! are in this process, on the product's cloud (the CLI is the same
//! library).

use aws_sdk_rds::types::Tag;
use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::instance::Discovery;
use ec2_tier_scheduler::member::{MemberKind, AVAILABLE, STOPPED};
use ec2_tier_scheduler::ports::Cloud;
use serde_json::{json, Value};

use crate::support::moto::Stack;
use crate::support::{request, run_fast, three_tiers, tier_json, workload_item};

fn tags(env: &str, role: &str) -> Option<Vec<Tag>> {
    Some(vec![
        Tag::builder().key("Environment").value(env).build(),
        Tag::builder().key("Role").value(role).build(),
    ])
}

/// A DB cluster of `engine` (`neptune`, `docdb`, `aurora-postgresql`).
async fn cluster(stack: &Stack, id: &str, engine: &str, env: &str, role: &str) {
    stack
        .rds
        .create_db_cluster()
        .db_cluster_identifier(id)
        .engine(engine)
        .master_username("scheduler")
        .master_user_password("not-a-secret-1")
        .set_tags(tags(env, role))
        .send()
        .await
        .unwrap();
}

/// RDS's status of each cluster, by id.
async fn cluster_statuses(stack: &Stack) -> Vec<(String, String)> {
    let clusters = stack.rds.describe_db_clusters().send().await.unwrap();
    let mut out: Vec<(String, String)> = clusters
        .db_clusters()
        .iter()
        .map(|c| {
            (
                c.db_cluster_identifier().unwrap_or_default().to_string(),
                c.status().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The spec's three tiers of workload W (no SNS topic), App holding
/// `app`, DB holding `db`.
async fn configure(stack: &Stack, app: &str, db: &str) {
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    let mut tiers = three_tiers("W", 0);
    tiers[1]["TierResourceTypes"] = json!(app);
    tiers[2]["TierResourceTypes"] = json!(db);
    stack.put_config(workload, tiers).await;
}

/// A run of workload W in this process on the product's cloud (the run
/// ledger's records once the table exists), as the CLI's `--json` prints
/// it: the plan and the summary.
async fn run(stack: &Stack, action: Action) -> Value {
    let report = run_fast(&stack.cloud(), &request("W", action)).await;
    json!({ "plan": report.plan, "summary": report.summary })
}

fn acted(summary: &Value, tier: &str) -> Vec<Value> {
    tier_json(summary, tier)["acted"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn began(summary: &Value, tier: &str) -> u64 {
    tier_json(summary, tier)["startedAtMs"].as_u64().unwrap()
}

#[tokio::test]
async fn a_neptune_cluster_stops_last_and_starts_first_and_an_outsider_is_untouched() {
    let stack = Stack::start().await;
    let (_, subnet) = stack.vpc("10.31.0.0").await;
    for tier in ["Role_Web", "Role_App", "Role_DB"] {
        stack.launch_tier(&subnet, tier, 1).await;
    }
    cluster(&stack, "graph", "neptune", "ENV001", "Role_DB").await;
    cluster(&stack, "their-graph", "neptune", "ENV002", "Role_DB").await;
    cluster(&stack, "ledger", "aurora-postgresql", "ENV001", "Role_DB").await;
    configure(&stack, "EC2", "EC2,Neptune").await;

    let printed = run(&stack, Action::Stop).await;
    let summary = &printed["summary"];
    assert_eq!(summary["status"], "completed", "{summary:#}");
    assert!(
        acted(summary, "Role_DB").contains(&json!("neptune:graph")),
        "{summary:#}"
    );
    assert!(began(summary, "Role_App") <= began(summary, "Role_DB"));
    let plan = printed["plan"].to_string();
    assert!(
        plan.contains("neptune:graph") && !plan.contains("ledger"),
        "Aurora is not listed: {plan}"
    );
    let stopped = cluster_statuses(&stack).await;
    assert_eq!(
        stopped,
        [
            ("graph".to_string(), STOPPED.to_string()),
            ("ledger".to_string(), AVAILABLE.to_string()),
            ("their-graph".to_string(), AVAILABLE.to_string()),
        ]
    );

    let printed = run(&stack, Action::Start).await;
    let summary = &printed["summary"];
    assert_eq!(summary["status"], "completed", "{summary:#}");
    assert!(
        acted(summary, "Role_DB").contains(&json!("neptune:graph")),
        "{summary:#}"
    );
    assert!(began(summary, "Role_DB") <= began(summary, "Role_App"));
    assert!(cluster_statuses(&stack).await.iter().all(|(_, s)| s == AVAILABLE));
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

#[tokio::test]
async fn documentdb_clusters_are_their_own_kind_stopped_and_started_through_rds() {
    let stack = Stack::start().await;
    cluster(&stack, "catalog", "docdb", "ENV001", "Role_DB").await;
    cluster(&stack, "graph", "neptune", "ENV001", "Role_DB").await;
    cluster(&stack, "ledger", "aurora-postgresql", "ENV001", "Role_DB").await;
    cluster(&stack, "their-catalog", "docdb", "ENV002", "Role_DB").await;
    let ports = stack.cloud().workload_ports("us-west-2", None).await.unwrap();
    let databases = ports.members.databases;
    let found = |kinds: &'static [MemberKind]| {
        let databases = databases.clone();
        async move {
            let mut ids: Vec<String> = databases
                .discover(&query(), kinds)
                .await
                .unwrap()
                .iter()
                .map(|m| m.member_id())
                .collect();
            ids.sort();
            ids
        }
    };
    // Each engine is its own kind, found only when asked for.
    assert_eq!(found(&[MemberKind::Aurora]).await, ["aurora:ledger"]);
    assert_eq!(found(&[MemberKind::DocumentDb]).await, ["docdb:catalog"]);
    assert_eq!(found(&[MemberKind::Neptune]).await, ["neptune:graph"]);
    assert_eq!(
        found(&[MemberKind::Rds, MemberKind::DocumentDb, MemberKind::Neptune]).await,
        ["docdb:catalog", "neptune:graph"]
    );

    databases.stop(MemberKind::DocumentDb, "catalog").await.unwrap();
    let ids = ["catalog".to_string()];
    let status = databases.statuses(MemberKind::DocumentDb, &ids).await.unwrap();
    assert_eq!((status[0].id.as_str(), status[0].status.as_str()), ("catalog", STOPPED));
    let refused = databases.stop(MemberKind::DocumentDb, "catalog").await.unwrap_err();
    assert_eq!(refused.operation, "StopDBCluster", "{refused}");
    databases.start(MemberKind::DocumentDb, "catalog").await.unwrap();
    let status = databases.statuses(MemberKind::DocumentDb, &ids).await.unwrap();
    assert_eq!(status[0].status, AVAILABLE);
    let all = cluster_statuses(&stack).await;
    assert!(all.iter().all(|(_, s)| s == AVAILABLE), "{all:?}");

    // Through the CLI too: DB holds DocumentDB only.
    configure(&stack, "EC2", "DocumentDB").await;
    let summary = run(&stack, Action::Stop).await["summary"].clone();
    assert_eq!(acted(&summary, "Role_DB"), [json!("docdb:catalog")], "{summary:#}");
    let stopped = cluster_statuses(&stack).await;
    let stopped: Vec<&str> = stopped
        .iter()
        .filter(|(_, s)| s == STOPPED)
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(stopped, ["catalog"]);
}

/// An EKS cluster `prod` with node group `name` in `subnet` at (min,
/// desired, max), carrying `tags`; the launcher creates its Auto Scaling
/// group.
async fn node_group(
    stack: &Stack,
    subnet: &str,
    name: &str,
    (min, desired, max): (i32, i32, i32),
    tags: &[(&str, &str)],
) {
    use aws_sdk_eks::types::{NodegroupScalingConfig, VpcConfigRequest};
    let eks = aws_sdk_eks::Client::new(&stack.config);
    if eks.describe_cluster().name("prod").send().await.is_err() {
        eks.create_cluster()
            .name("prod")
            .role_arn("arn:aws:iam::123456789012:role/eks-cluster")
            .resources_vpc_config(VpcConfigRequest::builder().subnet_ids(subnet).build())
            .send()
            .await
            .unwrap();
    }
    let scaling = NodegroupScalingConfig::builder()
        .min_size(min)
        .desired_size(desired)
        .max_size(max)
        .build();
    eks.create_nodegroup()
        .cluster_name("prod")
        .nodegroup_name(name)
        .node_role("arn:aws:iam::123456789012:role/eks-node")
        .subnets(subnet)
        .scaling_config(scaling)
        .set_tags(Some(tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()))
        .send()
        .await
        .unwrap();
}

/// A node group's (min, desired, max) and its groups' InService instances.
async fn scaling(stack: &Stack, name: &str) -> ((i32, i32, i32), usize) {
    let eks = aws_sdk_eks::Client::new(&stack.config);
    let out = eks
        .describe_nodegroup()
        .cluster_name("prod")
        .nodegroup_name(name)
        .send()
        .await
        .unwrap();
    let ng = out.nodegroup().unwrap();
    let c = ng.scaling_config().unwrap();
    let groups: Vec<String> = ng
        .resources()
        .unwrap()
        .auto_scaling_groups()
        .iter()
        .filter_map(|g| g.name().map(str::to_string))
        .collect();
    let asg = aws_sdk_autoscaling::Client::new(&stack.config);
    let described = asg
        .describe_auto_scaling_groups()
        .set_auto_scaling_group_names(Some(groups))
        .send()
        .await
        .unwrap();
    let in_service = described
        .auto_scaling_groups()
        .iter()
        .flat_map(|g| g.instances())
        .filter(|i| i.lifecycle_state().map(|s| s.as_str()) == Some("InService"))
        .count();
    let n = |v: Option<i32>| v.unwrap_or(-1);
    ((n(c.min_size()), n(c.desired_size()), n(c.max_size())), in_service)
}

/// The node group's capacity record in the run ledger, as `min,desired,max`.
async fn ledger_record(stack: &Stack, id: &str) -> Option<String> {
    let records = stack.cloud().records().expect("the run ledger table");
    let all = records.of_workload("W").await.unwrap();
    all.into_iter()
        .find(|r| r.subject.kind == "EKS" && r.subject.id == id)
        .and_then(|r| match r.restore {
            ec2_tier_scheduler::records::Restore::Capacity(c) => Some(c.to_tag(MemberKind::Eks)),
            _ => None,
        })
}

#[tokio::test]
async fn an_eks_node_group_scales_to_zero_keeping_its_max_and_is_restored_from_the_ledger() {
    let stack = Stack::start().await;
    stack.ledger_table().await;
    let (_, subnet) = stack.vpc("10.32.0.0").await;
    for tier in ["Role_Web", "Role_App", "Role_DB"] {
        stack.launch_tier(&subnet, tier, 1).await;
    }
    let ours = [
        ("Environment", "ENV001"),
        ("Role", "Role_App"),
        ("k8s.io/cluster-autoscaler/enabled", "true"),
    ];
    node_group(&stack, &subnet, "workers", (1, 2, 3), &ours).await;
    let theirs = [("Environment", "ENV002"), ("Role", "Role_App")];
    node_group(&stack, &subnet, "their-workers", (1, 2, 3), &theirs).await;
    assert_eq!(scaling(&stack, "workers").await, ((1, 2, 3), 2));
    configure(&stack, "EC2,EKS", "EC2").await;

    let printed = run(&stack, Action::Stop).await;
    let summary = &printed["summary"];
    assert_eq!(summary["status"], "completed", "{summary:#}");
    assert!(
        acted(summary, "Role_App").contains(&json!("eks:prod/workers")),
        "{summary:#}"
    );
    let warnings = printed["plan"]["warnings"].to_string();
    assert!(
        warnings.contains("eks:prod/workers: tag k8s.io/cluster-autoscaler/enabled: a Cluster Autoscaler can scale it back up while its max is 3"),
        "{warnings}"
    );
    assert!(began(summary, "Role_Web") <= began(summary, "Role_App"));
    assert_eq!(
        scaling(&stack, "workers").await,
        ((0, 0, 3), 0),
        "max kept, no node left"
    );
    assert_eq!(ledger_record(&stack, "prod/workers").await.as_deref(), Some("1,2,3"));
    assert_eq!(scaling(&stack, "their-workers").await, ((1, 2, 3), 2), "untouched");
    // What `status` shows of it: the adapter's words and phase, read from
    // EKS and the node group's Auto Scaling group.
    let ports = stack.cloud().workload_ports("us-west-2", None).await.unwrap();
    let found = ports.members.eks.discover(&query(), &[MemberKind::Eks]).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].member_id(), "eks:prod/workers");
    assert_eq!(found[0].status, "ACTIVE, min 0, desired 0, max 3, 0 InService");
    assert_eq!(found[0].phase, ec2_tier_scheduler::member::Phase::Down);
    assert_eq!(found[0].undoers.len(), 1, "{:?}", found[0].undoers);

    let printed = run(&stack, Action::Start).await;
    let summary = &printed["summary"];
    assert_eq!(summary["status"], "completed", "{summary:#}");
    assert!(
        acted(summary, "Role_App").contains(&json!("eks:prod/workers")),
        "{summary:#}"
    );
    assert!(began(summary, "Role_App") <= began(summary, "Role_Web"));
    assert_eq!(scaling(&stack, "workers").await, ((1, 2, 3), 2), "restored exactly");
    assert_eq!(ledger_record(&stack, "prod/workers").await, None, "record removed");
    let found = ports.members.eks.discover(&query(), &[MemberKind::Eks]).await.unwrap();
    assert_eq!(found[0].status, "ACTIVE, min 1, desired 2, max 3, 2 InService");
    assert_eq!(found[0].phase, ec2_tier_scheduler::member::Phase::Up);
}
