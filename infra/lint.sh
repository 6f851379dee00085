#!/usr/bin/env bash
# Lints every CloudFormation/SAM template in infra/ with cfn-lint (which
# expands the SAM and AWS::LanguageExtensions transforms locally), then scans
# them with checkov. Either tool's finding fails the script; a checkov finding
# that is accepted is skipped in the template itself (Metadata: checkov: skip,
# with a one-line reason).
# Usage: infra/lint.sh            (uses .venv/bin/cfn-lint and .venv/bin/checkov)
#        VENV=/path/to/venv infra/lint.sh
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

venv="${VENV:-.venv}"
cfn_lint="${venv}/bin/cfn-lint"
checkov="${venv}/bin/checkov"
for tool in "$cfn_lint" "$checkov"; do
  if [[ ! -x "$tool" ]]; then
    echo "error: $tool not found; create the virtualenv first (make venv)" >&2
    exit 1
  fi
done

shopt -s nullglob
templates=(infra/*.yaml)
if [[ ${#templates[@]} -eq 0 ]]; then
  echo "error: no infra/*.yaml templates found" >&2
  exit 1
fi

# The versions from the packages' metadata: `checkov --version` imports all
# of checkov first (4 s of CPU).
"${venv}/bin/python" -c 'from importlib.metadata import version as v; print("cfn-lint", v("cfn-lint"), "/ checkov", v("checkov"))'
# Non-zero exit on any error or warning; informational (I) rules are not enabled.
"$cfn_lint" -- "${templates[@]}"
echo "cfn-lint: ${#templates[@]} template(s) clean"

# --skip-download: no calls to the vendor's platform (CI has no network);
# exits non-zero on any failed check.
"$checkov" --directory infra --framework cloudformation --skip-download --compact --quiet
echo "checkov: ${#templates[@]} template(s) clean"
