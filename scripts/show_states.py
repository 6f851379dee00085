"""Prints every instance and RDS database in the emulator with its state."""

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
