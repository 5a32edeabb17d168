#!/usr/bin/env bash
# Usage: with-moto.sh PORT COMMAND...
# Starts a private moto server on 127.0.0.1:PORT, runs COMMAND with AWS pointed at it, and stops
# moto however COMMAND ends. Exits with COMMAND's status.
set -euo pipefail
port=$1; shift
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$root/.local"
log="$root/.local/moto-$port.log"

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "port $port is already in use; set TEST_MOTO_PORT to a free port" >&2
  exit 1
fi

"$root/.venv/bin/python" "$root/infra/python/local_moto.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then echo "moto failed to start; see $log" >&2; exit 1; fi
  sleep 0.1
done

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
"$@"
