use jiff::civil::date;

use super::*;

/// Seconds since the epoch of a UTC time written `2026-11-30T22:00:00Z`.
fn at(text: &str) -> u64 {
    text.parse::<Timestamp>().unwrap().as_second() as u64
}

fn down(kind: MemberKind, id: &str, ty: Option<&str>, since: &str) -> Down {
    Down {
        workload: "W".into(),
        tier: "Role_App".into(),
        account: "self".into(),
        region: "eu-west-1".into(),
        kind,
        id: id.into(),
        instance_type: ty.map(str::to_string),
        facts: None,
        count: None,
        since: at(since),
    }
}

fn november() -> Window {
    Window {
        from: date(2026, 11, 1),
        to: date(2026, 12, 1),
    }
}

#[test]
fn a_stop_spanning_midnight_and_a_month_boundary_splits_by_utc_day() {
    let days = split_days(at("2026-11-30T20:00:00Z"), at("2026-12-02T06:30:00Z"));
    assert_eq!(
        days,
        vec![
            (date(2026, 11, 30), 4 * 3600),
            (date(2026, 12, 1), 86_400),
            (date(2026, 12, 2), 6 * 3600 + 1800),
        ]
    );
    assert!(split_days(at("2026-12-02T06:30:00Z"), at("2026-12-02T06:30:00Z")).is_empty());
    assert!(split_days(at("2026-12-02T06:30:00Z"), at("2026-12-01T06:30:00Z")).is_empty());
}

#[test]
fn closing_keeps_the_member_and_its_facts_on_every_day() {
    let d = down(MemberKind::Ec2, "i-1", Some("m5.large"), "2026-11-30T23:00:00Z");
    let totals = d.close(at("2026-12-01T01:00:00Z"));
    assert_eq!(totals.len(), 2);
    assert!(totals.iter().all(|t| t.member == d && t.seconds == 3600));
    assert_ne!(d.day_key(totals[0].day), d.day_key(totals[1].day));
    assert_eq!(d.key(), "down|W|self|eu-west-1|EC2|i-1");
}

#[test]
fn keys_encode_their_parts() {
    let mut d = down(MemberKind::Ec2, "i-1", None, "2026-11-30T23:00:00Z");
    d.workload = "W|x".into();
    assert_eq!(d.key(), "down|W%7Cx|self|eu-west-1|EC2|i-1");
}

#[test]
fn a_month_counts_closed_days_and_open_intervals_up_to_now_and_prices_them() {
    let closed = down(MemberKind::Ec2, "i-1", Some("m5.large"), "2026-10-31T20:00:00Z");
    let mut days = closed.close(at("2026-11-02T08:00:00Z"));
    let open = down(MemberKind::Ec2, "i-2", Some("t3.micro"), "2026-11-30T20:00:00Z");
    let db = down(MemberKind::Rds, "db-1", None, "2026-11-30T20:00:00Z");
    days.extend(db.close(at("2026-12-01T02:00:00Z")));
    let stopped = Stopped {
        open: vec![open.clone()],
        days,
    };
    let mut prices = PriceTable::new();
    prices.insert(Product::ec2("eu-west-1", "m5.large"), Price::Usd(0.1));
    prices.insert(
        Product::ec2("eu-west-1", "t3.micro"),
        Price::Unknown("2 products match".into()),
    );
    assert_eq!(products(&stopped).len(), 2);
    let r = report("W", &stopped, at("2026-12-01T10:00:00Z"), november(), &prices);
    // i-1: Nov 1 (24 h) + Nov 2 (8 h); October's 4 hours are outside.
    // i-2: Nov 30, 20:00 to midnight (4 h; December's 10 hours are outside).
    let ec2 = r.rows.iter().find(|r| r.kind == "EC2").unwrap();
    assert!((ec2.hours - 36.0).abs() < 1e-9, "{}", ec2.hours);
    assert!((ec2.saved_usd - 3.2).abs() < 1e-9, "{}", ec2.saved_usd);
    assert_eq!(ec2.unknown, vec!["i-2: 2 products match".to_string()]);
    let rds = r.rows.iter().find(|r| r.kind == "RDS").unwrap();
    assert!((rds.hours - 4.0).abs() < 1e-9);
    assert_eq!(
        rds.unknown,
        vec!["rds:db-1: what prices it was not read at the Stop".to_string()]
    );
    assert_eq!(r.per_day.len(), 2);
    assert!((r.per_day[&date(2026, 11, 1)] - 2.4).abs() < 1e-9);
    let table = r.to_table();
    assert!(table.contains("on-demand list prices"), "{table}");
    assert!(table.contains("EBS volumes"), "{table}");
    assert!(table.contains("3.20+?"), "{table}");
    assert!(table.contains("unknown"), "{table}");
}

#[test]
fn a_product_with_no_price_read_is_unknown_with_the_reason() {
    let stopped = Stopped {
        open: vec![down(MemberKind::Ec2, "i-1", Some("m5.large"), "2026-11-10T00:00:00Z")],
        days: vec![],
    };
    let r = report(
        "W",
        &stopped,
        at("2026-11-10T05:00:00Z"),
        november(),
        &PriceTable::new(),
    );
    assert_eq!(r.rows[0].unknown, vec!["i-1: no price read".to_string()]);
    assert_eq!(r.saved_usd, 0.0);
    assert!((r.hours - 5.0).abs() < 1e-9);
    // Down since this very second: a row, no hours yet.
    let r = report(
        "W",
        &stopped,
        at("2026-11-10T00:00:00Z"),
        november(),
        &PriceTable::new(),
    );
    assert_eq!((r.rows.len(), r.hours), (1, 0.0));
}

#[test]
fn a_month_a_since_and_this_month() {
    let today = date(2026, 12, 6);
    let w = Window::of(Some("2026-11"), None, today).unwrap();
    assert_eq!((w.from, w.to), (date(2026, 11, 1), date(2026, 12, 1)));
    let w = Window::of(None, Some("2026-11-15"), today).unwrap();
    assert_eq!((w.from, w.to), (date(2026, 11, 15), date(2026, 12, 7)));
    let w = Window::of(None, None, today).unwrap();
    assert_eq!((w.from, w.to), (date(2026, 12, 1), date(2027, 1, 1)));
    assert!(Window::of(Some("November"), None, today).is_err());
    assert!(Window::of(None, Some("2026-13-01"), today).is_err());
}

/// November 2026 (Nov 1 a Sunday) with a Stop at 19:00 UTC every weekday
/// and a Start at 07:00 every weekday: the weekends stay stopped.
fn weekday_schedule() -> Stopped {
    let mut days = Vec::new();
    let mut day = date(2026, 10, 30); // a Friday: its Stop reaches into November
    let mut open = None;
    while day <= date(2026, 12, 1) {
        let weekday = day.weekday().to_monday_one_offset() <= 5;
        let at_hour = |h: i8| {
            let t = TimeZone::UTC.to_timestamp(day.at(h, 0, 0, 0)).unwrap();
            t.as_second() as u64
        };
        if weekday {
            if let Some(d) = open.take() {
                let d: Down = d;
                days.extend(d.close(at_hour(7)));
            }
            let mut d = down(MemberKind::Ec2, "i-1", Some("m5.large"), "2026-01-01T00:00:00Z");
            d.since = at_hour(19);
            open = Some(d);
        }
        day = day.tomorrow().unwrap();
    }
    Stopped {
        open: open.into_iter().collect(),
        days,
    }
}

#[test]
fn a_month_with_a_stop_and_start_every_weekday_and_its_weekends() {
    let stopped = weekday_schedule();
    let prices = PriceTable::from([(Product::ec2("eu-west-1", "m5.large"), Price::Usd(0.1))]);
    let r = report("W", &stopped, at("2026-12-05T00:00:00Z"), november(), &prices);
    // 720 hours, less 21 weekdays of 12 hours running.
    assert!((r.hours - 468.0).abs() < 1e-9, "{}", r.hours);
    assert!((r.saved_usd - 46.8).abs() < 1e-9);
    assert_eq!(r.per_day.len(), 30);
    assert!((r.per_day[&date(2026, 11, 1)] - 2.4).abs() < 1e-9, "a Sunday: all day");
    assert!(
        (r.per_day[&date(2026, 11, 3)] - 1.2).abs() < 1e-9,
        "a Tuesday: 0-7 and 19-24"
    );
}

#[test]
fn the_svg_has_a_bar_a_day_and_says_list_prices() {
    let prices = PriceTable::from([(Product::ec2("eu-west-1", "m5.large"), Price::Usd(0.1))]);
    let r = report(
        "W<&>",
        &weekday_schedule(),
        at("2026-12-05T00:00:00Z"),
        november(),
        &prices,
    );
    let svg = r.to_svg();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    let bars: Vec<_> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("day"))
        .collect();
    assert_eq!(bars.len(), 30);
    assert_eq!(bars[0].attribute("data-day"), Some("2026-11-01"));
    let usd: f64 = bars
        .iter()
        .map(|b| b.attribute("data-usd").unwrap().parse::<f64>().unwrap())
        .sum();
    assert!((usd - 46.8).abs() < 1e-3);
    let tallest = bars
        .iter()
        .map(|b| b.attribute("height").unwrap().parse::<f64>().unwrap());
    assert!(tallest.fold(0.0, f64::max) > 159.0);
    let text: String = doc.descendants().filter_map(|n| n.text()).collect();
    assert!(
        text.contains("on-demand list prices") && text.contains("W<&>"),
        "{text}"
    );
}

fn with_facts(kind: MemberKind, id: &str, facts: Facts, count: Option<u32>) -> Down {
    let mut d = down(kind, id, None, "2026-11-10T00:00:00Z");
    d.facts = Some(facts);
    d.count = count;
    d
}

fn ec2_facts(usage_operation: &str, tenancy: &str, spot: bool) -> Facts {
    Facts::Instance {
        instance_type: "m5.large".into(),
        tenancy: tenancy.into(),
        usage_operation: usage_operation.into(),
        spot,
        storage: Storage::new(),
    }
}

fn why(d: &Down) -> String {
    d.products().expect_err("not priced").0
}

#[test]
fn an_instance_is_priced_by_its_usage_operation_and_tenancy() {
    let windows = with_facts(
        MemberKind::Ec2,
        "i-1",
        ec2_facts("RunInstances:0002", "default", false),
        None,
    );
    let [(p, q)] = windows.products().unwrap().try_into().unwrap();
    assert_eq!((p.service.as_str(), q), ("AmazonEC2", 1.0));
    assert_eq!(p.filter("operatingSystem"), Some("Windows"));
    assert_eq!(p.filter("licenseModel"), Some("No License required"));
    assert_eq!(p.filter("preInstalledSw"), Some("NA"));
    assert_eq!(p.filter("tenancy"), Some("Shared"));
    assert_eq!(p.filter("capacitystatus"), Some("Used"));
    let sql = with_facts(
        MemberKind::Ec2,
        "i-2",
        ec2_facts("RunInstances:0006", "dedicated", false),
        None,
    );
    let p = &sql.products().unwrap()[0].0;
    assert_eq!(
        (
            p.filter("operatingSystem"),
            p.filter("preInstalledSw"),
            p.filter("tenancy")
        ),
        (Some("Windows"), Some("SQL Std"), Some("Dedicated"))
    );
    let linux = with_facts(
        MemberKind::Ec2,
        "i-3",
        ec2_facts("RunInstances", "default", false),
        None,
    );
    assert_eq!(linux.products().unwrap()[0].0, Product::ec2("eu-west-1", "m5.large"));
    assert_eq!(usage("RunInstances:0000"), usage("RunInstances"));
    assert_eq!(usage("RunInstances:0010").map(|u| u.0), Some("RHEL"));
    // What cannot be priced says why.
    let spot = with_facts(MemberKind::Ec2, "i-4", ec2_facts("RunInstances", "default", true), None);
    assert_eq!(why(&spot), "Spot: not on-demand");
    let host = with_facts(MemberKind::Ec2, "i-5", ec2_facts("RunInstances", "host", false), None);
    assert!(why(&host).contains("Dedicated Host"));
    let odd = with_facts(
        MemberKind::Ec2,
        "i-6",
        ec2_facts("RunInstances:9999", "default", false),
        None,
    );
    assert_eq!(why(&odd), "UsageOperation RunInstances:9999 not priced");
    // A product differs by every filter, and so does its cache key.
    assert_ne!(
        windows.products().unwrap()[0].0.key(),
        linux.products().unwrap()[0].0.key()
    );
}

#[test]
fn databases_by_engine_deployment_and_licence_and_clusters_as_their_instances() {
    let multi_az = Facts::Database {
        class: "db.m5.large".into(),
        engine: "postgres".into(),
        multi_az: true,
        license_model: "postgresql-license".into(),
        storage: Storage::new(),
    };
    let db = with_facts(MemberKind::Rds, "db-1", multi_az, None);
    let p = &db.products().unwrap()[0].0;
    assert_eq!(p.service, "AmazonRDS");
    assert_eq!(p.filter("deploymentOption"), Some("Multi-AZ"));
    assert_eq!(p.filter("databaseEngine"), Some("PostgreSQL"));
    assert_eq!(p.filter("licenseModel"), Some("No license required"));
    assert_eq!(p.filter("databaseEdition"), None);
    let sql = Facts::Database {
        class: "db.m5.large".into(),
        engine: "sqlserver-se".into(),
        multi_az: false,
        license_model: "license-included".into(),
        storage: Storage::new(),
    };
    let p = &with_facts(MemberKind::Rds, "db-2", sql, None).products().unwrap()[0].0;
    assert_eq!(
        (
            p.filter("databaseEdition"),
            p.filter("licenseModel"),
            p.filter("deploymentOption")
        ),
        (Some("Standard"), Some("License included"), Some("Single-AZ"))
    );
    // An Aurora cluster: the sum of its instances, each by its class.
    let aurora = Facts::Cluster {
        engine: "aurora-postgresql".into(),
        classes: vec!["db.r6g.large".into(), "db.r6g.large".into(), "db.r6g.xlarge".into()],
    };
    let cluster = with_facts(MemberKind::Aurora, "orders", aurora, None);
    let parts = cluster.products().unwrap();
    assert_eq!(parts.len(), 3);
    assert!(parts
        .iter()
        .all(|(p, _)| p.filter("databaseEngine") == Some("Aurora PostgreSQL")));
    let large = parts[0].0.clone();
    let xlarge = parts[2].0.clone();
    let prices = PriceTable::from([(large.clone(), Price::Usd(0.26)), (xlarge, Price::Usd(0.52))]);
    assert_eq!(cluster.per_hour(&prices), Price::Usd(0.26 + 0.26 + 0.52));
    // One instance not priced: the cluster is unknown, not undercounted.
    let partial = PriceTable::from([(large, Price::Usd(0.26))]);
    assert_eq!(cluster.per_hour(&partial), Price::Unknown("no price read".into()));
    let docdb = Facts::Cluster {
        engine: "docdb".into(),
        classes: vec!["db.r5.large".into()],
    };
    let p = &with_facts(MemberKind::DocumentDb, "catalog", docdb, None)
        .products()
        .unwrap()[0]
        .0;
    assert_eq!(
        (p.service.as_str(), p.filter("instanceType")),
        ("AmazonDocDB", Some("db.r5.large"))
    );
    let serverless = Facts::Cluster {
        engine: "aurora-mysql".into(),
        classes: vec!["db.serverless".into()],
    };
    assert!(why(&with_facts(MemberKind::Aurora, "s", serverless, None)).contains("Serverless v2"));
}

#[test]
fn groups_and_fargate_services_by_their_recorded_capacity() {
    let group = Facts::Group {
        instance_type: "t3.small".into(),
    };
    let asg = with_facts(MemberKind::Asg, "web", group.clone(), Some(3));
    let prices = PriceTable::from([(Product::ec2("eu-west-1", "t3.small"), Price::Usd(0.02))]);
    assert_eq!(asg.per_hour(&prices), Price::Usd(0.06));
    assert_eq!(
        why(&with_facts(MemberKind::Eks, "c/ng", group, None)),
        "no recorded capacity"
    );
    let task = |arm| Facts::Task {
        cpu: 512,
        memory_mib: 2048,
        arm,
    };
    let service = with_facts(MemberKind::Ecs, "c/api", task(false), Some(4));
    let parts = service.products().unwrap();
    assert_eq!(parts[0].0.service, "AmazonECS");
    assert_eq!(parts[0].0.filter("usagetype"), Some("EU-Fargate-vCPU-Hours:perCPU"));
    assert_eq!(parts[0].1, 2.0, "4 tasks of half a vCPU");
    assert_eq!(parts[1].0.filter("usagetype"), Some("EU-Fargate-GB-Hours"));
    assert_eq!(parts[1].1, 8.0, "4 tasks of 2 GB");
    let prices = PriceTable::from([
        (parts[0].0.clone(), Price::Usd(0.04)),
        (parts[1].0.clone(), Price::Usd(0.005)),
    ]);
    assert_eq!(service.per_hour(&prices), Price::Usd(2.0 * 0.04 + 8.0 * 0.005));
    let arm = with_facts(MemberKind::Ecs, "c/arm", task(true), Some(1));
    assert_eq!(
        arm.products().unwrap()[0].0.filter("usagetype"),
        Some("EU-Fargate-ARM-vCPU-Hours:perCPU")
    );
    let mut far = with_facts(MemberKind::Ecs, "c/far", task(false), Some(1));
    far.region = "xx-nowhere-1".into();
    assert!(why(&far).contains("no Fargate usage type"));
    let unknown = with_facts(
        MemberKind::Ecs,
        "c/ec2",
        Facts::unknown("ECS on EC2: the instances bill"),
        None,
    );
    assert_eq!(why(&unknown), "ECS on EC2: the instances bill");
}

#[test]
fn facts_survive_the_ledger_json_and_old_items_still_price_as_linux() {
    let d = with_facts(
        MemberKind::Ecs,
        "c/api",
        Facts::Task {
            cpu: 256,
            memory_mib: 512,
            arm: true,
        },
        Some(2),
    );
    let json = serde_json::to_string(&d).unwrap();
    assert!(
        json.contains(r#""facts":{"type":"task","cpu":256,"memoryMib":512,"arm":true}"#),
        "{json}"
    );
    assert_eq!(serde_json::from_str::<Down>(&json).unwrap(), d);
    // An item written before the facts were kept: EC2 with its type only.
    let old = r#"{"workload":"W","tier":"T","account":"self","region":"eu-west-1","kind":"EC2","id":"i-1","instanceType":"m5.large","since":1}"#;
    let old: Down = serde_json::from_str(old).unwrap();
    assert_eq!(
        old.products().unwrap(),
        vec![(Product::ec2("eu-west-1", "m5.large"), 1.0)]
    );
}

#[test]
fn the_table_names_each_reason_once_with_its_members() {
    let stopped = Stopped {
        open: vec![
            down(MemberKind::Ec2, "i-1", Some("m5.large"), "2026-11-10T00:00:00Z"),
            down(MemberKind::Ec2, "i-2", Some("m5.large"), "2026-11-10T00:00:00Z"),
            down(MemberKind::Rds, "db-1", None, "2026-11-10T00:00:00Z"),
        ],
        days: vec![],
    };
    let r = report(
        "W",
        &stopped,
        at("2026-11-10T05:00:00Z"),
        november(),
        &PriceTable::new(),
    );
    let table = r.to_table();
    assert_eq!(table.matches("no price read").count(), 1, "{table}");
    assert!(table.contains("  no price read\n    i-1, i-2\n"), "{table}");
    assert!(table.contains("    rds:db-1\n"), "{table}");
}

#[test]
fn what_still_bills_is_shown_with_its_sizes_each_member_once() {
    let storage = |gib| Storage::from([("gp3".to_string(), gib)]);
    let mut a = ec2_facts("RunInstances", "default", false);
    let mut b = a.clone();
    if let (Facts::Instance { storage: sa, .. }, Facts::Instance { storage: sb, .. }) = (&mut a, &mut b) {
        (*sa, *sb) = (storage(100), storage(30));
    }
    let stopped = Stopped {
        open: vec![
            with_facts(MemberKind::Ec2, "i-1", a, None),
            with_facts(MemberKind::Ec2, "i-2", b, None),
        ],
        days: vec![],
    };
    // Three days down: each volume counted once, not once per day.
    let r = report(
        "W",
        &stopped,
        at("2026-11-13T00:00:00Z"),
        november(),
        &PriceTable::new(),
    );
    assert_eq!(r.rows[0].storage_gib, storage(130));
    assert_eq!(r.rows[0].still_billed, "EBS volumes: gp3 130 GiB");
    assert!(r.to_table().contains("EBS volumes: gp3 130 GiB"));
}
