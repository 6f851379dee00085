"""A simulated SSM agent for the moto emulator (test support, not product code).

moto records SendCommand but runs nothing and writes no output. This agent
polls ListCommands and, for each requested instance, writes the `stdout`
object to S3 where the real agent would:

    <prefix>/<commandId>/<instanceId>/awsrunShellScript/0.awsrunShellScript/stdout
    <prefix>/<commandId>/<instanceId>/awsrunPowerShellScript/0.awsrunPowerShellScript/stdout

for AWS-RunShellScript / AWS-RunPowerShellScript, and for a command document
of the stack (schema 2.2) under its step's name:

    <prefix>/<commandId>/<instanceId>/awsrunShellScript/<step name>/stdout

It reads the override path out of the command the scheduler sent (so a wrong
path or quoting shows up as a wrong answer): for the AWS documents the
`commands` parameter; for a stack document the step's runCommand, fetched with
GetDocument, with each `{{ name }}` replaced by the command's parameter the
way SSM does it. The resulting command line must be exactly the one the
project generates. It answers from a fixture:

    --file i-abc:/tmp/StopOverride   instance i-abc holds that file
    --silent i-abc                   never writes output
    --garbage i-abc                  writes output without a token
    --delay SECONDS                  waits before answering (a slow agent)
"""

import argparse
import json
import re
import sys
import time

import boto3

PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
LINUX = re.compile(r"^if \[ -e '([^']*)' \]; then echo EC2TS_OVERRIDE=PRESENT; else echo EC2TS_OVERRIDE=ABSENT; fi$")
WINDOWS = re.compile(r"^if \(Test-Path -LiteralPath '([^']*)'\) \{ Write-Output 'EC2TS_OVERRIDE=PRESENT' \} else \{ Write-Output 'EC2TS_OVERRIDE=ABSENT' \}$")


def stack_script(ssm, documents, command):
    """(script, windows, plugin directory, step name) of a stack document's
    command with its parameters substituted, or None if it is not one."""
    name = command["DocumentName"]
    if name not in documents:
        content = json.loads(ssm.get_document(Name=name, DocumentFormat="JSON")["Content"])
        documents[name] = content["mainSteps"][0]
    step = documents[name]
    windows = step["action"] == "aws:runPowerShellScript"
    params = command.get("Parameters") or {}
    script = PLACEHOLDER.sub(lambda m: (params.get(m.group(1)) or [""])[0], step["inputs"]["runCommand"][0])
    plugin = "awsrunPowerShellScript" if windows else "awsrunShellScript"
    return script, windows, plugin, step["name"]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--file", action="append", default=[])
    parser.add_argument("--silent", action="append", default=[])
    parser.add_argument("--garbage", action="append", default=[])
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    files = {}
    for spec in args.file:
        instance, path = spec.split(":", 1)
        files.setdefault(instance, set()).add(path)

    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=args.region)
    ssm = session.client("ssm", endpoint_url=args.endpoint)
    s3 = session.client("s3", endpoint_url=args.endpoint)
    first_seen = {}
    handled = set()
    documents = {}
    while True:
        try:
            commands = ssm.list_commands()["Commands"]
        except Exception as exc:  # the emulator is going away
            print(f"ssm_agent: {exc}", file=sys.stderr)
            return 0
        now = time.monotonic()
        for command in commands:
            command_id = command["CommandId"]
            first_seen.setdefault(command_id, now)
            if now - first_seen[command_id] < args.delay:
                continue
            if command["DocumentName"] in ("AWS-RunShellScript", "AWS-RunPowerShellScript"):
                script = command["Parameters"]["commands"][0]
                windows = command["DocumentName"] == "AWS-RunPowerShellScript"
                plugin = "awsrunPowerShellScript" if windows else "awsrunShellScript"
                step = f"0.{plugin}"
            else:
                script, windows, plugin, step = stack_script(ssm, documents, command)
            match = (WINDOWS if windows else LINUX).match(script)
            prefix = command.get("OutputS3KeyPrefix") or ""
            for instance in command["InstanceIds"]:
                if (command_id, instance) in handled or instance in args.silent:
                    continue
                handled.add((command_id, instance))
                if instance in args.garbage or match is None:
                    body = "agent: unexpected command\n"
                elif match.group(1) in files.get(instance, set()):
                    body = "EC2TS_OVERRIDE=PRESENT\n"
                else:
                    body = "EC2TS_OVERRIDE=ABSENT\n"
                key = "/".join(p for p in [prefix, command_id, instance, plugin, step, "stdout"] if p)
                s3.put_object(Bucket=command["OutputS3BucketName"], Key=key, Body=body.encode())
                if args.verbose:
                    print(f"ssm_agent: {instance} {body.strip()} -> s3://{command['OutputS3BucketName']}/{key}", file=sys.stderr)
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
