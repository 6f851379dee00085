"""Starts moto server with the few AWS behaviours this project needs and
moto 5.2.5 lacks, so the adapters' real paths run against the emulator:

- EC2 ModifyInstanceCreditSpecification is missing, and
  DescribeInstanceCreditSpecifications always answers "standard": both are
  backed here by a per-instance attribute.
- STS AssumeRole succeeds for any ARN. Real STS refuses a role that does not
  exist or whose trust policy's sts:ExternalId condition does not match; so
  does this launcher. `OrganizationAccountAccessRole` (which AWS
  Organizations creates in every member account) is assumable without a
  check, so tests can set up a member account.
- SSM SendCommand records any document name and any parameters. Real SSM
  refuses a document that does not exist (InvalidDocument) and parameters the
  document does not declare or whose value does not match the parameter's
  allowedPattern (InvalidParameters); so does this launcher for documents
  created with CreateDocument. The AWS-owned AWS-* documents are not modelled
  by moto and pass unchecked.
- EC2 StartInstances always starts. Real EC2 accepts the start of an
  instance whose EBS volume is encrypted with a KMS key it may not use
  (disabled, pending deletion, gone, or a key policy that denies the
  kms:CreateGrant EC2 makes for the caller), and the instance goes pending,
  then back to stopped with StateReason Client.InternalError; so does this
  launcher.
- /moto-api/data.json (where tests and the demo read the SNS messages)
  fails whole with a 500 once an RDS database exists: one of its model's
  properties raises an exception the endpoint does not expect. Here an
  attribute that cannot be read is left out, as the endpoint already does
  for attributes that are not JSON.
- DynamoDB requests run concurrently in moto's threads, and a cancelled
  TransactWriteItems restores the tables as they were when it began: a
  transaction that commits in between (another run's claim) is silently
  undone. Real DynamoDB serialises transactions with the writes and reads
  they conflict with; here every DynamoDB backend call takes one lock.
- CloudWatch: the Rust SDK speaks Smithy RPC v2 CBOR to it, moto 5.2.5 only
  the query protocol. A CBOR request (`smithy-protocol: rpc-v2-cbor`) is
  translated here with botocore's own model of the API: its parameters
  serialised as the query request moto understands, moto's XML answer parsed
  back and sent as CBOR (errors as `__type` and `message`).
- RDS CreateDBCluster refuses `Engine='docdb'` (moto knows Neptune, not
  DocumentDB): here `docdb` is one more cluster engine (default version
  5.0.0, port 27017), so DocumentDB clusters are created, described with
  their tags, stopped and started as RDS does them.
- EKS CreateNodegroup names an Auto Scaling group in the node group's
  `resources.autoScalingGroups` but moto creates none, and
  UpdateNodegroupConfig takes any scaling configuration. Real EKS runs the
  node group's nodes in that group and refuses a maxSize below 1 and a
  minSize or desiredSize out of order; so does this launcher: the group is
  created (a launch configuration of the node group's first instance type,
  in its subnets) and follows every scaling configuration.
- SSM maintenance windows have no NextExecutionTime (moto computes none),
  DescribeMaintenanceWindowExecutions is missing, and so is
  DescribeInstanceInformation. Here a window scheduled `at(...)` in the
  future has that time as its NextExecutionTime (in its ScheduleTimezone,
  answered in UTC as SSM does, `2030-03-24T03:00Z`); a cron or rate window
  still has none. A window has no executions (moto runs none), and the
  agent of every running EC2 instance is online (PingStatus Online), as for
  an instance with the SSM agent and its instance profile.

Usage: python moto_launcher.py [moto_server arguments]
"""

import functools
import json
import re
import sys
import threading

from moto.core.exceptions import ServiceException
from moto.dynamodb.models import DynamoDBBackend
from moto.ec2.models.instances import Instance, StateReason
from moto.moto_api._internal.responses import MotoAPIResponse
from moto.ec2.responses.instances import InstanceResponse
from moto.iam.models import iam_backends
from moto.ssm.exceptions import InvalidDocument
from moto.ssm.models import SimpleSystemManagerBackend
from moto.core.responses import ActionResult
from moto.sts.models import STSBackend

BOOTSTRAP_ROLE = "OrganizationAccountAccessRole"


def _credits(instance):
    return getattr(instance, "ec2ts_cpu_credits", "standard")


def describe_instance_credit_specifications(self):
    ids = self._get_param("InstanceIds", [])
    instances = self.ec2_backend.describe_instance_credit_specifications(ids)
    return ActionResult(
        {
            "InstanceCreditSpecifications": [
                {"InstanceId": i.id, "CpuCredits": _credits(i)} for i in instances
            ]
        }
    )


def modify_instance_credit_specification(self):
    specs = self._get_param("InstanceCreditSpecifications", [])
    ok, failed = [], []
    for spec in specs:
        instance_id = spec.get("InstanceId")
        credits = spec.get("CpuCredits")
        try:
            instance = self.ec2_backend.get_instance(instance_id)
        except Exception:  # moto raises its own InvalidInstanceID.NotFound
            failed.append(
                {
                    "InstanceId": instance_id,
                    "Error": {
                        "Code": "InvalidInstanceID.NotFound",
                        "Message": f"The instance ID '{instance_id}' does not exist",
                    },
                }
            )
            continue
        if credits not in ("standard", "unlimited"):
            failed.append(
                {
                    "InstanceId": instance_id,
                    "Error": {"Code": "InvalidParameterValue", "Message": f"CpuCredits {credits}"},
                }
            )
            continue
        instance.ec2ts_cpu_credits = credits
        ok.append({"InstanceId": instance_id})
    return ActionResult(
        {
            "SuccessfulInstanceCreditSpecifications": ok,
            "UnsuccessfulInstanceCreditSpecifications": failed,
        }
    )


InstanceResponse.describe_instance_credit_specifications = describe_instance_credit_specifications
InstanceResponse.modify_instance_credit_specification = modify_instance_credit_specification


class AccessDenied(ServiceException):
    code = "AccessDenied"


_assume_role = STSBackend.assume_role


def _external_ids(policy_text):
    """The sts:ExternalId values a trust policy requires (empty: none)."""
    try:
        policy = json.loads(policy_text) if isinstance(policy_text, str) else policy_text
    except ValueError:
        return []
    statements = policy.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    required = []
    for st in statements:
        for values in st.get("Condition", {}).get("StringEquals", {}).items():
            key, value = values
            if key.lower() == "sts:externalid":
                required.extend(value if isinstance(value, list) else [value])
    return required


def assume_role(self, region_name, role_session_name, role_arn, policy, duration, external_id):
    parts = role_arn.split(":")
    account, name = (parts[4], parts[5].split("/")[-1]) if len(parts) >= 6 else ("", "")
    if name != BOOTSTRAP_ROLE:
        denied = AccessDenied(
            f"User is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
        )
        roles = [
            r
            for backend in iam_backends[account].values()
            for r in backend.roles.values()
            if r.arn == role_arn
        ] if account in iam_backends else []
        if not roles:
            raise denied
        required = _external_ids(roles[0].assume_role_policy_document)
        if required and external_id not in required:
            raise denied
    return _assume_role(
        self, region_name, role_session_name, role_arn, policy, duration, external_id
    )


STSBackend.assume_role = assume_role


class InvalidParameters(ServiceException):
    code = "InvalidParameters"


_send_command = SimpleSystemManagerBackend.send_command


def send_command(self, **kwargs):
    name = kwargs.get("document_name") or ""
    if not name.startswith("AWS-"):
        documents = self._documents.get(name)
        if documents is None:
            raise InvalidDocument("Document with that name does not exist.")
        declared = documents.get_default_version().content_json.get("parameters") or {}
        given = kwargs.get("parameters") or {}
        for key, values in given.items():
            spec = declared.get(key)
            if spec is None:
                raise InvalidParameters(f"Parameter {key} is not declared by document {name}.")
            pattern = spec.get("allowedPattern")
            for value in values if isinstance(values, list) else [values]:
                # SSM matches the whole value (Java's Pattern.matches).
                if pattern is not None and re.fullmatch(pattern, value) is None:
                    raise InvalidParameters(
                        f"Parameter \"{key}\" \"{value}\" failed to satisfy constraint: "
                        f"Member must satisfy regular expression pattern: {pattern}"
                    )
        for key, spec in declared.items():
            if key not in given and "default" not in spec:
                raise InvalidParameters(f"Parameter {key} is required by document {name}.")
    return _send_command(self, **kwargs)


SimpleSystemManagerBackend.send_command = send_command


# --- SSM ListCommandInvocations -------------------------------------------
# moto 5.2.5 answers ListCommandInvocations with HTTP 500. The scheduler polls
# override checks with it (one call per command per round), so it is built
# here from the commands moto stores and what the simulated agent
# (ssm_agent.py) wrote: an invocation whose `stdout` object exists in the
# output bucket is Success with that output inline (up to 2,500 characters,
# as SSM); one without is InProgress.

from moto.ssm.responses import SimpleSystemManagerResponse  # noqa: E402

INLINE_LIMIT = 2500
TRUNCATED = "\n---Output truncated---"


def _stdout(account_id, command, instance_id):
    from moto.s3.models import s3_backends

    bucket_name = command.output_s3_bucket_name
    if not bucket_name:
        return None
    prefix = f"{command.output_s3_key_prefix.strip('/')}/" if command.output_s3_key_prefix else ""
    prefix += f"{command.command_id}/{instance_id}/"
    try:
        bucket = s3_backends[account_id]["aws"].buckets[bucket_name]
    except KeyError:
        return None
    for name, key in list(bucket.keys.items()):
        if name.startswith(prefix) and name.endswith("/stdout"):
            return key.value.decode("utf-8", "replace")
    return None


def list_command_invocations(self):
    command_id = self._get_param("CommandId")
    instance_filter = self._get_param("InstanceId")
    details = self._get_param("Details", False)
    max_results = int(self._get_param("MaxResults", 50))
    start = int(self._get_param("NextToken") or 0)
    backend = self.ssm_backend
    commands = [backend.get_command_by_id(command_id)] if command_id else list(backend._commands)
    invocations = []
    for command in commands:
        for invocation in command.invocations:
            instance_id = invocation["InstanceId"]
            if instance_filter and instance_id != instance_filter:
                continue
            out = _stdout(self.current_account, command, instance_id)
            status = "Success" if out is not None else "InProgress"
            entry = {
                "CommandId": command.command_id,
                "InstanceId": instance_id,
                "DocumentName": command.document_name,
                "RequestedDateTime": command.requested_date_time,
                "Status": status,
                "StatusDetails": status,
            }
            if details:
                inline = out or ""
                if len(inline) > INLINE_LIMIT:
                    inline = inline[: INLINE_LIMIT - len(TRUNCATED)] + TRUNCATED
                entry["CommandPlugins"] = [
                    {
                        "Name": invocation.get("PluginName", "aws:runShellScript"),
                        "Status": status,
                        "StatusDetails": status,
                        "ResponseCode": 0 if out is not None else -1,
                        "Output": inline,
                        "OutputS3BucketName": command.output_s3_bucket_name or "",
                        "OutputS3KeyPrefix": command.output_s3_key_prefix or "",
                    }
                ]
            invocations.append(entry)
    page = invocations[start : start + max_results]
    result = {"CommandInvocations": page}
    if start + max_results < len(invocations):
        result["NextToken"] = str(start + max_results)
    return ActionResult(result)


SimpleSystemManagerResponse.list_command_invocations = list_command_invocations

# moto resolves an empty Targets list to every instance of the region, so a
# command sent to 50 instances has an invocation on all of them. SSM targets
# exactly the InstanceIds given when there are no Targets.
from moto.ssm.models import Command  # noqa: E402

_targets = Command._get_instance_ids_from_targets


def _instance_ids_from_targets(self):
    return _targets(self) if self.targets else []


Command._get_instance_ids_from_targets = _instance_ids_from_targets

def _denies_grants(policy_text):
    try:
        statements = json.loads(policy_text or "{}").get("Statement", [])
    except ValueError:
        return False
    if isinstance(statements, dict):
        statements = [statements]
    for statement in statements:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") == "Deny" and any(a in ("kms:CreateGrant", "kms:*", "*") for a in actions):
            return True
    return False


def _unusable_key(instance):
    from moto.kms.models import kms_backends

    kms = kms_backends[instance.ec2_backend.account_id][instance.region_name]
    for mapping in instance.block_device_mapping.values():
        key_id = instance.ec2_backend.get_volume(mapping.volume_id).kms_key_id
        if not key_id:
            continue
        try:
            key = kms.describe_key(key_id)
        except Exception:  # noqa: BLE001 - a key KMS does not know
            return key_id
        if key.key_state != "Enabled" or _denies_grants(key.policy):
            return key_id
    return None


_instance_start = Instance.start


def _start(self):
    previous = _instance_start(self)
    if _unusable_key(self):
        self._state.name = "stopped"
        self._state.code = 80
        self.state_reason = StateReason("Client.InternalError: Client error on launch", "Client.InternalError")
    return previous


Instance.start = _start

def _readable(instance, attr):
    try:
        value = getattr(instance, attr)
        json.dumps(value)
    except Exception:  # noqa: BLE001 - any attribute moto cannot show is skipped
        return False, None
    return True, value


def _model_data(self, request, full_url, headers):
    from moto.core.model_instances import model_data

    results = {}
    for service in sorted(model_data):
        results[service] = {}
        for name in sorted(model_data[service]):
            rows = results[service][name] = []
            for instance in model_data[service][name].instances_tracked:
                row = {}
                for attr in (a for a in dir(instance) if not a.startswith("_")):
                    ok, value = _readable(instance, attr)
                    if ok:
                        row[attr] = value
                rows.append(row)
    return 200, {"Content-Type": "application/javascript"}, json.dumps(results)


MotoAPIResponse.model_data = _model_data

_dynamodb_lock = threading.RLock()


def _serialised(method):
    @functools.wraps(method)
    def call(*args, **kwargs):
        with _dynamodb_lock:
            return method(*args, **kwargs)

    return call


for _name, _method in list(vars(DynamoDBBackend).items()):
    if callable(_method) and not _name.startswith("_"):
        setattr(DynamoDBBackend, _name, _serialised(_method))

_CBOR_PATH = re.compile(r"^/service/GraniteServiceVersion20100801/operation/(\w+)$")


def _cloudwatch_operation(name):
    import botocore.session

    return botocore.session.get_session().get_service_model("cloudwatch").operation_model(name)


def _cbor_to_query(environ, operation):
    """The CBOR request in `environ` as the query request moto serves."""
    import io
    import urllib.parse

    import cbor2
    from botocore.serialize import create_serializer

    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    params = cbor2.loads(raw) if raw else {}
    request = create_serializer("query").serialize_to_request(params, operation)
    body = urllib.parse.urlencode(request["body"]).encode()
    query = dict(environ)
    for key in ("HTTP_SMITHY_PROTOCOL", "HTTP_ACCEPT", "HTTP_CONTENT_ENCODING"):
        query.pop(key, None)
    query.update(
        PATH_INFO="/",
        RAW_URI="/",
        REQUEST_URI="/",
        QUERY_STRING="",
        REQUEST_METHOD="POST",
        CONTENT_TYPE="application/x-www-form-urlencoded",
        CONTENT_LENGTH=str(len(body)),
        **{"wsgi.input": io.BytesIO(body)},
    )
    return query


def _query_to_cbor(status, headers, body, operation):
    """moto's XML answer as the CBOR answer the SDK expects."""
    import cbor2
    from botocore.parsers import create_parser

    code = int(status.split()[0])
    response = {"status_code": code, "headers": dict(headers), "body": body}
    if code >= 300:
        parsed = create_parser("query").parse(response, None)
        error = parsed.get("Error", {})
        out = {"__type": error.get("Code", "InternalFailure"), "message": error.get("Message", "")}
    else:
        out = create_parser("query").parse(response, operation.output_shape) if operation.output_shape else {}
        out.pop("ResponseMetadata", None)
    return code, cbor2.dumps(out, datetime_as_timestamp=True)


def _dispatch(original):
    @functools.wraps(original)
    def call(self, environ, start_response):
        match = _CBOR_PATH.match(environ.get("PATH_INFO", ""))
        if environ.get("HTTP_SMITHY_PROTOCOL") != "rpc-v2-cbor" or not match:
            return original(self, environ, start_response)
        operation = _cloudwatch_operation(match.group(1))
        answer = {}

        def capture(status, headers, exc_info=None):
            answer.update(status=status, headers=headers)

        body = b"".join(original(self, _cbor_to_query(environ, operation), capture))
        code, payload = _query_to_cbor(answer["status"], answer["headers"], body, operation)
        start_response(
            f"{code} {'OK' if code < 300 else 'Error'}",
            [
                ("Content-Type", "application/cbor"),
                ("smithy-protocol", "rpc-v2-cbor"),
                ("Content-Length", str(len(payload))),
            ],
        )
        return [payload]

    return call


from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: E402

DomainDispatcherApplication.__call__ = _dispatch(DomainDispatcherApplication.__call__)

# --- RDS DocumentDB clusters ----------------------------------------------
from moto.rds.models import DBCluster  # noqa: E402
from moto.rds.utils import ClusterEngine  # noqa: E402

_cluster_engines = ClusterEngine.list_cluster_engines
ClusterEngine.list_cluster_engines = staticmethod(lambda: sorted(_cluster_engines() + ["docdb"]))


def _with_docdb(original, docdb):
    return staticmethod(lambda engine, *rest, **kw: docdb if engine == "docdb" else original(engine, *rest, **kw))


DBCluster.default_engine_version = _with_docdb(DBCluster.default_engine_version, "5.0.0")
DBCluster.default_port = _with_docdb(DBCluster.default_port, 27017)
DBCluster.default_allocated_storage = _with_docdb(DBCluster.default_allocated_storage, 1)

# --- EKS node groups and their Auto Scaling groups ------------------------
from moto.autoscaling.models import autoscaling_backends  # noqa: E402
from moto.eks.exceptions import InvalidParameterException as EksInvalidParameter  # noqa: E402
from moto.eks.models import EKSBackend  # noqa: E402


def _node_group_sizes(nodegroup, change):
    config = {**nodegroup.scaling_config, **(change or {})}
    low, desired, high = (int(config.get(k, 0)) for k in ("minSize", "desiredSize", "maxSize"))
    if high < 1 or not (0 <= low <= desired <= high):
        raise EksInvalidParameter(
            clusterName=nodegroup.cluster_name,
            nodegroupName=nodegroup.nodegroup_name,
            fargateProfileName=None,
            addonName=None,
            message="Invalid scaling config: maxSize must be 1 or more and minSize <= desiredSize <= maxSize",
        )
    return low, desired, high


def _node_group_asg(backend, nodegroup):
    return autoscaling_backends[backend.account_id][backend.region_name], nodegroup.resources["autoScalingGroups"][0]["name"]


_create_nodegroup = EKSBackend.create_nodegroup


def create_nodegroup(self, *args, **kwargs):
    nodegroup = _create_nodegroup(self, *args, **kwargs)
    low, desired, high = _node_group_sizes(nodegroup, None)
    asg, name = _node_group_asg(self, nodegroup)
    asg.create_launch_configuration(
        name=f"{name}-lc", image_id="ami-12c6146b", key_name=None, kernel_id=None,
        ramdisk_id=None, security_groups=[], user_data=None,
        instance_type=nodegroup.instance_types[0], instance_monitoring=False,
        instance_profile_name=None, spot_price=None, ebs_optimized=False,
        associate_public_ip_address=False, block_device_mappings=[],
    )
    asg.create_auto_scaling_group(
        name=name, availability_zones=[], desired_capacity=desired, max_size=high,
        min_size=low, launch_config_name=f"{name}-lc", launch_template={},
        vpc_zone_identifier=",".join(nodegroup.subnets), default_cooldown=None,
        health_check_period=None, health_check_type=None, load_balancers=[],
        target_group_arns=[], placement_group=None, termination_policies=[], tags=[],
    )
    return nodegroup


EKSBackend.create_nodegroup = create_nodegroup

_update_nodegroup_config = EKSBackend.update_nodegroup_config


def update_nodegroup_config(self, cluster_name, nodegroup_name, *args, **kwargs):
    scaling = kwargs.get("scaling_config")
    sizes = None
    if scaling:
        sizes = _node_group_sizes(self.describe_nodegroup(cluster_name, nodegroup_name), scaling)
    update = _update_nodegroup_config(self, cluster_name, nodegroup_name, *args, **kwargs)
    if sizes:
        low, desired, high = sizes
        asg, name = _node_group_asg(self, self.describe_nodegroup(cluster_name, nodegroup_name))
        asg.update_auto_scaling_group(
            name=name, availability_zones=[], desired_capacity=desired, max_size=high,
            min_size=low, launch_config_name=None, launch_template={},
            vpc_zone_identifier=None, health_check_period=None, health_check_type=None,
        )
    return update


EKSBackend.update_nodegroup_config = update_nodegroup_config

import datetime  # noqa: E402
import zoneinfo  # noqa: E402

from moto.ssm.models import FakeMaintenanceWindow  # noqa: E402

_window_json = FakeMaintenanceWindow.to_json


def _next_execution(window):
    found = re.fullmatch(r"at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)", window.schedule or "")
    if not found:
        return None
    zone = zoneinfo.ZoneInfo(window.schedule_timezone or "UTC")
    at = datetime.datetime.fromisoformat(found.group(1)).replace(tzinfo=zone)
    if at <= datetime.datetime.now(datetime.timezone.utc):
        return None
    return at.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def window_to_json(self):
    out = _window_json(self)
    at = _next_execution(self)
    if at:
        out["NextExecutionTime"] = at
    return out


FakeMaintenanceWindow.to_json = window_to_json


def describe_maintenance_window_executions(self):
    self.ssm_backend.get_maintenance_window(self._get_param("WindowId"))
    return ActionResult({"WindowExecutions": []})


SimpleSystemManagerResponse.describe_maintenance_window_executions = describe_maintenance_window_executions


def describe_instance_information(self):
    from moto.ec2.models import ec2_backends

    wanted = set()
    for f in self._get_param("Filters", []) or []:
        if f.get("Key") == "InstanceIds":
            wanted.update(f.get("Values", []))
    backend = ec2_backends[self.current_account][self.region]
    listed = []
    for reservation in backend.reservations.values():
        for instance in reservation.instances:
            if (wanted and instance.id not in wanted) or instance.state != "running":
                continue
            listed.append({"InstanceId": instance.id, "PingStatus": "Online", "ResourceType": "EC2Instance"})
    return ActionResult({"InstanceInformationList": listed})


SimpleSystemManagerResponse.describe_instance_information = describe_instance_information

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
