#!/usr/bin/env bash
# Load test of the integrations API: gunicorn on PostgreSQL (+ Redis for scoring's nudges), wrk.
#
#   bench/api/run.sh                 # both runs, 30 s each
#   DURATION=60s WORKERS=3 bench/api/run.sh submissions
#
# Needs: wrk (apt-get install -y wrk), PostgreSQL at DATABASE_URL, Redis at REDIS_URL.
set -euo pipefail
cd "$(dirname "$0")/../.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/leadcrm_api}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/4}"
# Production mode, as deployed (behind a TLS proxy: no redirect to https here).
export DEBUG=0 SECURE_SSL_REDIRECT=0 LOG_LEVEL=WARNING
export SECRET_KEY="${SECRET_KEY:-bench-only-$(head -c 48 /dev/urandom | base64 | tr -d '/+=')}"
export ALLOWED_HOSTS=127.0.0.1,localhost
# The limiter runs (it is on the hot path) but must not be what the benchmark measures.
export API_RATE_LIMIT="${API_RATE_LIMIT:-100000000/minute}"

PORT="${PORT:-8104}"
WORKERS="${WORKERS:-4}"
THREADS="${THREADS:-1}"
DURATION="${DURATION:-30s}"
CONNECTIONS="${CONNECTIONS:-32}"
BATCH_CONNECTIONS="${BATCH_CONNECTIONS:-4}"
WHAT="${1:-all}"
PY=.venv/bin/python
PIDFILE="$(mktemp -u /tmp/leadcrm-bench-gunicorn.XXXXXX)"

$PY manage.py migrate --noinput -v0
API_KEY="$($PY manage.py create_api_key "bench $(date -u +%FT%TZ)" --scope submit 2>/dev/null)"
export API_KEY RUN_ID="$(date +%s)"

.venv/bin/gunicorn leadcrm.wsgi:application --bind "127.0.0.1:$PORT" --workers "$WORKERS" --threads "$THREADS" \
  --worker-class "$([ "$THREADS" -gt 1 ] && echo gthread || echo sync)" --backlog 2048 \
  --access-logfile /dev/null --error-logfile /tmp/leadcrm-bench-gunicorn.log --pid "$PIDFILE" --daemon
trap 'kill "$(cat "$PIDFILE")" 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/api/v1/pipeline/" && break; sleep 0.2; done

echo "# $(date -u +%FT%TZ) $(nproc) cores, gunicorn workers=$WORKERS threads=$THREADS, $(psql --version | head -1)"
if [ "$WHAT" = all ] || [ "$WHAT" = submissions ]; then
  wrk -t2 -c"$CONNECTIONS" -d5s -s bench/api/submission.lua "http://127.0.0.1:$PORT" >/dev/null  # warm-up
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/api/submission.lua "http://127.0.0.1:$PORT" \
    | grep -E '^RESULT|Socket errors|Non-2xx'
fi
if [ "$WHAT" = all ] || [ "$WHAT" = events ]; then
  wrk -t2 -c"$BATCH_CONNECTIONS" -d5s --timeout 30s -s bench/api/events.lua "http://127.0.0.1:$PORT" >/dev/null
  wrk -t2 -c"$BATCH_CONNECTIONS" -d"$DURATION" --timeout 30s --latency -s bench/api/events.lua \
    "http://127.0.0.1:$PORT" | grep -E '^RESULT|Socket errors|Non-2xx'
fi
