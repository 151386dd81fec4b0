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
# Persistent database connections for the whole run (so the CPU of the PostgreSQL backends that
# serve the workers can be read from /proc; Django's default here is 60 s).
export DB_CONN_MAX_AGE="${DB_CONN_MAX_AGE:-3600}"

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

# CPU time (ms) used so far by the gunicorn workers and the PostgreSQL backends serving them. On a
# shared machine throughput says more about the neighbours than about us; CPU per request does not.
server_pids() {
  pgrep -P "$(cat "$PIDFILE")"
  psql "${DATABASE_URL%%\?*}" -Atc "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
}
cpu_ms() {  # utime + stime of the given pids, in ms
  local total=0 pid
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] && total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo $((total * 1000 / $(getconf CLK_TCK)))
}
measure() {  # measure <wrk args...>: run wrk, print its RESULT line with the server's CPU per request
  local pids before out requests after
  pids=$(server_pids)
  before=$(cpu_ms $pids)
  out=$(wrk "$@")
  after=$(cpu_ms $pids)
  requests=$(echo "$out" | sed -n 's/.*requests=\([0-9]*\).*/\1/p')
  echo "$out" | grep -E 'Socket errors|Non-2xx' || true
  echo "$(echo "$out" | grep '^RESULT') server_cpu_ms_per_request=$(awk "BEGIN {printf \"%.2f\", ($after - $before) / ($requests > 0 ? $requests : 1)}")"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), gunicorn workers=$WORKERS threads=$THREADS, $(psql --version | head -1)"
if [ "$WHAT" = all ] || [ "$WHAT" = submissions ]; then
  # The baseline first, in its own gunicorn (same settings and middleware, one route).
  BASE_PIDFILE="$PIDFILE.baseline"
  BASE_PORT=$((PORT + 1000))
  DJANGO_SETTINGS_MODULE=baseline_settings PYTHONPATH=bench/api .venv/bin/gunicorn leadcrm.wsgi:application \
    --bind "127.0.0.1:$BASE_PORT" --workers "$WORKERS" --backlog 2048 --access-logfile /dev/null \
    --error-logfile /tmp/leadcrm-bench-gunicorn.log --pid "$BASE_PIDFILE" --daemon
  for _ in $(seq 50); do curl -s -o /dev/null -X POST "http://127.0.0.1:$BASE_PORT/baseline/" && break; sleep 0.2; done
  MAIN_PIDFILE="$PIDFILE"; PIDFILE="$BASE_PIDFILE"
  wrk -t2 -c"$CONNECTIONS" -d5s -s bench/api/baseline.lua "http://127.0.0.1:$BASE_PORT" >/dev/null
  measure -t2 -c"$CONNECTIONS" -d"$DURATION" --timeout 10s --latency -s bench/api/baseline.lua "http://127.0.0.1:$BASE_PORT"
  kill "$(cat "$BASE_PIDFILE")"; PIDFILE="$MAIN_PIDFILE"

  wrk -t2 -c"$CONNECTIONS" -d5s -s bench/api/submission.lua "http://127.0.0.1:$PORT" >/dev/null  # warm-up
  measure -t2 -c"$CONNECTIONS" -d"$DURATION" --timeout 10s --latency -s bench/api/submission.lua "http://127.0.0.1:$PORT"
fi
if [ "$WHAT" = all ] || [ "$WHAT" = events ]; then
  wrk -t2 -c"$BATCH_CONNECTIONS" -d5s --timeout 30s -s bench/api/events.lua "http://127.0.0.1:$PORT" >/dev/null
  measure -t2 -c"$BATCH_CONNECTIONS" -d"$DURATION" --timeout 30s --latency -s bench/api/events.lua \
    "http://127.0.0.1:$PORT"
fi
