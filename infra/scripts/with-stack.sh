#!/usr/bin/env bash
# `make load` and `make cost`: starts the local stack (run-local.sh, same ports and defaults as
# `make run`, the runner build in LOCAL_STACK_BIN), waits for its ready line, runs the command
# given as arguments against it, then stops the stack. A fresh stack per run: empty queues and
# table, so every run measures the same thing.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -gt 0 ] || { echo "usage: with-stack.sh COMMAND [ARGS…]" >&2; exit 2; }
mkdir -p "$root/.local"
log="$root/.local/stack-$(basename "$1").log"

"$root/infra/scripts/run-local.sh" >"$log" 2>&1 &
stack=$!
trap 'kill "$stack" 2>/dev/null || true; wait "$stack" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM

for _ in $(seq 1 600); do
  if grep -q "local stack ready" "$log"; then break; fi
  kill -0 "$stack" 2>/dev/null || { cat "$log" >&2; echo "the local stack did not start" >&2; exit 1; }
  sleep 0.1
done
grep -q "local stack ready" "$log" || { echo "the local stack did not start within 60 s; see $log" >&2; exit 1; }

export AWS_ENDPOINT_URL="http://127.0.0.1:${MOTO_PORT:-4566}"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$(( ${MOTO_PORT:-4566} + 1 ))"
export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_DEFAULT_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test # the local administrator (IAM is enforced)
unset AWS_SESSION_TOKEN AWS_PROFILE
echo "machine load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$@"
echo "machine load after: $(cut -d' ' -f1-3 /proc/loadavg)"
