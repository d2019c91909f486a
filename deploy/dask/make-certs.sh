#!/usr/bin/env bash
# Make a private CA and one certificate it signs, for a Dask cluster over TLS.
#
#   deploy/dask/make-certs.sh DIR [HOSTNAME_OR_IP ...]
#
# Writes DIR/ca.pem, DIR/ca-key.pem (keep it secret, it can sign more
# certificates), DIR/cert.pem and DIR/key.pem. The one certificate serves the
# scheduler, the workers and the client; the names/IPs given are put in its
# subjectAltName (default: localhost and 127.0.0.1). Copy ca.pem, cert.pem and
# key.pem to every machine (readable by you only).
set -euo pipefail
DIR=${1:?usage: make-certs.sh DIR [HOSTNAME_OR_IP ...]}
shift
NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=(localhost 127.0.0.1)
SAN=""
for name in "${NAMES[@]}"; do
  if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then SAN+="IP:$name,"; else SAN+="DNS:$name,"; fi
done
SAN=${SAN%,}

mkdir -p "$DIR"
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 365 \
  -subj "/CN=hopsweep dask CA" -keyout "$DIR/ca-key.pem" -out "$DIR/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=${NAMES[0]}" -keyout "$DIR/key.pem" -out "$DIR/cert.csr" 2>/dev/null
openssl x509 -req -in "$DIR/cert.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca-key.pem" \
  -CAcreateserial -days 365 -out "$DIR/cert.pem" \
  -extfile <(printf "subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n" "$SAN") 2>/dev/null
rm -f "$DIR/cert.csr" "$DIR/ca.srl"
echo "wrote $DIR/ca.pem $DIR/cert.pem $DIR/key.pem (SAN: $SAN)"
