#!/usr/bin/env bash
# `make demo`: the Lambda function, run locally by cargo-lambda against the
# moto emulator, stops the spec's three-tier workload and starts it again;
# then the CLI shows the workload's status (with its maintenance window's
# window Start and Stop), the run history and the Stop run's timeline
# (.moto/stop-timeline.svg).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PORT=${MOTO_PORT:-5055}
LAMBDA_PORT=${LAMBDA_PORT:-9055}
export PATH="$PWD/$VENV/bin:$PATH"
export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-west-2 AWS_DEFAULT_REGION=us-west-2
export AWS_EC2_METADATA_DISABLED=true
mkdir -p .moto
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== starting moto on 127.0.0.1:$PORT"
# The launcher adds what moto lacks (tests/support/moto_launcher.py).
python tests/support/moto_launcher.py -H 127.0.0.1 -p "$PORT" > .moto/moto.log 2>&1 & pids+=($!)
for _ in $(seq 100); do curl -sf "$AWS_ENDPOINT_URL/moto-api/" > /dev/null && break; sleep 0.1; done

echo "== seeding the emulator (tables, bucket, topic, instances, the stack's override-check documents)"
python scripts/demo_seed.py examples/workload.json
cargo build --quiet --bin orchestrator
./target/debug/orchestrator config import .moto/workload.json --dynamoDBRegion us-west-2

echo "== starting the simulated SSM agent ($(cat .moto/override-instance) holds /tmp/StopOverride)"
python tests/support/ssm_agent.py --endpoint "$AWS_ENDPOINT_URL" --region us-west-2 \
  --file "$(cat .moto/override-instance):/tmp/StopOverride" --verbose & pids+=($!)

echo "== starting the function under cargo lambda watch"
cargo lambda watch -A 127.0.0.1 -P "$LAMBDA_PORT" --ignore-changes --quiet \
  --env-var "AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL,AWS_ACCESS_KEY_ID=testing,AWS_SECRET_ACCESS_KEY=testing,AWS_REGION=us-west-2,AWS_EC2_METADATA_DISABLED=true,RUN_LEDGER_TABLE=SchedulerRunLedger,CONTINUATION_ROLE_ARN=arn:aws:iam::123456789012:role/ec2ts-scheduler-us-west-2,SCHEDULE_GROUP_NAME=$(cat .moto/schedule-group),WORKLOAD_STATE_TABLE=WorkloadState,OVERRIDE_CHECK_DOCUMENT_LINUX=$(cat .moto/override-document-linux),OVERRIDE_CHECK_DOCUMENT_WINDOWS=$(cat .moto/override-document-windows),RUST_LOG=warn" \
  > .moto/watch.log 2>&1 & pids+=($!)
for _ in $(seq 600); do
  (exec 3<>/dev/tcp/127.0.0.1/"$LAMBDA_PORT") 2>/dev/null && break
  sleep 0.5
done

invoke() {
  echo
  echo "== cargo lambda invoke --data-file $1"
  cargo lambda invoke -A 127.0.0.1 -P "$LAMBDA_PORT" --data-file "$1" ec2-tier-scheduler > .moto/response.json
  python scripts/show_summary.py .moto/response.json
}
invoke events/stop.json
echo
echo "== instance states after Stop"
python scripts/show_states.py
echo
echo "== SNS notifications published (read back from the emulator)"
python scripts/show_sns.py
echo
echo "== the Stop's events on the workload's bus (EventBusName), read back through a rule into an SQS queue"
python scripts/show_events.py
echo
echo "== the same delivery again (at-least-once): the run ledger recognises runId demo-stop-1"
cargo lambda invoke -A 127.0.0.1 -P "$LAMBDA_PORT" --data-file events/stop.json ec2-tier-scheduler > .moto/response.json
python -c 'import json; r = json.load(open(".moto/response.json")); print(r["status"] + ": " + r["message"])'

invoke events/start.json
echo
echo "== instance states after Start"
python scripts/show_states.py
echo
echo "== the function's metrics of the Start run (Embedded Metric Format, from its log)"
grep -h '"InstancesActed"' .moto/watch.log | tail -1 | python -m json.tool --compact
echo "   and per member kind (MembersActed / MembersFailed / MembersNotDone by Kind):"
grep -h '"MembersActed"' .moto/watch.log | tail -5 | python -c "
import json, sys
for m in map(json.loads, sys.stdin):
    print('  %-7s acted %s, failed %s, not done %s' % (m['Kind'], m['MembersActed'], m['MembersFailed'], m['MembersNotDone']))"
echo
echo "== orchestrator status -w BotoTestCase1 (its next runs include the window Start and Stop of its"
echo "   maintenance window, which every run arranges; and each window's next execution)"
./target/debug/orchestrator status -w BotoTestCase1 -r us-west-2 \
  --ledger-table SchedulerRunLedger --schedule-group "$(cat .moto/schedule-group)"
echo
echo "== orchestrator runs list"
./target/debug/orchestrator runs list --ledger-table SchedulerRunLedger
echo
echo "== orchestrator runs show 'run|BotoTestCase1|demo-stop-1' --svg .moto/stop-timeline.svg"
./target/debug/orchestrator runs show 'run|BotoTestCase1|demo-stop-1' --ledger-table SchedulerRunLedger \
  --svg .moto/stop-timeline.svg
echo
echo "== orchestrator savings -w BotoTestCase1 (the Stop and Start above, seconds apart; the money is unknown"
echo "   here, with its reason: the emulator has no Price List API)"
./target/debug/orchestrator savings -w BotoTestCase1 -r us-west-2 --ledger-table SchedulerRunLedger
