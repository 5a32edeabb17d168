#!/usr/bin/env bash
# Runs the whole system locally: moto, then the local runner + Graph API simulator in the
# foreground. Ctrl-C stops everything this script started.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
port=${MOTO_PORT:-4566}
mkdir -p "$root/.local"

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "something already listens on 127.0.0.1:$port; stop it or set MOTO_PORT" >&2
  exit 1
fi
"$root/.venv/bin/python" "$root/infra/python/local_moto.py" -H 127.0.0.1 -p "$port" >"$root/.local/moto.log" 2>&1 &
moto_pid=$!
stack_pid=""
cleanup() {
  [ -n "$stack_pid" ] && kill "$stack_pid" 2>/dev/null && wait "$stack_pid" 2>/dev/null
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  kill -0 "$moto_pid" 2>/dev/null || { echo "moto failed to start; see .local/moto.log" >&2; exit 1; }
  sleep 0.1
done

export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:$port}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
"$root/target/debug/local-stack" &
stack_pid=$!
wait "$stack_pid"
