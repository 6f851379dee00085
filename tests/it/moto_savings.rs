//! Issue 34 against moto: the CLI's Stop marks its instances down in the
//! run ledger table, `orchestrator savings` shows their hours with the
//! money `unknown` and its reason (moto has no Price List API), the Start
//! closes them; the DynamoDB adapter closes a stop of days into per-day
//! items, a close done twice adds nothing, and prices are cached.

use ec2_tier_scheduler::member::MemberKind;
use ec2_tier_scheduler::ports::{Downtime, PriceCache, PRICE_CACHE_SECS};
use ec2_tier_scheduler::savings::{Down, Facts, Price, PriceTable, Product, Storage};

use crate::support::moto::{Stack, LEDGER_TABLE};
use crate::support::{tier_item, workload_item};

#[tokio::test]
async fn a_cli_stop_and_start_keep_the_stopped_time_and_savings_shows_it_unpriced_in_the_emulator() {
    let stack = Stack::start().await;
    stack.ledger_table().await;
    let (_, subnet) = stack.vpc("10.34.0.0").await;
    let ids = stack.launch_tier(&subnet, "Role_Web", 2).await;
    let mut workload = workload_item("W");
    workload.as_object_mut().unwrap().remove("SNSTopicName");
    stack
        .put_config(workload, vec![tier_item("W", "Role_Web", 0, 0, false, 0)])
        .await;

    let stop = stack.run_json("W", "Stop").await;
    let ledger = stack.cloud().ledger(LEDGER_TABLE);
    let kept = ledger.of_workload("W").await.unwrap();
    let mut open: Vec<&str> = kept.open.iter().map(|d| d.id.as_str()).collect();
    open.sort();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(open, want, "{:#}", stop["summary"]["notificationErrors"]);
    assert!(kept
        .open
        .iter()
        .all(|d| d.instance_type.is_some() && d.tier == "Role_Web"));

    let (code, out, err) = stack.cli(&["savings", "-w", "W", "-r", "us-west-2", "--json"]).await;
    assert_eq!(code, 0, "{out}\n{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = &json["report"]["rows"][0];
    assert_eq!(row["kind"], "EC2");
    let unknown = row["unknown"].as_array().unwrap();
    assert_eq!(unknown.len(), 2, "{json}");
    assert!(unknown[0].as_str().unwrap().contains("Price List not read"), "{json}");
    assert!(json["report"]["caveats"][0]
        .as_str()
        .unwrap()
        .contains("on-demand list prices"));
    let svg = std::env::temp_dir().join(format!("savings-{}.svg", std::process::id()));
    let svg_arg = svg.display().to_string();
    let (code, out, _) = stack
        .cli(&["savings", "-w", "W", "-r", "us-west-2", "--svg", &svg_arg])
        .await;
    assert_eq!(code, 0);
    let drawn = std::fs::read_to_string(&svg).unwrap();
    let _ = std::fs::remove_file(&svg);
    roxmltree::Document::parse(&drawn).expect("well-formed SVG");
    assert!(
        out.contains("Role_Web") && out.contains("note: Savings are at on-demand list prices"),
        "{out}"
    );

    stack.run_json("W", "Start").await;
    let kept = ledger.of_workload("W").await.unwrap();
    assert!(kept.open.is_empty(), "{:?}", kept.open);
    assert!(kept.days.iter().filter(|d| d.member.id == ids[0]).count() <= 1);
}

#[tokio::test]
async fn a_stop_of_days_closes_into_one_item_a_day_once_and_prices_are_cached() {
    let stack = Stack::start().await;
    stack.ledger_table().await;
    let ledger = stack.cloud().ledger(LEDGER_TABLE);
    let now = ec2_tier_scheduler::clock::now();
    let down = Down {
        workload: "W|x".into(),
        tier: "Role_App".into(),
        account: "self".into(),
        region: "us-west-2".into(),
        kind: MemberKind::Ec2,
        id: "i-0123".into(),
        instance_type: None,
        facts: Some(Facts::Instance {
            instance_type: "m5.large".into(),
            tenancy: "default".into(),
            usage_operation: "RunInstances:0002".into(),
            spot: false,
            storage: Storage::from([("gp3".to_string(), 30)]),
        }),
        count: None,
        since: now - 3 * 86_400 - 3600,
    };
    ledger.open(std::slice::from_ref(&down)).await.unwrap();
    let kept = ledger.of_workload("W|x").await.unwrap();
    assert_eq!(kept.open, vec![down.clone()]);
    assert!(
        ledger.of_workload("W").await.unwrap().open.is_empty(),
        "keys are encoded"
    );

    ledger.close(std::slice::from_ref(&down), now).await.unwrap();
    // Done twice (a repeated delivery): refused, nothing added.
    assert!(ledger.close(std::slice::from_ref(&down), now).await.is_err());
    let kept = ledger.of_workload("W|x").await.unwrap();
    assert!(kept.open.is_empty());
    assert!((4..=5).contains(&kept.days.len()), "{:?}", kept.days);
    let total: u64 = kept.days.iter().map(|d| d.seconds).sum();
    assert_eq!(total, 3 * 86_400 + 3600);

    let m5 = Product::ec2("us-west-2", "m5.large");
    let t3 = Product::ec2("us-west-2", "t3.micro");
    let prices = PriceTable::from([
        (m5.clone(), Price::Usd(0.107)),
        (t3.clone(), Price::Unknown("x".into())),
    ]);
    ledger.keep(&prices, now).await.unwrap();
    let cached = ledger.cached(&[m5.clone(), t3.clone()], now + 60).await.unwrap();
    assert_eq!(cached, PriceTable::from([(m5.clone(), Price::Usd(0.107))]));
    let expired = ledger.cached(&[m5], now + PRICE_CACHE_SECS + 1).await.unwrap();
    assert!(expired.is_empty());
}
