"""Prints every instance, RDS database and DB cluster, Auto Scaling group, ECS service, target
group and alarm in the emulator with its state."""

import os

import boto3

ec2 = boto3.client("ec2", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-west-2")
rows = []
for reservation in ec2.describe_instances()["Reservations"]:
    for i in reservation["Instances"]:
        tags = {t["Key"]: t["Value"] for t in i.get("Tags", [])}
        rows.append((tags.get("Name", ""), i["InstanceId"], i["InstanceType"], i["VpcId"], i["State"]["Name"]))
for row in sorted(rows):
    print(f"  {row[0]:<20} {row[1]:<21} {row[2]:<10} {row[3]:<22} {row[4]}")

rds = boto3.client("rds", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-west-2")
for db in rds.describe_db_instances()["DBInstances"]:
    tags = {t["Key"]: t["Value"] for t in db.get("TagList", [])}
    print(f"  {'rds:' + db['DBInstanceIdentifier']:<20} {tags.get('Environment', ''):<21} {db['DBInstanceClass']:<10} {'':<22} {db['DBInstanceStatus']}")
for c in rds.describe_db_clusters()["DBClusters"]:
    tags = {t["Key"]: t["Value"] for t in c.get("TagList", [])}
    prefix = {"neptune": "neptune:", "docdb": "docdb:"}.get(c["Engine"], "aurora:")
    print(f"  {prefix + c['DBClusterIdentifier']:<20} {tags.get('Environment', ''):<21} {c['Engine']:<10} {'':<22} {c['Status']}")

autoscaling = boto3.client("autoscaling", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-west-2")
for g in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]:
    record = {t["Key"]: t["Value"] for t in g.get("Tags", [])}.get("ec2-tier-scheduler:capacity", "-")
    capacity = f"min {g['MinSize']}, desired {g['DesiredCapacity']}, max {g['MaxSize']}"
    print(f"  {'asg:' + g['AutoScalingGroupName']:<20} {'record ' + record:<21} {capacity}")

ecs = boto3.client("ecs", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-west-2")
for cluster in ecs.list_clusters()["clusterArns"]:
    arns = ecs.list_services(cluster=cluster)["serviceArns"]
    for s in ecs.describe_services(cluster=cluster, services=arns, include=["TAGS"])["services"] if arns else []:
        record = {t["key"]: t["value"] for t in s.get("tags", [])}.get("ec2-tier-scheduler:capacity", "-")
        name = "ecs:" + cluster.split("/")[-1] + "/" + s["serviceName"]
        print(f"  {name:<20} {'record ' + record:<21} desired {s['desiredCount']}, {s['runningCount']} running")

elbv2 = boto3.client("elbv2", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-west-2")
for g in elbv2.describe_target_groups()["TargetGroups"]:
    health = elbv2.describe_target_health(TargetGroupArn=g["TargetGroupArn"])["TargetHealthDescriptions"]
    targets = ", ".join(sorted(f"{t['Target']['Id']}:{t['Target']['Port']}" for t in health)) or "(none)"
    print(f"  {'tg:' + g['TargetGroupName']:<20} {targets}")

cloudwatch = boto3.client("cloudwatch", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-west-2")
for a in cloudwatch.describe_alarms()["MetricAlarms"]:
    tags = {t["Key"] for t in cloudwatch.list_tags_for_resource(ResourceARN=a["AlarmArn"])["Tags"]}
    muted = " (muted by the scheduler)" if "ec2-tier-scheduler:muted" in tags else ""
    state = "actions on" if a["ActionsEnabled"] else "actions off"
    print(f"  {'alarm:' + a['AlarmName']:<40} {state}{muted}")
