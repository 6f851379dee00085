//! The RDS adapter against moto (issue 22), through the ports the product's
//! cloud builds: discovery by tags and VPC, stop and start of a DB instance
//! and an Aurora cluster, the statuses moto shows, and a refusal's code.

use aws_sdk_rds::types::Tag;
use ec2_tier_scheduler::instance::Discovery;
use ec2_tier_scheduler::member::{MemberKind, AVAILABLE, STOPPED};
use ec2_tier_scheduler::ports::Cloud;

use crate::support::moto::Stack;

const OURS: &[(&str, &str)] = &[("Environment", "ENV001"), ("Role", "Role_DB")];

fn tags(pairs: &[(&str, &str)]) -> Option<Vec<Tag>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
            .collect(),
    )
}

fn query(vpc: Option<&str>) -> Discovery {
    Discovery {
        workload_tag: ("Environment".into(), "ENV001".into()),
        tier_tag_key: "Role".into(),
        vpc_id: vpc.map(str::to_string),
        override_tag_key: "SchedulerOverride".into(),
        preferred_types_tag_key: "SchedulerPreferredTypes".into(),
    }
}

/// A DB subnet group named `name` on a fresh VPC; returns the VPC id.
async fn subnet_group(stack: &Stack, name: &str, cidr: &str) -> String {
    let (vpc, subnet) = stack.vpc(cidr).await;
    stack
        .rds
        .create_db_subnet_group()
        .db_subnet_group_name(name)
        .db_subnet_group_description(name)
        .subnet_ids(subnet)
        .send()
        .await
        .unwrap();
    vpc
}

/// A PostgreSQL DB instance in `group`, or a member of `cluster`.
async fn db_instance(stack: &Stack, id: &str, group: &str, cluster: Option<&str>, tag_list: &[(&str, &str)]) {
    let engine = if cluster.is_some() {
        "aurora-postgresql"
    } else {
        "postgres"
    };
    stack
        .rds
        .create_db_instance()
        .db_instance_identifier(id)
        .db_instance_class("db.t3.micro")
        .engine(engine)
        .allocated_storage(20)
        .master_username("scheduler")
        .master_user_password("not-a-secret-1")
        .db_subnet_group_name(group)
        .set_db_cluster_identifier(cluster.map(str::to_string))
        .set_tags(tags(tag_list))
        .send()
        .await
        .unwrap();
}

async fn aurora_cluster(stack: &Stack, id: &str, group: &str, tag_list: &[(&str, &str)]) {
    stack
        .rds
        .create_db_cluster()
        .db_cluster_identifier(id)
        .engine("aurora-postgresql")
        .master_username("scheduler")
        .master_user_password("not-a-secret-1")
        .db_subnet_group_name(group)
        .set_tags(tags(tag_list))
        .send()
        .await
        .unwrap();
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

#[tokio::test]
async fn databases_are_found_by_tags_and_vpc_stopped_started_and_read() {
    let stack = Stack::start().await;
    let vpc = subnet_group(&stack, "group-1", "10.21.0.0").await;
    subnet_group(&stack, "group-2", "10.22.0.0").await;
    db_instance(&stack, "db-ours", "group-1", None, OURS).await;
    aurora_cluster(&stack, "aurora-ours", "group-1", OURS).await;
    db_instance(&stack, "aurora-ours-1", "group-1", Some("aurora-ours"), OURS).await;
    let other = [("Environment", "OTHER"), ("Role", "Role_DB")];
    db_instance(&stack, "db-other", "group-1", None, &other).await;
    db_instance(&stack, "db-untiered", "group-1", None, &[("Environment", "ENV001")]).await;
    db_instance(&stack, "db-far", "group-2", None, OURS).await;

    let ports = stack.cloud().workload_ports("us-west-2", None).await.unwrap();
    let databases = ports.members.databases;
    let kinds = [MemberKind::Ec2, MemberKind::Rds, MemberKind::Aurora];
    let found = databases.discover(&query(Some(&vpc)), &kinds).await.unwrap();
    assert_eq!(
        sorted(found.iter().map(|d| d.member_id()).collect()),
        ["aurora:aurora-ours", "rds:db-ours"],
        "not the cluster member, another workload's, the untiered one, nor the other VPC's: {found:?}"
    );
    assert!(found
        .iter()
        .all(|d| d.tier == "Role_DB" && d.status == AVAILABLE && d.override_tag.is_none()));
    let everywhere = databases.discover(&query(None), &kinds).await.unwrap();
    assert_eq!(
        sorted(everywhere.iter().map(|d| d.id.clone()).collect()),
        ["aurora-ours", "db-far", "db-ours"]
    );

    let rds = ["db-ours".to_string()];
    let aurora = ["aurora-ours".to_string()];
    databases.stop(MemberKind::Rds, "db-ours").await.unwrap();
    databases.stop(MemberKind::Aurora, "aurora-ours").await.unwrap();
    assert_eq!(
        pairs(databases.statuses(MemberKind::Rds, &rds).await.unwrap()),
        [(rds[0].clone(), STOPPED.into())]
    );
    assert_eq!(
        pairs(databases.statuses(MemberKind::Aurora, &aurora).await.unwrap()),
        [(aurora[0].clone(), STOPPED.into())]
    );
    let far = pairs(databases.statuses(MemberKind::Rds, &["db-far".into()]).await.unwrap());
    assert_eq!(far, [("db-far".to_string(), AVAILABLE.to_string())], "untouched");

    let refused = databases.stop(MemberKind::Rds, "db-ours").await.unwrap_err();
    assert_eq!(
        (refused.operation, refused.code.as_deref()),
        ("StopDBInstance", Some("InvalidDBInstanceState")),
        "{refused}"
    );

    databases.start(MemberKind::Rds, "db-ours").await.unwrap();
    databases.start(MemberKind::Aurora, "aurora-ours").await.unwrap();
    let gone = ["db-ours".to_string(), "db-never".to_string()];
    assert_eq!(
        pairs(databases.statuses(MemberKind::Rds, &gone).await.unwrap()),
        [("db-ours".to_string(), AVAILABLE.to_string())],
        "an absent database is left out"
    );
    assert_eq!(
        pairs(databases.statuses(MemberKind::Aurora, &aurora).await.unwrap()),
        [(aurora[0].clone(), AVAILABLE.into())]
    );
}

/// The statuses as (id, RDS's status).
fn pairs(statuses: Vec<ec2_tier_scheduler::member::MemberStatus>) -> Vec<(String, String)> {
    statuses.into_iter().map(|s| (s.id, s.status)).collect()
}
