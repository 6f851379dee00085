//! The deployment templates and the code cannot drift apart: the schedule
//! payloads deserialise into the handler's event type, neither the function's
//! role nor the member-account role grants EC2 mutations on "*", the member
//! role trusts only the scheduler account with an external ID, the function
//! assumes only the listed member roles, and it can read and write the
//! WorkloadState table named by WORKLOAD_STATE_TABLE.

use ec2_tier_scheduler::event::SchedulerEvent;
use ec2_tier_scheduler::plan::Action;
use serde_yaml::Value;

fn template(name: &str) -> Value {
    let path = format!("{}/infra/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every string under a `!Sub` anywhere below `value`.
fn subs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Tagged(t) if t.tag == "!Sub" => match &t.value {
            Value::String(s) => out.push(s.clone()),
            Value::Sequence(seq) => out.extend(seq.first().and_then(Value::as_str).map(str::to_string)),
            _ => {}
        },
        Value::Tagged(t) => subs(&t.value, out),
        Value::Sequence(seq) => seq.iter().for_each(|v| subs(v, out)),
        Value::Mapping(m) => m.values().for_each(|v| subs(v, out)),
        _ => {}
    }
}

/// Fills the template's parameters the way CloudFormation would.
fn substitute(text: &str) -> String {
    text.replace("${WorkloadIdentifier}", "BotoTestCase1")
        .replace("${AWS::Region}", "us-west-2")
        .replace("${DynamoDBRegion}", "eu-west-1")
        .replace("${DryRun}", "false")
        .replace("${ScalingProfile}", "profileB")
}

fn schedule_inputs(template: &Value) -> Vec<String> {
    let mut inputs = Vec::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() == Some("AWS::Scheduler::Schedule") {
            let mut found = Vec::new();
            subs(&resource["Properties"]["Target"]["Input"], &mut found);
            assert!(!found.is_empty(), "schedule without a !Sub Input: {resource:?}");
            inputs.extend(found.iter().map(|s| substitute(s)));
        }
    }
    inputs
}

#[test]
fn schedule_payloads_deserialise_into_the_handler_event() {
    for name in ["template.yaml", "workload-schedule.yaml"] {
        let inputs = schedule_inputs(&template(name));
        assert!(inputs.len() >= 2, "{name}: expected stop and start schedules");
        let mut actions = Vec::new();
        for input in inputs {
            let event = SchedulerEvent::from_json(&input).unwrap_or_else(|e| panic!("{name}: {input}: {e}"));
            assert_eq!(event.workload_identifier, "BotoTestCase1");
            assert!(!event.dry_run);
            actions.push(event.action);
        }
        assert!(
            actions.contains(&Action::Stop) && actions.contains(&Action::Start),
            "{name}"
        );
    }
}

/// Every IAM statement below `value`.
fn statements<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Mapping(m) => {
            for (k, v) in m {
                if k.as_str() == Some("Statement") {
                    out.extend(v.as_sequence().into_iter().flatten());
                } else {
                    statements(v, out);
                }
            }
        }
        Value::Sequence(seq) => seq.iter().for_each(|v| statements(v, out)),
        Value::Tagged(t) => statements(&t.value, out),
        _ => {}
    }
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(seq) => seq.iter().flat_map(strings).collect(),
        Value::Tagged(t) => strings(&t.value),
        _ => Vec::new(),
    }
}

/// Every string below `value`, including mapping keys and tagged values.
fn all_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Sequence(seq) => seq.iter().for_each(|v| all_strings(v, out)),
        Value::Mapping(m) => {
            for (k, v) in m {
                all_strings(k, out);
                all_strings(v, out);
            }
        }
        Value::Tagged(t) => all_strings(&t.value, out),
        _ => {}
    }
}

/// The target of a `!Ref` (or `{Ref: ...}`), if `value` is one.
fn ref_target(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(t) if t.tag == "!Ref" => t.value.as_str(),
        Value::Mapping(m) if m.len() == 1 => m.get("Ref").and_then(Value::as_str),
        _ => None,
    }
}

/// Identity-policy statements (trust and resource policies name a `Principal`).
fn permission_statements(template: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    statements(template, &mut all);
    assert!(!all.is_empty());
    all.into_iter().filter(|s| s.get("Principal").is_none()).collect()
}

const EC2_MUTATIONS: [&str; 4] = [
    "ec2:StartInstances",
    "ec2:StopInstances",
    "ec2:ModifyInstanceAttribute",
    "ec2:ModifyInstanceCreditSpecification",
];

/// No "*" action, and every EC2 mutation and SendCommand to instances is
/// limited to instances and conditioned on the workload tag.
fn assert_ec2_mutations_scoped(name: &str) {
    let template = template(name);
    let mut all = Vec::new();
    statements(&template, &mut all);
    assert!(!all.is_empty());
    let mut seen = Vec::new();
    for statement in all {
        let actions = strings(&statement["Action"]);
        for action in &actions {
            assert_ne!(action, "*", "{name}: a \"*\" action: {statement:?}");
            assert_ne!(action, "ec2:*", "{name}: an ec2:* action: {statement:?}");
        }
        let tag_condition = || {
            let mut keys = Vec::new();
            all_strings(&statement["Condition"], &mut keys);
            keys.iter().any(|k| k.starts_with("aws:ResourceTag/"))
        };
        if actions
            .iter()
            .any(|a| EC2_MUTATIONS.contains(&a.as_str()) || a.ends_with('*') && a.starts_with("ec2:"))
        {
            let resources = strings(&statement["Resource"]);
            assert!(
                !resources.iter().any(|r| r == "*"),
                "{name}: EC2 mutation on \"*\": {statement:?}"
            );
            assert!(
                resources.iter().all(|r| r.contains(":instance/")),
                "{name}: {resources:?}"
            );
            assert!(
                statement.get("Condition").is_some() && tag_condition(),
                "{name}: EC2 mutation without a tag condition: {statement:?}"
            );
            seen.extend(actions.clone());
        }
        if actions.iter().any(|a| a == "ssm:SendCommand") {
            let resources = strings(&statement["Resource"]);
            assert!(
                !resources.iter().any(|r| r == "*"),
                "{name}: SendCommand on \"*\": {statement:?}"
            );
            if resources.iter().any(|r| r.contains(":instance/")) {
                assert!(
                    tag_condition(),
                    "{name}: SendCommand to untagged instances: {statement:?}"
                );
            }
        }
    }
    for m in EC2_MUTATIONS {
        assert!(seen.iter().any(|a| a == m), "{name}: {m} not granted at all");
    }
}

#[test]
fn ec2_mutations_are_scoped_to_tagged_instances() {
    assert_ec2_mutations_scoped("template.yaml");
}

#[test]
fn member_role_grants_ec2_mutations_only_on_tagged_instances() {
    assert_ec2_mutations_scoped("member-account-role.yaml");
}

#[test]
fn member_role_trusts_only_the_scheduler_account_with_an_external_id() {
    let template = template("member-account-role.yaml");
    let params = &template["Parameters"];
    assert_eq!(
        params["SchedulerAccountId"]["AllowedPattern"].as_str(),
        Some("^[0-9]{12}$")
    );
    assert_eq!(params["ExternalId"]["NoEcho"].as_bool(), Some(true));
    assert!(
        params["ExternalId"].get("Default").is_none(),
        "ExternalId must not have a default"
    );

    let mut trusted = 0;
    for (id, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"].as_str() != Some("AWS::IAM::Role") {
            continue;
        }
        let mut trust = Vec::new();
        statements(&resource["Properties"]["AssumeRolePolicyDocument"], &mut trust);
        assert!(!trust.is_empty(), "{id:?}: no trust policy");
        for statement in trust {
            assert_eq!(statement["Effect"].as_str(), Some("Allow"), "{statement:?}");
            let principal = &statement["Principal"];
            let mut principals = Vec::new();
            all_strings(principal, &mut principals);
            assert!(
                !principals.iter().any(|p| p.contains('*')),
                "wildcard principal: {statement:?}"
            );
            assert!(principal.get("Service").is_none(), "{statement:?}");
            let mut accounts = Vec::new();
            subs(&principal["AWS"], &mut accounts);
            assert_eq!(
                accounts,
                ["arn:${AWS::Partition}:iam::${SchedulerAccountId}:root"],
                "trust must name only the SchedulerAccountId parameter: {statement:?}"
            );
            assert_eq!(strings(&statement["Action"]), ["sts:AssumeRole"], "{statement:?}");
            let external_id = &statement["Condition"]["StringEquals"]["sts:ExternalId"];
            assert_eq!(
                ref_target(external_id),
                Some("ExternalId"),
                "trust without StringEquals sts:ExternalId = ExternalId: {statement:?}"
            );
            trusted += 1;
        }
    }
    assert!(trusted > 0, "no member role");
}

#[test]
fn function_assumes_only_the_listed_member_roles() {
    let template = template("template.yaml");
    let param = &template["Parameters"]["CrossAccountRoleArns"];
    assert_eq!(param["Type"].as_str(), Some("CommaDelimitedList"));
    assert_eq!(param["Default"].as_str(), Some(""), "no cross-account role by default");

    let mut grants = 0;
    for statement in permission_statements(&template) {
        let actions = strings(&statement["Action"]);
        if !actions.iter().any(|a| a == "sts:AssumeRole" || a == "sts:*") {
            continue;
        }
        assert_eq!(actions, ["sts:AssumeRole"], "{statement:?}");
        assert_eq!(
            ref_target(&statement["Resource"]),
            Some("CrossAccountRoleArns"),
            "sts:AssumeRole on anything but CrossAccountRoleArns: {statement:?}"
        );
        grants += 1;
    }
    assert_eq!(grants, 1, "exactly one sts:AssumeRole grant expected");

    // The grant only exists when the list is not empty.
    let policies = template["Resources"]["FunctionRole"]["Properties"]["Policies"]
        .as_sequence()
        .unwrap();
    let conditional = policies
        .iter()
        .find_map(|p| match p {
            Value::Tagged(t) if t.tag == "!If" => {
                let mut found = Vec::new();
                statements(&t.value, &mut found);
                found
                    .iter()
                    .any(|s| strings(&s["Action"]).iter().any(|a| a == "sts:AssumeRole"))
                    .then(|| t.value[0].as_str().unwrap().to_string())
            }
            _ => None,
        })
        .expect("the sts:AssumeRole policy is not under an !If");
    let mut uses = Vec::new();
    all_strings(&template["Conditions"][conditional.as_str()], &mut uses);
    assert!(
        uses.iter().any(|u| u == "CrossAccountRoleArns"),
        "{conditional}: {uses:?}"
    );
}

#[test]
fn function_reads_and_writes_the_workload_state_table() {
    let template = template("template.yaml");
    let resources = &template["Resources"];
    let table = &resources["WorkloadStateTable"];
    assert_eq!(table["Type"].as_str(), Some("AWS::DynamoDB::Table"));
    let props = &table["Properties"];
    assert_eq!(ref_target(&props["TableName"]), Some("WorkloadStateTableName"));
    assert_eq!(
        template["Parameters"]["WorkloadStateTableName"]["Default"].as_str(),
        Some("WorkloadState")
    );
    assert_eq!(props["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(props["KeySchema"][0]["AttributeName"].as_str(), Some("Workload"));
    assert_eq!(props["KeySchema"][0]["KeyType"].as_str(), Some("HASH"));
    assert_eq!(props["KeySchema"].as_sequence().map(Vec::len), Some(1));
    assert_eq!(
        props["AttributeDefinitions"][0]["AttributeName"].as_str(),
        Some("Workload")
    );
    assert_eq!(props["AttributeDefinitions"][0]["AttributeType"].as_str(), Some("S"));
    assert_eq!(
        props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(),
        Some(true)
    );

    let env = &resources["SchedulerFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(ref_target(&env["WORKLOAD_STATE_TABLE"]), Some("WorkloadStateTable"));

    let mut actions = Vec::new();
    for statement in permission_statements(&template) {
        let mut targets = Vec::new();
        all_strings(&statement["Resource"], &mut targets);
        if targets.iter().any(|t| t.starts_with("WorkloadStateTable")) {
            assert_eq!(
                strings(&statement["Resource"]),
                ["WorkloadStateTable.Arn"],
                "{statement:?}"
            );
            actions.extend(strings(&statement["Action"]));
        }
    }
    actions.sort();
    assert_eq!(actions, ["dynamodb:GetItem", "dynamodb:PutItem"]);
}
