//! Migration from the original, against moto: a Loader document run through
//! the CLI with the original's outcome, the WorkloadState rule and `-o`, and
//! cross-account workloads acted on in the role's account only.

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::aws::ApiCounter;
use ec2_tier_scheduler::error::RunError;
use ec2_tier_scheduler::summary::RunStatus;
use serde_json::json;

use crate::support::moto::Stack;
use crate::support::{request, run_fast, tier_item, workload_item};

const LOADER_DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/loader-workload.yaml");

fn states(stack_states: &[(String, String)]) -> Vec<&str> {
    stack_states.iter().map(|(s, _)| s.as_str()).collect()
}

#[tokio::test]
async fn loader_document_validates_imports_plans_and_runs_with_the_originals_outcome() {
    let stack = Stack::start().await;
    let (_, subnet) = stack.vpc("10.7.0.0").await;
    let tags = |role: &'static str| [("Environment", "ENV002"), ("ApplicationRole", role)];
    let web = stack.launch(&subnet, &tags("Role_Web"), 2).await;
    let app = stack.launch(&subnet, &tags("Role_App"), 2).await;
    let db = stack.launch(&subnet, &tags("Role_DB"), 1).await;

    // validate: the Loader's shape is recognised, nothing is written
    let (code, out, err) = stack.cli(&["config", "validate", LOADER_DOC]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("workload \"LoaderWorkload\" is valid (3 tiers, the original Loader's document shape)"));

    // import: written to the tables the document names, state row seeded
    let (code, out, err) = stack.cli(&["config", "import", LOADER_DOC, "-r", "us-west-2"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("WorkloadState row seeded as Unmanaged"), "{out}");

    // Stop: Web, then App; DB has IgnoreStop and keeps running
    let (code, out, err) = stack
        .cli(&["-w", "LoaderWorkload", "-r", "us-west-2", "-a", "Stop"])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("left out: tier Role_DB (TierStop.IgnoreStop is on"),
        "{out}"
    );
    for id in web.iter().chain(&app) {
        assert_eq!(stack.instance(id).await.0, "stopped", "{id}");
    }
    assert_eq!(stack.instance(&db[0]).await.0, "running");
    stack.ec2.stop_instances().instance_ids(&db[0]).send().await.unwrap();

    // plan of a Start with DevMode: FleetSubset '1' on Web, 50% on App
    let (code, plan, err) = stack
        .cli(&["plan", "-w", "LoaderWorkload", "-r", "us-west-2", "-p", "DevMode"])
        .await;
    assert_eq!(code, 0, "{plan}{err}");
    assert!(plan.contains("t2.micro -> t3.nano (unlimited)"), "{plan}");
    assert_eq!(plan.matches("left stopped: FleetSubset").count(), 2, "{plan}");

    // Start (no -a: the original's default action) with DevMode
    let (code, out, err) = stack
        .cli(&["-w", "LoaderWorkload", "-r", "us-west-2", "-p", "DevMode"])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("Plan: Start LoaderWorkload"), "{out}");
    let (w0, w1) = (stack.instance(&web[0]).await, stack.instance(&web[1]).await);
    assert_eq!(states(&[w0.clone(), w1.clone()]), ["running", "stopped"]);
    assert_eq!(w0.1, "t3.nano");
    assert_eq!(w1.1, "t2.micro", "an instance left stopped is not resized");
    let credits = stack
        .ec2
        .describe_instance_credit_specifications()
        .instance_ids(&web[0])
        .send()
        .await
        .unwrap();
    assert_eq!(
        credits.instance_credit_specifications()[0].cpu_credits(),
        Some("unlimited")
    );
    let (a0, a1) = (stack.instance(&app[0]).await, stack.instance(&app[1]).await);
    assert_eq!(states(&[a0, a1]), ["running", "stopped"], "50% of 2");
    assert_eq!(stack.instance(&db[0]).await.0, "running");

    // WorkloadState: a second Start is skipped, -o runs it
    let row = stack
        .ddb
        .get_item()
        .table_name("WorkloadState")
        .key(
            "Workload",
            aws_sdk_dynamodb::types::AttributeValue::S("LoaderWorkload".into()),
        )
        .send()
        .await
        .unwrap();
    let item = row.item().unwrap();
    assert_eq!(item["LastActionType"].as_s().unwrap(), "Start");
    assert_eq!(item["Profile"].as_s().unwrap(), "DevMode");
    let (code, out, _) = stack.cli(&["-w", "LoaderWorkload", "-r", "us-west-2"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("Skipped") && out.contains("-o/--overrideState"), "{out}");
    let (code, out, err) = stack
        .cli(&["-w", "LoaderWorkload", "-r", "us-west-2", "-o", "-p", "ProdMode"])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(stack.instance(&web[1]).await.0, "running", "ProdMode wants 100%");
    assert_eq!(stack.instance(&web[1]).await.1, "t3.medium");

    // export in the Loader's shape reads back as the same workload
    let (code, yaml, err) = stack
        .cli(&[
            "config",
            "export",
            "LoaderWorkload",
            "-r",
            "us-west-2",
            "--format",
            "loader",
        ])
        .await;
    assert_eq!(code, 0, "{err}");
    let parsed = ec2_tier_scheduler::config::document::parse(&yaml).unwrap();
    assert_eq!(parsed.shape, ec2_tier_scheduler::config::document::Shape::Loader);
    assert_eq!(parsed.config.tiers.len(), 3);
}

#[tokio::test]
async fn cross_account_runs_act_in_the_roles_account_only() {
    let stack = Stack::start().await;
    let member = stack.member_account(&["setup", "222233334444", "Scheduler", "s3cret", "2"]);
    let member_ids: Vec<String> = serde_json::from_value(member["instances"].clone()).unwrap();
    // Same tags in the scheduler's own account: must not be touched.
    let (_, subnet) = stack.vpc("10.8.0.0").await;
    let own = stack.launch_tier(&subnet, "Role_Web", 2).await;

    let mut workload = workload_item("W");
    workload["CrossAccountRole"] = member["role"].clone();
    workload["CrossAccountRoleExternalId"] = json!("s3cret");
    stack
        .put_config(workload, vec![tier_item("W", "Role_Web", 0, 0, false, 0)])
        .await;
    let counter = ApiCounter::new();
    let cloud = stack.cloud().with_counter(counter.clone());
    let report = run_fast(&cloud, &request("W", Action::Stop)).await;

    assert_eq!(
        report.summary.status,
        RunStatus::Completed,
        "{}",
        report.summary.to_table()
    );
    assert_eq!(report.summary.account.as_ref().unwrap().account_id, "222233334444");
    assert_eq!(report.plan.account.as_ref().unwrap().account_id, "222233334444");
    let states = stack.member_account(&["states", "222233334444"]);
    for id in &member_ids {
        assert_eq!(states[id], "stopped", "{id} in the member account");
    }
    for id in &own {
        assert_eq!(stack.instance(id).await.0, "running", "{id} in the scheduler's account");
    }
    // Every EC2 call went through the role: the account's instances are
    // the member's (the own-account ones would have been found otherwise).
    assert!(counter.count("EC2", "StopInstances") >= 1);
}

#[tokio::test]
async fn a_role_that_cannot_be_assumed_refuses_the_run_with_zero_ec2_calls() {
    let stack = Stack::start().await;
    let member = stack.member_account(&["setup", "222233334444", "Scheduler", "s3cret", "1"]);
    let (_, subnet) = stack.vpc("10.9.0.0").await;
    let own = stack.launch_tier(&subnet, "Role_Web", 2).await;
    for (role, external_id) in [
        (member["role"].clone(), json!("wrong")),
        (json!("arn:aws:iam::222233334444:role/Missing"), json!("s3cret")),
    ] {
        let mut workload = workload_item("W");
        workload["CrossAccountRole"] = role;
        workload["CrossAccountRoleExternalId"] = external_id;
        stack
            .put_config(workload, vec![tier_item("W", "Role_Web", 0, 0, false, 0)])
            .await;
        let counter = ApiCounter::new();
        let cloud = stack.cloud().with_counter(counter.clone());
        let err = ec2_tier_scheduler::orchestrator::run(
            &cloud,
            &request("W", Action::Stop),
            &ec2_tier_scheduler::orchestrator::Budget::unlimited(),
            &crate::support::fast_settings(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, RunError::Cloud { .. }), "{err}");
        assert!(err.to_string().contains("cannot assume CrossAccountRole"), "{err}");
        let ec2_calls: u64 = counter
            .calls()
            .iter()
            .filter(|((service, _), _)| service == "EC2")
            .map(|(_, n)| n)
            .sum();
        assert_eq!(ec2_calls, 0, "{:?}", counter.calls());
        assert!(
            counter.count("DynamoDB", "GetItem") >= 1,
            "the counter sees the run's calls"
        );
    }
    let states = stack.member_account(&["states", "222233334444"]);
    assert!(states.as_object().unwrap().values().all(|s| s == "running"));
    for id in &own {
        assert_eq!(stack.instance(id).await.0, "running");
    }
}
