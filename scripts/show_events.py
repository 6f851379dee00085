"""Prints the run events `make demo` put on the workload's bus, read back
from the queue its rule targets (tests/support/event_queue.py read)."""

import json
import os
import subprocess
import sys

out = subprocess.run(
    [sys.executable, "tests/support/event_queue.py", "--endpoint", os.environ["AWS_ENDPOINT_URL"],
     "--region", "us-west-2", "read", "--queue", "demo-run-events"],
    check=True, capture_output=True, text=True,
).stdout
for event in json.loads(out):
    detail = event["detail"]
    print(f"--- {event['detail-type']} (source {event['source']}, id {detail['id']})")
    if event["detail-type"] == "Tier Completed":
        counts = ", ".join(f"{k} {v}" for k, v in detail["counts"].items() if v)
        print(f"    {detail['tier']} (sequence {detail['sequence']}): {counts or 'nothing to do'}; "
              f"truncated {str(detail['truncated']).lower()}")
    print("    " + json.dumps(detail, separators=(",", ":")))
