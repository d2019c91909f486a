#!/usr/bin/env bash
# Start Dask workers for hopsweep on this machine: one single-threaded worker
# process per core (one BLAS and one Numba thread each; oversubscribing the
# cores is far slower than it looks).
#
#   deploy/dask/start-worker.sh tcp://SCHEDULER:8786 [NWORKERS]
#   TLS_DIR=certs deploy/dask/start-worker.sh tls://SCHEDULER:8786
#
# Workers need hopsweep installed in the same version as the driver.
set -euo pipefail
ADDRESS=${1:?usage: start-worker.sh SCHEDULER_ADDRESS [NWORKERS]}
NWORKERS=${2:-$(nproc)}
export NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
ARGS=(--nworkers "$NWORKERS" --nthreads 1 --no-dashboard)
if [ -n "${TLS_DIR:-}" ]; then
  ARGS+=(--tls-ca-file "$TLS_DIR/ca.pem" --tls-cert "$TLS_DIR/cert.pem"
         --tls-key "$TLS_DIR/key.pem")
fi
exec "${PYTHON:-python}" -m dask worker "$ADDRESS" "${ARGS[@]}" ${WORKER_OPTIONS:-}
