"""Prints every instance in the emulator with its tags and state."""

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
