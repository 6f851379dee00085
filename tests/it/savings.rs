//! Issue 34, what the schedule saves: a Stop marks each member it stopped
//! down since then in the run ledger, the Start closes the intervals into
//! per-member, per-day totals kept for good, and `orchestrator savings`
//! prices them (the Price List faked: moto has none), through the cache.

use std::time::Duration;

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::instance::InstanceState::*;
use ec2_tier_scheduler::member::MemberKind::*;
use ec2_tier_scheduler::orchestrator::Settings;
use ec2_tier_scheduler::ports::Downtime;
use ec2_tier_scheduler::run::RunReport;
use ec2_tier_scheduler::run_service::{savings_report, Delivery, Outcome, RunService};
use ec2_tier_scheduler::savings::{Facts, Price, PriceTable, Product, Storage, Window};
use ec2_tier_scheduler::summary::RunStatus;
use jiff::civil::Date;
use serde_json::json;

use crate::support::fake::downtime::FakePriceList;
use crate::support::fake::FakeCloud;
use crate::support::{request, three_tiers, workload_item};

/// The spec's three tiers of two EC2 instances each (t3.small), in `state`, with
/// an RDS database in Role_DB; the ledger keeps the stopped time.
fn fleet(state: ec2_tier_scheduler::instance::InstanceState) -> FakeCloud {
    let mut tiers = three_tiers("W", 5);
    tiers[2]["TierResourceTypes"] = json!("EC2, RDS");
    let cloud = FakeCloud::new()
        .with_transitions(Duration::from_secs(30), Duration::from_secs(30))
        .keeping_downtime();
    cloud.put_config(workload_item("W"), tiers);
    cloud.add_spec_instances(state);
    let status = if state == Running { "available" } else { "stopped" };
    cloud.add_database(Rds, "orders-db", "ENV001", "Role_DB", status);
    cloud.price_facts(Rds, "orders-db", multi_az_postgres());
    cloud
}

/// What the fake's RDS says of `orders-db`: a Multi-AZ PostgreSQL instance.
fn multi_az_postgres() -> Facts {
    Facts::Database {
        class: "db.t3.medium".into(),
        engine: "postgres".into(),
        multi_az: true,
        license_model: "postgresql-license".into(),
        storage: Storage::from([("gp3".to_string(), 100)]),
    }
}

/// The Price List's product of `orders-db`: priced as Multi-AZ.
fn multi_az_product() -> Product {
    Product::new(
        "AmazonRDS",
        "us-west-2",
        &[
            ("instanceType", "db.t3.medium"),
            ("databaseEngine", "PostgreSQL"),
            ("deploymentOption", "Multi-AZ"),
            ("licenseModel", "No license required"),
        ],
    )
}

async fn run(cloud: &FakeCloud, action: Action) -> RunReport {
    let service = RunService {
        cloud,
        ledger: None,
        continuation: None,
        settings: &Settings::default(),
    };
    let outcome = service
        .run(&request("W", action), Delivery::new("test"), None)
        .await
        .unwrap();
    let Outcome::Ran { report, .. } = outcome else {
        panic!("ran")
    };
    assert_eq!(
        report.summary.status,
        RunStatus::Completed,
        "{}",
        report.summary.to_table()
    );
    *report
}

fn all_days() -> Window {
    Window {
        from: Date::constant(2000, 1, 1),
        to: Date::constant(2100, 1, 1),
    }
}

fn t3_small() -> Product {
    Product::ec2("us-west-2", "t3.small")
}

#[tokio::test(start_paused = true)]
async fn a_stop_then_a_start_keeps_the_stopped_time_and_it_is_priced_through_the_cache() {
    let cloud = fleet(Running);
    let stop = run(&cloud, Action::Stop).await;
    assert!(
        stop.summary.notification_errors.is_empty(),
        "{:?}",
        stop.summary.notification_errors
    );
    let kept = cloud.kept();
    let ids: Vec<&str> = kept.open.values().map(|d| d.id.as_str()).collect();
    assert_eq!(kept.open.len(), 7, "{ids:?}");
    assert!(ids.contains(&"orders-db"));
    let instance = kept.open.values().find(|d| d.kind == Ec2).unwrap();
    assert_eq!(
        instance.facts,
        Some(Facts::Instance {
            instance_type: "t3.small".into(),
            tenancy: "default".into(),
            usage_operation: "RunInstances".into(),
            spot: false,
            storage: Storage::new(),
        })
    );
    let db = kept.open.values().find(|d| d.kind == Rds).unwrap();
    assert_eq!(db.facts, Some(multi_az_postgres()));
    assert!(kept.days.is_empty());

    tokio::time::advance(Duration::from_secs(30 * 3600)).await;
    let reads = |cloud: &FakeCloud| cloud.calls_of("Query").iter().filter(|c| c.ids == ["W"]).count();
    let before = reads(&cloud);
    run(&cloud, Action::Start).await;
    assert_eq!(
        reads(&cloud) - before,
        1,
        "the stopped time the Start read to say its saving is the one it closes"
    );
    let kept = cloud.kept();
    assert!(kept.open.is_empty(), "{:?}", kept.open);
    // 30 hours cross at least one UTC midnight: two or three days each.
    let per_member = |id: &str| -> u64 {
        kept.days
            .values()
            .filter(|t| t.member.id == id)
            .map(|t| t.seconds)
            .sum()
    };
    for d in ["orders-db", &instance.id] {
        let secs = per_member(d);
        assert!((30 * 3600..30 * 3600 + 600).contains(&secs), "{d}: {secs}");
        assert!(kept.days.values().filter(|t| t.member.id == d).count() >= 2);
    }

    let list = FakePriceList {
        table: PriceTable::from([
            (t3_small(), Price::Usd(0.0208)),
            (multi_az_product(), Price::Usd(0.144)),
        ]),
        ..Default::default()
    };
    let now = ec2_tier_scheduler::run_service::now();
    let (report, warnings) = savings_report(&cloud, &cloud, &list, "W", all_days(), now)
        .await
        .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(list.calls.lock().unwrap().len(), 2, "two products, one lookup each");
    let ec2_hours: f64 = report.rows.iter().filter(|r| r.kind == "EC2").map(|r| r.hours).sum();
    assert!((ec2_hours - 180.0).abs() < 1.0, "{ec2_hours}");
    let db = report.rows.iter().find(|r| r.kind == "RDS").unwrap();
    assert!(db.unknown.is_empty(), "{:?}", db.unknown);
    assert!((db.saved_usd - 30.0 * 0.144).abs() < 0.03, "{}", db.saved_usd);
    let expected = 180.0 * 0.0208 + 30.0 * 0.144;
    assert!((report.saved_usd - expected).abs() < 0.05, "{}", report.saved_usd);
    let table = report.to_table();
    assert!(
        table.contains("on-demand list prices") && table.contains("EBS volumes"),
        "{table}"
    );
    // The database's storage still bills, shown beside its saving (once,
    // however many days it was stopped), never subtracted.
    assert_eq!(db.storage_gib, Storage::from([("gp3".to_string(), 100)]));
    assert_eq!(db.still_billed, "storage and backups: gp3 100 GiB");
    assert!(table.contains("storage and backups: gp3 100 GiB"), "{table}");

    // The cache answers the next report: no lookup.
    let (again, _) = savings_report(&cloud, &cloud, &list, "W", all_days(), now)
        .await
        .unwrap();
    assert_eq!(list.calls.lock().unwrap().len(), 2);
    assert_eq!(again.saved_usd, report.saved_usd);
}

#[tokio::test(start_paused = true)]
async fn members_down_now_count_up_to_now_and_a_product_not_found_is_unknown() {
    let cloud = fleet(Running);
    run(&cloud, Action::Stop).await;
    tokio::time::advance(Duration::from_secs(5 * 3600)).await;
    let list = FakePriceList::default();
    let now = ec2_tier_scheduler::run_service::now();
    let (report, _) = savings_report(&cloud, &cloud, &list, "W", all_days(), now)
        .await
        .unwrap();
    assert!((report.hours - 35.0).abs() < 0.2, "{}", report.hours);
    assert_eq!(report.saved_usd, 0.0);
    let ec2: Vec<&String> = report.rows.iter().flat_map(|r| &r.unknown).collect();
    assert!(
        ec2.iter().any(|u| u.ends_with("no product matched the filters")),
        "{ec2:?}"
    );
    // Nothing unknown is cached.
    assert!(cloud.kept().prices.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_ledger_write_that_fails_is_a_warning_never_a_failure() {
    let cloud = fleet(Running);
    cloud.fault("TransactWriteItems", None, "ProvisionedThroughputExceededException", 1);
    let stop = run(&cloud, Action::Stop).await;
    let warnings = &stop.summary.notification_errors;
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("stopped time (orchestrator savings) was not kept")),
        "{warnings:?}"
    );
    assert!(cloud.kept().open.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_stop_of_stopped_members_opens_nothing_and_keeps_the_earlier_since() {
    let cloud = fleet(Running);
    run(&cloud, Action::Stop).await;
    let first = cloud.kept().open;
    tokio::time::advance(Duration::from_secs(3600)).await;
    // Everything is stopped: the Stop skips all, and nothing moves.
    run(&cloud, Action::Stop).await;
    assert_eq!(cloud.kept().open, first);
    // Opened again by hand (a later Stop of the same member): the earlier since stays.
    let d = first.values().next().unwrap().clone();
    let later = ec2_tier_scheduler::savings::Down {
        since: d.since + 99,
        ..d.clone()
    };
    Downtime::open(&cloud, &[later]).await.unwrap();
    assert_eq!(cloud.kept().open[&d.key()].since, d.since);
}

/// A scheduled delivery of `action` due now (its own schedule per action).
fn delivery(action: &str) -> serde_json::Value {
    let due = format!(
        "{}Z",
        ec2_tier_scheduler::clock::utc_timestamp(ec2_tier_scheduler::run_service::now())
    );
    json!({
        "workloadIdentifier": "W", "action": action, "dynamoDBRegion": "us-west-2",
        "scheduleArn": format!("arn:aws:scheduler:us-west-2:123456789012:schedule/default/W-{action}"),
        "scheduledTime": due
    })
}

#[tokio::test(start_paused = true)]
async fn runs_carried_on_by_continuations_keep_the_time_once_they_end() {
    // 120 s delays and 100 s invocations: each run ends in a continuation.
    let h = crate::reliability::Harness::new(crate::reliability::fleet(Running, 120, 2).keeping_downtime());
    let first = h.deliver(&delivery("Stop"), Duration::from_secs(100)).await.unwrap();
    assert_eq!(first["status"], "continuing", "{first}");
    // Each invocation keeps what it stopped.
    let so_far = h.cloud.kept().open.len();
    assert!((1..6).contains(&so_far), "{so_far}");
    let last = h.drain_continuations(Duration::from_secs(100)).await;
    assert_eq!(last.last().unwrap()["status"], "completed");
    assert_eq!(h.cloud.kept().open.len(), 6, "{:?}", h.cloud.kept().open.keys());

    tokio::time::advance(Duration::from_secs(12 * 3600)).await;
    let first = h.deliver(&delivery("Start"), Duration::from_secs(100)).await.unwrap();
    assert_eq!(first["status"], "continuing", "{first}");
    let still = h.cloud.kept().open.len();
    assert!(
        (1..6).contains(&still),
        "the Start's first invocation closed its own: {still}"
    );
    let last = h.drain_continuations(Duration::from_secs(100)).await;
    assert_eq!(last.last().unwrap()["status"], "completed");
    let kept = h.cloud.kept();
    assert!(kept.open.is_empty());
    let mut members: Vec<&str> = kept.days.values().map(|t| t.member.id.as_str()).collect();
    members.dedup();
    assert_eq!(members.len(), 6);
    let total: u64 = kept.days.values().map(|t| t.seconds).sum();
    assert!(total >= 6 * 12 * 3600, "{total}");
    // Each invocation says what the members it closed saved (no price
    // cached here: their hours, not their money).
    let saved = &last.last().unwrap()["saved"];
    assert_eq!(saved["usdCents"], 0, "{saved}");
    assert!(saved["unpriced"].as_u64().unwrap() >= 1, "{saved}");
}

/// Web: the instances and an Auto Scaling group scaled to zero (desired 2,
/// m5.large); App: the instances and a Fargate service (3 tasks of 1 vCPU
/// and 2 GB); DB: the instances and an Aurora cluster of two db.r6g.large.
fn every_kind() -> FakeCloud {
    use ec2_tier_scheduler::member::Capacity;
    let mut tiers = three_tiers("W", 5);
    tiers[0]["TierStop"]["TierAutoScalingGroups"] = json!("ScaleToZero");
    tiers[1]["TierResourceTypes"] = json!("ECS,EC2");
    tiers[2]["TierResourceTypes"] = json!("EC2,Aurora");
    let cloud = FakeCloud::new()
        .with_transitions(Duration::from_secs(30), Duration::from_secs(30))
        .keeping_downtime();
    cloud.put_config(workload_item("W"), tiers);
    cloud.add_spec_instances(Running);
    let group = Capacity {
        min: 1,
        desired: 2,
        max: 4,
    };
    cloud.add_capacity(Asg, "web", "ENV001", "Role_Web", group);
    let service = Capacity {
        min: 0,
        desired: 3,
        max: 0,
    };
    cloud.add_capacity(Ecs, "prod/api", "ENV001", "Role_App", service);
    cloud.add_database(Aurora, "orders", "ENV001", "Role_DB", "available");
    let m5 = Facts::Group {
        instance_type: "m5.large".into(),
    };
    cloud.price_facts(Asg, "web", m5);
    let task = Facts::Task {
        cpu: 1024,
        memory_mib: 2048,
        arm: false,
    };
    cloud.price_facts(Ecs, "prod/api", task);
    let classes = vec!["db.r6g.large".to_string(), "db.r6g.large".to_string()];
    let cluster = Facts::Cluster {
        engine: "aurora-postgresql".into(),
        classes,
    };
    cloud.price_facts(Aurora, "orders", cluster);
    cloud
}

fn fargate(usage: &str) -> Product {
    Product::new("AmazonECS", "us-west-2", &[("usagetype", usage)])
}

fn aurora_large() -> Product {
    Product::new(
        "AmazonRDS",
        "us-west-2",
        &[
            ("instanceType", "db.r6g.large"),
            ("databaseEngine", "Aurora PostgreSQL"),
            ("deploymentOption", "Single-AZ"),
            ("licenseModel", "No license required"),
        ],
    )
}

#[tokio::test(start_paused = true)]
async fn a_start_says_what_every_kind_saved_from_cached_prices_then_caches_what_it_lacked() {
    let cloud = every_kind();
    let stop = run(&cloud, Action::Stop).await;
    assert!(stop.summary.saved.is_none(), "a Stop saves nothing yet");
    let kept = cloud.kept();
    assert_eq!(kept.open.len(), 9, "{:?}", kept.open.keys());
    let open = |kind, id: &str| {
        kept.open
            .values()
            .find(|d| d.kind == kind && d.id == id)
            .unwrap()
            .clone()
    };
    // The capacity the Stop recorded, and what prices each kind.
    assert_eq!(open(Asg, "web").count, Some(2));
    assert_eq!(open(Ecs, "prod/api").count, Some(3));
    assert!(matches!(open(Aurora, "orders").facts, Some(Facts::Cluster { .. })));

    // Everything cached but the cluster's class; the Price List knows it.
    let m5 = Product::ec2("us-west-2", "m5.large");
    let (vcpu, gb) = (
        fargate("USW2-Fargate-vCPU-Hours:perCPU"),
        fargate("USW2-Fargate-GB-Hours"),
    );
    let cached = PriceTable::from([
        (t3_small(), Price::Usd(0.0208)),
        (m5, Price::Usd(0.096)),
        (vcpu, Price::Usd(0.04048)),
        (gb, Price::Usd(0.004445)),
    ]);
    let now = ec2_tier_scheduler::run_service::now();
    ec2_tier_scheduler::ports::PriceCache::keep(&cloud, &cached, now)
        .await
        .unwrap();
    let list = FakePriceList {
        table: PriceTable::from([(aurora_large(), Price::Usd(0.26))]),
        ..Default::default()
    };
    cloud.price_list(list.clone());

    tokio::time::advance(Duration::from_secs(10 * 3600)).await;
    let start = run(&cloud, Action::Start).await;
    let saved = start.summary.saved.clone().expect("a Start says what it saved");
    // 10 hours of 6 t3.small, 2 m5.large and 3 tasks of 1 vCPU and 2 GB;
    // the cluster's price was not cached: not counted, said so.
    let per_hour: f64 = 6.0 * 0.0208 + 2.0 * 0.096 + 3.0 * (0.04048 + 2.0 * 0.004445);
    let expected = (per_hour * 10.0 * 100.0).round() as i64;
    assert!(
        (saved.usd_cents as i64 - expected).abs() <= 5,
        "{} cents, not about {expected}",
        saved.usd_cents
    );
    assert_eq!((saved.members, saved.unpriced), (9, 1));
    assert!(saved.sentence().starts_with("saved about $4.6"), "{}", saved.sentence());
    assert!(saved.sentence().contains("1 of 9 members not priced yet"));
    let published = cloud.lock().published.clone();
    let (_, _, body) = published.last().expect("the Start's summary");
    assert!(body.contains("saved about $4.6"), "{body}");
    assert!(start.summary.to_table().contains("saved about $"));
    // Then, the run done, the price it lacked was read and cached: the
    // Price List was asked for that product only.
    assert_eq!(*list.calls.lock().unwrap(), vec![aurora_large()]);
    assert!(cloud.kept().prices.contains_key(&aurora_large().key()));

    // The report prices every kind: nothing unknown.
    let (report, _) = savings_report(&cloud, &cloud, &list, "W", all_days(), now + 11 * 3600)
        .await
        .unwrap();
    let unknown: Vec<&String> = report.rows.iter().flat_map(|r| &r.unknown).collect();
    assert!(unknown.is_empty(), "{unknown:?}");
    let aurora = report.rows.iter().find(|r| r.kind == "Aurora").unwrap();
    assert!(
        (aurora.saved_usd - 10.0 * 2.0 * 0.26).abs() < 0.05,
        "{}",
        aurora.saved_usd
    );
    let ecs = report.rows.iter().find(|r| r.kind == "ECS").unwrap();
    assert!((ecs.saved_usd - 10.0 * 3.0 * (0.04048 + 2.0 * 0.004445)).abs() < 0.05);
}

#[tokio::test(start_paused = true)]
async fn a_member_whose_facts_say_it_cannot_be_priced_shows_its_hours_and_why() {
    let cloud = every_kind();
    cloud.price_facts(Ecs, "prod/api", Facts::unknown("ECS on EC2: the instances bill"));
    cloud.price_facts(Aurora, "orders", {
        let classes = vec!["db.serverless".to_string()];
        Facts::Cluster {
            engine: "aurora-mysql".into(),
            classes,
        }
    });
    run(&cloud, Action::Stop).await;
    tokio::time::advance(Duration::from_secs(3600)).await;
    let now = ec2_tier_scheduler::run_service::now();
    let (report, _) = savings_report(&cloud, &cloud, &FakePriceList::default(), "W", all_days(), now)
        .await
        .unwrap();
    let row = |kind: &str| report.rows.iter().find(|r| r.kind == kind).unwrap();
    assert!(row("ECS").hours > 0.9);
    assert_eq!(
        row("ECS").unknown,
        vec!["ecs:prod/api: ECS on EC2: the instances bill".to_string()]
    );
    assert!(
        row("Aurora").unknown[0].contains("Serverless v2"),
        "{:?}",
        row("Aurora").unknown
    );
    assert_eq!(row("Aurora").saved_usd, 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_price_list_that_refuses_is_a_warning_of_the_start_never_a_failure() {
    let cloud = fleet(Running);
    cloud.price_list(FakePriceList {
        refused: Some("AccessDeniedException: not authorized to perform pricing:GetProducts".into()),
        ..Default::default()
    });
    run(&cloud, Action::Stop).await;
    tokio::time::advance(Duration::from_secs(3600)).await;
    let start = run(&cloud, Action::Start).await;
    let saved = start.summary.saved.expect("said, with nothing priced");
    assert_eq!((saved.usd_cents, saved.members, saved.unpriced), (0, 7, 7));
    let warnings = &start.summary.notification_errors;
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("warning: prices not read: Price List not read: AccessDenied")),
        "{warnings:?}"
    );
    assert!(cloud.kept().prices.is_empty());
    assert!(cloud.kept().open.is_empty(), "the stopped time is kept all the same");
}
