#!/usr/bin/env bash
# Lints every CloudFormation/SAM template in infra/ with cfn-lint (which
# expands the SAM and AWS::LanguageExtensions transforms locally).
# Usage: infra/lint.sh            (uses .venv/bin/cfn-lint)
#        VENV=/path/to/venv infra/lint.sh
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

venv="${VENV:-.venv}"
cfn_lint="${venv}/bin/cfn-lint"
if [[ ! -x "$cfn_lint" ]]; then
  echo "error: $cfn_lint not found; create the virtualenv first (make venv)" >&2
  exit 1
fi

shopt -s nullglob
templates=(infra/*.yaml)
if [[ ${#templates[@]} -eq 0 ]]; then
  echo "error: no infra/*.yaml templates found" >&2
  exit 1
fi

"$cfn_lint" --version
# Non-zero exit on any error or warning; informational (I) rules are not enabled.
"$cfn_lint" -- "${templates[@]}"
echo "cfn-lint: ${#templates[@]} template(s) clean"
