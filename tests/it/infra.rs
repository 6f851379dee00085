//! The deployment template and the code cannot drift apart: the schedule
//! payloads deserialise into the handler's event type, and the function's
//! role never grants EC2 mutations on "*".

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

#[test]
fn ec2_mutations_are_scoped_to_tagged_instances() {
    let template = template("template.yaml");
    let mut all = Vec::new();
    statements(&template, &mut all);
    assert!(!all.is_empty());
    let mutations = ["ec2:StartInstances", "ec2:StopInstances", "ec2:ModifyInstanceAttribute"];
    let mut seen = Vec::new();
    for statement in all {
        let actions = strings(&statement["Action"]);
        for action in &actions {
            assert_ne!(action, "*", "a \"*\" action: {statement:?}");
            assert_ne!(action, "ec2:*", "an ec2:* action: {statement:?}");
        }
        if actions
            .iter()
            .any(|a| mutations.contains(&a.as_str()) || a.ends_with('*') && a.starts_with("ec2:"))
        {
            let resources = strings(&statement["Resource"]);
            assert!(
                !resources.iter().any(|r| r == "*"),
                "EC2 mutation on \"*\": {statement:?}"
            );
            assert!(resources.iter().all(|r| r.contains(":instance/")), "{resources:?}");
            assert!(
                statement.get("Condition").is_some(),
                "EC2 mutation without a tag condition: {statement:?}"
            );
            seen.extend(actions.clone());
        }
        if actions.iter().any(|a| a == "ssm:SendCommand") {
            let resources = strings(&statement["Resource"]);
            assert!(
                !resources.iter().any(|r| r == "*"),
                "SendCommand on \"*\": {statement:?}"
            );
        }
    }
    for m in mutations {
        assert!(seen.iter().any(|a| a == m), "{m} not granted at all");
    }
}
