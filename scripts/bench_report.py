#!/usr/bin/env python3
"""Rewrites the generated parts of BENCHMARKS.md from the benchmark outputs.

Each benchmark prints markdown to stdout (collected by scripts/bench.sh into
$CARGO_TARGET_DIR/bench/<name>.md). Lines of the form

    SUMMARY|<what>|<target>|<measured>|<met>

are taken out and become rows of the summary table. Everything between
`<!-- bench:<name>:start -->` and `<!-- bench:<name>:end -->` in
BENCHMARKS.md is replaced; the prose around the markers is left alone.
"""

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import time
import zipfile


def run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:  # a missing tool only loses a detail of the header
        return "?"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def split_summary(text):
    rows, kept = [], []
    for line in text.splitlines():
        if line.startswith("SUMMARY|"):
            rows.append(line.split("|")[1:])
        else:
            kept.append(line)
    return rows, "\n".join(kept).strip() + "\n"


def size_section(zip_path):
    size = os.path.getsize(zip_path)
    with zipfile.ZipFile(zip_path) as z:
        entries = [(i.filename, i.file_size) for i in z.infolist()]
    mib = size / (1024 * 1024)
    target = 8 * 1024 * 1024
    met = "yes" if size <= target else "no"
    lines = [
        "| Artifact | Size (bytes) | Size (MiB) | Target | Met |",
        "|---|---:|---:|---:|---|",
        f"| `bootstrap.zip` (arm64, `cargo lambda build --release --arm64 --output-format zip`) | {size:,} | {mib:.2f} | ≤ 8 MiB | {met} |",
    ]
    for name, raw in entries:
        lines.append(f"| `{name}` inside the zip, uncompressed | {raw:,} | {raw / (1024 * 1024):.2f} | | |")
    summary = ["4. Size: release zip, arm64", "≤ 8 MB", f"{mib:.2f} MiB ({size:,} bytes)", met]
    return "\n".join(lines) + "\n", summary


PHASES = [
    ("build-arm64", "arm64 release zip, `cargo lambda build --release --arm64` (background)", "build-arm64.log"),
    ("build-benches", "benchmark binaries, dev profile", "build-benches.log"),
    ("build-x86_64", "x86_64 release binary (start-up and memory runs)", "build-x86_64.log"),
    ("api_calls", "1. API calls per run", None),
    ("scale", "2. scale", None),
    ("storm", "2b. morning storm", None),
    ("memory", "3. memory", None),
    ("startup", "4. start-up (after the arm64 build)", None),
]


def compiled(log_path):
    """How many crates a build log says were compiled (0: it was up to date)."""
    try:
        with open(log_path) as f:
            return sum(1 for line in f if line.lstrip().startswith("Compiling "))
    except OSError:
        return None


def runtime_section(results, elapsed):
    seconds = {}
    try:
        with open(os.path.join(results, "timings")) as f:
            for line in f:
                name, value = line.split()
                seconds[name] = int(value)
    except OSError:
        pass
    crates = {name: compiled(os.path.join(results, log)) for name, _, log in PHASES if log}
    lines = ["| Phase | Wall time (s) | Crates compiled |", "|---|---:|---:|"]
    for name, what, _ in PHASES:
        if name in seconds:
            count = crates.get(name)
            lines.append(f"| {what} | {seconds[name]} | {'' if count is None else count} |")
    lines.append(f"| **`make bench`, start to end** (builds overlap) | **{elapsed}** | |")
    total = sum(count or 0 for count in crates.values())
    state = f"{total} crates compiled" if total else "builds up to date"
    met = "yes" if elapsed <= 15 * 60 else "no"
    summary = ["Runtime of `make bench`, builds included (2 cores)", "≤ 15 min",
               f"{elapsed // 60} min {elapsed % 60} s ({state})", met]
    return "\n".join(lines) + "\n", summary


def replace_section(doc, name, body):
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(doc):
        sys.exit(f"bench_report: markers for {name!r} are missing in BENCHMARKS.md")
    return pattern.sub(lambda _: f"{start}\n{body.strip()}\n{end}", doc)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", required=True)
    parser.add_argument("--zip", required=True)
    parser.add_argument("--began", type=int, required=True)
    parser.add_argument("--command", default="make bench")
    parser.add_argument("doc")
    args = parser.parse_args()

    with open(args.doc) as f:
        doc = f.read()

    summary = []
    for name in ["api_calls", "scale", "storm", "memory", "startup"]:
        with open(os.path.join(args.results, f"{name}.md")) as f:
            rows, body = split_summary(f.read())
        summary.extend(rows)
        doc = replace_section(doc, name, body)
    size_body, size_row = size_section(args.zip)
    summary.insert(len(summary) - 1 if summary else 0, size_row)
    doc = replace_section(doc, "size", size_body)

    table = ["| Benchmark | Target | Measured | Met |", "|---|---|---|---|"]
    table += [f"| {' | '.join(r)} |" for r in summary]
    elapsed = int(time.time()) - args.began
    runtime_body, runtime_row = runtime_section(args.results, elapsed)
    doc = replace_section(doc, "runtime", runtime_body)
    table += [f"| {' | '.join(runtime_row)} |"]
    doc = replace_section(doc, "summary", "\n".join(table) + "\n")

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = (
        f"Produced by `{args.command}` on {now}: {os.cpu_count()} CPU(s) ({cpu_model()}), "
        f"{platform.system()} {platform.release()}, {run(['rustc', '--version'])}, "
        f"{run(['cargo', 'lambda', '--version'])}. "
        f"Total runtime of the command, builds included: {elapsed // 60} min {elapsed % 60} s.\n"
    )
    doc = replace_section(doc, "meta", meta)

    with open(args.doc, "w") as f:
        f.write(doc)
    print(f"bench_report: {args.doc} rewritten ({elapsed} s since the start)", file=sys.stderr)


if __name__ == "__main__":
    main()
