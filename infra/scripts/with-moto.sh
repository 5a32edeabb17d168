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
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
"$@"
