# Sourced by run-local.sh and with-moto.sh: the local AWS as two moto processes, so the two busy
# services use both cores (one moto is single-threaded Python and was the bottleneck).
#   PORT    SQS, Secrets Manager, S3 and KMS (the endpoint people point boto3 at)
#   PORT+1  DynamoDB
# The SDK routes each service by AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_DYNAMODB.

# Usage: start_local_aws PORT LOG_PREFIX; sets moto_pids; exits if a port is taken or a moto
# does not come up.
start_local_aws() {
  local port=$1 log=$2 p
  local ports=("$port" "$((port + 1))")
  for p in "${ports[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "something already listens on 127.0.0.1:$p (local AWS uses $port and $((port + 1))); stop it or pick another port" >&2
      exit 1
    fi
  done
  moto_pids=()
  for p in "${ports[@]}"; do
    # Each process records to its own file when MOTO_ENABLE_RECORDING is set (`make cost`).
    MOTO_RECORDER_FILEPATH="$log-$p.recording" \
      "$root/.venv/bin/python" "$root/infra/python/local_moto.py" -H 127.0.0.1 -p "$p" >"$log-$p.log" 2>&1 &
    moto_pids+=($!)
  done
  local i pid
  for i in 0 1; do
    p=${ports[$i]} pid=${moto_pids[$i]}
    for _ in $(seq 1 100); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then break; fi
      kill -0 "$pid" 2>/dev/null || { echo "moto failed to start; see $log-$p.log" >&2; exit 1; }
      sleep 0.1
    done
  done
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$((port + 1))"
}

stop_local_aws() {
  local pid
  for pid in "${moto_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${moto_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
