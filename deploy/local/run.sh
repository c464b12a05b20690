#!/usr/bin/env bash
# `make run`: a private redis-server with demo customers, the default policy, the service
# listening on 127.0.0.1 only (gRPC on 50051, HTTP and JSON on 8080), without authentication (a
# laptop's try, never a network's: see docs/security.md). Ctrl-C stops everything. Set
# TIERLINE_REDIS_URL to use an existing Redis instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-.venv/bin}
CUSTOMERS=${TIERLINE_DEMO_CUSTOMERS:-20000}
workdir=$(mktemp -d -t tierline-run.XXXXXX)
redis_pid=""

cleanup() {
  if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  rm -rf "$workdir"
}
trap cleanup EXIT

if [ -z "${TIERLINE_REDIS_URL:-}" ]; then
  if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "Installing redis-server (Debian package)..."
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    else
      echo "redis-server is not installed. Install it (sudo apt-get install redis-server," >&2
      echo "or brew install redis), or point Tierline at a running Redis:" >&2
      echo "  TIERLINE_REDIS_URL=redis://host:6379/0 make run" >&2
      exit 1
    fi
  fi
  port=$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # its own session: Ctrl-C reaches the service, which drains first; the EXIT trap stops Redis
  setsid redis-server --port "$port" --bind 127.0.0.1 --dir "$workdir" --save '' --appendonly no \
    --daemonize no --loglevel warning >"$workdir/redis.log" 2>&1 &
  redis_pid=$!
  export TIERLINE_REDIS_URL="redis://127.0.0.1:$port/0"
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  echo "Started redis-server on 127.0.0.1:$port (data in $workdir, removed on exit)"
fi

"$BIN/tierline" features demo --count "$CUSTOMERS" --seed 7 --out "$workdir/customers.csv"
"$BIN/tierline" features load "$workdir/customers.csv"

HTTP_LISTEN=${TIERLINE_HTTP_LISTEN:-127.0.0.1:8080}

cat <<TEXT

Tierline is starting with the default policy (rules/), WITHOUT AUTHENTICATION, listening on
127.0.0.1 only: anyone on this machine may ask for decisions and explanations. To run it
with TLS and callers' tokens, see docs/security.md. Its customer features are in Redis at
  $TIERLINE_REDIS_URL
In another terminal, point the tierline command at that Redis, then try it:

  export TIERLINE_REDIS_URL=$TIERLINE_REDIS_URL
  $BIN/tierline features get c000042
  $BIN/tierline decide c000001 --channel phone --intent cancel
  $BIN/tierline decide c000042 --channel web --intent purchase --order-value 59.90 --currency EUR --explain
  $BIN/tierline decide someone-new --channel mobile-app --intent purchase --order-value 8000 --currency JPY --json
  curl -s localhost:${TIERLINE_METRICS_PORT:-9464}/metrics | grep tierline_decisions_total

The same decisions over HTTP and JSON (Connect), for curl, flow builders and browsers:

  curl -s http://$HTTP_LISTEN/tierline.v1.EntitlementService/Decide -H 'content-type: application/json' \
    -d '{"customerId": "c000001", "context": {"channel": "CHANNEL_PHONE", "intent": "cancel"}}'

Ctrl-C stops the service and the Redis started for it.

TEXT
# Not exec: the EXIT trap must still stop Redis after the service has drained.
"$BIN/tierline" serve --listen 127.0.0.1:50051 --http-listen "$HTTP_LISTEN" --insecure-no-auth &
server_pid=$!
trap 'kill -TERM "$server_pid" 2>/dev/null || true' INT TERM
wait "$server_pid" || true
wait "$server_pid" 2>/dev/null || true
