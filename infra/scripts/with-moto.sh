#!/usr/bin/env bash
# Usage: with-moto.sh PORT COMMAND...
# Starts a private local AWS (moto on 127.0.0.1:PORT for SQS and Secrets Manager, PORT+1 for
# DynamoDB; see moto.sh), runs COMMAND with AWS pointed at it, and stops moto however COMMAND
# ends. Exits with COMMAND's status.
set -euo pipefail
port=$1; shift
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$root/.local"
# shellcheck source=moto.sh
. "$root/infra/scripts/moto.sh"

moto_pids=()
trap stop_local_aws EXIT INT TERM
start_local_aws "$port" "$root/.local/moto"

export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
# The local AWS enforces IAM: what runs here signs as its administrator (test/test), never with
# credentials the caller's shell may hold for a real account (moto would refuse them anyway).
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
unset AWS_SESSION_TOKEN AWS_PROFILE
"$@"
