#!/usr/bin/env bash
# Test certificates for client TLS against the harness node (scripts/cassandra.sh
# with CASSANDRA_CLIENT_TLS=DIR) and for the TLS tests of our CQL loader.
#
#   scripts/make-test-certs.sh DIR        (tests use .local/certs, which git ignores)
#
# Writes, all under DIR:
#   ca.pem, ca.key           self-signed test CA ("sstable-migrate test CA")
#   server.pem, server.key   server certificate signed by that CA, for 127.0.0.1:
#                            SubjectAltName IP:127.0.0.1, DNS:localhost; EKU serverAuth
#   server-chain.pem         server.pem followed by ca.pem
#   server.p12               PKCS12 keystore for Cassandra (store_type PKCS12), password
#                            sstm-test-pw: the server key + certificate + CA chain,
#                            alias "server"
#   other-ca.pem, other-ca.key   a second, unrelated self-signed CA: verifying the server
#                            certificate with it must fail (negative tests)
#
# RSA 2048 keys (PKCS#8 PEM, unencrypted), SHA-256 signatures, valid for 10 years.
# Idempotent: if DIR already holds a complete, consistent set that is valid for at
# least another 30 days, nothing is written. Otherwise the whole set is made anew
# (in a temporary directory inside DIR, then moved into place).
# Needs openssl (1.1.1 or 3.x). These are test secrets: never use them elsewhere.
set -euo pipefail

die() { echo "make-test-certs.sh: $*" >&2; exit 1; }
[[ $# -eq 1 && -n "$1" && "$1" != -* ]] || die "usage: scripts/make-test-certs.sh DIR"
command -v openssl >/dev/null || die "openssl not found"

DIR="$1"
PASS=sstm-test-pw
DAYS=3650
FILES=(ca.pem ca.key server.pem server.key server-chain.pem server.p12 other-ca.pem other-ca.key)

# up_to_date DIR: the set in DIR is complete and consistent.
up_to_date() {
    local d="$1" f
    for f in "${FILES[@]}"; do [[ -s "$d/$f" ]] || return 1; done
    openssl verify -CAfile "$d/ca.pem" "$d/server.pem" >/dev/null 2>&1 || return 1
    ! openssl verify -CAfile "$d/other-ca.pem" "$d/server.pem" >/dev/null 2>&1 || return 1
    openssl x509 -in "$d/server.pem" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 || return 1
    openssl x509 -in "$d/ca.pem" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 || return 1
    # the key belongs to the certificate
    [[ "$(openssl x509 -in "$d/server.pem" -noout -pubkey 2>/dev/null)" \
       == "$(openssl pkey -in "$d/server.key" -pubout 2>/dev/null)" ]] || return 1
    # the keystore opens with the password and holds the key
    openssl pkcs12 -in "$d/server.p12" -passin "pass:$PASS" -nocerts -nodes 2>/dev/null \
        | grep -q "PRIVATE KEY" || return 1
}

mkdir -p "$DIR"
if up_to_date "$DIR"; then
    echo "test certificates in $DIR are up to date"
    exit 0
fi

WORK="$(mktemp -d "$DIR/.make-test-certs.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
umask 077

cat > "$WORK/openssl.cnf" <<'EOF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF

serial() { echo "0x$(openssl rand -hex 16)"; }

# make_ca NAME CN
make_ca() {
    openssl req -x509 -new -config "$WORK/openssl.cnf" -extensions v3_ca \
        -newkey rsa:2048 -nodes -sha256 -days "$DAYS" -set_serial "$(serial)" \
        -subj "/O=sstable-migrate tests/CN=$2" \
        -keyout "$WORK/$1.key" -out "$WORK/$1.pem" 2>/dev/null
}

make_ca ca "sstable-migrate test CA"
make_ca other-ca "sstable-migrate unrelated test CA"

openssl req -new -config "$WORK/openssl.cnf" -newkey rsa:2048 -nodes -sha256 \
    -subj "/O=sstable-migrate tests/CN=127.0.0.1" \
    -keyout "$WORK/server.key" -out "$WORK/server.csr" 2>/dev/null
openssl x509 -req -in "$WORK/server.csr" -sha256 -days "$DAYS" -set_serial "$(serial)" \
    -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
    -extfile "$WORK/openssl.cnf" -extensions v3_server \
    -out "$WORK/server.pem" 2>/dev/null
cat "$WORK/server.pem" "$WORK/ca.pem" > "$WORK/server-chain.pem"

# PKCS12 for Cassandra's keystore (JDK 17 reads OpenSSL 3's AES/PBKDF2 defaults)
openssl pkcs12 -export -name server -inkey "$WORK/server.key" -in "$WORK/server.pem" \
    -certfile "$WORK/ca.pem" -passout "pass:$PASS" -out "$WORK/server.p12"

rm -f "$WORK/server.csr" "$WORK/openssl.cnf"
up_to_date "$WORK" || die "the new certificates do not check out (see $WORK)"
chmod 644 "$WORK"/*.pem "$WORK/server.p12"
for f in "${FILES[@]}"; do mv -f "$WORK/$f" "$DIR/$f"; done
echo "wrote test CA, server certificate (IP:127.0.0.1, DNS:localhost), server.p12 (password $PASS) and other-ca.pem to $DIR"
