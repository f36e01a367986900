#!/bin/bash
# The Java keystore (PKCS12: the host key, its certificate and the CA chain) and truststore
# (PKCS12: every certificate of the CA chain as a trusted entry) of a JVM service, built on
# the host from the platform's PEM files. The truststore holds public certificates only and
# has no password (no MAC: Java opens it with any password or none, so no client
# configuration carries one); its file mode keeps it from being changed. Each store is rebuilt only when missing, older
# than what it is built from, or no longer opened by its password; "rebuilt <store>" is
# printed for each one rebuilt, so a caller reports a change only then.
#
# usage: java-stores.sh CERT KEY CHAIN KEYSTORE ALIAS TRUSTSTORE OWNER GROUP KEYTOOL
# the keystore's password: HOPS_KEYSTORE_PASSWORD (environment, never argv)
# HOPS_STORES_CHECK=1: only print "stale <store>" for each store a run would rebuild
set -euo pipefail
cert=$1 key=$2 chain=$3 keystore=$4 alias=$5 truststore=$6 owner=$7 group=$8 keytool=$9
: "${HOPS_KEYSTORE_PASSWORD:?}"

current() {  # store, then the files it is built from
  local store=$1
  shift
  [ -s "$store" ] || return 1
  for source in "$@"; do
    [ "$store" -nt "$source" ] || return 1
  done
}

build_keystore() {
  (
    umask 077
    openssl pkcs12 -export -name "$alias" -in "$cert" -inkey "$key" -certfile "$chain" \
      -out "$keystore.new" -passout env:HOPS_KEYSTORE_PASSWORD
  )
  chown "$owner:$group" "$keystore.new"
  chmod 0600 "$keystore.new"
  mv "$keystore.new" "$keystore"
}

# Java trusts only certificates stored as trusted entries, which keytool writes (OpenSSL
# 3.0 cannot): one entry per certificate of the chain.
build_truststore() {
  local work
  work=$(mktemp -d)
  awk -v dir="$work" '/-----BEGIN CERTIFICATE-----/ { n++ } n { print > (dir "/ca-" n ".pem") }' "$chain"
  for pem in "$work"/ca-*.pem; do
    "$keytool" -J-Dkeystore.pkcs12.certProtectionAlgorithm=NONE \
      -J-Dkeystore.pkcs12.macAlgorithm=NONE -importcert -noprompt \
      -alias "hops-$(basename "$pem" .pem)" -file "$pem" \
      -keystore "$work/truststore.p12" -storetype PKCS12 -storepass no-password >/dev/null
  done
  install -o "$owner" -g "$group" -m 0644 "$work/truststore.p12" "$truststore"
  rm -rf "$work"
}

refresh() {  # store, its builder
  if [ "${HOPS_STORES_CHECK:-}" = 1 ]; then
    echo "stale $1"
  else
    "$2"
    echo "rebuilt $1"
  fi
}

if ! current "$keystore" "$cert" "$key" "$chain" \
  || ! openssl pkcs12 -in "$keystore" -noout -passin env:HOPS_KEYSTORE_PASSWORD 2>/dev/null; then
  refresh "$keystore" build_keystore
fi
if ! current "$truststore" "$chain" \
  || ! "$keytool" -list -keystore "$truststore" -storetype PKCS12 </dev/null >/dev/null 2>&1; then
  refresh "$truststore" build_truststore
fi
