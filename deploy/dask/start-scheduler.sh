#!/usr/bin/env bash
# Start a Dask scheduler for hopsweep.
#
#   deploy/dask/start-scheduler.sh [HOST] [PORT]            # plain TCP
#   TLS_DIR=certs deploy/dask/start-scheduler.sh HOST 8786   # TLS (see make-certs.sh)
#
# HOST defaults to 127.0.0.1 (this machine only); give the address of a
# trusted internal network to accept workers from other machines. The
# dashboard stays on 127.0.0.1 unless DASHBOARD is set (e.g. DASHBOARD=:8787).
# PORT 0 picks a free port; SCHEDULER_FILE=path writes the address there (JSON).
set -euo pipefail
HOST=${1:-127.0.0.1}
PORT=${2:-8786}
DASHBOARD=${DASHBOARD:-127.0.0.1:8787}
ARGS=(--host "$HOST" --port "$PORT" --dashboard-address "$DASHBOARD")
if [ -n "${SCHEDULER_FILE:-}" ]; then
  ARGS+=(--scheduler-file "$SCHEDULER_FILE")
fi
if [ -n "${TLS_DIR:-}" ]; then
  ARGS+=(--protocol tls --tls-ca-file "$TLS_DIR/ca.pem" --tls-cert "$TLS_DIR/cert.pem"
         --tls-key "$TLS_DIR/key.pem")
fi
exec "${PYTHON:-python}" -m dask scheduler "${ARGS[@]}"
