//! The RDS adapter (issue 22) on mocked RDS clients (aws-smithy-mocks):
//! which databases discovery keeps (tags, cluster members, engines, VPCs),
//! the calls it makes for the kinds asked, the operation per kind for a
//! stop or a start, error codes read from RDS's own error responses, and
//! status reads batched at 100 identifiers.

use aws_sdk_rds::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput;
use aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput;
use aws_sdk_rds::operation::describe_db_subnet_groups::DescribeDbSubnetGroupsOutput;
use aws_sdk_rds::types::{DbCluster, DbInstance, DbSubnetGroup, Tag};
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use ec2_tier_scheduler::aws::RdsDatabases;
use ec2_tier_scheduler::instance::Discovery;
use ec2_tier_scheduler::member::{Member, MemberKind, MemberStatus, Phase};
use ec2_tier_scheduler::override_tag::OVERRIDE_REASON_TAG;
use ec2_tier_scheduler::ports::MemberService;

fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
    rules
        .iter()
        .fold(MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny), |i, r| {
            i.with_rule(r)
        })
}

/// The adapter on a mocked RDS client.
fn rds(rules: &[&Rule]) -> RdsDatabases {
    let conf = aws_sdk_rds::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-west-2"))
        .credentials_provider(Credentials::new("a", "b", None, None, "test"))
        .http_client(create_mock_http_client())
        .interceptor(interceptor(rules))
        .build();
    RdsDatabases::new(aws_sdk_rds::Client::from_conf(conf))
}

fn query(vpc: Option<&str>) -> Discovery {
    Discovery {
        workload_tag: ("Environment".into(), "ENV001".into()),
        tier_tag_key: "Role".into(),
        vpc_id: vpc.map(str::to_string),
        override_tag_key: "SchedulerOverride".into(),
        preferred_types_tag_key: "PreferredTypes".into(),
    }
}

fn tags(pairs: &[(&str, &str)]) -> Vec<Tag> {
    pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
        .collect()
}

const OURS: &[(&str, &str)] = &[("Environment", "ENV001"), ("Role", "Role_DB")];

fn instance(id: &str, vpc: &str, cluster: Option<&str>, tag_list: &[(&str, &str)]) -> DbInstance {
    DbInstance::builder()
        .db_instance_identifier(id)
        .db_instance_status("available")
        .engine("postgres")
        .set_db_cluster_identifier(cluster.map(str::to_string))
        .db_subnet_group(
            DbSubnetGroup::builder()
                .db_subnet_group_name("group")
                .vpc_id(vpc)
                .build(),
        )
        .set_tag_list(Some(tags(tag_list)))
        .build()
}

fn cluster(id: &str, engine: &str, group: &str, tag_list: &[(&str, &str)]) -> DbCluster {
    DbCluster::builder()
        .db_cluster_identifier(id)
        .status("stopped")
        .automatic_restart_time(aws_sdk_rds::primitives::DateTime::from_secs(1_796_630_400))
        .engine(engine)
        .db_subnet_group(group)
        .set_tag_list(Some(tags(tag_list)))
        .build()
}

/// DescribeDBInstances in two pages: the workload's instance (with an
/// override tag), a member of a cluster, another workload's, an untiered
/// one, a case-different workload value, and the workload's instance in
/// another VPC.
fn instance_pages() -> (Rule, Rule) {
    let first = mock!(aws_sdk_rds::Client::describe_db_instances)
        .match_requests(|r| r.marker().is_none() && r.filters().is_empty())
        .then_output(|| {
            let overridden = [
                OURS,
                &[("SchedulerOverride", "Start"), (OVERRIDE_REASON_TAG, "release")],
            ]
            .concat();
            DescribeDbInstancesOutput::builder()
                .db_instances(instance("db-web", "vpc-1", None, &overridden))
                .db_instances(instance("orders-1", "vpc-1", Some("orders"), OURS))
                .db_instances(instance(
                    "db-other",
                    "vpc-1",
                    None,
                    &[("Environment", "OTHER"), ("Role", "Role_DB")],
                ))
                .marker("page-2")
                .build()
        });
    let second = mock!(aws_sdk_rds::Client::describe_db_instances)
        .match_requests(|r| r.marker() == Some("page-2"))
        .then_output(|| {
            DescribeDbInstancesOutput::builder()
                .db_instances(instance("db-untiered", "vpc-1", None, &[("Environment", "ENV001")]))
                .db_instances(instance(
                    "db-case",
                    "vpc-1",
                    None,
                    &[("Environment", "env001"), ("Role", "Role_DB")],
                ))
                .db_instances(instance(
                    "db-far",
                    "vpc-2",
                    None,
                    &[("Environment", "ENV001"), ("Role", "Role_App")],
                ))
                .build()
        });
    (first, second)
}

/// DescribeDBClusters: the workload's Aurora clusters in two VPCs' subnet
/// groups, a tagged Neptune cluster, another workload's Aurora cluster.
fn cluster_page() -> Rule {
    mock!(aws_sdk_rds::Client::describe_db_clusters)
        .match_requests(|r| r.filters().is_empty())
        .then_output(|| {
            DescribeDbClustersOutput::builder()
                .db_clusters(cluster("orders", "aurora-postgresql", "group-1", OURS))
                .db_clusters(cluster("graph", "neptune", "group-1", OURS))
                .db_clusters(cluster(
                    "theirs",
                    "aurora-mysql",
                    "group-1",
                    &[("Environment", "OTHER"), ("Role", "Role_DB")],
                ))
                .db_clusters(cluster("far", "aurora-mysql", "group-2", OURS))
                .build()
        })
}

/// DescribeDBSubnetGroups in two pages.
fn subnet_group_pages() -> (Rule, Rule) {
    let group = |name: &str, vpc: &str| DbSubnetGroup::builder().db_subnet_group_name(name).vpc_id(vpc).build();
    let first = mock!(aws_sdk_rds::Client::describe_db_subnet_groups)
        .match_requests(|r| r.marker().is_none())
        .then_output(move || {
            DescribeDbSubnetGroupsOutput::builder()
                .db_subnet_groups(group("group-1", "vpc-1"))
                .marker("more")
                .build()
        });
    let second = mock!(aws_sdk_rds::Client::describe_db_subnet_groups)
        .match_requests(|r| r.marker() == Some("more"))
        .then_output(move || {
            DescribeDbSubnetGroupsOutput::builder()
                .db_subnet_groups(group("group-2", "vpc-2"))
                .build()
        });
    (first, second)
}

fn ids(found: &[Member]) -> Vec<String> {
    let mut ids: Vec<String> = found.iter().map(Member::member_id).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn discovery_keeps_the_workloads_tiered_databases_outside_clusters() {
    let (instances, instances_2) = instance_pages();
    let clusters = cluster_page();
    let (groups, groups_2) = subnet_group_pages();
    let adapter = rds(&[&instances, &instances_2, &clusters, &groups, &groups_2]);
    let found = adapter
        .discover(&query(None), &[MemberKind::Ec2, MemberKind::Rds, MemberKind::Aurora])
        .await
        .unwrap();
    assert_eq!(
        ids(&found),
        ["aurora:far", "aurora:orders", "rds:db-far", "rds:db-web"],
        "not the cluster member, another workload's, the untiered, the case-different value, nor Neptune"
    );
    let web = found.iter().find(|d| d.id == "db-web").unwrap();
    assert_eq!(
        web,
        &Member {
            override_tag: Some(("Start".into(), Some("release".into()))),
            ..Member::new(MemberKind::Rds, "db-web", "available", Phase::Up, "Role_DB")
        }
    );
    let far = found.iter().find(|d| d.id == "db-far").unwrap();
    assert_eq!((far.tier.as_str(), &far.override_tag), ("Role_App", &None));
    let orders = found.iter().find(|d| d.id == "orders").unwrap();
    assert_eq!((orders.kind, orders.status.as_str()), (MemberKind::Aurora, "stopped"));
    assert_eq!(orders.restarts_at, Some(1_796_630_400), "RDS's AutomaticRestartTime");
    assert_eq!((instances.num_calls(), instances_2.num_calls()), (1, 1), "every page");
    assert_eq!(clusters.num_calls(), 1);
    assert_eq!(groups.num_calls(), 0, "no VPC filter: no subnet groups");
}

#[tokio::test]
async fn a_vpc_filter_reads_instance_vpcs_and_resolves_cluster_subnet_groups_once() {
    let (instances, instances_2) = instance_pages();
    let clusters = cluster_page();
    let (groups, groups_2) = subnet_group_pages();
    let adapter = rds(&[&instances, &instances_2, &clusters, &groups, &groups_2]);
    let found = adapter
        .discover(&query(Some("vpc-2")), &[MemberKind::Rds, MemberKind::Aurora])
        .await
        .unwrap();
    assert_eq!(ids(&found), ["aurora:far", "rds:db-far"]);
    let found = adapter
        .discover(&query(Some("vpc-1")), &[MemberKind::Rds, MemberKind::Aurora])
        .await
        .unwrap();
    assert_eq!(ids(&found), ["aurora:orders", "rds:db-web"]);
    assert_eq!(
        (groups.num_calls(), groups_2.num_calls()),
        (2, 2),
        "one paginated DescribeDBSubnetGroups per discovery"
    );
}

#[tokio::test]
async fn discovery_asks_only_for_the_kinds_wanted() {
    let (instances, instances_2) = instance_pages();
    let clusters = cluster_page();
    let (groups, groups_2) = subnet_group_pages();
    let adapter = rds(&[&instances, &instances_2, &clusters, &groups, &groups_2]);
    let found = adapter
        .discover(&query(Some("vpc-1")), &[MemberKind::Ec2, MemberKind::Rds])
        .await
        .unwrap();
    assert_eq!(ids(&found), ["rds:db-web"]);
    assert_eq!(
        (clusters.num_calls(), groups.num_calls()),
        (0, 0),
        "no Aurora: no DescribeDBClusters"
    );
    let found = adapter.discover(&query(None), &[MemberKind::Aurora]).await.unwrap();
    assert_eq!(ids(&found), ["aurora:far", "aurora:orders"]);
    assert_eq!(instances.num_calls(), 1, "no RDS: no DescribeDBInstances");
    assert!(adapter
        .discover(&query(None), &[MemberKind::Ec2])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        (instances.num_calls(), clusters.num_calls()),
        (1, 1),
        "EC2 only: no RDS call"
    );
}

#[tokio::test]
async fn a_vpc_filter_without_workload_clusters_reads_no_subnet_groups() {
    let none = mock!(aws_sdk_rds::Client::describe_db_clusters).then_output(|| {
        DescribeDbClustersOutput::builder()
            .db_clusters(cluster(
                "theirs",
                "aurora-mysql",
                "group-1",
                &[("Environment", "OTHER")],
            ))
            .build()
    });
    let (groups, _) = subnet_group_pages();
    let adapter = rds(&[&none, &groups]);
    let found = adapter
        .discover(&query(Some("vpc-1")), &[MemberKind::Aurora])
        .await
        .unwrap();
    assert!(found.is_empty());
    assert_eq!(groups.num_calls(), 0);
}

#[tokio::test]
async fn stop_and_start_call_the_operation_of_each_kind() {
    use aws_sdk_rds::operation::{
        start_db_cluster::StartDbClusterOutput, start_db_instance::StartDbInstanceOutput,
        stop_db_cluster::StopDbClusterOutput, stop_db_instance::StopDbInstanceOutput,
    };
    let stop_instance = mock!(aws_sdk_rds::Client::stop_db_instance)
        .match_requests(|r| r.db_instance_identifier() == Some("db-web"))
        .then_output(|| StopDbInstanceOutput::builder().build());
    let start_instance = mock!(aws_sdk_rds::Client::start_db_instance)
        .match_requests(|r| r.db_instance_identifier() == Some("db-web"))
        .then_output(|| StartDbInstanceOutput::builder().build());
    let stop_cluster = mock!(aws_sdk_rds::Client::stop_db_cluster)
        .match_requests(|r| r.db_cluster_identifier() == Some("orders"))
        .then_output(|| StopDbClusterOutput::builder().build());
    let start_cluster = mock!(aws_sdk_rds::Client::start_db_cluster)
        .match_requests(|r| r.db_cluster_identifier() == Some("orders"))
        .then_output(|| StartDbClusterOutput::builder().build());
    let adapter = rds(&[&stop_instance, &start_instance, &stop_cluster, &start_cluster]);
    adapter.stop(MemberKind::Rds, "db-web").await.unwrap();
    adapter.stop(MemberKind::Aurora, "orders").await.unwrap();
    adapter.start(MemberKind::Aurora, "orders").await.unwrap();
    assert_eq!(
        [&stop_instance, &start_instance, &stop_cluster, &start_cluster].map(Rule::num_calls),
        [1, 0, 1, 1]
    );
    adapter.start(MemberKind::Rds, "db-web").await.unwrap();
    assert_eq!(start_instance.num_calls(), 1);
    let refused = adapter.stop(MemberKind::Ec2, "i-1").await.unwrap_err();
    assert_eq!(refused.code.as_deref(), Some("NotADatabase"));
    assert_eq!(
        [&stop_instance, &start_instance, &stop_cluster, &start_cluster].map(Rule::num_calls),
        [1, 1, 1, 1],
        "an EC2 id makes no RDS call"
    );
}

/// RDS's XML error response (query protocol) with `code`.
fn rds_error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>{message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
    )
}

#[tokio::test]
async fn rds_error_codes_survive_the_mapping() {
    let not_available = mock!(aws_sdk_rds::Client::stop_db_instance)
        .sequence()
        .http_status(
            400,
            Some(rds_error(
                "InvalidDBInstanceState",
                "Instance db-web is not in available state.",
            )),
        )
        .build();
    let cluster_busy = mock!(aws_sdk_rds::Client::start_db_cluster)
        .sequence()
        .http_status(
            400,
            Some(rds_error(
                "InvalidDBClusterStateFault",
                "DbCluster orders is not in stopped state.",
            )),
        )
        .build();
    let no_capacity = mock!(aws_sdk_rds::Client::start_db_instance)
        .sequence()
        .http_status(
            400,
            Some(rds_error(
                "InsufficientDBInstanceCapacity",
                "Cannot start db-web: no capacity.",
            )),
        )
        .build();
    let adapter = rds(&[&not_available, &cluster_busy, &no_capacity]);
    let cases = [
        (
            adapter.stop(MemberKind::Rds, "db-web").await,
            "StopDBInstance",
            "InvalidDBInstanceState",
        ),
        (
            adapter.start(MemberKind::Aurora, "orders").await,
            "StartDBCluster",
            "InvalidDBClusterStateFault",
        ),
        (
            adapter.start(MemberKind::Rds, "db-web").await,
            "StartDBInstance",
            "InsufficientDBInstanceCapacity",
        ),
    ];
    for (result, operation, code) in cases {
        let err = result.unwrap_err();
        assert_eq!(
            (err.service, err.operation, err.code.as_deref()),
            ("rds", operation, Some(code))
        );
        assert!(
            err.message.contains("state") || err.message.contains("capacity"),
            "{}",
            err.message
        );
    }
}

#[tokio::test]
async fn statuses_filter_by_identifier_in_batches_of_100_and_omit_the_absent() {
    use aws_sdk_rds::types::Filter;
    fn asked(filters: &[Filter], name: &str) -> Vec<String> {
        let filter = filters.iter().find(|f| f.name() == Some(name));
        filter.map(|f| f.values().to_vec()).unwrap_or_default()
    }
    let instances = mock!(aws_sdk_rds::Client::describe_db_instances).then_compute_output(|r| {
        assert!(asked(r.filters(), "db-instance-id").len() <= 100);
        let present = asked(r.filters(), "db-instance-id")
            .into_iter()
            .filter(|id| id != "db-gone");
        present
            .fold(DescribeDbInstancesOutput::builder(), |b, id| {
                b.db_instances(
                    DbInstance::builder()
                        .db_instance_identifier(&id)
                        .db_instance_status("stopping")
                        .build(),
                )
            })
            .build()
    });
    let clusters = mock!(aws_sdk_rds::Client::describe_db_clusters).then_compute_output(|r| {
        asked(r.filters(), "db-cluster-id")
            .into_iter()
            .fold(DescribeDbClustersOutput::builder(), |b, id| {
                b.db_clusters(
                    DbCluster::builder()
                        .db_cluster_identifier(id)
                        .status("starting")
                        .build(),
                )
            })
            .build()
    });
    let adapter = rds(&[&instances, &clusters]);
    let mut ids: Vec<String> = (0..250).map(|n| format!("db-{n}")).collect();
    ids.push("db-gone".into());
    let statuses = adapter.statuses(MemberKind::Rds, &ids).await.unwrap();
    assert_eq!(instances.num_calls(), 3, "251 ids: 100 + 100 + 51");
    assert_eq!(statuses.len(), 250, "the absent database is left out");
    assert!(statuses
        .iter()
        .all(|s| s.id != "db-gone" && s.status == "stopping" && s.phase == Phase::Stopping));
    assert_eq!(statuses[249].id, "db-249");
    let statuses = adapter
        .statuses(MemberKind::Aurora, &["orders".to_string()])
        .await
        .unwrap();
    assert_eq!(
        statuses,
        [MemberStatus {
            id: "orders".into(),
            status: "starting".into(),
            phase: Phase::Starting
        }]
    );
    assert_eq!((instances.num_calls(), clusters.num_calls()), (3, 1));
}
