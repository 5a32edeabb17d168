#!/usr/bin/env bash
# Runs the whole system locally: the local AWS (moto on MOTO_PORT for SQS and Secrets Manager,
# MOTO_PORT+1 for DynamoDB; see moto.sh), then the local runner + Graph API simulator in the
# foreground. Ctrl-C stops everything this script started. LOCAL_STACK_BIN picks the runner's
# build (`make load` runs the release one).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
port=${MOTO_PORT:-4566}
stack_bin=${LOCAL_STACK_BIN:-$root/target/debug/local-stack}
mkdir -p "$root/.local"
# shellcheck source=moto.sh
. "$root/infra/scripts/moto.sh"

moto_pids=()
stack_pid=""
cleanup() {
  if [ -n "$stack_pid" ]; then kill "$stack_pid" 2>/dev/null || true; wait "$stack_pid" 2>/dev/null || true; fi
  stop_local_aws
}
trap cleanup EXIT
trap 'exit 130' INT TERM
start_local_aws "$port" "$root/.local/moto"

export AWS_REGION="${AWS_REGION:-us-east-1}"
# The local AWS enforces IAM: what runs here signs as its administrator (test/test), never with
# credentials the caller's shell may hold for a real account (moto would refuse them anyway).
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
unset AWS_SESSION_TOKEN AWS_PROFILE
"$stack_bin" &
stack_pid=$!
wait "$stack_pid"
