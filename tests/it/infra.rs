//! The deployment templates and the code cannot drift apart: the schedule
//! payloads deserialise into the handler's event type; every action a policy
//! grants is tied to the adapter call (or the AWS service) that needs it, and
//! every adapter call is granted; EC2 and SSM mutations reach only this
//! region's instances whose workload tag has a configured value, and
//! ModifyInstanceAttribute only the attributes the code sets; RDS, Auto
//! Scaling and ECS mutations only this region and account's databases,
//! groups and services with that tag, and of those only a capacity change
//! (no launch template, subnets, instance types, capacity reservations,
//! task definition, capacity provider or execute command; sizes up to
//! `MaxRestoredCapacity`); no record tag is written (records live in the
//! run ledger), the only tag write the Auto Scaling processes record; reads
//! that cannot carry a tag condition only this region and account's
//! resources; target registrations only in this region and account's
//! target groups with the workload tag, alarm muting only the alarms named
//! by `AlarmNamePrefixes` and only when it is set; the function
//! runs only the stack's override-check documents, whose one parameter is
//! the path under the project's allow-list; schedules live in the stack's
//! group; the data stores are protected; the member role trusts only the
//! scheduler account with an external ID; the function assumes only the
//! listed member roles and can read and write the WorkloadState table.

use ec2_tier_scheduler::action::Action;
use ec2_tier_scheduler::event::SchedulerEvent;
use serde_yaml::Value;

pub(crate) fn template(name: &str) -> Value {
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

/// Fills the template's parameters the way CloudFormation would (and the
/// schedule's time the way EventBridge Scheduler does).
fn substitute(text: &str) -> String {
    text.replace("<aws.scheduler.scheduled-time>", "2026-12-01T19:00:00Z")
        .replace("${WorkloadIdentifier}", "BotoTestCase1")
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

/// The statements of a `Statement` value: an `!If` item stands for both
/// its branches (`!Ref AWS::NoValue` for none), so a conditional statement
/// is checked like any other.
fn listed<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Sequence(seq) => seq.iter().for_each(|v| listed(v, out)),
        Value::Tagged(t) if t.tag == "!If" => t
            .value
            .as_sequence()
            .into_iter()
            .flatten()
            .skip(1)
            .for_each(|v| listed(v, out)),
        Value::Mapping(_) => out.push(value),
        _ => {}
    }
}

/// Every IAM statement below `value`.
fn statements<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    match value {
        Value::Mapping(m) => {
            for (k, v) in m {
                if k.as_str() == Some("Statement") {
                    listed(v, out);
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

/// Who needs a granted action.
#[derive(Clone, Copy, Debug)]
enum Need {
    /// An adapter: the file and the operation label of its call
    /// (`cloud_error("svc", "Op", ...)` / `CloudError::new("svc", "Op", ...)`).
    Adapter(&'static str, &'static str),
    /// An AWS service acting with the role, or on the resource, and why.
    Service(&'static str),
}

use Need::{Adapter, Service};

/// Every action an `Allow` statement of `infra/*.yaml` grants, by statement
/// `Sid`, and who needs it. A grant missing here fails
/// `every_grant_is_tied_to_a_call`; so does a row whose call is gone.
const GRANTS: &[(&str, &str, Need)] = &[
    // src/aws/price_facts.rs: what prices the members a Stop stopped
    // (what the schedule saves), read after the run acted.
    (
        "DescribeInstances",
        "ec2:DescribeInstances",
        Adapter("src/aws/price_facts.rs", "DescribeInstances"),
    ),
    (
        "DescribeInstances",
        "ec2:DescribeLaunchTemplateVersions",
        Adapter("src/aws/price_facts.rs", "DescribeLaunchTemplateVersions"),
    ),
    // The stopped instances' EBS volumes, shown as still billed.
    (
        "DescribeInstances",
        "ec2:DescribeVolumes",
        Adapter("src/aws/price_facts.rs", "DescribeVolumes"),
    ),
    (
        "ReadDatabases",
        "rds:DescribeDBInstances",
        Adapter("src/aws/price_facts.rs", "DescribeDBInstances"),
    ),
    (
        "ReadAutoScalingGroups",
        "autoscaling:DescribeAutoScalingGroups",
        Adapter("src/aws/price_facts.rs", "DescribeAutoScalingGroups"),
    ),
    (
        "ReadAutoScalingGroups",
        "autoscaling:DescribeLaunchConfigurations",
        Adapter("src/aws/price_facts.rs", "DescribeLaunchConfigurations"),
    ),
    (
        "ReadEksNodegroups",
        "eks:DescribeNodegroup",
        Adapter("src/aws/price_facts.rs", "DescribeNodegroup"),
    ),
    (
        "DescribeEcsServices",
        "ecs:DescribeServices",
        Adapter("src/aws/price_facts.rs", "DescribeServices"),
    ),
    (
        "ReadEcsTaskDefinitions",
        "ecs:DescribeTaskDefinition",
        Adapter("src/aws/price_facts.rs", "DescribeTaskDefinition"),
    ),
    // src/aws/pricing.rs: after a Start, the prices the cache lacks.
    (
        "ReadPriceList",
        "pricing:GetProducts",
        Adapter("src/aws/pricing.rs", "GetProducts"),
    ),
    // src/aws/ec2.rs
    (
        "DescribeInstances",
        "ec2:DescribeInstances",
        Adapter("src/aws/ec2.rs", "DescribeInstances"),
    ),
    (
        "DescribeInstances",
        "ec2:DescribeInstanceStatus",
        Adapter("src/aws/ec2.rs", "DescribeInstanceStatus"),
    ),
    (
        "DescribeInstances",
        "ec2:DescribeInstanceTypes",
        Adapter("src/aws/ec2.rs", "DescribeInstanceTypes"),
    ),
    (
        "DescribeInstances",
        "ec2:DescribeInstanceCreditSpecifications",
        Adapter("src/aws/ec2.rs", "DescribeInstanceCreditSpecifications"),
    ),
    // The keys of a Start's encrypted volumes (KMS readiness).
    (
        "DescribeInstances",
        "ec2:DescribeVolumes",
        Adapter("src/aws/ec2.rs", "DescribeVolumes"),
    ),
    // The VPC of an Auto Scaling group's or ECS service's subnets (VPC filter).
    (
        "DescribeInstances",
        "ec2:DescribeSubnets",
        Adapter("src/aws/ec2.rs", "DescribeSubnets"),
    ),
    // src/aws/kms.rs, and EbsKmsKeyArns (see `kms_violations`).
    (
        "DescribeEbsKeys",
        "kms:DescribeKey",
        Adapter("src/aws/kms.rs", "DescribeKey"),
    ),
    (
        "CreateGrantsForEc2OnEbsKeys",
        "kms:CreateGrant",
        Service("EC2 creates a grant on a volume's customer managed key with the StartInstances caller's permissions"),
    ),
    (
        "StartStopWorkloadInstances",
        "ec2:StartInstances",
        Adapter("src/aws/ec2.rs", "StartInstances"),
    ),
    (
        "StartStopWorkloadInstances",
        "ec2:StopInstances",
        Adapter("src/aws/ec2.rs", "StopInstances"),
    ),
    (
        "StartStopWorkloadInstances",
        "ec2:ModifyInstanceCreditSpecification",
        Adapter("src/aws/ec2.rs", "ModifyInstanceCreditSpecification"),
    ),
    // set_instance_type and set_ebs_optimized(false).
    (
        "ResizeWorkloadInstances",
        "ec2:ModifyInstanceAttribute",
        Adapter("src/aws/ec2.rs", "ModifyInstanceAttribute"),
    ),
    (
        "TurnOffEbsOptimization",
        "ec2:ModifyInstanceAttribute",
        Adapter("src/aws/ec2.rs", "ModifyInstanceAttribute"),
    ),
    // src/aws/ssm.rs
    (
        "SendOverrideCheckDocuments",
        "ssm:SendCommand",
        Adapter("src/aws/ssm.rs", "SendCommand"),
    ),
    (
        "SendCommandToWorkloadInstances",
        "ssm:SendCommand",
        Adapter("src/aws/ssm.rs", "SendCommand"),
    ),
    (
        "ReadCommandResults",
        "ssm:ListCommandInvocations",
        Adapter("src/aws/ssm.rs", "ListCommandInvocations"),
    ),
    (
        "ReadCommandResults",
        "ssm:GetCommandInvocation",
        Adapter("src/aws/ssm.rs", "GetCommandInvocation"),
    ),
    (
        "ReadCommandResults",
        "ssm:DescribeInstanceInformation",
        Adapter("src/aws/ssm.rs", "DescribeInstanceInformation"),
    ),
    (
        "ReadMaintenanceWindows",
        "ssm:GetMaintenanceWindow",
        Adapter("src/aws/ssm.rs", "GetMaintenanceWindow"),
    ),
    (
        "ReadMaintenanceWindows",
        "ssm:DescribeMaintenanceWindowExecutions",
        Adapter("src/aws/ssm.rs", "DescribeMaintenanceWindowExecutions"),
    ),
    (
        "ReadSsmOutputObjects",
        "s3:GetObject",
        Adapter("src/aws/ssm.rs", "GetObject"),
    ),
    // ListObjectsV2 is authorised as s3:ListBucket.
    (
        "ListSsmOutputPrefix",
        "s3:ListBucket",
        Adapter("src/aws/ssm.rs", "ListObjectsV2"),
    ),
    (
        "LocateSsmOutputBucket",
        "s3:GetBucketLocation",
        Adapter("src/aws/ssm.rs", "GetBucketLocation"),
    ),
    // src/aws/calendar.rs: a workload's ChangeCalendarNames.
    (
        "ReadChangeCalendars",
        "ssm:GetCalendarState",
        Adapter("src/aws/calendar.rs", "GetCalendarState"),
    ),
    // src/aws/autoscaling.rs: TierAutoScalingGroups "Suspend".
    (
        "ReadAutoScalingGroups",
        "autoscaling:DescribeAutoScalingGroups",
        Adapter("src/aws/autoscaling.rs", "DescribeAutoScalingGroups"),
    ),
    (
        "SuspendWorkloadAutoScalingGroups",
        "autoscaling:SuspendProcesses",
        Adapter("src/aws/autoscaling.rs", "SuspendProcesses"),
    ),
    (
        "SuspendWorkloadAutoScalingGroups",
        "autoscaling:ResumeProcesses",
        Adapter("src/aws/autoscaling.rs", "ResumeProcesses"),
    ),
    // src/aws/group_capacity.rs: Auto Scaling groups as tier members
    // (ScaleToZero), their capacity recorded in the run ledger.
    (
        "ReadAutoScalingGroups",
        "autoscaling:DescribeAutoScalingGroups",
        Adapter("src/aws/group_capacity.rs", "DescribeAutoScalingGroups"),
    ),
    (
        "ReadAutoScalingGroups",
        "autoscaling:DescribeScheduledActions",
        Adapter("src/aws/group_capacity.rs", "DescribeScheduledActions"),
    ),
    (
        "ScaleWorkloadAutoScalingGroups",
        "autoscaling:UpdateAutoScalingGroup",
        Adapter("src/aws/group_capacity.rs", "UpdateAutoScalingGroup"),
    ),
    // src/aws/ecs.rs: ECS services as tier members, their desired count
    // recorded in the run ledger.
    (
        "ListEcsServices",
        "ecs:ListClusters",
        Adapter("src/aws/ecs.rs", "ListClusters"),
    ),
    (
        "ListEcsServices",
        "ecs:ListServices",
        Adapter("src/aws/ecs.rs", "ListServices"),
    ),
    // Service auto scaling that would undo a stop.
    (
        "ReadEcsServiceAutoScaling",
        "application-autoscaling:DescribeScalableTargets",
        Adapter("src/aws/ecs.rs", "DescribeScalableTargets"),
    ),
    (
        "DescribeEcsServices",
        "ecs:DescribeServices",
        Adapter("src/aws/ecs.rs", "DescribeServices"),
    ),
    (
        "ScaleWorkloadEcsServices",
        "ecs:UpdateService",
        Adapter("src/aws/ecs.rs", "UpdateService"),
    ),
    // src/aws/eks.rs: EKS managed node groups as tier members, their
    // scaling configuration recorded in the run ledger (their Auto
    // Scaling groups read with the groups' DescribeAutoScalingGroups).
    (
        "ListEksClusters",
        "eks:ListClusters",
        Adapter("src/aws/eks.rs", "ListClusters"),
    ),
    (
        "ReadEksNodegroups",
        "eks:ListNodegroups",
        Adapter("src/aws/eks.rs", "ListNodegroups"),
    ),
    (
        "ReadEksNodegroups",
        "eks:DescribeNodegroup",
        Adapter("src/aws/eks.rs", "DescribeNodegroup"),
    ),
    (
        "ScaleWorkloadEksNodegroups",
        "eks:UpdateNodegroupConfig",
        Adapter("src/aws/eks.rs", "UpdateNodegroupConfig"),
    ),
    // src/aws/load_balancers.rs: the target groups of the workload's VPCs,
    // their workload tag, their targets' health, a drain and its restore
    // (TierLoadBalancing, TierReadiness TargetsHealthy).
    (
        "ReadTargetGroups",
        "elasticloadbalancing:DescribeTargetGroups",
        Adapter("src/aws/load_balancers.rs", "DescribeTargetGroups"),
    ),
    (
        "ReadTargetGroups",
        "elasticloadbalancing:DescribeTargetGroupAttributes",
        Adapter("src/aws/load_balancers.rs", "DescribeTargetGroupAttributes"),
    ),
    (
        "ReadTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
        Adapter("src/aws/load_balancers.rs", "DescribeTargetHealth"),
    ),
    (
        "ReadTargetGroups",
        "elasticloadbalancing:DescribeTags",
        Adapter("src/aws/load_balancers.rs", "DescribeTags"),
    ),
    (
        "DrainAndRestoreTargets",
        "elasticloadbalancing:DeregisterTargets",
        Adapter("src/aws/load_balancers.rs", "DeregisterTargets"),
    ),
    (
        "DrainAndRestoreTargets",
        "elasticloadbalancing:RegisterTargets",
        Adapter("src/aws/load_balancers.rs", "RegisterTargets"),
    ),
    // src/aws/alarms.rs: the alarms kept quiet while a workload is stopped
    // (AlarmPrefixes, AlarmSelection); what was muted is a record in the
    // run ledger.
    (
        "ReadAlarms",
        "cloudwatch:DescribeAlarms",
        Adapter("src/aws/alarms.rs", "DescribeAlarms"),
    ),
    (
        "ReadAlarmTags",
        "cloudwatch:ListTagsForResource",
        Adapter("src/aws/alarms.rs", "ListTagsForResource"),
    ),
    (
        "MuteWorkloadAlarms",
        "cloudwatch:DisableAlarmActions",
        Adapter("src/aws/alarms.rs", "DisableAlarmActions"),
    ),
    (
        "MuteWorkloadAlarms",
        "cloudwatch:EnableAlarmActions",
        Adapter("src/aws/alarms.rs", "EnableAlarmActions"),
    ),
    // src/aws/dynamodb.rs: the function only reads configuration.
    (
        "ReadConfiguration",
        "dynamodb:GetItem",
        Adapter("src/aws/dynamodb.rs", "GetItem"),
    ),
    (
        "ReadConfiguration",
        "dynamodb:Query",
        Adapter("src/aws/dynamodb.rs", "Query"),
    ),
    ("ListWorkloads", "dynamodb:Scan", Adapter("src/aws/dynamodb.rs", "Scan")),
    (
        "ReadWriteWorkloadState",
        "dynamodb:GetItem",
        Adapter("src/aws/dynamodb.rs", "GetItem"),
    ),
    (
        "ReadWriteWorkloadState",
        "dynamodb:PutItem",
        Adapter("src/aws/dynamodb.rs", "PutItem"),
    ),
    // src/aws/ledger.rs: TransactWriteItems is authorised per item (see
    // `TRANSACTION_ITEMS`).
    (
        "ReadWriteRunLedger",
        "dynamodb:GetItem",
        Adapter("src/aws/ledger.rs", "GetItem"),
    ),
    (
        "ReadWriteRunLedger",
        "dynamodb:PutItem",
        Adapter("src/aws/ledger.rs", "TransactWriteItems"),
    ),
    (
        "ReadWriteRunLedger",
        "dynamodb:DeleteItem",
        Adapter("src/aws/ledger.rs", "TransactWriteItems"),
    ),
    // src/aws/records.rs: the records a Start restores, items of the run
    // ledger written and removed in transactions, listed per workload on
    // its index (see `the_function_reads_its_records_on_one_index_only`).
    (
        "ReadWriteRunLedger",
        "dynamodb:PutItem",
        Adapter("src/aws/records.rs", "TransactWriteItems"),
    ),
    (
        "ReadWriteRunLedger",
        "dynamodb:DeleteItem",
        Adapter("src/aws/records.rs", "TransactWriteItems"),
    ),
    (
        "QueryWorkloadRecords",
        "dynamodb:Query",
        Adapter("src/aws/records.rs", "Query"),
    ),
    // src/aws/downtime.rs: the stopped time kept for good (issue 34), items
    // of the run ledger put and removed in transactions, listed per
    // workload on the same index as the records; the price cache is read
    // and written by `orchestrator savings` (GetItem, PutItem on the ledger).
    (
        "ReadWriteRunLedger",
        "dynamodb:PutItem",
        Adapter("src/aws/downtime.rs", "TransactWriteItems"),
    ),
    (
        "ReadWriteRunLedger",
        "dynamodb:DeleteItem",
        Adapter("src/aws/downtime.rs", "TransactWriteItems"),
    ),
    (
        "QueryWorkloadRecords",
        "dynamodb:Query",
        Adapter("src/aws/downtime.rs", "Query"),
    ),
    (
        "ReadWriteRunLedger",
        "dynamodb:GetItem",
        Adapter("src/aws/downtime.rs", "GetItem"),
    ),
    (
        "ReadWriteRunLedger",
        "dynamodb:PutItem",
        Adapter("src/aws/downtime.rs", "PutItem"),
    ),
    // src/aws/sns.rs, publishing to the KMS-encrypted topic.
    ("PublishToTopic", "sns:Publish", Adapter("src/aws/sns.rs", "Publish")),
    (
        "UseTopicKeyThroughSns",
        "kms:Decrypt",
        Adapter("src/aws/sns.rs", "Publish"),
    ),
    (
        "UseTopicKeyThroughSns",
        "kms:GenerateDataKey*",
        Adapter("src/aws/sns.rs", "Publish"),
    ),
    // src/aws/sns.rs, the AWS Chatbot message of a run's end (ChatTopicName).
    (
        "PublishChatMessages",
        "sns:Publish",
        Adapter("src/aws/sns.rs", "Publish"),
    ),
    // src/aws/eventbridge.rs: run and tier events (EventBusName).
    (
        "PutRunEvents",
        "events:PutEvents",
        Adapter("src/aws/eventbridge.rs", "PutEvents"),
    ),
    // src/aws/scheduler.rs: the continuation schedule names the scheduler role.
    (
        "CreateContinuationSchedules",
        "scheduler:CreateSchedule",
        Adapter("src/aws/scheduler.rs", "CreateSchedule"),
    ),
    (
        "PassSchedulerRole",
        "iam:PassRole",
        Adapter("src/aws/scheduler.rs", "CreateSchedule"),
    ),
    (
        "DeleteRecheckSchedules",
        "scheduler:DeleteSchedule",
        Adapter("src/aws/scheduler.rs", "DeleteSchedule"),
    ),
    // src/aws/mod.rs: AssumeRoleProvider for CrossAccountRole.
    (
        "AssumeMemberAccountRoles",
        "sts:AssumeRole",
        Adapter("src/aws/mod.rs", "AssumeRole"),
    ),
    // src/aws/rds.rs: the databases of a tier (TierResourceTypes).
    (
        "StopStartWorkloadDatabases",
        "rds:StopDBInstance",
        Adapter("src/aws/rds.rs", "StopDBInstance"),
    ),
    (
        "StopStartWorkloadDatabases",
        "rds:StartDBInstance",
        Adapter("src/aws/rds.rs", "StartDBInstance"),
    ),
    (
        "StopStartWorkloadDatabases",
        "rds:StopDBCluster",
        Adapter("src/aws/rds.rs", "StopDBCluster"),
    ),
    (
        "StopStartWorkloadDatabases",
        "rds:StartDBCluster",
        Adapter("src/aws/rds.rs", "StartDBCluster"),
    ),
    (
        "ReadDatabases",
        "rds:DescribeDBInstances",
        Adapter("src/aws/rds.rs", "DescribeDBInstances"),
    ),
    (
        "ReadDatabases",
        "rds:DescribeDBClusters",
        Adapter("src/aws/rds.rs", "DescribeDBClusters"),
    ),
    (
        "ReadDatabases",
        "rds:DescribeDBSubnetGroups",
        Adapter("src/aws/rds.rs", "DescribeDBSubnetGroups"),
    ),
    // Services.
    (
        "WriteOwnLogGroup",
        "logs:CreateLogStream",
        Service("Lambda writes the function's output to its log group"),
    ),
    (
        "WriteOwnLogGroup",
        "logs:PutLogEvents",
        Service("Lambda writes the function's output to its log group"),
    ),
    (
        "SendFailedInvocationsToQueue",
        "sqs:SendMessage",
        Service("Lambda's OnFailure destination uses the function role"),
    ),
    (
        "WriteTraces",
        "xray:PutTraceSegments",
        Service("Lambda's X-Ray integration (XRayTracing=Active)"),
    ),
    (
        "WriteTraces",
        "xray:PutTelemetryRecords",
        Service("Lambda's X-Ray integration (XRayTracing=Active)"),
    ),
    (
        "InvokeFunction",
        "lambda:InvokeFunction",
        Service("EventBridge Scheduler invokes the function"),
    ),
    (
        "SendUndeliveredEventsToDlq",
        "sqs:SendMessage",
        Service("EventBridge Scheduler's dead-letter queue"),
    ),
    (
        "WriteSsmOutput",
        "s3:PutObject",
        Service("the SSM agent on the instance uploads command output"),
    ),
    (
        "ReadBucketEncryption",
        "s3:GetEncryptionConfiguration",
        Service("the SSM agent checks the bucket's encryption"),
    ),
    (
        "AccountAdministration",
        "kms:*",
        Service("the key's administration stays with the account (IAM)"),
    ),
    (
        "AllowCloudWatchAlarmsToPublish",
        "kms:Decrypt",
        Service("the stack's alarms publish to the encrypted topic"),
    ),
    (
        "AllowCloudWatchAlarmsToPublish",
        "kms:GenerateDataKey*",
        Service("the stack's alarms publish to the encrypted topic"),
    ),
    (
        "AllowStackAlarmsToPublish",
        "sns:Publish",
        Service("the stack's alarms publish to the topic"),
    ),
    (
        "AcceptRdsEventsFromMemberAccounts",
        "events:PutEvents",
        Service("member accounts forward RDS's automatic starts to the stack's bus"),
    ),
    (
        "PutToSchedulerBus",
        "events:PutEvents",
        Service("EventBridge forwards a member account's RDS automatic starts (ForwardRdsEvents)"),
    ),
];

/// Adapter operations no role of the templates grants, and why.
const NOT_GRANTED: &[(&str, &str, &str)] = &[
    (
        "src/aws/dynamodb.rs",
        "TransactWriteItems",
        "`config import` (CLI, operator's credentials); the function never writes configuration",
    ),
    (
        "src/aws/sns.rs",
        "ListTopics",
        "only when the account is unknown (CLI); the function takes it from its ARN",
    ),
    (
        "src/aws/ledger.rs",
        "Query",
        "`runs list`, `runs show` and `status` (CLI, operator's credentials); the function lists no runs \
         (its one Query grant, on the workload index, is for its records)",
    ),
    (
        "src/aws/ec2.rs",
        "CreateTags",
        "`override set` (CLI, operator's credentials); the function writes no tags on instances",
    ),
    (
        "src/aws/ec2.rs",
        "DeleteTags",
        "`override clear` (CLI, operator's credentials); the function writes no tags on instances",
    ),
    (
        "src/aws/scheduler.rs",
        "ListSchedules",
        "`status` reads the next runs (CLI, operator's credentials); the function only creates continuations",
    ),
    (
        "src/aws/scheduler.rs",
        "GetSchedule",
        "`status` reads the next runs (CLI, operator's credentials); the function only creates continuations",
    ),
];

/// TransactWriteItems request items and the action each is authorised as.
const TRANSACTION_ITEMS: &[(&str, &str)] = &[
    ("Put::builder()", "dynamodb:PutItem"),
    ("Delete::builder()", "dynamodb:DeleteItem"),
    ("Update::builder()", "dynamodb:UpdateItem"),
    ("ConditionCheck::builder()", "dynamodb:ConditionCheckItem"),
];

const EC2_MUTATIONS: [&str; 4] = [
    "ec2:StartInstances",
    "ec2:StopInstances",
    "ec2:ModifyInstanceAttribute",
    "ec2:ModifyInstanceCreditSpecification",
];

/// The workload scope of a mutation: this region and account's instances.
const INSTANCES: &str = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*";

/// Stops and starts of the tier's databases (src/aws/rds.rs).
const DB_MUTATIONS: [&str; 4] = [
    "rds:StopDBInstance",
    "rds:StartDBInstance",
    "rds:StopDBCluster",
    "rds:StartDBCluster",
];

/// The workload scope of a database mutation: this region and account's DB
/// clusters and DB instances (sorted).
const DATABASES: [&str; 2] = [
    "arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:cluster:*",
    "arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:db:*",
];

/// This region and account's Auto Scaling groups.
const GROUPS: &str =
    "arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/*";

/// This region and account's ECS services.
const SERVICES: &str = "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:service/*";

/// This region and account's EKS node groups.
const NODE_GROUPS: &str = "arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:nodegroup/*";

/// This region and account's EKS clusters and node groups (sorted).
const EKS_READS: [&str; 2] = [
    "arn:${AWS::Partition}:eks:${AWS::Region}:${AWS::AccountId}:cluster/*",
    NODE_GROUPS,
];

/// Mutations of one kind of tier member other than instances: the actions,
/// which stand alone in their statements, and the resources (sorted) they
/// may reach.
struct MemberMutations {
    what: &'static str,
    actions: &'static [&'static str],
    resources: &'static [&'static str],
}

const MEMBER_MUTATIONS: [MemberMutations; 4] = [
    // src/aws/rds.rs
    MemberMutations {
        what: "database",
        actions: &DB_MUTATIONS,
        resources: &DATABASES,
    },
    // src/aws/group_capacity.rs (ScaleToZero) and src/aws/autoscaling.rs
    // (TierAutoScalingGroups "Suspend").
    MemberMutations {
        what: "Auto Scaling group",
        actions: &[
            "autoscaling:UpdateAutoScalingGroup",
            "autoscaling:SuspendProcesses",
            "autoscaling:ResumeProcesses",
        ],
        resources: &[GROUPS],
    },
    // src/aws/ecs.rs
    MemberMutations {
        what: "ECS service",
        actions: &["ecs:UpdateService"],
        resources: &[SERVICES],
    },
    // src/aws/eks.rs
    MemberMutations {
        what: "EKS node group",
        actions: &["eks:UpdateNodegroupConfig"],
        resources: &[NODE_GROUPS],
    },
];

/// What is wrong with one statement granting mutations of `kind`: only
/// they, only on its resources, only where the workload tag has one of
/// `WorkloadTagValues`.
fn member_scope_violations(
    id: &str,
    sid: &str,
    statement: &Value,
    actions: &[String],
    kind: &MemberMutations,
) -> Vec<String> {
    let what = kind.what;
    let mut problems = Vec::new();
    let mut resources = Vec::new();
    all_strings(&statement["Resource"], &mut resources);
    resources.sort();
    if resources != kind.resources {
        problems.push(format!(
            "{id}/{sid}: {what} mutation on {resources:?}, not only on {:?} (this region and account's)",
            kind.resources
        ));
    }
    if actions.iter().any(|a| !kind.actions.contains(&a.as_str())) {
        problems.push(format!("{id}/{sid}: {what} mutations must stand alone: {actions:?}"));
    }
    match tag_condition(statement) {
        Some((operator, key, values))
            if operator == "StringEquals"
                && key == "aws:ResourceTag/${TagKey}"
                && ref_target(&values) == Some("WorkloadTagValues") => {}
        other => problems.push(format!(
            "{id}/{sid}: {what} mutation without StringEquals aws:ResourceTag/${{TagKey}} = WorkloadTagValues \
             (found {other:?})"
        )),
    }
    problems
}

/// Target registrations (src/aws/load_balancers.rs: a drain, and its
/// restore at Start).
const TARGET_MUTATIONS: [&str; 2] = [
    "elasticloadbalancing:DeregisterTargets",
    "elasticloadbalancing:RegisterTargets",
];

/// This region and account's target groups, of which only those whose
/// workload tag has one of `WorkloadTagValues` (a drain reads the tag with
/// DescribeTags and leaves other groups alone). IAM authorises
/// Register/DeregisterTargets on the group, not on the target: which
/// targets are touched (the tier's own instances) is the code's to enforce.
const TARGET_GROUPS: &str =
    "arn:${AWS::Partition}:elasticloadbalancing:${AWS::Region}:${AWS::AccountId}:targetgroup/*/*";

/// What is wrong with the target registrations of `template`: only on
/// [`TARGET_GROUPS`] carrying the workload tag, standing alone, granted at
/// all.
fn target_violations(template: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut granted = Vec::new();
    for (id, statement) in policy_statements(template) {
        let actions = strings(&statement["Action"]);
        if statement["Effect"].as_str() != Some("Allow")
            || !actions.iter().any(|a| TARGET_MUTATIONS.contains(&a.as_str()))
        {
            continue;
        }
        let sid = statement["Sid"].as_str().unwrap_or("?");
        granted.extend(actions.iter().cloned());
        let mut resources = Vec::new();
        all_strings(&statement["Resource"], &mut resources);
        if resources != [TARGET_GROUPS] {
            problems.push(format!(
                "{id}/{sid}: target registration on {resources:?}, not only on {TARGET_GROUPS} \
                 (this region and account's target groups)"
            ));
        }
        if actions.iter().any(|a| !TARGET_MUTATIONS.contains(&a.as_str())) {
            problems.push(format!(
                "{id}/{sid}: target registrations must stand alone: {actions:?}"
            ));
        }
        match tag_condition(statement) {
            Some((operator, key, values))
                if operator == "StringEquals"
                    && key == "aws:ResourceTag/${TagKey}"
                    && ref_target(&values) == Some("WorkloadTagValues") => {}
            other => problems.push(format!(
                "{id}/{sid}: target registration without StringEquals aws:ResourceTag/${{TagKey}} = \
                 WorkloadTagValues: any target group of the account (found {other:?})"
            )),
        }
    }
    for action in TARGET_MUTATIONS {
        if !granted.iter().any(|a| a == action) {
            problems.push(format!("{action} is not granted at all"));
        }
    }
    problems
}

/// Alarm mutations (src/aws/alarms.rs): the actions of the muted alarms
/// (what was muted is recorded in the run ledger, not on the alarm).
const ALARM_MUTATIONS: [&str; 2] = ["cloudwatch:DisableAlarmActions", "cloudwatch:EnableAlarmActions"];

/// The alarms of a name prefix, as the muting statements build them from
/// `AlarmNamePrefixes`: an Fn::Join delimiter takes no `${AWS::...}`, so
/// the partition and region are wildcards (the region pinned by
/// aws:RequestedRegion) and the account is the IAM policy variable.
fn alarm_arn(prefix: &str) -> String {
    format!("arn:*:cloudwatch:*:${{aws:PrincipalAccount}}:alarm:{prefix}*")
}

/// What a value of strings, `!Ref`s to the list parameters in `params`,
/// `!Join` and `!Split` comes to once deployed (`None`: it uses anything
/// else, `!Sub` included).
fn evaluate(value: &Value, params: &[(&str, &[&str])]) -> Option<Vec<String>> {
    match value {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Sequence(seq) => seq
            .iter()
            .map(|v| evaluate(v, params))
            .collect::<Option<Vec<_>>>()
            .map(|parts| parts.concat()),
        Value::Tagged(t) if t.tag == "!Ref" => {
            let name = t.value.as_str()?;
            let (_, values) = params.iter().find(|(n, _)| *n == name)?;
            Some(values.iter().map(|v| v.to_string()).collect())
        }
        Value::Tagged(t) if t.tag == "!Join" || t.tag == "!Split" => {
            let [delimiter, operand] = t.value.as_sequence()?.as_slice() else {
                return None;
            };
            let (delimiter, operand) = (delimiter.as_str()?, evaluate(operand, params)?);
            if t.tag == "!Join" {
                return Some(vec![operand.join(delimiter)]);
            }
            let [text]: [String; 1] = operand.try_into().ok()?;
            Some(text.split(delimiter).map(str::to_string).collect())
        }
        _ => None,
    }
}

/// What is wrong with the alarm mutations of `template`: each standing
/// alone, pinned to this region, on exactly the alarms of each prefix of
/// `AlarmNamePrefixes` (evaluated for sample lists), granted only when the
/// list is set (`HasAlarmNamePrefixes`, on the statement's policy or an
/// `!If` around it) and a rule refusing an empty entry (the prefix "": every
/// alarm); and the parameter a list that is empty by default.
fn alarm_violations(template: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let param = &template["Parameters"]["AlarmNamePrefixes"];
    if param["Type"].as_str() != Some("CommaDelimitedList")
        || param["Default"].as_str() != Some("")
        || param["AllowedPattern"].as_str() != Some("^$|^[^*?$,]{1,255}$")
    {
        problems.push(format!(
            "AlarmNamePrefixes is not an empty-by-default list of prefixes without * ? $: {param:?}"
        ));
    }
    let mut defined = Vec::new();
    all_strings(&template["Conditions"]["HasAlarmNamePrefixes"], &mut defined);
    if !defined.iter().any(|s| s == "AlarmNamePrefixes") {
        problems.push(format!(
            "HasAlarmNamePrefixes is not about the AlarmNamePrefixes list: {defined:?}"
        ));
    }
    let no_empty_entry: Value = serde_yaml::from_str(
        r#"
Fn::Or:
  - Fn::EachMemberEquals: [!Ref AlarmNamePrefixes, ""]
  - Fn::Not:
      - Fn::Contains: [!Ref AlarmNamePrefixes, ""]
"#,
    )
    .unwrap();
    let rules = template["Rules"].as_mapping().into_iter().flatten();
    let asserted = rules
        .flat_map(|(_, rule)| rule["Assertions"].as_sequence().into_iter().flatten())
        .any(|a| a["Assert"] == no_empty_entry);
    if !asserted {
        problems.push("no rule refuses an empty entry of AlarmNamePrefixes (the prefix \"\": every alarm)".to_string());
    }
    let mut conditional = Vec::new();
    if_branches("HasAlarmNamePrefixes", template, &mut conditional);
    let mut granted = Vec::new();
    for (id, statement) in policy_statements(template) {
        let actions = strings(&statement["Action"]);
        if statement["Effect"].as_str() != Some("Allow")
            || !actions.iter().any(|a| ALARM_MUTATIONS.contains(&a.as_str()))
        {
            continue;
        }
        let sid = statement["Sid"].as_str().unwrap_or("?");
        granted.extend(actions.iter().cloned());
        if actions.iter().any(|a| !ALARM_MUTATIONS.contains(&a.as_str())) {
            problems.push(format!("{id}/{sid}: alarm mutations must stand alone: {actions:?}"));
        }
        let policy = &template["Resources"][id.as_str()];
        if policy["Condition"].as_str() != Some("HasAlarmNamePrefixes") && !conditional.iter().any(|c| c == sid) {
            problems.push(format!(
                "{id}/{sid}: granted even when AlarmNamePrefixes is empty (no HasAlarmNamePrefixes)"
            ));
        }
        for prefixes in [&["web-"][..], &["web-", "batch/"][..]] {
            let want: Vec<String> = prefixes.iter().copied().map(alarm_arn).collect();
            let arns = evaluate(&statement["Resource"], &[("AlarmNamePrefixes", prefixes)]);
            if arns.as_ref() != Some(&want) {
                problems.push(format!(
                    "{id}/{sid}: alarm mutation on {arns:?} with AlarmNamePrefixes {prefixes:?}, not only on {want:?}"
                ));
            }
        }
        let region = &statement["Condition"]["StringEquals"]["aws:RequestedRegion"];
        if ref_target(region) != Some("AWS::Region") {
            problems.push(format!(
                "{id}/{sid}: alarm mutation without StringEquals aws:RequestedRegion = AWS::Region"
            ));
        }
    }
    for action in ALARM_MUTATIONS {
        if !granted.iter().any(|a| a == action) {
            problems.push(format!("{action} is not granted at all"));
        }
    }
    problems
}

/// Reads that name a resource but cannot carry a tag condition (discovery
/// lists every resource and keeps those whose returned tags match), and
/// the resources of this region and account they may reach.
const SCOPED_READS: &[(&str, &[&str])] = &[
    ("rds:DescribeDBInstances", &RDS_READS),
    ("rds:DescribeDBClusters", &RDS_READS),
    ("rds:DescribeDBSubnetGroups", &RDS_READS),
    ("ecs:DescribeServices", &[SERVICES]),
    ("eks:ListNodegroups", &EKS_READS),
    ("eks:DescribeNodegroup", &EKS_READS),
    // Whether an alarm is the workload's (AlarmSelection Tag), or carries
    // a record tag an earlier version wrote (reported, never trusted).
    ("cloudwatch:ListTagsForResource", &[ALARMS]),
];

/// This region and account's alarms.
const ALARMS: &str = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*";

const RDS_READS: [&str; 3] = [
    "arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:cluster:*",
    "arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:db:*",
    "arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:subgrp:*",
];

/// Reads with no resource-level permissions (`"*"`; DescribeAlarms is
/// called without names; ELBv2 DescribeTags has no resource type) kept to
/// the stack's region by `aws:RequestedRegion`.
const REGION_READS: [&str; 9] = [
    "ecs:ListClusters",
    "ecs:ListServices",
    "eks:ListClusters",
    "application-autoscaling:DescribeScalableTargets",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeTags",
    "cloudwatch:DescribeAlarms",
];

/// What is wrong with the reads of `template`: a [`SCOPED_READS`] action on
/// another resource, a [`REGION_READS`] action without `aws:RequestedRegion`
/// = `AWS::Region`, or either not granted at all.
fn read_scope_violations(template: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut granted = Vec::new();
    for (id, statement) in policy_statements(template) {
        if statement["Effect"].as_str() != Some("Allow") {
            continue;
        }
        let sid = statement["Sid"].as_str().unwrap_or("?");
        let actions = strings(&statement["Action"]);
        let mut resources = Vec::new();
        all_strings(&statement["Resource"], &mut resources);
        for (action, allowed) in SCOPED_READS {
            if actions.iter().any(|a| a == action) {
                granted.push(action.to_string());
                if resources.is_empty() || resources.iter().any(|r| !allowed.contains(&r.as_str())) {
                    problems.push(format!(
                        "{id}/{sid}: {action} read on {resources:?}, not only on {allowed:?} (this region and account)"
                    ));
                }
            }
        }
        if actions.iter().any(|a| REGION_READS.contains(&a.as_str())) {
            granted.extend(actions.iter().cloned());
            let region = &statement["Condition"]["StringEquals"]["aws:RequestedRegion"];
            if ref_target(region) != Some("AWS::Region") {
                problems.push(format!(
                    "{id}/{sid}: {actions:?} without StringEquals aws:RequestedRegion = AWS::Region"
                ));
            }
        }
    }
    for action in SCOPED_READS.iter().map(|(a, _)| *a).chain(REGION_READS) {
        if !granted.iter().any(|a| a == action) {
            problems.push(format!("{action} is not granted at all"));
        }
    }
    problems
}

fn source(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// The (service, operation) labels of every `cloud_error(...)` and
/// `CloudError::new(...)` in `text`: the SDK calls an adapter makes.
fn operations(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for opener in ["cloud_error(", "CloudError::new("] {
        for (at, _) in text.match_indices(opener) {
            let mut rest = &text[at + opener.len()..];
            let mut labels = Vec::new();
            for _ in 0..2 {
                rest = rest.trim_start().trim_start_matches(',').trim_start();
                let Some(body) = rest.strip_prefix('"') else { break };
                let Some(close) = body.find('"') else { break };
                labels.push(body[..close].to_string());
                rest = &body[close + 1..];
            }
            if let [service, op] = labels.as_slice() {
                out.push((service.clone(), op.clone()));
            }
        }
    }
    out
}

/// Every statement of the template outside trust policies, with the id of
/// the resource it belongs to.
fn policy_statements(template: &Value) -> Vec<(String, &Value)> {
    fn walk<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
        match value {
            Value::Mapping(m) => {
                for (k, v) in m {
                    match k.as_str() {
                        Some("AssumeRolePolicyDocument") => {}
                        Some("Statement") => listed(v, out),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Sequence(seq) => seq.iter().for_each(|v| walk(v, out)),
            Value::Tagged(t) => walk(&t.value, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (id, resource) in template["Resources"].as_mapping().unwrap() {
        let mut found = Vec::new();
        walk(resource, &mut found);
        out.extend(found.into_iter().map(|s| (id.as_str().unwrap().to_string(), s)));
    }
    out
}

/// What is wrong with the grants of `template`: an action no row of
/// [`GRANTS`] ties to a call, a wildcard, a statement without a Sid.
fn grant_violations(template: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, statement) in policy_statements(template) {
        if statement["Effect"].as_str() != Some("Allow") {
            continue;
        }
        let Some(sid) = statement["Sid"].as_str() else {
            problems.push(format!("{id}: an Allow statement without a Sid: {statement:?}"));
            continue;
        };
        for action in strings(&statement["Action"]) {
            if !GRANTS.iter().any(|(s, a, _)| *s == sid && *a == action) {
                problems.push(format!("{id}/{sid}: {action} is granted but no call needs it"));
            }
        }
        if statement.get("NotAction").is_some() || statement.get("NotResource").is_some() {
            problems.push(format!("{id}/{sid}: NotAction/NotResource grants too much"));
        }
    }
    problems
}

/// The tag condition of a statement: the operator, the condition key built by
/// `Fn::ForEach` and the values it is compared with.
fn tag_condition(statement: &Value) -> Option<(String, String, Value)> {
    for (operator, block) in statement["Condition"].as_mapping()? {
        for (key, each) in block.as_mapping()? {
            if key.as_str().is_some_and(|k| k.starts_with("Fn::ForEach::")) {
                let pairs = each[2].as_mapping()?;
                let (k, v) = pairs.iter().next()?;
                return Some((operator.as_str()?.to_string(), k.as_str()?.to_string(), v.clone()));
            }
        }
    }
    None
}

/// Services whose mutations a statement must name one by one: a wildcard
/// action of theirs (`ecs:Update*`) is refused.
const MUTATING_SERVICES: [&str; 6] = [
    "ec2:",
    "rds:",
    "autoscaling:",
    "ecs:",
    "elasticloadbalancing:",
    "cloudwatch:",
];

/// What is wrong with the scope of the EC2 and SSM mutations of `template`:
/// each must be limited to this region's instances whose workload tag equals
/// one of `WorkloadTagValues`, ModifyInstanceAttribute to the two attributes
/// the code sets, SendCommand to the stack's documents; and of the other
/// members' mutations ([`MEMBER_MUTATIONS`]): their resources of this region
/// and account with the workload tag.
fn scope_violations(template: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut granted = Vec::new();
    for (id, statement) in policy_statements(template) {
        if statement["Effect"].as_str() != Some("Allow") {
            continue;
        }
        let sid = statement["Sid"].as_str().unwrap_or("?");
        let actions = strings(&statement["Action"]);
        for action in &actions {
            let service_wide = action == "*" || action.ends_with(":*") && action != "kms:*";
            let wildcard_mutation = MUTATING_SERVICES.iter().any(|service| action.starts_with(service))
                && action.contains('*')
                && !action.starts_with("ec2:Describe");
            if service_wide || wildcard_mutation {
                problems.push(format!("{id}/{sid}: wildcard action {action}"));
            }
        }
        let mutation = actions.iter().any(|a| EC2_MUTATIONS.contains(&a.as_str()));
        for kind in &MEMBER_MUTATIONS {
            if actions.iter().any(|a| kind.actions.contains(&a.as_str())) {
                granted.extend(actions.iter().cloned());
                problems.extend(member_scope_violations(id.as_str(), sid, statement, &actions, kind));
            }
        }
        let mut resources = Vec::new();
        all_strings(&statement["Resource"], &mut resources);
        let send_to_instances = actions.iter().any(|a| a == "ssm:SendCommand")
            && (resources.iter().any(|r| r.contains(":instance/")) || resources.iter().any(|r| r == "*"));
        if mutation || send_to_instances {
            granted.extend(actions.iter().cloned());
            if resources != [INSTANCES] {
                problems.push(format!(
                    "{id}/{sid}: mutation on {resources:?}, not only on {INSTANCES} (this region's instances)"
                ));
            }
            let wanted_key = if mutation {
                "aws:ResourceTag/${TagKey}"
            } else {
                "ssm:resourceTag/${TagKey}"
            };
            match tag_condition(statement) {
                Some((operator, key, values))
                    if operator == "StringEquals"
                        && key == wanted_key
                        && ref_target(&values) == Some("WorkloadTagValues") => {}
                other => problems.push(format!(
                    "{id}/{sid}: mutation without StringEquals {wanted_key} = WorkloadTagValues (found {other:?})"
                )),
            }
        }
        if actions.iter().any(|a| a == "ec2:ModifyInstanceAttribute") {
            let condition = &statement["Condition"];
            let resize =
                ref_target(&condition["StringLike"]["ec2:Attribute/InstanceType"]) == Some("AllowedInstanceTypes");
            let ebs_off = condition["StringEquals"]["ec2:Attribute/EbsOptimized"].as_str() == Some("false");
            if actions.len() != 1 || !(resize || ebs_off) {
                problems.push(format!(
                    "{id}/{sid}: ModifyInstanceAttribute must stand alone, conditioned on \
                     ec2:Attribute/InstanceType or ec2:Attribute/EbsOptimized = false"
                ));
            }
        }
        if actions.iter().any(|a| a == "ssm:SendCommand") && !send_to_instances {
            // The documents: the stack's two, or (the opt-in branch of the
            // !If) the two AWS-owned script documents.
            let allowed = [
                "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:document/${OverrideCheckLinuxDocument}",
                "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:document/${OverrideCheckWindowsDocument}",
                "arn:${AWS::Partition}:ssm:${AWS::Region}::document/AWS-RunShellScript",
                "arn:${AWS::Partition}:ssm:${AWS::Region}::document/AWS-RunPowerShellScript",
            ];
            let documents: Vec<&String> = resources.iter().filter(|r| *r != "UseStackDocuments").collect();
            let opt_in_only = matches!(&statement["Resource"], Value::Tagged(t) if t.tag == "!If"
                && t.value[0].as_str() == Some("UseStackDocuments")
                && strings(&t.value[1]).iter().all(|r| allowed[..2].contains(&r.as_str())));
            if documents.iter().any(|d| !allowed.contains(&d.as_str())) || !opt_in_only {
                problems.push(format!(
                    "{id}/{sid}: SendCommand on documents {documents:?}: only the stack's override-check \
                     documents, or with OverrideCheckDocument=AWS-RunShellScript the AWS script documents"
                ));
            }
        }
    }
    for m in EC2_MUTATIONS
        .iter()
        .chain(MEMBER_MUTATIONS.iter().flat_map(|kind| kind.actions))
        .chain(&["ssm:SendCommand"])
    {
        if !granted.iter().any(|a| a == m) {
            problems.push(format!("{m} is not granted on workload resources at all"));
        }
    }
    problems
}

const ROLE_TEMPLATES: [&str; 2] = ["template.yaml", "member-account-role.yaml"];

/// Tag writes an earlier version made for its records (the type before a
/// capacity fallback and the registrations a drain removed, on instances;
/// a group's or service's capacity; the processes a Stop suspended on a
/// group; a muted alarm). The records live in the run ledger now
/// (src/aws/records.rs): no role may write these.
const RECORD_TAG_ACTIONS: [&str; 8] = [
    "ec2:CreateTags",
    "ec2:DeleteTags",
    "autoscaling:CreateOrUpdateTags",
    "autoscaling:DeleteTags",
    "ecs:TagResource",
    "ecs:UntagResource",
    "cloudwatch:TagResource",
    "cloudwatch:UntagResource",
];

/// A record tag key of each kind an earlier version wrote (read now only to
/// be reported, never trusted).
fn record_tag_keys() -> Vec<String> {
    use ec2_tier_scheduler::instance::ORIGINAL_TYPE_TAG;
    use ec2_tier_scheduler::member::{CAPACITY_TAG, SUSPENDED_TAG};
    use ec2_tier_scheduler::traffic::{MUTED_TAG, REGISTRATION_TAG_PREFIX};
    vec![
        ORIGINAL_TYPE_TAG.to_string(),
        format!("{REGISTRATION_TAG_PREFIX}targetgroup/web/0123456789abcdef"),
        CAPACITY_TAG.to_string(),
        SUSPENDED_TAG.to_string(),
        MUTED_TAG.to_string(),
    ]
}

/// Whether the IAM pattern `pattern` (`*` any run, `?` one character)
/// matches `text`.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// What is wrong with `template` about record tags: a statement granting a
/// [`RECORD_TAG_ACTIONS`] action, or whose `aws:TagKeys` (any operator)
/// could name a record key ([`record_tag_keys`]). No record tag is written
/// any more, so none can be granted.
fn record_tag_violations(template: &Value) -> Vec<String> {
    let keys = record_tag_keys();
    let mut problems = Vec::new();
    for (id, statement) in policy_statements(template) {
        if statement["Effect"].as_str() != Some("Allow") {
            continue;
        }
        let sid = statement["Sid"].as_str().unwrap_or("?");
        for action in strings(&statement["Action"]) {
            if RECORD_TAG_ACTIONS.contains(&action.as_str()) {
                problems.push(format!(
                    "{id}/{sid}: grants {action}: the scheduler writes no record tags (its records are in the run ledger)"
                ));
            }
        }
        for (_, block) in statement["Condition"].as_mapping().into_iter().flatten() {
            for pattern in strings(&block["aws:TagKeys"]) {
                if let Some(key) = keys.iter().find(|k| glob(&pattern, k)) {
                    problems.push(format!(
                        "{id}/{sid}: aws:TagKeys {pattern:?} names the record tag {key}: no record tag is written any more"
                    ));
                }
            }
        }
    }
    problems
}

/// UpdateAutoScalingGroup request keys of a change beyond the capacity
/// (a launch template or configuration, subnets, instance types, capacity
/// reservations): each present only when the call sets it, so `Null` =
/// `true` leaves only min, desired and max (and settings with no key).
const ASG_FIXED_KEYS: [&str; 6] = [
    "autoscaling:LaunchConfigurationName",
    "autoscaling:LaunchTemplateVersionSpecified",
    "autoscaling:VPCZoneIdentifiers",
    "autoscaling:InstanceTypes",
    "autoscaling:CapacityReservationIds",
    "autoscaling:CapacityReservationResourceGroupArns",
];

/// The sizes a capacity change sets, at most `MaxRestoredCapacity` (no key
/// exists for the desired capacity: the code bounds it).
const ASG_SIZE_KEYS: [&str; 2] = ["autoscaling:MinSize", "autoscaling:MaxSize"];

/// UpdateService request keys of a change beyond the desired count.
const ECS_FIXED_KEYS: [&str; 3] = [
    "ecs:task-definition",
    "ecs:capacity-provider",
    "ecs:enable-execute-command",
];

/// What is wrong with the capacity changes of `template`: every statement
/// granting UpdateAutoScalingGroup must require [`ASG_FIXED_KEYS`] absent
/// (`Null` = `true`) and [`ASG_SIZE_KEYS`] at most `MaxRestoredCapacity`
/// (`NumericLessThanEquals`), every one granting UpdateService
/// [`ECS_FIXED_KEYS`] absent; both granted; and `MaxRestoredCapacity` a
/// number of at least 1, by default and at most the code's own bound.
fn capacity_change_violations(template: &Value) -> Vec<String> {
    use ec2_tier_scheduler::records::MAX_RESTORED;
    let mut problems = Vec::new();
    let param = &template["Parameters"]["MaxRestoredCapacity"];
    let bound = u64::from(MAX_RESTORED);
    if param["Type"].as_str() != Some("Number")
        || param["Default"].as_u64() != Some(bound)
        || param["MinValue"].as_u64() != Some(1)
        || param["MaxValue"].as_u64().is_none_or(|m| m > bound)
    {
        problems.push(format!(
            "MaxRestoredCapacity is not a Number from 1 to at most {bound}, default {bound}: {param:?}"
        ));
    }
    let kinds: [(&str, &[&str], &[&str]); 2] = [
        ("autoscaling:UpdateAutoScalingGroup", &ASG_FIXED_KEYS, &ASG_SIZE_KEYS),
        ("ecs:UpdateService", &ECS_FIXED_KEYS, &[]),
    ];
    let mut granted = Vec::new();
    for (id, statement) in policy_statements(template) {
        if statement["Effect"].as_str() != Some("Allow") {
            continue;
        }
        let sid = statement["Sid"].as_str().unwrap_or("?");
        let actions = strings(&statement["Action"]);
        let condition = &statement["Condition"];
        for (action, fixed, sizes) in kinds {
            if !actions.iter().any(|a| a == action) {
                continue;
            }
            granted.push(action);
            for key in fixed {
                if condition["Null"][*key].as_str() != Some("true") {
                    problems.push(format!(
                        "{id}/{sid}: {action} without Null {key} = true: it could change more than the capacity"
                    ));
                }
            }
            for key in sizes {
                if ref_target(&condition["NumericLessThanEquals"][*key]) != Some("MaxRestoredCapacity") {
                    problems.push(format!(
                        "{id}/{sid}: {action} without NumericLessThanEquals {key} <= MaxRestoredCapacity"
                    ));
                }
            }
        }
    }
    for (action, _, _) in kinds {
        if !granted.contains(&action) {
            problems.push(format!("{action} is not granted at all"));
        }
    }
    problems
}

/// The oldest `scheduledTime` the function accepts is derived from these
/// templates' values: the schedules' retry window, their flexible time
/// window and the function's asynchronous event age.
#[test]
fn the_delivery_window_is_the_templates() {
    use ec2_tier_scheduler::event::{
        CLOCK_SKEW_SECS, FLEXIBLE_WINDOW_SECS, FUNCTION_EVENT_AGE_SECS, MAX_DELIVERY_DELAY_SECS, SCHEDULE_RETRY_SECS,
    };
    let (mut retry, mut window, mut schedules) = (0, 0, 0);
    for name in ["template.yaml", "workload-schedule.yaml"] {
        let t = template(name);
        for (id, resource) in t["Resources"].as_mapping().unwrap() {
            if resource["Type"].as_str() != Some("AWS::Scheduler::Schedule") {
                continue;
            }
            schedules += 1;
            let p = &resource["Properties"];
            let age = p["Target"]["RetryPolicy"]["MaximumEventAgeInSeconds"].as_u64();
            retry = retry.max(age.unwrap_or_else(|| panic!("{name}/{id:?}: no RetryPolicy age")));
            let flexible = &p["FlexibleTimeWindow"];
            if flexible["Mode"].as_str() != Some("OFF") {
                let minutes = flexible["MaximumWindowInMinutes"].as_u64();
                window = window.max(60 * minutes.unwrap_or_else(|| panic!("{name}/{id:?}: flexible window")));
            }
        }
    }
    assert!(schedules >= 4, "found {schedules} schedules");
    assert_eq!(retry, SCHEDULE_RETRY_SECS, "the schedules' RetryPolicy age");
    assert_eq!(window, FLEXIBLE_WINDOW_SECS, "the schedules' flexible time window");
    let t = template("template.yaml");
    let invoke = &t["Resources"]["SchedulerFunction"]["Properties"]["EventInvokeConfig"];
    assert_eq!(
        invoke["MaximumEventAgeInSeconds"].as_u64(),
        Some(FUNCTION_EVENT_AGE_SECS),
        "the function's asynchronous event age"
    );
    assert_eq!(
        MAX_DELIVERY_DELAY_SECS,
        SCHEDULE_RETRY_SECS + FUNCTION_EVENT_AGE_SECS + FLEXIBLE_WINDOW_SECS + CLOCK_SKEW_SECS
    );
}

#[test]
fn continuation_schedules_retry_inside_the_hand_over_window_into_the_stacks_dead_letter_queue() {
    use ec2_tier_scheduler::aws::{continuation_target, CONTINUATION_MAX_EVENT_AGE_SECS, CONTINUATION_RETRY_ATTEMPTS};
    use ec2_tier_scheduler::ledger::HANDOVER_WINDOW_SECS;
    let t = template("template.yaml");
    let resources = &t["Resources"];
    // The function is told the queue the stack's own schedules use, and
    // the scheduler role may send to it.
    let env = &resources["SchedulerFunction"]["Properties"]["Environment"]["Variables"];
    let Value::Tagged(dlq) = &env["SCHEDULE_DEAD_LETTER_QUEUE_ARN"] else {
        panic!(
            "SCHEDULE_DEAD_LETTER_QUEUE_ARN: {:?}",
            env["SCHEDULE_DEAD_LETTER_QUEUE_ARN"]
        )
    };
    assert_eq!(
        (dlq.tag.to_string().as_str(), dlq.value.as_str()),
        ("!GetAtt", Some("ScheduleDeadLetterQueue.Arn"))
    );
    let stop = &resources["ExampleStopSchedule"]["Properties"]["Target"]["DeadLetterConfig"]["Arn"];
    assert_eq!(
        stop, &env["SCHEDULE_DEAD_LETTER_QUEUE_ARN"],
        "the stack's schedules' queue"
    );
    let role = &resources["SchedulerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"];
    assert!(
        role.as_sequence()
            .unwrap()
            .iter()
            .any(|s| s["Action"].as_str() == Some("sqs:SendMessage")
                && s["Resource"] == env["SCHEDULE_DEAD_LETTER_QUEUE_ARN"]),
        "the scheduler role sends undeliverable continuations to the queue"
    );
    // The queue's alarm is the dead-letter alarm on the dashboard.
    let alarm = &resources["ScheduleDeadLetterAlarm"]["Properties"];
    assert_eq!(alarm["MetricName"].as_str(), Some("ApproximateNumberOfMessagesVisible"));
    // What the adapter sends with every CreateSchedule of a continuation.
    let arn = "arn:aws:sqs:us-west-2:123456789012:stack-ScheduleDeadLetterQueue-X";
    let payload =
        serde_json::json!({"workloadIdentifier": "W", "action": "Stop", "continueRun": "k", "continuationToken": "t"});
    let target = continuation_target(
        "arn:aws:lambda:us-west-2:1:function:f",
        "arn:aws:iam::1:role/r",
        Some(arn),
        &payload,
    )
    .unwrap();
    let retry = target.retry_policy().expect("a RetryPolicy");
    let age = retry.maximum_event_age_in_seconds().expect("an event age");
    assert_eq!(age, CONTINUATION_MAX_EVENT_AGE_SECS);
    assert!(
        (60..=HANDOVER_WINDOW_SECS as i32).contains(&age),
        "retries end inside the hand-over window: {age}"
    );
    let attempts = retry.maximum_retry_attempts().expect("bounded attempts");
    assert_eq!(attempts, CONTINUATION_RETRY_ATTEMPTS);
    assert!((1..=10).contains(&attempts), "{attempts}");
    assert_eq!(target.dead_letter_config().and_then(|d| d.arn()), Some(arn));
    assert_eq!(target.input(), Some(payload.to_string().as_str()));
}

#[test]
fn reads_are_scoped_to_this_region_and_account() {
    for name in ROLE_TEMPLATES {
        let problems = read_scope_violations(&template(name));
        assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
    }
}

/// The calls of the adapters for Auto Scaling groups and ECS services as
/// tier members (and the subnets' VPC they read), and for the traffic
/// around a workload (target groups and their tags, alarms) are granted in
/// both roles: in a member account the function makes them with the member
/// role. None of them writes a tag any more.
#[test]
fn member_calls_are_granted_in_both_roles() {
    let mut calls = Vec::new();
    for (file, expected) in [
        (
            "src/aws/ecs.rs",
            &[
                "application-autoscaling:DescribeScalableTargets",
                "ecs:DescribeServices",
                "ecs:ListClusters",
                "ecs:ListServices",
                "ecs:UpdateService",
            ][..],
        ),
        (
            "src/aws/group_capacity.rs",
            &[
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeScheduledActions",
                "autoscaling:UpdateAutoScalingGroup",
            ][..],
        ),
        (
            "src/aws/load_balancers.rs",
            &[
                "elasticloadbalancing:DeregisterTargets",
                "elasticloadbalancing:DescribeTags",
                "elasticloadbalancing:DescribeTargetGroupAttributes",
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetHealth",
                "elasticloadbalancing:RegisterTargets",
            ][..],
        ),
        (
            "src/aws/price_facts.rs",
            &[
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeLaunchConfigurations",
                "ec2:DescribeInstances",
                "ec2:DescribeLaunchTemplateVersions",
                "ec2:DescribeVolumes",
                "ecs:DescribeServices",
                "ecs:DescribeTaskDefinition",
                "eks:DescribeNodegroup",
                "rds:DescribeDBInstances",
            ][..],
        ),
        (
            "src/aws/alarms.rs",
            &[
                "cloudwatch:DescribeAlarms",
                "cloudwatch:DisableAlarmActions",
                "cloudwatch:EnableAlarmActions",
                "cloudwatch:ListTagsForResource",
            ][..],
        ),
    ] {
        let mut found: Vec<String> = operations(&source(file))
            .into_iter()
            .map(|(service, op)| format!("{service}:{op}"))
            .collect();
        found.sort();
        found.dedup();
        assert_eq!(found, expected, "{file}");
        calls.extend(found);
    }
    calls.push("ec2:DescribeSubnets".to_string());
    for name in ROLE_TEMPLATES {
        let template = template(name);
        let granted: Vec<String> = policy_statements(&template)
            .iter()
            .flat_map(|(_, s)| strings(&s["Action"]))
            .collect();
        for call in &calls {
            assert!(granted.contains(call), "{name}: {call} is not granted");
        }
    }
}

/// No record tag is written any more (records live in the run ledger), so
/// neither role grants a tag write on instances, Auto Scaling groups, ECS
/// services or alarms. Each way
/// the old grants could come back is noticed.
#[test]
fn no_record_tag_is_written() {
    for name in ROLE_TEMPLATES {
        let problems = record_tag_violations(&template(name));
        assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
        let old_instance_grant: Value = serde_yaml::from_str(
            r#"
Sid: TagWorkloadInstances
Effect: Allow
Action: [ec2:CreateTags, ec2:DeleteTags]
Resource: arn:aws:ec2:us-west-2:111122223333:instance/*
Condition:
  ForAllValues:StringLike:
    aws:TagKeys: [ec2-tier-scheduler:original-type, ec2-tier-scheduler:lb:*]
"#,
        )
        .unwrap();
        type Revive = fn(&mut Value, &Value);
        let revived: [(&str, &str, Revive, &str); 5] = [
            (
                "the instance record tags",
                "StartStopWorkloadInstances",
                |_, _| {},
                "grants ec2:CreateTags",
            ),
            (
                "the suspended-processes record tag on groups",
                "SuspendWorkloadAutoScalingGroups",
                |s, _| {
                    s["Action"]
                        .as_sequence_mut()
                        .unwrap()
                        .push(Value::from("autoscaling:CreateOrUpdateTags"));
                },
                "grants autoscaling:CreateOrUpdateTags",
            ),
            (
                "any key of the scheduler's namespace on groups",
                "SuspendWorkloadAutoScalingGroups",
                |s, _| {
                    s["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"] = Value::from("ec2-tier-scheduler:*");
                },
                "names the record tag",
            ),
            (
                "the ECS capacity record",
                "ScaleWorkloadEcsServices",
                |s, _| {
                    s["Action"] = Value::from(vec!["ecs:UpdateService", "ecs:TagResource"]);
                },
                "grants ecs:TagResource",
            ),
            (
                "the muted-alarm record",
                "MuteWorkloadAlarms",
                |s, _| {
                    s["Action"]
                        .as_sequence_mut()
                        .unwrap()
                        .push(Value::from("cloudwatch:UntagResource"));
                },
                "grants cloudwatch:UntagResource",
            ),
        ];
        for (what, sid, revive, expected) in revived {
            let mut broadened = template(name);
            let statement = statement_mut(&mut broadened, sid).unwrap_or_else(|| panic!("{name}: no {sid}"));
            if sid == "StartStopWorkloadInstances" {
                // The old statement, put back beside the first EC2 one.
                *statement = old_instance_grant.clone();
            } else {
                revive(statement, &old_instance_grant);
            }
            let problems = record_tag_violations(&broadened);
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{name}: {what} ({sid}) went unnoticed: {problems:?}"
            );
        }
    }
    // The pattern matcher the key check relies on.
    assert!(glob("ec2-tier-scheduler:lb:*", "ec2-tier-scheduler:lb:targetgroup/a/b"));
    assert!(glob("ec2-tier-scheduler:?apacity", "ec2-tier-scheduler:capacity"));
    assert!(!glob("ec2-tier-scheduler:suspended", "ec2-tier-scheduler:capacity"));
    assert!(!glob("ec2-tier-scheduler:lb", "ec2-tier-scheduler:lb:targetgroup/a/b"));
}

/// Of an Auto Scaling group, IAM lets the function change only the
/// capacity (min and max at most `MaxRestoredCapacity`); of an ECS service,
/// only the desired count. Both roles; each condition is seen to bite.
#[test]
fn capacity_changes_are_only_capacity_changes() {
    for name in ROLE_TEMPLATES {
        let problems = capacity_change_violations(&template(name));
        assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
        let asg = "ScaleWorkloadAutoScalingGroups";
        let ecs = "ScaleWorkloadEcsServices";
        let mut cases: Vec<(String, &str, Value, String)> = Vec::new();
        for key in ASG_FIXED_KEYS {
            cases.push((
                format!("/Condition/Null/{key}"),
                asg,
                Value::Null,
                format!("Null {key} = true"),
            ));
            cases.push((
                format!("/Condition/Null/{key}"),
                asg,
                Value::from("false"),
                format!("Null {key} = true"),
            ));
        }
        for key in ASG_SIZE_KEYS {
            cases.push((
                format!("/Condition/NumericLessThanEquals/{key}"),
                asg,
                Value::from("100000"),
                format!("NumericLessThanEquals {key}"),
            ));
        }
        for key in ECS_FIXED_KEYS {
            cases.push((
                format!("/Condition/Null/{key}"),
                ecs,
                Value::Null,
                format!("Null {key} = true"),
            ));
        }
        cases.push((
            "/Condition/Null".into(),
            ecs,
            Value::Null,
            "Null ecs:task-definition".into(),
        ));
        cases.push((
            "/Condition/NumericLessThanEquals".into(),
            asg,
            Value::Null,
            "NumericLessThanEquals autoscaling:MinSize".into(),
        ));
        for (pointer, sid, value, expected) in cases {
            let mut broadened = template(name);
            let statement = statement_mut(&mut broadened, sid).unwrap_or_else(|| panic!("{name}: no {sid}"));
            *pointer_mut(statement, &pointer) = value.clone();
            let problems = capacity_change_violations(&broadened);
            assert!(
                problems.iter().any(|p| p.contains(&expected)),
                "{name}: {sid} {pointer} = {value:?} went unnoticed: {problems:?}"
            );
        }
        // The bound is the code's, and a parameter of the stack.
        for (field, value) in [("Default", 5000), ("MaxValue", 20000), ("MinValue", 0)] {
            let mut t = template(name);
            t["Parameters"]["MaxRestoredCapacity"][field] = Value::from(value);
            let problems = capacity_change_violations(&t);
            assert!(
                problems.iter().any(|p| p.contains("MaxRestoredCapacity is not")),
                "{name}: MaxRestoredCapacity {field} {value} went unnoticed: {problems:?}"
            );
        }
    }
}

/// RegisterTargets and DeregisterTargets reach only target groups whose
/// workload tag has one of `WorkloadTagValues`, in both roles.
#[test]
fn target_registrations_need_the_workload_tag_on_the_group() {
    for name in ROLE_TEMPLATES {
        let problems = target_violations(&template(name));
        assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
        type Broaden = fn(&mut Value);
        let cases: [(&str, Broaden); 3] = [
            ("no condition", |s| {
                s.as_mapping_mut().unwrap().remove("Condition");
            }),
            ("any value of the tag", |s| {
                let block = s["Condition"]["StringEquals"].clone();
                let m = s["Condition"].as_mapping_mut().unwrap();
                m.remove("StringEquals");
                m.insert("StringLike".into(), block);
            }),
            ("another tag", |s| {
                let Value::Mapping(block) = &mut s["Condition"]["StringEquals"] else {
                    panic!()
                };
                let (_, each) = block.iter_mut().next().unwrap();
                each[2] = serde_yaml::from_str("aws:ResourceTag/Owner: !Ref WorkloadTagValues").unwrap();
            }),
        ];
        for (what, broaden) in cases {
            let mut broadened = template(name);
            broaden(statement_mut(&mut broadened, "DrainAndRestoreTargets").expect("DrainAndRestoreTargets"));
            let problems = target_violations(&broadened);
            assert!(
                problems
                    .iter()
                    .any(|p| p.contains("target registration without StringEquals aws:ResourceTag")),
                "{name}: {what} went unnoticed: {problems:?}"
            );
        }
    }
}

/// What is wrong with the run ledger of `template`: it holds records that
/// never expire, so it is kept when the stack is deleted or the table
/// replaced, protected against deletion, and its TTL (run items only) is
/// on `expiresAt`, which records do not carry.
fn ledger_retention_violations(template: &Value) -> Vec<String> {
    let table = &template["Resources"]["RunLedgerTable"];
    let mut problems = Vec::new();
    for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
        if table[policy].as_str() != Some("Retain") {
            problems.push(format!(
                "RunLedgerTable {policy} is {:?}, not Retain: the records a Start restores would go with the stack",
                table[policy]
            ));
        }
    }
    let props = &table["Properties"];
    if props["DeletionProtectionEnabled"].as_bool() != Some(true) {
        problems.push("RunLedgerTable without deletion protection".to_string());
    }
    if props["TimeToLiveSpecification"]["AttributeName"].as_str() != Some("expiresAt") {
        problems.push(format!(
            "RunLedgerTable TTL on {:?}, not expiresAt (which records never carry)",
            props["TimeToLiveSpecification"]["AttributeName"]
        ));
    }
    problems
}

/// Whether `text` (a template's source) still calls the run ledger short-lived.
fn calls_the_ledger_short_lived(text: &str) -> bool {
    text.to_lowercase().contains("short-lived")
}

#[test]
fn the_run_ledger_is_kept_with_the_stack() {
    let t = template("template.yaml");
    let problems = ledger_retention_violations(&t);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for (policy, value) in [
        ("DeletionPolicy", Value::from("Delete")),
        ("UpdateReplacePolicy", Value::from("Delete")),
        ("DeletionPolicy", Value::Null),
        ("UpdateReplacePolicy", Value::from("Snapshot")),
    ] {
        let mut changed = template("template.yaml");
        changed["Resources"]["RunLedgerTable"][policy] = value.clone();
        let problems = ledger_retention_violations(&changed);
        assert!(
            problems.iter().any(|p| p.contains(policy)),
            "{policy} = {value:?} went unnoticed: {problems:?}"
        );
    }
    let text = source("infra/template.yaml");
    assert!(
        !calls_the_ledger_short_lived(&text),
        "the template still calls the run ledger short-lived"
    );
    assert!(calls_the_ledger_short_lived(
        "# Short-lived run records (expired by TTL): deleted with the stack"
    ));
}

/// The function reads its records on the ledger's workload index and
/// nowhere else: dynamodb:Query on the ledger is granted only on that
/// index, alone in its statement.
fn ledger_query_violations(template: &Value) -> Vec<String> {
    use ec2_tier_scheduler::aws::RUNS_BY_WORKLOAD_INDEX;
    let want = format!("${{RunLedgerTable.Arn}}/index/{RUNS_BY_WORKLOAD_INDEX}");
    let mut problems = Vec::new();
    let mut granted = false;
    for (id, statement) in policy_statements(template) {
        let actions = strings(&statement["Action"]);
        let mut resources = Vec::new();
        all_strings(&statement["Resource"], &mut resources);
        let on_ledger = resources.iter().any(|r| r.contains("RunLedgerTable"));
        if statement["Effect"].as_str() != Some("Allow") || !on_ledger || !actions.iter().any(|a| a == "dynamodb:Query")
        {
            continue;
        }
        let sid = statement["Sid"].as_str().unwrap_or("?");
        let mut subbed = Vec::new();
        subs(&statement["Resource"], &mut subbed);
        if actions != ["dynamodb:Query"] || subbed != [want.as_str()] || resources.len() != 1 {
            problems.push(format!(
                "{id}/{sid}: dynamodb:Query on {resources:?} with {actions:?}: only Query, only on {want}"
            ));
        }
        granted = true;
    }
    if !granted {
        problems.push(format!(
            "dynamodb:Query on {want} is not granted: the function cannot read its records"
        ));
    }
    problems
}

#[test]
fn the_function_reads_its_records_on_one_index_only() {
    let problems = ledger_query_violations(&template("template.yaml"));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    type Broaden = fn(&mut Value);
    let cases: [(&str, Broaden); 4] = [
        ("every index", |s| {
            s["Resource"] = serde_yaml::from_str("!Sub ${RunLedgerTable.Arn}/index/*").unwrap();
        }),
        ("the table itself", |s| {
            s["Resource"] = serde_yaml::from_str("!GetAtt RunLedgerTable.Arn").unwrap();
        }),
        ("with a scan", |s| {
            s["Action"] = Value::from(vec!["dynamodb:Query", "dynamodb:Scan"]);
        }),
        ("not at all", |s| {
            s["Action"] = Value::from("dynamodb:GetItem");
        }),
    ];
    for (what, broaden) in cases {
        let mut t = template("template.yaml");
        broaden(statement_mut(&mut t, "QueryWorkloadRecords").expect("QueryWorkloadRecords"));
        assert!(!ledger_query_violations(&t).is_empty(), "Query {what} went unnoticed");
    }
}

/// The environment variable the function reads the types a Start may
/// restore from.
const ALLOWED_TYPES_ENV: &str = "ALLOWED_INSTANCE_TYPES";

/// What is wrong with how `template` passes `AllowedInstanceTypes` to the
/// function: the variable must carry the list, comma-joined, and a default
/// of `*` must be explained in infra/README.md.
fn allowed_types_violations(template: &Value, readme: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let env = &template["Resources"]["SchedulerFunction"]["Properties"]["Environment"]["Variables"];
    let types = ["t3.*", "m5.large"];
    let deployed = evaluate(&env[ALLOWED_TYPES_ENV], &[("AllowedInstanceTypes", &types)]);
    if deployed != Some(vec!["t3.*,m5.large".to_string()]) {
        problems.push(format!(
            "{ALLOWED_TYPES_ENV} is {deployed:?} with AllowedInstanceTypes {types:?}, not the list joined with \",\""
        ));
    }
    let default = template["Parameters"]["AllowedInstanceTypes"]["Default"].as_str();
    if default == Some("*") && !readme.contains(&format!("`{ALLOWED_TYPES_ENV}`")) {
        problems.push("AllowedInstanceTypes defaults to * and infra/README.md does not say why".to_string());
    }
    problems
}

#[test]
fn the_function_is_told_the_allowed_instance_types() {
    let readme = source("infra/README.md");
    let t = template("template.yaml");
    let problems = allowed_types_violations(&t, &readme);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let mut missing = template("template.yaml");
    let Value::Mapping(env) = &mut missing["Resources"]["SchedulerFunction"]["Properties"]["Environment"]["Variables"]
    else {
        panic!()
    };
    env.remove(ALLOWED_TYPES_ENV);
    assert!(
        !allowed_types_violations(&missing, &readme).is_empty(),
        "a missing variable went unnoticed"
    );
    let mut other = template("template.yaml");
    other["Resources"]["SchedulerFunction"]["Properties"]["Environment"]["Variables"][ALLOWED_TYPES_ENV] =
        serde_yaml::from_str(r#"!Join [",", !Ref EbsKmsKeyArns]"#).unwrap();
    assert!(
        !allowed_types_violations(&other, &readme).is_empty(),
        "another list went unnoticed"
    );
    assert!(
        !allowed_types_violations(&t, "no word on the default").is_empty(),
        "an unexplained * default went unnoticed"
    );
}

/// Alarms are muted only where `AlarmNamePrefixes` names them: with the
/// list empty (the default) no muting is granted at all, and an empty entry
/// (the prefix "", every alarm) is refused by a rule.
#[test]
fn alarm_muting_needs_alarm_name_prefixes() {
    for (name, role, policy) in [
        ("template.yaml", "FunctionRole", "FunctionAlarmMutingPolicy"),
        ("member-account-role.yaml", "MemberRole", "MemberAlarmMutingPolicy"),
    ] {
        let t = template(name);
        let problems = alarm_violations(&t);
        assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
        // The muting policy exists only with the list set, and the role
        // attaches it only then.
        let arns = &t["Resources"][role]["Properties"]["ManagedPolicyArns"];
        let conditional = |arn: &Value| match arn {
            Value::Tagged(cond) if cond.tag == "!If" => {
                cond.value[0].as_str() == Some("HasAlarmNamePrefixes") && ref_target(&cond.value[1]) == Some(policy)
            }
            _ => false,
        };
        assert!(
            arns.as_sequence().is_some_and(|list| list.iter().any(conditional)),
            "{name}: {role} does not attach {policy} under HasAlarmNamePrefixes"
        );
        let mut unconditional = template(name);
        let resource = unconditional["Resources"][policy].as_mapping_mut().unwrap();
        resource.remove("Condition");
        let problems = alarm_violations(&unconditional);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("even when AlarmNamePrefixes is empty")),
            "{name}: unconditional {policy} went unnoticed: {problems:?}"
        );
        let mut no_rule = template(name);
        no_rule.as_mapping_mut().unwrap().remove("Rules");
        let problems = alarm_violations(&no_rule);
        assert!(
            problems.iter().any(|p| p.contains("refuses an empty entry")),
            "{name}: no rule went unnoticed: {problems:?}"
        );
    }
}

/// The value at a `/`-separated path of map keys, created when missing.
fn pointer_mut<'a>(value: &'a mut Value, pointer: &str) -> &'a mut Value {
    pointer.split('/').skip(1).fold(value, |v, key| &mut v[key])
}

#[test]
fn every_grant_is_tied_to_a_call() {
    for name in ROLE_TEMPLATES {
        let problems = grant_violations(&template(name));
        assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
    }
    // Each row's call still exists, and each row is still granted somewhere.
    let mut granted = Vec::new();
    for name in ROLE_TEMPLATES {
        let template = template(name);
        for (_, statement) in policy_statements(&template) {
            if let Some(sid) = statement["Sid"].as_str() {
                granted.extend(strings(&statement["Action"]).into_iter().map(|a| (sid.to_string(), a)));
            }
        }
    }
    for (sid, action, need) in GRANTS {
        assert!(
            granted.iter().any(|(s, a)| s == sid && a == action),
            "{sid}/{action} is in GRANTS but granted nowhere: drop the row"
        );
        match need {
            Adapter(file, op) => assert!(
                operations(&source(file)).iter().any(|(_, o)| o == op),
                "{sid}/{action}: {file} no longer calls {op}"
            ),
            Service(why) => assert!(why.contains(' '), "{sid}/{action}: say which service needs it"),
        }
    }
}

#[test]
fn every_adapter_call_is_granted() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/aws");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| format!("src/aws/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    files.sort();
    let mut seen = 0;
    for file in &files {
        for (service, op) in operations(&source(file)) {
            seen += 1;
            let granted = GRANTS
                .iter()
                .any(|(_, _, need)| matches!(need, Adapter(f, o) if f == file && *o == op));
            let excused = NOT_GRANTED.iter().any(|(f, o, _)| f == file && *o == op);
            assert!(
                granted || excused,
                "{file} calls {service} {op}, which no template grants: add the grant (and a GRANTS row) \
                 or a NOT_GRANTED reason"
            );
        }
    }
    assert!(seen > 20, "found only {seen} adapter calls in {files:?}");
    for (file, op, why) in NOT_GRANTED {
        assert!(
            operations(&source(file)).iter().any(|(_, o)| o == op),
            "{file} no longer calls {op} ({why}): drop the NOT_GRANTED row"
        );
    }
    // TransactWriteItems: every item kind the ledger's runs and records
    // build is granted on the ledger, and nothing else is.
    let ledger = source("src/aws/ledger.rs") + &source("src/aws/records.rs");
    for (builder, action) in TRANSACTION_ITEMS {
        let built = ledger.contains(builder);
        let granted = GRANTS
            .iter()
            .any(|(sid, a, _)| *sid == "ReadWriteRunLedger" && a == action);
        assert_eq!(
            built, granted,
            "src/aws/ledger.rs or records.rs builds {builder}: {built}; ReadWriteRunLedger grants {action}: {granted}"
        );
    }
}

#[test]
fn mutations_are_scoped_to_the_workload_in_this_region() {
    for name in ROLE_TEMPLATES {
        let template = template(name);
        let mut problems = scope_violations(&template);
        problems.extend(target_violations(&template));
        problems.extend(alarm_violations(&template));
        assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
    }
}

/// What is wrong with the KMS grants of `template`: CreateGrant and
/// DescribeKey only on `EbsKmsKeyArns`, only when the list is not empty
/// (the `HasEbsKmsKeys` condition), CreateGrant alone, for AWS resources
/// only and only through EC2 of this region.
fn kms_violations(template: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut defined = Vec::new();
    all_strings(&template["Conditions"]["HasEbsKmsKeys"], &mut defined);
    if !defined.iter().any(|s| s == "EbsKmsKeyArns") {
        problems.push(format!(
            "HasEbsKmsKeys is not about the EbsKmsKeyArns list: {defined:?}"
        ));
    }
    let mut conditional = Vec::new();
    if_branches("HasEbsKmsKeys", template, &mut conditional);
    for (id, statement) in policy_statements(template) {
        let actions = strings(&statement["Action"]);
        let sid = statement["Sid"].as_str().unwrap_or("?");
        if !actions.iter().any(|a| a == "kms:CreateGrant" || a == "kms:DescribeKey") {
            continue;
        }
        if ref_target(&statement["Resource"]) != Some("EbsKmsKeyArns") {
            problems.push(format!(
                "{id}/{sid}: KMS on {:?}, not only on EbsKmsKeyArns",
                statement["Resource"]
            ));
        }
        if !conditional.contains(&sid.to_string()) {
            problems.push(format!(
                "{id}/{sid}: granted even when EbsKmsKeyArns is empty (no HasEbsKmsKeys)"
            ));
        }
        if !actions.iter().any(|a| a == "kms:CreateGrant") {
            continue;
        }
        let condition = &statement["Condition"];
        let for_aws = condition["Bool"]["kms:GrantIsForAWSResource"].as_str() == Some("true");
        let via = strings(&condition["StringEquals"]["kms:ViaService"]);
        if actions.len() != 1 || !for_aws || via != ["ec2.${AWS::Region}.amazonaws.com"] {
            problems.push(format!(
                "{id}/{sid}: kms:CreateGrant must stand alone, with kms:GrantIsForAWSResource true and \
                 kms:ViaService ec2.${{AWS::Region}}.amazonaws.com (found {condition:?})"
            ));
        }
    }
    problems
}

/// The Sids of the statements under the true branch of `!If [condition, ...]`.
fn if_branches(condition: &str, value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Tagged(t) if t.tag == "!If" && t.value[0].as_str() == Some(condition) => {
            let mut found = Vec::new();
            statements(&t.value[1], &mut found);
            out.extend(found.iter().filter_map(|s| s["Sid"].as_str()).map(str::to_string));
        }
        Value::Tagged(t) => if_branches(condition, &t.value, out),
        Value::Mapping(m) => m.values().for_each(|v| if_branches(condition, v, out)),
        Value::Sequence(seq) => seq.iter().for_each(|v| if_branches(condition, v, out)),
        _ => {}
    }
}

#[test]
fn ebs_key_grants_are_for_ec2_only_and_only_on_the_listed_keys() {
    for name in ROLE_TEMPLATES {
        let template = template(name);
        let problems = kms_violations(&template);
        assert!(problems.is_empty(), "{name}:\n{}", problems.join("\n"));
        let granted: Vec<String> = policy_statements(&template)
            .iter()
            .flat_map(|(_, s)| strings(&s["Action"]))
            .collect();
        for action in ["kms:CreateGrant", "kms:DescribeKey", "ec2:DescribeVolumes"] {
            assert!(granted.iter().any(|a| a == action), "{name}: {action} is not granted");
        }
        assert!(
            template["Parameters"]["EbsKmsKeyArns"]["Default"].as_str() == Some(""),
            "{name}: EbsKmsKeyArns defaults to no key"
        );
    }
    // The function learns the list: the variable the plan reads.
    let main = template("template.yaml");
    let variables = &main["Resources"]["SchedulerFunction"]["Properties"]["Environment"]["Variables"];
    let mut texts = Vec::new();
    all_strings(&variables[ec2_tier_scheduler::plan::keys::GRANTED_KEYS_ENV], &mut texts);
    assert!(texts.iter().any(|t| t == "EbsKmsKeyArns"), "{texts:?}");
    // The adapter scan covers the KMS adapter.
    let kms = operations(&source("src/aws/kms.rs"));
    assert_eq!(kms, [("kms".to_string(), "DescribeKey".to_string())]);
}

/// The RDS adapter's calls are what `every_adapter_call_is_granted` scans
/// (every file of src/aws/), and both roles grant each of them.
#[test]
fn database_calls_are_scanned_and_granted_in_both_roles() {
    let mut found: Vec<String> = operations(&source("src/aws/rds.rs"))
        .into_iter()
        .map(|(service, op)| {
            assert_eq!(service, "rds", "{op}");
            op
        })
        .collect();
    found.sort();
    found.dedup();
    let expected = [
        "DescribeDBClusters",
        "DescribeDBInstances",
        "DescribeDBSubnetGroups",
        "StartDBCluster",
        "StartDBInstance",
        "StopDBCluster",
        "StopDBInstance",
    ];
    assert_eq!(found, expected);
    for name in ROLE_TEMPLATES {
        let template = template(name);
        let granted: Vec<String> = policy_statements(&template)
            .iter()
            .flat_map(|(_, s)| strings(&s["Action"]))
            .collect();
        for op in expected {
            let action = format!("rds:{op}");
            assert!(granted.contains(&action), "{name}: {action} is not granted");
        }
    }
}

/// The statement with `sid` in the template, to broaden it.
fn statement_mut<'a>(value: &'a mut Value, sid: &str) -> Option<&'a mut Value> {
    let is_it = value.get("Sid").and_then(Value::as_str) == Some(sid);
    if is_it {
        return Some(value);
    }
    match value {
        Value::Mapping(m) => m.iter_mut().find_map(|(_, v)| statement_mut(v, sid)),
        Value::Sequence(seq) => seq.iter_mut().find_map(|v| statement_mut(v, sid)),
        Value::Tagged(t) => statement_mut(&mut t.value, sid),
        _ => None,
    }
}

/// The checks above fail on a broadened template: each mutation here is a
/// way the issue's findings could come back.
#[test]
fn the_policy_checks_fail_on_a_broadened_statement() {
    type Broaden = fn(&mut Value);
    let cases: [(&str, &str, Broaden, &str); 41] = [
        (
            "databases of any workload",
            "StopStartWorkloadDatabases",
            |s| {
                s.as_mapping_mut().unwrap().remove("Condition");
            },
            "database mutation without StringEquals aws:ResourceTag",
        ),
        (
            "databases of any region",
            "StopStartWorkloadDatabases",
            |s| {
                s["Resource"][0] = Value::String("arn:${AWS::Partition}:rds:*:${AWS::AccountId}:db:*".into());
            },
            "not only on",
        ),
        (
            "any RDS mutation",
            "StopStartWorkloadDatabases",
            |s| {
                s["Action"]
                    .as_sequence_mut()
                    .unwrap()
                    .push(Value::String("rds:Modify*".into()));
            },
            "wildcard action rds:Modify*",
        ),
        (
            "any value of the tag key",
            "StartStopWorkloadInstances",
            |s| {
                let block = s["Condition"]["StringEquals"].clone();
                let m = s["Condition"].as_mapping_mut().unwrap();
                m.remove("StringEquals");
                m.insert("StringLike".into(), block);
            },
            "without StringEquals",
        ),
        (
            "any region",
            "StartStopWorkloadInstances",
            |s| {
                s["Resource"] = Value::String("arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:instance/*".into());
            },
            "not only on",
        ),
        (
            "any attribute",
            "ResizeWorkloadInstances",
            |s| {
                s["Condition"].as_mapping_mut().unwrap().remove("StringLike");
            },
            "ModifyInstanceAttribute must stand alone",
        ),
        (
            "EbsOptimized on",
            "TurnOffEbsOptimization",
            |s| {
                s["Condition"]["StringEquals"]["ec2:Attribute/EbsOptimized"] = Value::String("true".into());
            },
            "ModifyInstanceAttribute must stand alone",
        ),
        (
            "SendCommand to any instance",
            "SendCommandToWorkloadInstances",
            |s| {
                s.as_mapping_mut().unwrap().remove("Condition");
            },
            "without StringEquals ssm:resourceTag",
        ),
        (
            "any document",
            "SendOverrideCheckDocuments",
            |s| {
                s["Resource"] = Value::String("arn:${AWS::Partition}:ssm:${AWS::Region}::document/*".into());
            },
            "SendCommand on documents",
        ),
        (
            "AWS-RunShellScript without the opt-in",
            "SendOverrideCheckDocuments",
            |s| {
                let Value::Tagged(t) = &mut s["Resource"] else { panic!() };
                t.value[1] = t.value[2].clone();
            },
            "SendCommand on documents",
        ),
        (
            "an action no adapter calls",
            "ReadCommandResults",
            |s| {
                s["Action"]
                    .as_sequence_mut()
                    .unwrap()
                    .push(Value::String("ssm:ListCommands".into()));
            },
            "ssm:ListCommands is granted but no call needs it",
        ),
        (
            "grants for anything, not only AWS resources",
            "CreateGrantsForEc2OnEbsKeys",
            |s| {
                s["Condition"].as_mapping_mut().unwrap().remove("Bool");
            },
            "kms:CreateGrant must stand alone",
        ),
        (
            "grants through any service",
            "CreateGrantsForEc2OnEbsKeys",
            |s| {
                s["Condition"].as_mapping_mut().unwrap().remove("StringEquals");
            },
            "kms:CreateGrant must stand alone",
        ),
        (
            "grants on every key",
            "CreateGrantsForEc2OnEbsKeys",
            |s| {
                s["Resource"] = Value::String("*".into());
            },
            "not only on EbsKmsKeyArns",
        ),
        (
            "DescribeKey on every key",
            "DescribeEbsKeys",
            |s| {
                s["Resource"] = Value::String("arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*".into());
            },
            "not only on EbsKmsKeyArns",
        ),
        (
            "Auto Scaling groups of any workload",
            "ScaleWorkloadAutoScalingGroups",
            |s| {
                s.as_mapping_mut().unwrap().remove("Condition");
            },
            "Auto Scaling group mutation without StringEquals aws:ResourceTag",
        ),
        (
            "Auto Scaling groups of any region",
            "ScaleWorkloadAutoScalingGroups",
            |s| {
                s["Resource"] = Value::String(
                    "arn:${AWS::Partition}:autoscaling:*:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/*"
                        .into(),
                );
            },
            "Auto Scaling group mutation on",
        ),
        (
            "UpdateAutoScalingGroup with another action",
            "ScaleWorkloadAutoScalingGroups",
            |s| {
                s["Action"] = Value::Sequence(vec![
                    "autoscaling:UpdateAutoScalingGroup".into(),
                    "autoscaling:DeleteAutoScalingGroup".into(),
                ]);
            },
            "Auto Scaling group mutations must stand alone",
        ),
        (
            "suspending any group's processes",
            "SuspendWorkloadAutoScalingGroups",
            |s| {
                s.as_mapping_mut().unwrap().remove("Condition");
            },
            "Auto Scaling group mutation without StringEquals aws:ResourceTag",
        ),
        (
            "ECS services of any workload",
            "ScaleWorkloadEcsServices",
            |s| {
                s.as_mapping_mut().unwrap().remove("Condition");
            },
            "ECS service mutation without StringEquals aws:ResourceTag",
        ),
        (
            "ECS services of any account",
            "ScaleWorkloadEcsServices",
            |s| {
                s["Resource"] = Value::String("arn:${AWS::Partition}:ecs:${AWS::Region}:*:service/*".into());
            },
            "ECS service mutation on",
        ),
        (
            "any ECS mutation",
            "ScaleWorkloadEcsServices",
            |s| {
                s["Action"] = Value::String("ecs:Update*".into());
            },
            "wildcard action ecs:Update*",
        ),
        (
            "ECS services changed beyond their desired count",
            "ScaleWorkloadEcsServices",
            |s| {
                s["Condition"].as_mapping_mut().unwrap().remove("Null");
            },
            "ecs:UpdateService without Null ecs:task-definition",
        ),
        (
            "Auto Scaling groups changed beyond their capacity",
            "ScaleWorkloadAutoScalingGroups",
            |s| {
                s["Condition"].as_mapping_mut().unwrap().remove("Null");
            },
            "autoscaling:UpdateAutoScalingGroup without Null autoscaling:LaunchConfigurationName",
        ),
        (
            "Auto Scaling groups of any size",
            "ScaleWorkloadAutoScalingGroups",
            |s| {
                s["Condition"].as_mapping_mut().unwrap().remove("NumericLessThanEquals");
            },
            "without NumericLessThanEquals autoscaling:MaxSize",
        ),
        (
            "the capacity record tag on groups",
            "SuspendWorkloadAutoScalingGroups",
            |s| {
                s["Condition"]["ForAllValues:StringEquals"]["aws:TagKeys"] =
                    Value::from(vec!["ec2-tier-scheduler:suspended", "ec2-tier-scheduler:capacity"]);
            },
            "names the record tag ec2-tier-scheduler:capacity",
        ),
        (
            "DescribeServices on every service",
            "DescribeEcsServices",
            |s| {
                s["Resource"] = Value::String("*".into());
            },
            "ecs:DescribeServices read on",
        ),
        (
            "ECS lists in every region",
            "ListEcsServices",
            |s| {
                s.as_mapping_mut().unwrap().remove("Condition");
            },
            "without StringEquals aws:RequestedRegion",
        ),
        (
            "targets on any resource",
            "DrainAndRestoreTargets",
            |s| {
                s["Resource"] = Value::String("*".into());
            },
            "target registration on",
        ),
        (
            "target groups of any region and account",
            "DrainAndRestoreTargets",
            |s| {
                s["Resource"] = Value::from("arn:${AWS::Partition}:elasticloadbalancing:*:*:targetgroup/*/*");
            },
            "target registration on",
        ),
        (
            "targets of any target group",
            "DrainAndRestoreTargets",
            |s| {
                s.as_mapping_mut().unwrap().remove("Condition");
            },
            "target registration without StringEquals aws:ResourceTag",
        ),
        (
            "target registration with another action",
            "DrainAndRestoreTargets",
            |s| {
                s["Action"]
                    .as_sequence_mut()
                    .unwrap()
                    .push(Value::String("elasticloadbalancing:ModifyTargetGroup".into()));
            },
            "target registrations must stand alone",
        ),
        (
            "any load balancer mutation",
            "DrainAndRestoreTargets",
            |s| {
                s["Action"] = Value::String("elasticloadbalancing:*Targets".into());
            },
            "wildcard action elasticloadbalancing:*Targets",
        ),
        (
            "target group reads in every region",
            "ReadTargetGroups",
            |s| {
                s.as_mapping_mut().unwrap().remove("Condition");
            },
            "without StringEquals aws:RequestedRegion",
        ),
        (
            "alarm reads in every region",
            "ReadAlarms",
            |s| {
                s.as_mapping_mut().unwrap().remove("Condition");
            },
            "without StringEquals aws:RequestedRegion",
        ),
        (
            "alarm tag reads on every alarm",
            "ReadAlarmTags",
            |s| {
                s["Resource"] = Value::String("*".into());
            },
            "cloudwatch:ListTagsForResource read on",
        ),
        (
            "alarm actions of every alarm",
            "MuteWorkloadAlarms",
            |s| {
                s["Resource"] = Value::String("arn:*:cloudwatch:*:${aws:PrincipalAccount}:alarm:*".into());
            },
            "alarm mutation on",
        ),
        (
            "alarm actions in every region",
            "MuteWorkloadAlarms",
            |s| {
                s.as_mapping_mut().unwrap().remove("Condition");
            },
            "alarm mutation without StringEquals aws:RequestedRegion",
        ),
        (
            "alarm mutation with another action",
            "MuteWorkloadAlarms",
            |s| {
                s["Action"]
                    .as_sequence_mut()
                    .unwrap()
                    .push(Value::String("cloudwatch:DeleteAlarms".into()));
            },
            "alarm mutations must stand alone",
        ),
        (
            "the muted-alarm record tag",
            "MuteWorkloadAlarms",
            |s| {
                s["Action"] = Value::from(vec![
                    "cloudwatch:DisableAlarmActions",
                    "cloudwatch:EnableAlarmActions",
                    "cloudwatch:TagResource",
                ]);
            },
            "grants cloudwatch:TagResource",
        ),
        (
            "target group tags read in every region",
            "ReadTargetGroups",
            |s| {
                s.as_mapping_mut().unwrap().remove("Condition");
            },
            "without StringEquals aws:RequestedRegion",
        ),
    ];
    for name in ROLE_TEMPLATES {
        for (what, sid, broaden, expected) in cases {
            let mut broadened = template(name);
            broaden(statement_mut(&mut broadened, sid).unwrap_or_else(|| panic!("{name}: no {sid}")));
            let mut problems = scope_violations(&broadened);
            problems.extend(grant_violations(&broadened));
            problems.extend(kms_violations(&broadened));
            problems.extend(record_tag_violations(&broadened));
            problems.extend(capacity_change_violations(&broadened));
            problems.extend(read_scope_violations(&broadened));
            problems.extend(target_violations(&broadened));
            problems.extend(alarm_violations(&broadened));
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{name}: {what} ({sid}) went unnoticed: {problems:?}"
            );
        }
    }
}

/// The `Content` of the override-check document `id` of a template.
fn document<'a>(template: &'a Value, id: &str) -> &'a Value {
    let resource = &template["Resources"][id];
    assert_eq!(resource["Type"].as_str(), Some("AWS::SSM::Document"), "{id}");
    assert_eq!(resource["Condition"].as_str(), Some("UseStackDocuments"), "{id}");
    &resource["Properties"]["Content"]
}

#[test]
fn the_override_check_documents_take_only_the_allow_listed_path() {
    use ec2_tier_scheduler::override_check::{GuestOs, OverrideCheck, PATH_PARAMETER};
    let main = template("template.yaml");
    let member = template("member-account-role.yaml");
    let cases = [
        (
            "OverrideCheckLinuxDocument",
            GuestOs::Linux,
            "aws:runShellScript",
            "/var/run/my app/hold-1.flag",
        ),
        (
            "OverrideCheckWindowsDocument",
            GuestOs::Windows,
            "aws:runPowerShellScript",
            "C:\\Program Files (x86)\\hold.flag",
        ),
    ];
    for (id, os, action, path) in cases {
        // One definition in two templates.
        assert_eq!(
            main["Resources"][id], member["Resources"][id],
            "{id} differs between the templates"
        );
        let content = document(&main, id);
        let parameters = content["parameters"].as_mapping().unwrap();
        assert_eq!(parameters.len(), 1, "{id}: the path must be the only parameter");
        let parameter = &content["parameters"][PATH_PARAMETER];
        assert_eq!(parameter["type"].as_str(), Some("String"), "{id}");
        assert_eq!(parameter.get("default"), None, "{id}: no default path");
        assert_eq!(parameter["allowedPattern"].as_str(), Some(os.path_pattern()), "{id}");
        let steps = content["mainSteps"].as_sequence().unwrap();
        assert_eq!(steps.len(), 1, "{id}");
        assert_eq!(steps[0]["action"].as_str(), Some(action), "{id}");
        let commands = strings(&steps[0]["inputs"]["runCommand"]);
        assert_eq!(commands.len(), 1, "{id}");
        // With the path substituted as SSM does, the document runs exactly
        // the line the project generates (and quotes).
        let check = OverrideCheck::new(path, os).unwrap();
        assert_eq!(
            commands[0].replace(&format!("{{{{ {PATH_PARAMETER} }}}}"), path),
            check.command(),
            "{id}"
        );
    }
}

#[test]
fn the_function_runs_only_the_configured_documents() {
    use ec2_tier_scheduler::override_check::{ALLOW_RUN_SHELL_SCRIPT_VAR, LINUX_DOCUMENT_VAR, WINDOWS_DOCUMENT_VAR};
    let template = template("template.yaml");
    let env = &template["Resources"]["SchedulerFunction"]["Properties"]["Environment"]["Variables"];
    for (var, condition, value) in [
        (LINUX_DOCUMENT_VAR, "UseStackDocuments", "OverrideCheckLinuxDocument"),
        (
            WINDOWS_DOCUMENT_VAR,
            "UseStackDocuments",
            "OverrideCheckWindowsDocument",
        ),
    ] {
        let Value::Tagged(t) = &env[var] else {
            panic!("{var} is not an !If")
        };
        assert_eq!(t.tag, "!If", "{var}");
        assert_eq!(t.value[0].as_str(), Some(condition), "{var}");
        assert_eq!(ref_target(&t.value[1]), Some(value), "{var}");
        assert_eq!(ref_target(&t.value[2]), Some("AWS::NoValue"), "{var}");
    }
    let Value::Tagged(opt_in) = &env[ALLOW_RUN_SHELL_SCRIPT_VAR] else {
        panic!()
    };
    assert_eq!(opt_in.value[0].as_str(), Some("UseAwsRunShellScript"));
    assert_eq!(opt_in.value[1].as_str(), Some("true"));
    let mut uses = Vec::new();
    all_strings(&template["Conditions"]["UseStackDocuments"], &mut uses);
    assert!(uses.iter().any(|u| u == "OverrideCheckDocument"), "{uses:?}");
    assert_eq!(
        template["Parameters"]["OverrideCheckDocument"]["Default"].as_str(),
        Some("Stack"),
        "the opt-in must not be the default"
    );
}

#[test]
fn schedules_live_in_the_stack_group_the_scheduler_role_trusts() {
    let main = template("template.yaml");
    let resources = &main["Resources"];
    assert_eq!(
        resources["ScheduleGroup"]["Type"].as_str(),
        Some("AWS::Scheduler::ScheduleGroup")
    );
    let env = &resources["SchedulerFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(ref_target(&env["SCHEDULE_GROUP_NAME"]), Some("ScheduleGroup"));
    for (name, group) in [
        ("template.yaml", "ScheduleGroup"),
        ("workload-schedule.yaml", "ScheduleGroupName"),
    ] {
        let t = template(name);
        let mut schedules = 0;
        for (id, resource) in t["Resources"].as_mapping().unwrap() {
            if resource["Type"].as_str() == Some("AWS::Scheduler::Schedule") {
                assert_eq!(
                    ref_target(&resource["Properties"]["GroupName"]),
                    Some(group),
                    "{name} {id:?}"
                );
                schedules += 1;
            }
        }
        assert!(schedules >= 2, "{name}");
    }
    let mut create = Vec::new();
    for (_, statement) in policy_statements(&main) {
        if strings(&statement["Action"])
            .iter()
            .any(|a| a.starts_with("scheduler:"))
        {
            subs(&statement["Resource"], &mut create);
        }
    }
    assert_eq!(
        create,
        [
            "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${ScheduleGroup}/ec2ts-*",
            "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${ScheduleGroup}/ec2ts-rc-*",
            "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${ScheduleGroup}/ec2ts-mw-*"
        ]
    );
    let mut trust = Vec::new();
    statements(
        &resources["SchedulerRole"]["Properties"]["AssumeRolePolicyDocument"],
        &mut trust,
    );
    assert_eq!(trust.len(), 1);
    let condition = &trust[0]["Condition"];
    assert_eq!(
        ref_target(&condition["StringEquals"]["aws:SourceAccount"]),
        Some("AWS::AccountId")
    );
    let Value::Tagged(source) = &condition["ArnEquals"]["aws:SourceArn"] else {
        panic!("{condition:?}")
    };
    assert!(
        source.tag == "!GetAtt" && source.value.as_str() == Some("ScheduleGroup.Arn"),
        "{source:?}"
    );
}

#[test]
fn data_stores_are_protected() {
    let main = template("template.yaml");
    let resources = main["Resources"].as_mapping().unwrap();
    let of_type = |ty: &str| {
        resources
            .iter()
            .filter(move |(_, r)| r["Type"].as_str() == Some(ty))
            .map(|(id, r)| (id.as_str().unwrap().to_string(), r))
            .collect::<Vec<_>>()
    };
    let tables = of_type("AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 4);
    for (id, table) in tables {
        assert_eq!(
            table["Properties"]["DeletionProtectionEnabled"].as_bool(),
            Some(true),
            "{id}"
        );
    }
    // Every queue and topic has a resource policy denying requests without TLS.
    let tls_denied = |policy_type: &str, list: &str, id: &str| {
        of_type(policy_type).iter().any(|(_, p)| {
            let targets: Vec<Option<&str>> = p["Properties"][list]
                .as_sequence()
                .unwrap()
                .iter()
                .map(ref_target)
                .collect();
            let mut st = Vec::new();
            statements(&p["Properties"]["PolicyDocument"], &mut st);
            targets.contains(&Some(id))
                && st.iter().any(|s| {
                    s["Effect"].as_str() == Some("Deny")
                        && s["Principal"].as_str() == Some("*")
                        && s["Condition"]["Bool"]["aws:SecureTransport"].as_str() == Some("false")
                })
        })
    };
    for (id, _) in of_type("AWS::SQS::Queue") {
        assert!(
            tls_denied("AWS::SQS::QueuePolicy", "Queues", &id),
            "{id}: no TLS-only queue policy"
        );
    }
    for (id, _) in of_type("AWS::SNS::Topic") {
        assert!(
            tls_denied("AWS::SNS::TopicPolicy", "Topics", &id),
            "{id}: no TLS-only topic policy"
        );
    }
    // Service principals granted on the key and the topic are pinned to this
    // stack's alarms.
    for (id, statement) in policy_statements(&main) {
        if statement["Effect"].as_str() == Some("Allow") && statement["Principal"].get("Service").is_some() {
            let condition = &statement["Condition"];
            assert!(
                ref_target(&condition["StringEquals"]["aws:SourceAccount"]) == Some("AWS::AccountId")
                    && !condition["ArnLike"]["aws:SourceArn"].is_null(),
                "{id}: service grant without aws:SourceArn / aws:SourceAccount: {statement:?}"
            );
        }
    }
    let function = &main["Resources"]["SchedulerFunction"]["Properties"];
    let Value::Tagged(reserved) = &function["ReservedConcurrentExecutions"] else {
        panic!()
    };
    assert_eq!(ref_target(&reserved.value[1]), Some("ReservedConcurrency"));
    assert_eq!(ref_target(&function["Tracing"]), Some("XRayTracing"));
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
        if id.as_str() == Some("RdsEventForwardingRole") {
            // EventBridge's own role for the forwarding rule: trusted by the
            // events service only, and it may only put events on the
            // scheduler's bus.
            assert_eq!(trust.len(), 1);
            assert_eq!(trust[0]["Principal"]["Service"].as_str(), Some("events.amazonaws.com"));
            let mut actions = Vec::new();
            for (_, statement) in policy_statements(&template)
                .into_iter()
                .filter(|(r, _)| r == "RdsEventForwardingRole")
            {
                actions.extend(strings(&statement["Action"]));
            }
            assert_eq!(actions, ["events:PutEvents"]);
            continue;
        }
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

/// The `!Sub` string of a resource property, with every `${...}` replaced
/// by a plain word (enough to parse what it builds).
fn sub_text(value: &Value) -> String {
    let mut found = Vec::new();
    subs(value, &mut found);
    let mut text = found.into_iter().next().expect("a !Sub");
    while let Some(start) = text.find("${") {
        let end = start + text[start..].find('}').unwrap();
        let name = text[start + 2..end].replace(['.', ':'], "_");
        text.replace_range(start..=end, &name);
    }
    text
}

#[test]
fn the_run_ledger_indexes_are_the_ones_the_cli_queries() {
    use ec2_tier_scheduler::aws::{RUNS_BY_TIME_INDEX, RUNS_BY_WORKLOAD_INDEX};
    let t = template("template.yaml");
    let table = &t["Resources"]["RunLedgerTable"]["Properties"];
    let types: Vec<(String, String)> = table["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap().into(),
                a["AttributeType"].as_str().unwrap().into(),
            )
        })
        .collect();
    for (name, kind) in [("pk", "S"), ("workload", "S"), ("kind", "S"), ("startedAt", "N")] {
        assert!(
            types.contains(&(name.into(), kind.into())),
            "{name} {kind} in {types:?}"
        );
    }
    let indexes: Vec<(String, Vec<String>, String)> = table["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["IndexName"].as_str().unwrap().into(),
                i["KeySchema"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .map(|k| {
                        format!(
                            "{} {}",
                            k["AttributeName"].as_str().unwrap(),
                            k["KeyType"].as_str().unwrap()
                        )
                    })
                    .collect(),
                i["Projection"]["ProjectionType"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = |name: &str, hash: &str| {
        (
            name.to_string(),
            vec![format!("{hash} HASH"), "startedAt RANGE".into()],
            "ALL".to_string(),
        )
    };
    assert_eq!(
        indexes,
        [
            want(RUNS_BY_WORKLOAD_INDEX, "workload"),
            want(RUNS_BY_TIME_INDEX, "kind")
        ]
    );
}

#[test]
fn the_dashboard_and_the_alarm_read_the_metrics_runs_write() {
    use ec2_tier_scheduler::metrics::{
        DEFAULT_NAMESPACE, DIMENSIONS, DUPLICATE_METRIC, LATE_CONTINUATION_METRIC, MEMBER_DIMENSIONS, MEMBER_METRICS,
        METRICS, SAVINGS_METRIC,
    };
    let t = template("template.yaml");
    let names: Vec<&str> = METRICS
        .iter()
        .chain([&DUPLICATE_METRIC, &LATE_CONTINUATION_METRIC, &SAVINGS_METRIC])
        .map(|(n, _)| *n)
        .chain(MEMBER_METRICS)
        .collect();
    assert_eq!(
        t["Parameters"]["MetricsNamespace"]["Default"].as_str(),
        Some(DEFAULT_NAMESPACE)
    );
    let env = &t["Resources"]["SchedulerFunction"]["Properties"]["Environment"]["Variables"];
    assert_eq!(ref_target(&env["METRICS_NAMESPACE"]), Some("MetricsNamespace"));

    // The alarm: failed instances of any workload, the dimensionless metric.
    let alarm = &t["Resources"]["FailedInstancesAlarm"]["Properties"];
    assert_eq!(ref_target(&alarm["Namespace"]), Some("MetricsNamespace"));
    assert_eq!(alarm["MetricName"].as_str(), Some("InstancesFailed"));
    assert!(alarm.get("Dimensions").is_none(), "every workload: no dimensions");
    assert_eq!(alarm["Threshold"].as_i64(), Some(0));
    assert_eq!(alarm["ComparisonOperator"].as_str(), Some("GreaterThanThreshold"));
    assert!(alarm["AlarmName"]
        .as_str()
        .is_none_or(|n| n.starts_with("${AWS::StackName}-")));

    // The dashboard body is JSON once substituted; every metric it searches
    // for is one the runs write, under the Workload/Action dimensions.
    let body = sub_text(&t["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]);
    let dashboard: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}:\n{body}"));
    let widgets = dashboard["widgets"].as_array().unwrap();
    let mut searched = Vec::new();
    for w in widgets {
        for series in w["properties"]["metrics"].as_array().into_iter().flatten() {
            let expression = series[0]["expression"].as_str().unwrap();
            // Member metrics are per kind too (their own line per kind).
            // The saving is by Workload alone (a Start's amount).
            let dimensions = match MEMBER_METRICS.iter().any(|m| expression.contains(&format!("\"{m}\""))) {
                true => MEMBER_DIMENSIONS.join(","),
                false if expression.contains(&format!("\"{}\"", SAVINGS_METRIC.0)) => "Workload".to_string(),
                false => DIMENSIONS.join(","),
            };
            assert!(
                expression.contains(&format!("{{\"MetricsNamespace\",{dimensions}}}")),
                "{expression}"
            );
            // The quoted words: the namespace, then the metric names.
            searched.extend(
                expression
                    .split('"')
                    .skip(1)
                    .step_by(2)
                    .filter(|w| *w != "MetricsNamespace")
                    .map(str::to_string),
            );
        }
    }
    for name in &searched {
        assert!(
            names.contains(&name.as_str()),
            "the dashboard searches {name}, which no run writes"
        );
    }
    for name in names {
        assert!(
            searched.iter().any(|s| s == name),
            "{name} is written but not on the dashboard"
        );
    }
    let query = widgets
        .iter()
        .find_map(|w| w["properties"]["query"].as_str())
        .expect("a Logs Insights widget");
    assert!(query.starts_with("SOURCE 'FunctionLogGroup'") && query.contains("filter InstancesFailed > 0"));
    assert!(query.contains("runKey"), "{query}");
    let alarms = widgets
        .iter()
        .find_map(|w| w["properties"]["alarms"].as_array())
        .expect("an alarm widget");
    assert!(alarms.iter().any(|a| a == "FailedInstancesAlarm_Arn"), "{alarms:?}");
}
