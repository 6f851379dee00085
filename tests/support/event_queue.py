#!/usr/bin/env python3
"""An EventBridge rule on a bus that sends the scheduler's events to an SQS
queue, against a moto server, and the queue read back (the tests and `make
demo` have no SQS client of their own).

  event_queue.py --endpoint URL --region R setup --bus BUS --queue Q
      creates the bus (unless it is `default` or exists), the queue, and a
      rule on the bus matching source ec2-tier-scheduler (or `--pattern
      JSON`) that targets the queue
  event_queue.py --endpoint URL --region R read --queue Q
      prints the events the queue holds (each message body, parsed), as a
      JSON list, and deletes them
"""

import argparse
import json

import boto3

PATTERN = {"source": ["ec2-tier-scheduler"]}


def clients(args):
    kw = dict(
        endpoint_url=args.endpoint,
        region_name=args.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return boto3.client("events", **kw), boto3.client("sqs", **kw)


def setup(args):
    events, sqs = clients(args)
    buses = [b["Name"] for b in events.list_event_buses()["EventBuses"]]
    if args.bus not in buses:
        events.create_event_bus(Name=args.bus)
    url = sqs.create_queue(QueueName=args.queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name=f"{args.queue}-rule",
        EventBusName=args.bus,
        EventPattern=args.pattern or json.dumps(PATTERN),
        State="ENABLED",
    )
    events.put_targets(
        Rule=f"{args.queue}-rule",
        EventBusName=args.bus,
        Targets=[{"Id": "queue", "Arn": arn}],
    )
    print(json.dumps({"queueUrl": url, "queueArn": arn}))


def read(args):
    _, sqs = clients(args)
    url = sqs.get_queue_url(QueueName=args.queue)["QueueUrl"]
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = got.get("Messages", [])
        if not messages:
            break
        for m in messages:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--region", default="us-west-2")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--bus", required=True)
    s.add_argument("--queue", required=True)
    s.add_argument("--pattern", help="the rule's EventPattern (JSON)")
    r = sub.add_parser("read")
    r.add_argument("--queue", required=True)
    args = p.parse_args()
    {"setup": setup, "read": read}[args.command](args)


if __name__ == "__main__":
    main()
