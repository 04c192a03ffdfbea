#!/usr/bin/env bash
# Combines the per-test LCOV files listed in --reports_file into --output_file.
set -euo pipefail
reports_file=""
output_file=""
for arg in "$@"; do
  case "${arg}" in
    --reports_file=*) reports_file="${arg#*=}" ;;
    --output_file=*) output_file="${arg#*=}" ;;
  esac
done
[[ -n "${reports_file}" && -n "${output_file}" ]] || {
  echo "coverage_report_generator: need --reports_file and --output_file" >&2
  exit 2
}
: >"${output_file}"
while IFS= read -r report; do
  [[ -n "${report}" && -f "${report}" ]] && cat "${report}" >>"${output_file}"
done <"${reports_file}"
