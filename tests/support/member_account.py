"""Sets up and reads a member account on the moto launcher, for the
cross-account tests: the scheduler's role there (trusting the default
account with an ExternalId) and instances tagged like the tests' workload.
It enters the account through OrganizationAccountAccessRole, which the
launcher allows as AWS Organizations does.

  member_account.py --endpoint URL setup ACCOUNT ROLE EXTERNAL_ID COUNT
      -> {"role": ARN, "instances": [ids]}
  member_account.py --endpoint URL states ACCOUNT
      -> {id: state}
"""

import argparse
import json

import boto3

REGION = "us-west-2"
SCHEDULER_ACCOUNT = "123456789012"  # moto's default account


def session(endpoint, account):
    sts = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
        RoleSessionName="test-setup",
    )["Credentials"]
    return dict(
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    sub = parser.add_subparsers(dest="command", required=True)
    setup = sub.add_parser("setup")
    setup.add_argument("account")
    setup.add_argument("role")
    setup.add_argument("external_id")
    setup.add_argument("count", type=int)
    states = sub.add_parser("states")
    states.add_argument("account")
    args = parser.parse_args()
    kw = session(args.endpoint, args.account)
    ec2 = boto3.client("ec2", **kw)
    if args.command == "setup":
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{SCHEDULER_ACCOUNT}:root"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"sts:ExternalId": args.external_id}},
                }
            ],
        }
        role = boto3.client("iam", **kw).create_role(
            RoleName=args.role, AssumeRolePolicyDocument=json.dumps(trust)
        )["Role"]["Arn"]
        out = ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=args.count,
            MaxCount=args.count,
            InstanceType="t2.micro",
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [
                        {"Key": "Environment", "Value": "ENV001"},
                        {"Key": "Role", "Value": "Role_Web"},
                    ],
                }
            ],
        )
        print(json.dumps({"role": role, "instances": [i["InstanceId"] for i in out["Instances"]]}))
    else:
        found = {}
        for r in ec2.describe_instances()["Reservations"]:
            for i in r["Instances"]:
                found[i["InstanceId"]] = i["State"]["Name"]
        print(json.dumps(found))


if __name__ == "__main__":
    main()
