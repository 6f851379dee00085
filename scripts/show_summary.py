"""Prints a Lambda run summary (the handler's JSON response) as a table."""

import json
import sys

summary = json.load(open(sys.argv[1]))
if "errorType" in summary:
    print(f"{summary['errorType']}: {summary.get('errorMessage')}")
    sys.exit(1)
print(f"{summary['action']} {summary['workload']}: {summary['status']} - {summary['message']}")
print(f"{'TIER':<10} {'SEQ':>3}  {'ACTED':<45} BYPASSED / SKIPPED / FAILED / NOT DONE")
for tier in summary["tiers"]:
    notes = [f"bypassed {b['id']} ({b['reason']})" for b in tier["bypassed"]]
    notes += [f"skipped {s['id']} ({s['reason']})" for s in tier["skipped"]]
    notes += [f"failed {f['id']} ({f['reason']})" for f in tier["failed"]]
    notes += [f"not done {n['id']} ({n['reason']})" for n in tier["notDone"]]
    notes += [f"type {r['id']} {r['from']} -> {r['to']}" + (f" refused ({r['error']})" if r.get("error") else "") for r in tier["resized"]]
    gate = tier.get("gate")
    if gate:
        notes.append(f"gate {gate['check']}: {gate['ready']} ready after {gate['waitedMs'] / 1000:.1f}s")
    print(f"{tier['tier']:<10} {tier['sequence']:>3}  {', '.join(tier['acted']) or '-':<45} {'; '.join(notes) or '-'}")
    print(f"{'':<10} {'':>3}  started at +{tier['startedAtMs'] / 1000:.1f}s, took {tier['durationMs'] / 1000:.1f}s")
    for note in tier.get("traffic", []):
        print(f"{'':<10} {'':>3}  load balancing {note['id']}: {note['reason']}")
for alarm in summary.get("alarms", []):
    print(f"alarm {alarm['id']}: {alarm['reason']}")
