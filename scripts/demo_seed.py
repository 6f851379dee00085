"""Seeds the moto emulator for `make demo`: the two configuration tables, the
WorkloadState table, the run ledger table, the SSM output bucket, the SNS
topic, a VPC, and the spec's example workload (Role_Web / Role_App / Role_DB,
two instances each, tagged Environment=ENV001 and Role=<tier>), plus two
instances that must stay untouched: one of another workload and one outside the
workload's VPC.

It also creates the stack's two override-check SSM documents from
infra/template.yaml (as CloudFormation would), which the function is told to
use through OVERRIDE_CHECK_DOCUMENT_LINUX / _WINDOWS, and the stack's example
Stop/Start schedules in a schedule group (.moto/schedule-group) for
`orchestrator status`.

And an SSM maintenance window two days on (`at(...)`, so the emulator's
launcher gives it a NextExecutionTime), named in the workload's
MaintenanceWindows: its window Start and Stop show in `orchestrator status`.

Writes .moto/workload.json (examples/workload.json with the real VPC id) for
the CLI's `config import`, .moto/override-instance: the Web instance that
holds the override file, and .moto/override-document-linux / -windows: the
documents' names.
"""

import json
import os
import sys

import boto3
import yaml

REGION = "us-west-2"
endpoint = os.environ["AWS_ENDPOINT_URL"]
session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
ddb = session.client("dynamodb", endpoint_url=endpoint)
ec2 = session.client("ec2", endpoint_url=endpoint)
s3 = session.client("s3", endpoint_url=endpoint)
sns = session.client("sns", endpoint_url=endpoint)
ssm = session.client("ssm", endpoint_url=endpoint)


class TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation's short-form tags (!Sub, !Ref, ...) as plain values."""


def _intrinsic(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


TemplateLoader.add_multi_constructor("!", _intrinsic)

document = json.load(open(sys.argv[1]))
workload = document["workload"]

ddb.create_table(
    TableName=os.environ.get("WORKLOAD_SPEC_TABLE", "WorkloadSpecification"),
    KeySchema=[{"AttributeName": "SpecName", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "SpecName", "AttributeType": "S"}],
    BillingMode="PAY_PER_REQUEST",
)
ddb.create_table(
    TableName=os.environ.get("TIER_SPEC_TABLE", "TierSpecification"),
    KeySchema=[{"AttributeName": "SpecName", "KeyType": "HASH"}, {"AttributeName": "TierTagValue", "KeyType": "RANGE"}],
    AttributeDefinitions=[
        {"AttributeName": "SpecName", "AttributeType": "S"},
        {"AttributeName": "TierTagValue", "AttributeType": "S"},
    ],
    BillingMode="PAY_PER_REQUEST",
)
ddb.create_table(
    TableName=os.environ.get("WORKLOAD_STATE_TABLE", "WorkloadState"),
    KeySchema=[{"AttributeName": "Workload", "KeyType": "HASH"}],
    AttributeDefinitions=[{"AttributeName": "Workload", "AttributeType": "S"}],
    BillingMode="PAY_PER_REQUEST",
)
# The run ledger exactly as infra/template.yaml defines it, indexes included.
ledger = yaml.load(open("infra/template.yaml"), Loader=TemplateLoader)["Resources"]["RunLedgerTable"]["Properties"]
ddb.create_table(
    TableName=os.environ.get("RUN_LEDGER_TABLE", "SchedulerRunLedger"),
    KeySchema=ledger["KeySchema"],
    AttributeDefinitions=ledger["AttributeDefinitions"],
    GlobalSecondaryIndexes=ledger["GlobalSecondaryIndexes"],
    BillingMode="PAY_PER_REQUEST",
)
s3.create_bucket(Bucket=workload["SSMS3BucketName"], CreateBucketConfiguration={"LocationConstraint": REGION})
sns.create_topic(Name=workload["SNSTopicName"])
if workload.get("ChatTopicName"):
    sns.create_topic(Name=workload["ChatTopicName"])
if workload.get("EventBusName"):
    # The workload's event bus with a rule sending the scheduler's events to
    # a queue, which `make demo` reads after the Stop (scripts/show_events.py).
    import subprocess

    subprocess.run(
        [sys.executable, "tests/support/event_queue.py", "--endpoint", endpoint, "--region", REGION,
         "setup", "--bus", workload["EventBusName"], "--queue", "demo-run-events"],
        check=True, stdout=subprocess.DEVNULL,
    )

template = yaml.load(open("infra/template.yaml"), Loader=TemplateLoader)
prefix = template["Parameters"]["OverrideCheckDocumentPrefix"]["Default"]
os.makedirs(".moto", exist_ok=True)
for resource, system in [("OverrideCheckLinuxDocument", "linux"), ("OverrideCheckWindowsDocument", "windows")]:
    properties = template["Resources"][resource]["Properties"]
    name = properties["Name"].replace("${OverrideCheckDocumentPrefix}", prefix)
    ssm.create_document(
        Name=name, Content=json.dumps(properties["Content"]), DocumentType="Command", DocumentFormat="JSON"
    )
    open(f".moto/override-document-{system}", "w").write(name)

vpc = ec2.create_vpc(CidrBlock="10.10.0.0/16")["Vpc"]["VpcId"]
subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.10.1.0/24")["Subnet"]["SubnetId"]
other_vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
other_subnet = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]


def launch(env, role, subnet_id, name):
    tags = [{"Key": "Environment", "Value": env}, {"Key": "Role", "Value": role}, {"Key": "Name", "Value": name}]
    reservation = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        InstanceType="t2.micro",
        SubnetId=subnet_id,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    return reservation["Instances"][0]["InstanceId"]


ids = {}
for role in ["Role_Web", "Role_App", "Role_DB"]:
    for n in (1, 2):
        ids[f"{role}-{n}"] = launch(workload["WorkloadFilterTagValue"], role, subnet, f"{role.lower()}-{n}")
launch("ENV002", "Role_Web", subnet, "other-workload-web")
launch(workload["WorkloadFilterTagValue"], "Role_Web", other_subnet, "outside-vpc-web")

# The DB tier also holds an RDS database (TierResourceTypes "EC2,RDS"): it
# stops after the instances of the tiers before it and is available before
# the App tier starts. Another workload's database stays as it is.
rds = session.client("rds", endpoint_url=endpoint)
rds.create_db_subnet_group(
    DBSubnetGroupName="demo-db", DBSubnetGroupDescription="demo", SubnetIds=[subnet]
)


def database(identifier, env):
    rds.create_db_instance(
        DBInstanceIdentifier=identifier,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="demo",
        MasterUserPassword="demo-password",
        AllocatedStorage=20,
        DBSubnetGroupName="demo-db",
        Tags=[{"Key": "Environment", "Value": env}, {"Key": "Role", "Value": "Role_DB"}],
    )


database("orders-db", workload["WorkloadFilterTagValue"])
database("other-workload-db", "ENV002")

# ... and a Neptune cluster (TierResourceTypes "EC2,RDS,Neptune"): stopped and
# started through the RDS API in the same turn, confirmed `available` too.
rds.create_db_cluster(
    DBClusterIdentifier="graph-db",
    Engine="neptune",
    DBSubnetGroupName="demo-db",
    Tags=[{"Key": "Environment", "Value": workload["WorkloadFilterTagValue"]}, {"Key": "Role", "Value": "Role_DB"}],
)

# The Web tier also scales an Auto Scaling group to zero (TierAutoScalingGroups
# "ScaleToZero": its capacity recorded on it, restored at Start) and the App
# tier holds an ECS service (TierResourceTypes "EC2,ECS": its desired count
# recorded, set to 0, restored). Both are in the workload's VPC through their
# subnets.
autoscaling = session.client("autoscaling", endpoint_url=endpoint)
autoscaling.create_launch_configuration(
    LaunchConfigurationName="web-lc", ImageId="ami-12c6146b", InstanceType="t2.micro"
)
autoscaling.create_auto_scaling_group(
    AutoScalingGroupName="web-asg",
    LaunchConfigurationName="web-lc",
    MinSize=1,
    DesiredCapacity=2,
    MaxSize=4,
    VPCZoneIdentifier=subnet,
    Tags=[
        {"Key": k, "Value": v, "PropagateAtLaunch": False, "ResourceId": "web-asg", "ResourceType": "auto-scaling-group"}
        for k, v in (("Environment", workload["WorkloadFilterTagValue"]), ("Role", "Role_Web"))
    ],
)
# The Web tier drains its target group before it stops (TierLoadBalancing
# "Drain"): its registrations are recorded in the run ledger and put back at
# Start. The group carries the workload tag: a drain takes part only in such
# groups (and IAM allows registrations only there).
elbv2 = session.client("elbv2", endpoint_url=endpoint)
web_group = elbv2.create_target_group(
    Name="web-http", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance",
    Tags=[{"Key": "Environment", "Value": workload["WorkloadFilterTagValue"]}],
)["TargetGroups"][0]["TargetGroupArn"]
elbv2.register_targets(
    TargetGroupArn=web_group,
    Targets=[{"Id": ids["Role_Web-1"], "Port": 80}, {"Id": ids["Role_Web-2"], "Port": 80}],
)

# Alarms kept quiet while the workload is stopped (AlarmPrefixes), and one an
# operator disabled, which the scheduler never turns back on.
cloudwatch = session.client("cloudwatch", endpoint_url=endpoint)
for name in ("BotoTestCase1-web-5xx", "BotoTestCase1-db-cpu-paused"):
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[f"arn:aws:sns:{REGION}:123456789012:SchedulerTesting"],
    )
cloudwatch.disable_alarm_actions(AlarmNames=["BotoTestCase1-db-cpu-paused"])

api_group = ec2.create_security_group(GroupName="api", Description="demo api", VpcId=vpc)["GroupId"]
ecs = session.client("ecs", endpoint_url=endpoint)
ecs.create_cluster(clusterName="demo")
ecs.register_task_definition(
    family="api", networkMode="awsvpc", containerDefinitions=[{"name": "api", "image": "nginx", "memory": 128}]
)
ecs.create_service(
    cluster="demo",
    serviceName="api",
    taskDefinition="api",
    desiredCount=3,
    networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [api_group]}},
    tags=[
        {"key": "Environment", "value": workload["WorkloadFilterTagValue"]},
        {"key": "Role", "value": "Role_App"},
    ],
)

# The stack's example schedules (infra/template.yaml's defaults) in a schedule
# group, so `orchestrator status` can say when the workload runs next.
scheduler = session.client("scheduler", endpoint_url=endpoint)
parameters = template["Parameters"]
group = "ec2ts-demo"
scheduler.create_schedule_group(Name=group)
for action in ("Stop", "Start"):
    scheduler.create_schedule(
        Name=f"{workload['SpecName']}-{action.lower()}",
        GroupName=group,
        ScheduleExpression=f"cron({parameters[action + 'Cron']['Default']})",
        ScheduleExpressionTimezone=parameters["TimeZone"]["Default"],
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": f"arn:aws:lambda:{REGION}:123456789012:function:ec2-tier-scheduler",
            "RoleArn": f"arn:aws:iam::123456789012:role/ec2ts-scheduler-{REGION}",
            "Input": json.dumps(
                {
                    "workloadIdentifier": workload["SpecName"],
                    "action": action,
                    "dynamoDBRegion": REGION,
                    "scheduleArn": "<aws.scheduler.schedule-arn>",
                    "scheduledTime": "<aws.scheduler.scheduled-time>",
                }
            ),
        },
    )
open(".moto/schedule-group", "w").write(group)

# A maintenance window two days on, for patching: the function's runs make
# its window Start and Stop schedules; `orchestrator status` lists them.
import datetime  # noqa: E402

execution = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0) + datetime.timedelta(days=2)
window = ssm.create_maintenance_window(
    Name="demo-patching",
    Schedule=f"at({execution.strftime('%Y-%m-%dT%H:%M:%S')})",
    Duration=2,
    Cutoff=1,
    AllowUnassociatedTargets=False,
)["WindowId"]
workload["MaintenanceWindows"] = window

workload["VPC_ID"] = vpc
json.dump(document, open(".moto/workload.json", "w"), indent=2)
# The first Web instance holds the override file.
web = sorted([ids["Role_Web-1"], ids["Role_Web-2"]])[0]
open(".moto/override-instance", "w").write(web)
print(f"seeded: VPC {vpc}, instances {', '.join(sorted(ids.values()))}; {web} holds /tmp/StopOverride")
