//! The roles fit IAM's size limits for a large estate, not only for the
//! demo: a role's inline policies share 10,240 characters, a managed policy
//! holds 6,144, and a role takes 10 managed policies (whitespace is not
//! counted). cfn-lint cannot see this: the sizes depend on the parameters.
//! Every statement scoped by the workload tag grows with
//! `WorkloadTagValues`, so those live in managed policies of their own.

use serde_json::{json, Value as Json};
use serde_yaml::Value;

use crate::infra::template;

const INLINE_LIMIT: usize = 10_240;
const MANAGED_LIMIT: usize = 6_144;
const MANAGED_PER_ROLE: usize = 10;

/// The estate the limits are checked for: 40 workloads in one account and
/// region, each tag value 16 characters, and 10 entries of 64 characters in
/// every other list parameter (member role ARNs, KMS key ARNs, alarm name
/// prefixes, instance types).
const WORKLOADS: usize = 40;
const OTHER_ENTRIES: usize = 10;

/// The value CloudFormation would deploy for `value`, as long as it can
/// get: list parameters as the estate above, each `${...}` of a `!Sub`
/// replaced by 20 characters (an account id is 12, a region up to 14),
/// single-value references and attributes by 90 characters (an ARN), an
/// `!If` by its longer branch, a `Fn::ForEach` by one pass over its
/// template. `Null` is `AWS::NoValue`.
fn deployed(value: &Value, template: &Value) -> Json {
    match value {
        Value::String(s) => json!(s),
        Value::Bool(b) => json!(b),
        Value::Number(n) => json!(n.to_string()),
        Value::Null => Json::Null,
        Value::Sequence(seq) => Json::Array(
            seq.iter()
                .map(|v| deployed(v, template))
                .filter(|v| !v.is_null())
                .collect(),
        ),
        Value::Mapping(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                let key = k.as_str().unwrap_or_default();
                if key.starts_with("Fn::ForEach::") {
                    let body = &v.as_sequence().expect("ForEach: [id, list, template]")[2];
                    if let Json::Object(o) = deployed(body, template) {
                        out.extend(o.into_iter().map(|(k, v)| (k.replace("${TagKey}", "Environment"), v)));
                    }
                } else {
                    out.insert(key.to_string(), deployed(v, template));
                }
            }
            Json::Object(out)
        }
        Value::Tagged(t) => {
            let tag = ["!Ref", "!Sub", "!If", "!Join"].into_iter().find(|name| t.tag == *name);
            intrinsic(tag.unwrap_or_default(), &t.value, template)
        }
    }
}

fn intrinsic(tag: &str, value: &Value, template: &Value) -> Json {
    let arn = || json!("a".repeat(90));
    match tag {
        "!Ref" => {
            let name = value.as_str().unwrap_or_default();
            if name == "AWS::NoValue" {
                return Json::Null;
            }
            let param = &template["Parameters"][name];
            if param["Type"].as_str() != Some("CommaDelimitedList") {
                return arn();
            }
            let (count, len) = if name == "WorkloadTagValues" {
                (WORKLOADS, 16)
            } else if name == "WorkloadTagKey" {
                (1, 11)
            } else {
                (OTHER_ENTRIES, 64)
            };
            Json::Array((0..count).map(|i| json!(format!("{i:0len$}"))).collect())
        }
        "!Sub" => {
            let text = match value {
                Value::Sequence(seq) => seq[0].as_str().unwrap_or_default(),
                other => other.as_str().unwrap_or_default(),
            };
            let mut out = String::new();
            let mut rest = text;
            while let Some(start) = rest.find("${") {
                let end = rest[start..].find('}').map_or(rest.len(), |e| start + e + 1);
                out.push_str(&rest[..start]);
                out.push_str(&"s".repeat(20));
                rest = &rest[end..];
            }
            out.push_str(rest);
            json!(out)
        }
        "!If" => {
            let seq = value.as_sequence().expect("!If [condition, then, else]");
            let (a, b) = (deployed(&seq[1], template), deployed(&seq[2], template));
            if chars(&a) >= chars(&b) {
                a
            } else {
                b
            }
        }
        "!Join" => {
            let seq = value.as_sequence().expect("!Join [delimiter, list]");
            let parts = deployed(&seq[1], template);
            let parts: Vec<String> = parts
                .as_array()
                .map(|a| a.iter().map(|p| p.as_str().unwrap_or_default().to_string()).collect())
                .unwrap_or_default();
            json!(parts.join(seq[0].as_str().unwrap_or_default()))
        }
        _ => arn(),
    }
}

/// IAM's measure: the characters of the JSON document, whitespace aside.
fn chars(document: &Json) -> usize {
    serde_json::to_string(document)
        .unwrap()
        .chars()
        .filter(|c| !c.is_whitespace())
        .count()
}

/// The characters of a role's inline `policies`, all together.
fn inline_chars(policies: &Value, template: &Value) -> usize {
    deployed(policies, template)
        .as_array()
        .map_or(0, |policies| policies.iter().map(|p| chars(&p["PolicyDocument"])).sum())
}

/// The roles of `name` and what is wrong with their sizes; each role's
/// figures are printed (`--nocapture`).
fn size_violations(name: &str) -> Vec<String> {
    let template = template(name);
    let resources = template["Resources"].as_mapping().unwrap();
    let mut problems = Vec::new();
    let mut roles = 0;
    for (id, resource) in resources {
        let id = id.as_str().unwrap();
        let properties = &resource["Properties"];
        match resource["Type"].as_str() {
            Some("AWS::IAM::Role") => {
                roles += 1;
                let inline = inline_chars(&properties["Policies"], &template);
                let managed = deployed(&properties["ManagedPolicyArns"], &template)
                    .as_array()
                    .map_or(0, Vec::len);
                println!("{name} {id}: inline policies {inline} characters, {managed} managed policies");
                if inline > INLINE_LIMIT {
                    problems.push(format!(
                        "{id}: inline policies of {inline} characters (IAM: {INLINE_LIMIT})"
                    ));
                }
                if managed > MANAGED_PER_ROLE {
                    problems.push(format!("{id}: {managed} managed policies (IAM: {MANAGED_PER_ROLE})"));
                }
            }
            Some("AWS::IAM::ManagedPolicy") => {
                let size = chars(&deployed(&properties["PolicyDocument"], &template));
                println!("{name} {id}: {size} characters");
                if size > MANAGED_LIMIT {
                    problems.push(format!("{id}: {size} characters (IAM: {MANAGED_LIMIT})"));
                }
            }
            _ => {}
        }
    }
    assert!(roles > 0, "{name}: no role found");
    problems
}

#[test]
fn the_roles_fit_iams_size_limits_for_forty_workloads() {
    for name in ["template.yaml", "member-account-role.yaml"] {
        let problems = size_violations(name);
        assert!(problems.is_empty(), "{name}: {problems:#?}");
    }
}

#[test]
fn the_size_check_fails_on_the_old_inline_policies() {
    // The four tag-scoped managed policies put back inline, as they were:
    // the function role's inline policies no longer fit.
    let mut template = template("template.yaml");
    let resources = template["Resources"].as_mapping_mut().unwrap();
    let mut moved = Vec::new();
    for name in ["Ec2", "Rds", "Ssm", "Ecs"] {
        let policy = resources.remove(format!("Function{name}Policy")).expect(name);
        let mut inline = serde_yaml::Mapping::new();
        inline.insert("PolicyName".into(), name.to_lowercase().into());
        inline.insert("PolicyDocument".into(), policy["Properties"]["PolicyDocument"].clone());
        moved.push(Value::Mapping(inline));
    }
    let role = &mut resources.get_mut("FunctionRole").unwrap()["Properties"];
    role["Policies"].as_sequence_mut().unwrap().extend(moved);
    let policies = role["Policies"].clone();
    let inline = inline_chars(&policies, &template);
    assert!(
        inline > INLINE_LIMIT,
        "{inline} characters inline would fit: the check is too lenient"
    );
}
