#!/usr/bin/env python3
"""Writes the bad-input corpora used by tests/it/events.rs.

  events/*.json    invocation payloads the Lambda handler must refuse
  configs/*.json   workload documents {"workload": ..., "tiers": [...]} with
                   one field wrong, which a run must refuse before discovery
  valid-config.json  the document every configs/ case is derived from

Each case has a sibling `.expect` file: every non-empty line of it must occur
in the error message. The checked-in files are what the tests read; rerun
this script (python3 tests/corpus/generate.py) after editing a case here.
"""

import copy
import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
W = "Corpus"


def write(directory, name, text, expect):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name + ".json"), "w", encoding="utf-8") as f:
        f.write(text)
    lines = [expect] if isinstance(expect, str) else expect
    with open(os.path.join(directory, name + ".expect"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def dump(value):
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- events

def events():
    d = os.path.join(HERE, "events")
    shutil.rmtree(d, ignore_errors=True)
    ok = {"workloadIdentifier": W, "action": "Stop"}

    def with_(**changes):
        v = dict(ok)
        for k, val in changes.items():
            if val is DROP:
                v.pop(k, None)
            else:
                v[k] = val
        return v

    cases = {
        # wrong types, field by field
        "workload_identifier_number": (with_(workloadIdentifier=7), "workloadIdentifier must be a string, found a number"),
        "workload_identifier_list": (with_(workloadIdentifier=[W]), "workloadIdentifier must be a string, found a list"),
        "workload_identifier_object": (with_(workloadIdentifier={"S": W}), "workloadIdentifier must be a string, found an object"),
        "workload_identifier_bool": (with_(workloadIdentifier=True), "workloadIdentifier must be a string, found a boolean"),
        "action_number": (with_(action=1), "action must be a string, found a number"),
        "action_list": (with_(action=["Stop"]), "action must be a string, found a list"),
        "action_bool": (with_(action=False), "action must be a string, found a boolean"),
        "scaling_profile_number": (with_(action="Start", scalingProfile=2), "scalingProfile must be a string, found a number"),
        "scaling_profile_object": (with_(action="Start", scalingProfile={"name": "p"}), "scalingProfile must be a string, found an object"),
        "dry_run_string": (with_(dryRun="true"), "dryRun must be true or false, found a string"),
        "dry_run_yes": (with_(dryRun="yes"), "dryRun must be true or false, found a string"),
        "dry_run_number": (with_(dryRun=1), "dryRun must be true or false, found a number"),
        "dry_run_list": (with_(dryRun=[True]), "dryRun must be true or false, found a list"),
        "dynamodb_region_number": (with_(dynamoDBRegion=2), "dynamoDBRegion must be a string, found a number"),
        "dynamodb_region_list": (with_(dynamoDBRegion=["us-west-2"]), "dynamoDBRegion must be a string, found a list"),
        "run_id_object": (with_(runId={"id": 1}), "runId must be a string, found an object"),
        "run_id_number": (with_(runId=12), "runId must be a string, found a number"),
        # bad values
        "action_unknown": (with_(action="Reboot"), 'action: "Reboot" is not "Stop" or "Start"'),
        "action_empty": (with_(action=""), 'action: "" is not "Stop" or "Start"'),
        "action_missing": (with_(action=DROP), "action is required"),
        "action_null": (with_(action=None), "action is required"),
        "action_huge": (with_(action="Stop" * 2_500), "action: "),
        "workload_missing": ({"action": "Stop"}, "workloadIdentifier is required"),
        "workload_null": (with_(workloadIdentifier=None), "workloadIdentifier is required"),
        "workload_empty": (with_(workloadIdentifier=""), "workloadIdentifier must not be empty"),
        "workload_blank": (with_(workloadIdentifier="   "), "workloadIdentifier must not be empty"),
        "workload_100kb": (with_(workloadIdentifier="W" * 100_000), "workloadIdentifier must be at most 255 characters"),
        "workload_256_chars": (with_(workloadIdentifier="W" * 256), "workloadIdentifier must be at most 255 characters"),
        "workload_control_char": (with_(workloadIdentifier="Cor\npus"), "workloadIdentifier must be at most 255 characters without control characters"),
        "workload_nul_char": (with_(workloadIdentifier="Corpus\u0000x"), "workloadIdentifier must be at most 255 characters without control characters"),
        "scaling_profile_too_long": (with_(action="Start", scalingProfile="p" * 129), "scalingProfile must be at most 128 characters"),
        "scaling_profile_control_char": (with_(action="Start", scalingProfile="a\tb"), "scalingProfile must be at most 128 characters without control characters"),
        "dynamodb_region_mars": (with_(dynamoDBRegion="mars"), 'dynamoDBRegion "mars" is not an AWS region name'),
        "dynamodb_region_upper": (with_(dynamoDBRegion="US-WEST-2"), 'dynamoDBRegion "US-WEST-2" is not an AWS region name'),
        "dynamodb_region_injection": (with_(dynamoDBRegion="us-west-2.evil.example/"), "dynamoDBRegion"),
        "run_id_too_long": (with_(runId="r" * 513), "runId must be at most 512 characters"),
        "run_id_control_char": (with_(runId="run\u001b[31m"), "runId must be at most 512 characters without control characters"),
        "unknown_field": (with_(workloadIdentifer=W), 'unknown field "workloadIdentifer"'),
        "unknown_field_case": ({"WorkloadIdentifier": W, "Action": "Stop"}, "unknown field"),
        "unknown_field_huge_name": (with_(**{"x" * 10_000: 1}), "unknown field"),
        "empty_object": ({}, "workloadIdentifier is required"),
        # not an object at all
        "array": ([ok], "the payload must be a JSON object, found a list"),
        "null": (None, "the payload must be a JSON object, found null"),
        "string": ("Stop", "the payload must be a JSON object, found a string"),
        "number": (42, "the payload must be a JSON object, found a number"),
        "bool": (True, "the payload must be a JSON object, found a boolean"),
        # EventBridge envelopes
        "envelope_bad_action": (
            envelope(with_(action="Reboot")),
            ['action: "Reboot"', "(in the EventBridge event's detail)"],
        ),
        "envelope_missing_workload": (
            envelope({"action": "Stop"}),
            ["workloadIdentifier is required", "(in the EventBridge event's detail)"],
        ),
        "envelope_detail_null": (
            envelope(None),
            ["the payload must be a JSON object, found null", "(in the EventBridge event's detail)"],
        ),
        "envelope_detail_string": (
            envelope(json.dumps(ok)),
            ["found a string", "(in the EventBridge event's detail)"],
        ),
        "envelope_detail_unknown_field": (
            envelope(with_(region="us-west-2")),
            ['unknown field "region"', "(in the EventBridge event's detail)"],
        ),
        "envelope_dry_run_string": (
            envelope(with_(dryRun="false")),
            ["dryRun must be true or false", "(in the EventBridge event's detail)"],
        ),
        "envelope_without_detail_type": (
            {"version": "0", "source": "aws.scheduler", "detail": ok},
            'unknown field "version"',
        ),
    }
    for name, (value, expect) in cases.items():
        write(d, name, dump(value), expect)

    raw = {
        "invalid_json_truncated": '{"workloadIdentifier": "Corpus", "action": "Stop",',
        "invalid_json_single_quotes": "{'workloadIdentifier': 'Corpus', 'action': 'Stop'}",
        "invalid_json_trailing_garbage": '{"workloadIdentifier": "Corpus", "action": "Stop"} x',
        "invalid_json_trailing_comma": '{"workloadIdentifier": "Corpus", "action": "Stop",}',
        "invalid_json_empty": "",
        "invalid_json_yaml": "workloadIdentifier: Corpus\naction: Stop\n",
    }
    for name, text in raw.items():
        write(d, name, text, "not valid JSON")


class _Drop:
    pass


DROP = _Drop()


def envelope(detail):
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "123456789012",
        "time": "2024-01-01T20:00:00Z",
        "region": "us-west-2",
        "resources": [],
        "detail": detail,
    }


# ---------------------------------------------------------------- configs

def tier(name, stop_seq, start_seq):
    return {
        "SpecName": W,
        "TierTagValue": name,
        "TierStart": {"TierSequence": str(start_seq), "TierSynchronization": "False", "InterTierOrchestrationDelay": "5"},
        "TierStop": {"TierSequence": str(stop_seq), "TierSynchronization": "False", "InterTierOrchestrationDelay": "5"},
        "TierScaling": {"default": "t3.small", "performant": "m5.large"},
    }


def base():
    web = tier("Role_Web", 0, 2)
    web["TierStop"]["TierStopOverrideFilename"] = "/tmp/StopOverride"
    web["TierStop"]["TierStopOverrideOperatingSystem"] = "Linux"
    db = tier("Role_DB", 2, 0)
    db["TierStart"]["TierReadiness"] = "StatusChecks"
    db["TierStart"]["TierReadinessTimeout"] = "300"
    db["TierStart"]["TierReadinessOnTimeout"] = "Abort"
    return {
        "workload": {
            "DisableAllSchedulingActions": "0",
            "WorkloadFilterTagName": "Environment",
            "WorkloadFilterTagValue": "ENV001",
            "WorkloadRegion": "us-west-2",
            "SpecName": W,
            "SNSTopicName": "SchedulerTesting",
            "SSMS3BucketName": "ssm-output",
            "SSMS3KeyPrefixName": "ssmRemoteComandResults",
            "TierFilterTagName": "Role",
            "VPC_ID": "vpc-1",
        },
        "tiers": [web, tier("Role_App", 1, 1), db],
    }


TIER = {"Role_Web": 0, "Role_App": 1, "Role_DB": 2}


def mutate(doc, path, value):
    """path: "workload.Key" or "Role_X.Section.Key" or "Role_X.Key"; DROP removes."""
    parts = path.split(".")
    if parts[0] == "workload":
        node = doc["workload"]
    else:
        node = doc["tiers"][TIER[parts[0]]]
    for p in parts[1:-1]:
        node = node[p]
    if value is DROP:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value


def configs():
    d = os.path.join(HERE, "configs")
    shutil.rmtree(d, ignore_errors=True)
    web = "TierSpecification[Role_Web]"
    app = "TierSpecification[Role_App]"
    dbt = "TierSpecification[Role_DB]"
    wl = "WorkloadSpecification"
    cases = {
        # TierSequence
        "tier_sequence_word": ("Role_Web.TierStop.TierSequence", "first", f'{web}.TierStop.TierSequence: "first" is not a number'),
        "tier_sequence_negative": ("Role_Web.TierStop.TierSequence", "-1", f'{web}.TierStop.TierSequence: "-1" is not a number'),
        "tier_sequence_negative_native": ("Role_App.TierStart.TierSequence", -1, f"{app}.TierStart.TierSequence: -1 is not a number"),
        "tier_sequence_fraction": ("Role_Web.TierStop.TierSequence", "1.5", f'{web}.TierStop.TierSequence: "1.5" is not a number'),
        "tier_sequence_native_fraction": ("Role_Web.TierStop.TierSequence", 1.5, f"{web}.TierStop.TierSequence: 1.5 is not a number"),
        "tier_sequence_too_large": ("Role_DB.TierStop.TierSequence", "99999999999", f"{dbt}.TierStop.TierSequence: 99999999999 is larger than the maximum"),
        "tier_sequence_missing": ("Role_App.TierStart.TierSequence", DROP, f"{app}.TierStart.TierSequence: is required"),
        "tier_sequence_map": ("Role_Web.TierStop.TierSequence", {"N": "0"}, f"{web}.TierStop.TierSequence: expected a number stored as a string, found a map"),
        "tier_sequence_list": ("Role_Web.TierStop.TierSequence", ["0"], f"{web}.TierStop.TierSequence: expected a number stored as a string, found a list"),
        "tier_sequence_bool": ("Role_Web.TierStop.TierSequence", True, f"{web}.TierStop.TierSequence: expected a number stored as a string, found true"),
        # TierSynchronization
        "tier_sync_maybe": ("Role_Web.TierStop.TierSynchronization", "Maybe", f'{web}.TierStop.TierSynchronization: "Maybe" is not a boolean'),
        "tier_sync_number": ("Role_DB.TierStart.TierSynchronization", 2, f'{dbt}.TierStart.TierSynchronization: expected "True" or "False", found 2'),
        "ignore_stop_maybe": ("Role_Web.TierStop.IgnoreStop", "perhaps", f'{web}.TierStop.IgnoreStop: "perhaps" is not a boolean'),
        "tier_sync_map": ("Role_DB.TierStart.TierSynchronization", {"BOOL": True}, f'{dbt}.TierStart.TierSynchronization: expected "True" or "False", found a map'),
        # InterTierOrchestrationDelay
        "delay_word": ("Role_Web.TierStop.InterTierOrchestrationDelay", "ten", f'{web}.TierStop.InterTierOrchestrationDelay: "ten" is not a number'),
        "delay_negative": ("Role_Web.TierStop.InterTierOrchestrationDelay", "-5", f'{web}.TierStop.InterTierOrchestrationDelay: "-5" is not a number'),
        "delay_with_unit": ("Role_App.TierStart.InterTierOrchestrationDelay", "5s", f'{app}.TierStart.InterTierOrchestrationDelay: "5s" is not a number'),
        "delay_too_long": ("Role_App.TierStop.InterTierOrchestrationDelay", "86401", f"{app}.TierStop.InterTierOrchestrationDelay: 86401 is larger than the maximum 86400"),
        # override OS
        "override_os_unknown": ("Role_Web.TierStop.TierStopOverrideOperatingSystem", "Solaris", f'{web}.TierStop.TierStopOverrideOperatingSystem: "Solaris" is not "Linux" or "Windows"'),
        "override_os_number": ("Role_Web.TierStop.TierStopOverrideOperatingSystem", 7, f"{web}.TierStop.TierStopOverrideOperatingSystem: expected a string, found 7"),
        "override_filename_without_os": ("Role_Web.TierStop.TierStopOverrideOperatingSystem", DROP, f"{web}.TierStop.TierStopOverrideOperatingSystem: is required when TierStopOverrideFilename is set"),
        "override_os_without_filename": ("Role_Web.TierStop.TierStopOverrideFilename", DROP, f"{web}.TierStop.TierStopOverrideFilename: is required when TierStopOverrideOperatingSystem is set"),
        "override_filename_list": ("Role_Web.TierStop.TierStopOverrideFilename", ["/tmp/a"], f"{web}.TierStop.TierStopOverrideFilename: expected a string, found a list"),
        "override_in_tier_start": ("Role_App.TierStart.TierStopOverrideFilename", "/tmp/StopOverride", f"{app}.TierStart.TierStopOverrideFilename: is only valid in TierStop"),
        # hostile Linux paths
        "override_path_semicolon_rm": ("Role_Web.TierStop.TierStopOverrideFilename", "/tmp/x; rm -rf /", [f"{web}.TierStop.TierStopOverrideFilename", "character ';' is not allowed"]),
        "override_path_subshell": ("Role_Web.TierStop.TierStopOverrideFilename", "/tmp/$(reboot)", [f"{web}.TierStop.TierStopOverrideFilename", "character '$' is not allowed"]),
        "override_path_backticks": ("Role_Web.TierStop.TierStopOverrideFilename", "/tmp/`reboot`", [f"{web}.TierStop.TierStopOverrideFilename", "character '`' is not allowed"]),
        "override_path_single_quote": ("Role_Web.TierStop.TierStopOverrideFilename", "/tmp/x' ; reboot ; '", [f"{web}.TierStop.TierStopOverrideFilename", "is not allowed"]),
        "override_path_double_quote": ("Role_Web.TierStop.TierStopOverrideFilename", '/tmp/"x"', [f"{web}.TierStop.TierStopOverrideFilename", "is not allowed"]),
        "override_path_smart_quote": ("Role_Web.TierStop.TierStopOverrideFilename", "/tmp/\u2019x", [f"{web}.TierStop.TierStopOverrideFilename", "is not allowed"]),
        "override_path_newline": ("Role_Web.TierStop.TierStopOverrideFilename", "/tmp/x\nreboot", [f"{web}.TierStop.TierStopOverrideFilename", "control character"]),
        "override_path_pipe": ("Role_Web.TierStop.TierStopOverrideFilename", "/tmp/x|reboot", [f"{web}.TierStop.TierStopOverrideFilename", "character '|' is not allowed"]),
        "override_path_ampersand": ("Role_Web.TierStop.TierStopOverrideFilename", "/tmp/x && reboot", [f"{web}.TierStop.TierStopOverrideFilename", "character '&' is not allowed"]),
        "override_path_redirect": ("Role_Web.TierStop.TierStopOverrideFilename", "/tmp/x>/etc/passwd", [f"{web}.TierStop.TierStopOverrideFilename", "character '>' is not allowed"]),
        "override_path_variable": ("Role_Web.TierStop.TierStopOverrideFilename", "/tmp/${HOME}", [f"{web}.TierStop.TierStopOverrideFilename", "character '$' is not allowed"]),
        "override_path_glob": ("Role_Web.TierStop.TierStopOverrideFilename", "/tmp/*", [f"{web}.TierStop.TierStopOverrideFilename", "character '*' is not allowed"]),
        "override_path_relative": ("Role_Web.TierStop.TierStopOverrideFilename", "tmp/StopOverride", [f"{web}.TierStop.TierStopOverrideFilename", "must be an absolute path"]),
        "override_path_dotdot": ("Role_Web.TierStop.TierStopOverrideFilename", "/tmp/../etc/passwd", [f"{web}.TierStop.TierStopOverrideFilename", "'..' segments are not allowed"]),
        "override_path_too_long": ("Role_Web.TierStop.TierStopOverrideFilename", "/" + "a" * 1100, [f"{web}.TierStop.TierStopOverrideFilename", "longer than 1024 characters"]),
    }
    # hostile Windows paths (PowerShell)
    for name, path, expect in [
        ("override_windows_semicolon", "C:\\x; Remove-Item C:\\ -Recurse", "character ';' is not allowed"),
        ("override_windows_ampersand", "C:\\x & calc", "character '&' is not allowed"),
        ("override_windows_subexpression", "C:\\$(Stop-Computer)", "character '$' is not allowed"),
        ("override_windows_backtick", "C:\\a`nb", "character '`' is not allowed"),
        ("override_windows_single_quote", "C:\\it's", "is not allowed"),
        ("override_windows_smart_quote", "C:\\a\u2018b", "is not allowed"),
        ("override_windows_unc", "\\\\server\\share\\x", "drive letter"),
        ("override_windows_relative", "ignore.txt", "drive letter"),
        ("override_windows_linux_path", "/tmp/StopOverride", "character '/' is not allowed"),
        ("override_windows_colon", "C:\\a:b", "':' is only allowed after the drive letter"),
        ("override_windows_newline", "C:\\a\r\nRestart-Computer", "control character"),
    ]:
        cases[name] = (
            [("Role_Web.TierStop.TierStopOverrideFilename", path), ("Role_Web.TierStop.TierStopOverrideOperatingSystem", "Windows")],
            None,
            [f"{web}.TierStop.TierStopOverrideFilename", expect],
        )
    cases.update({
        "override_without_bucket": ("workload.SSMS3BucketName", DROP, f"{wl}.SSMS3BucketName: is required because a tier checks for an override file"),
        # workload item
        "cross_account_role_user": ("workload.CrossAccountRole", "arn:aws:iam::222233334444:user/x", f"{wl}.CrossAccountRole: "),
        "external_id_without_role": ("workload.CrossAccountRoleExternalId", "s3cret", f"{wl}.CrossAccountRoleExternalId: has no effect without CrossAccountRole"),
        "scale_delay_negative": ("workload.ScaleInstanceDelay", "-4", f'{wl}.ScaleInstanceDelay: "-4" is not a number of seconds'),
        "workload_region_mars": ("workload.WorkloadRegion", "mars", f'{wl}.WorkloadRegion: "mars" is not an AWS region name'),
        "workload_region_number": ("workload.WorkloadRegion", 5, f"{wl}.WorkloadRegion: expected a string, found 5"),
        "workload_filter_tag_missing": ("workload.WorkloadFilterTagName", DROP, f"{wl}.WorkloadFilterTagName: is required"),
        "workload_filter_value_map": ("workload.WorkloadFilterTagValue", {"S": "ENV001"}, f"{wl}.WorkloadFilterTagValue: expected a string, found a map"),
        "tier_filter_tag_missing": ("workload.TierFilterTagName", DROP, f"{wl}.TierFilterTagName: is required"),
        "tier_filter_tag_same_as_workload": ("workload.TierFilterTagName", "Environment", f"{wl}.TierFilterTagName: must differ from WorkloadFilterTagName"),
        "vpc_id_bad": ("workload.VPC_ID", "vpc xyz", f'{wl}.VPC_ID: "vpc xyz" is not a VPC id'),
        "sns_topic_bad": ("workload.SNSTopicName", "my topic!", f'{wl}.SNSTopicName: "my topic!" is not an SNS topic name or ARN'),
        "event_bus_bad": ("workload.EventBusName", "ops bus", f'{wl}.EventBusName: "ops bus" is not an event bus name'),
        "event_bus_arn_bad": ("workload.EventBusName", "arn:aws:events:us-west-2:1234:event-bus/ops", f'{wl}.EventBusName: "arn:aws:events:us-west-2:1234:event-bus/ops" is not an event bus name'),
        "chat_topic_bad": ("workload.ChatTopicName", "chat.fifo", f'{wl}.ChatTopicName: "chat.fifo" is not a standard SNS topic name'),
        "bucket_bad": ("workload.SSMS3BucketName", "a", f'{wl}.SSMS3BucketName: "a" is not an S3 bucket name'),
        "bucket_list": ("workload.SSMS3BucketName", ["ssm-output"], f"{wl}.SSMS3BucketName: expected a string, found a list"),
        # wrong container types
        "tier_start_list": ("Role_Web.TierStart", ["2"], f"{web}.TierStart: expected a map, found a list"),
        "tier_stop_string": ("Role_App.TierStop", "1", f'{app}.TierStop: expected a map, found "1"'),
        "tier_start_empty_map": ("Role_DB.TierStart", {}, f"{dbt}.TierStart.TierSequence: is required"),
        "tier_scaling_list": ("Role_Web.TierScaling", ["t3.small"], f"{web}.TierScaling: expected a map, found a list"),
        "tier_scaling_string": ("Role_Web.TierScaling", "m5.large", f'{web}.TierScaling: expected a map, found "m5.large"'),
        # scaling types
        "scaling_type_word": ("Role_Web.TierScaling.performant", "huge", f'{web}.TierScaling.performant: "huge" is not an instance type'),
        "scaling_type_uppercase": ("Role_Web.TierScaling.performant", "M5.LARGE", f'{web}.TierScaling.performant: "M5.LARGE" is not an instance type'),
        "scaling_type_no_size": ("Role_App.TierScaling.default", "m5", f'{app}.TierScaling.default: "m5" is not an instance type'),
        "scaling_type_number": ("Role_Web.TierScaling.performant", 5, f"{web}.TierScaling.performant: expected an instance type string or a map {{InstanceType, FleetSubset}}, found 5"),
        "scaling_type_list": ("Role_Web.TierScaling.performant", ["m5.large"], f"{web}.TierScaling.performant: expected an instance type string or a map {{InstanceType, FleetSubset}}, found a list"),
        "fleet_subset_word": ("Role_Web.TierScaling.performant", {"InstanceType": "m5.large", "FleetSubset": "half"}, f'{web}.TierScaling.performant.FleetSubset: "half" is not a count or a whole percentage'),
        "scaling_map_unknown_key": ("Role_Web.TierScaling.performant", {"InstanceType": "m5.large", "Fleet": "1"}, f"{web}.TierScaling.performant.Fleet: unknown key"),
        "scaling_type_injection": ("Role_Web.TierScaling.performant", "m5.large; reboot", f'{web}.TierScaling.performant: "m5.large; reboot" is not an instance type'),
        "scaling_empty_profile": ("Role_Web.TierScaling. ", "m5.large", f"{web}.TierScaling: profile names must not be empty"),
        # unknown keys
        "unknown_key_in_stop": ("Role_Web.TierStop.TierSequnce", "0", f"{web}.TierStop.TierSequnce: unknown key"),
        "unknown_key_in_start": ("Role_DB.TierStart.Delay", "5", f"{dbt}.TierStart.Delay: unknown key"),
        "unknown_key_lowercase": ("Role_App.TierStop.tiersequence", "1", f"{app}.TierStop.tiersequence: unknown key"),
        # readiness
        "readiness_unknown": ("Role_DB.TierStart.TierReadiness", "Healthy", f'{dbt}.TierStart.TierReadiness: "Healthy" is not one of "State", "StatusChecks", "SsmOnline"'),
        "readiness_number": ("Role_DB.TierStart.TierReadiness", 1, f"{dbt}.TierStart.TierReadiness: expected a string, found 1"),
        "readiness_timeout_word": ("Role_DB.TierStart.TierReadinessTimeout", "soon", f'{dbt}.TierStart.TierReadinessTimeout: "soon" is not a number'),
        "readiness_timeout_zero": ("Role_DB.TierStart.TierReadinessTimeout", "0", f"{dbt}.TierStart.TierReadinessTimeout: must be at least 1 second"),
        "readiness_timeout_negative": ("Role_DB.TierStart.TierReadinessTimeout", "-30", f'{dbt}.TierStart.TierReadinessTimeout: "-30" is not a number'),
        "readiness_timeout_too_long": ("Role_DB.TierStart.TierReadinessTimeout", "86401", f"{dbt}.TierStart.TierReadinessTimeout: 86401 is larger than the maximum 86400"),
        "readiness_on_timeout_bad": ("Role_DB.TierStart.TierReadinessOnTimeout", "Retry", f'{dbt}.TierStart.TierReadinessOnTimeout: "Retry" is not "Continue" or "Abort"'),
        "readiness_on_timeout_bool": ("Role_DB.TierStart.TierReadinessOnTimeout", True, f"{dbt}.TierStart.TierReadinessOnTimeout: expected a string, found true"),
        "readiness_timeout_without_readiness": ("Role_App.TierStart.TierReadinessTimeout", "60", f"{app}.TierStart.TierReadinessTimeout: has no effect without TierReadiness"),
        "readiness_on_timeout_without_readiness": ("Role_App.TierStop.TierReadinessOnTimeout", "Abort", f"{app}.TierStop.TierReadinessOnTimeout: has no effect without TierReadiness"),
        "readiness_ssm_online_without_ssm": ("Role_App.TierStart.TierReadiness", "SsmOnline", f'{app}.TierStart.TierReadiness: "SsmOnline" needs SSM-managed instances'),
        # tier item identity
        "tier_spec_name_mismatch": ("Role_App.SpecName", "Other", f'{app}.SpecName: "Other" does not match the workload "Corpus"'),
        "tier_tag_value_missing": ("Role_App.TierTagValue", DROP, "TierSpecification[?].TierTagValue: is required"),
        "tier_tag_value_number": ("Role_App.TierTagValue", 3, "TierSpecification[?].TierTagValue: expected a string, found 3"),
        "tier_tag_value_too_long": ("Role_App.TierTagValue", "R" * 300, ".TierTagValue: is longer than the 256 characters EC2 allows"),
    })
    for name, (path, value, expect) in cases.items():
        doc = base()
        changes = path if isinstance(path, list) else [(path, value)]
        for p, v in changes:
            mutate(doc, p, v)
        write(d, name, dump(doc), expect)

    # whole-document shapes
    doc = base()
    doc["tiers"].append(copy.deepcopy(doc["tiers"][0]))
    write(d, "duplicate_tier", dump(doc), f'{web}.TierTagValue: tier "Role_Web" is defined twice')
    doc = base()
    doc["tiers"] = []
    write(d, "no_tiers", dump(doc), 'TierSpecification: no tier items found for SpecName "Corpus"')
    doc = base()
    doc["tiers"][1] = "Role_App"
    write(d, "tier_item_string", dump(doc), 'TierSpecification[?]: expected a map, found "Role_App"')
    doc = base()
    doc["tiers"][1] = None
    write(d, "tier_item_null", dump(doc), "TierSpecification[?]: expected a map, found null")

    # an empty or null TierSequence must not drop the whole section
    k = os.path.join(HERE, "configs")
    for name, value in [("tier_sequence_empty", ""), ("tier_sequence_blank", "  "), ("tier_sequence_null", None)]:
        doc = base()
        mutate(doc, "Role_Web.TierStop.TierSequence", value)
        write(k, name, dump(doc), f"{web}.TierStop.TierSequence")

    with open(os.path.join(HERE, "valid-config.json"), "w", encoding="utf-8") as f:
        f.write(dump(base()))


events()
configs()
