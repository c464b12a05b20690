#!/bin/sh
# Development secrets for Tierline, for a laptop or the Compose stack only: a throw-away CA, a
# server certificate, and a callers file with a fresh token for each caller. Real deployments
# get certificates from their own CA (cert-manager, Vault) and keep tokens in their secret store
# (docs/security.md).
#
#   deploy/secrets/dev-secrets.sh DIR [NAME...]
#
# writes into DIR (readable by its owner only):
#   ca.crt          the CA that signed tls.crt: what clients trust (its key is not kept)
#   tls.crt tls.key the server's certificate, for 127.0.0.1 and each NAME (default: localhost);
#                   good for client authentication too, so a probe may present it under mTLS
#   callers.yaml    the callers file: `demo` (decide, explain) and `release` (admin)
#   demo.token release.token   their tokens (only their SHA-256 is in callers.yaml)
# Needs openssl and sha256sum.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 DIR [NAME...]" >&2; exit 2; }
dir=$1
shift
[ $# -gt 0 ] || set -- localhost
umask 077
mkdir -p "$dir"
cd "$dir"

san="IP:127.0.0.1"
for name in "$@"; do san="$san,DNS:$name"; done
key="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
# shellcheck disable=SC2086 # $key is several arguments
openssl req -x509 $key -days 30 -subj "/CN=Tierline development CA" \
  -keyout ca.key -out ca.crt 2>/dev/null
# shellcheck disable=SC2086
openssl req $key -subj "/CN=$1" -keyout tls.key -out tls.csr 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$san" > tls.ext
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
  -extfile tls.ext -out tls.crt 2>/dev/null
rm -f ca.key ca.srl tls.csr tls.ext  # nobody can issue another certificate of this CA

token() {  # a new token for a caller, into NAME.token; prints its SHA-256
  openssl rand -hex 32 > "$1.token"
  tr -d '\n' < "$1.token" | sha256sum | cut -d' ' -f1
}
demo=$(token demo)
release=$(token release)
cat > callers.yaml <<YAML
# Who may call Tierline (docs/security.md). Made by deploy/secrets/dev-secrets.sh.
callers:
  - name: demo
    permissions: [decide, explain]
    token_sha256: "$demo"
  - name: release
    permissions: [admin]
    token_sha256: "$release"
YAML
echo "dev-secrets: CA, server certificate ($*), callers file and tokens in $dir"
