#!/usr/bin/env bash
# A small certificate authority for one fer-edge broker and its clients (devices, readers), with openssl.
# Idempotent: keys and certificates already in OUT are kept; only missing ones are made.
set -euo pipefail

PROG=$(basename "$0")
OUT=./certs
BROKER=broker
SAN="DNS:localhost,IP:127.0.0.1"
DAYS=825

usage() {
    cat <<EOF
Usage: $PROG [--out DIR] [--broker NAME] [--san LIST] [--days N] [CLIENT ...]

Makes, in DIR (kept if present):
  ca.key, ca.crt             the CA (EC P-256, 10 years); keep ca.key off the broker and the Pis
  broker.key, broker.crt     the broker's server certificate for host NAME (CN=NAME, subjectAltName NAME + LIST),
                             under the names deploy/mosquitto/fer-edge.conf loads
  CLIENT.key, CLIENT.crt     one client certificate per name (CN=CLIENT): a device id or a reader; the broker
                             takes the CN as the client's user name

  --out DIR      output directory (default: $OUT)
  --broker NAME  the broker's host name (default: $BROKER)
  --san LIST     more subjectAltName entries for the broker (default: $SAN)
  --days N       validity of broker and client certificates (default: $DAYS)
  -h, --help     this text

Example: $PROG --out /etc/mosquitto/fer --broker mqtt.lan pi-kitchen pi-hall fer-reader
EOF
}

die() { echo "$PROG: error: $*" >&2; exit 1; }
need_value() { if [ $# -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (see --help)"; fi; }

NAMES=()
parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --out) need_value "$@"; OUT="$2"; shift 2 ;;
            --broker) need_value "$@"; BROKER="$2"; shift 2 ;;
            --san) need_value "$@"; SAN="$2"; shift 2 ;;
            --days) need_value "$@"; DAYS="$2"; shift 2 ;;
            -h|--help) usage; exit 0 ;;
            -*) die "unknown option '$1' (see --help)" ;;
            *) NAMES+=("$1"); shift ;;
        esac
    done
    [[ "$DAYS" =~ ^[0-9]+$ ]] || die "--days $DAYS: expected a whole number of days"
    local name
    for name in "$BROKER" "${NAMES[@]}"; do
        [[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "name '$name': use letters, digits, '.', '_' and '-'"
    done
    for name in "${NAMES[@]}"; do
        case "$name" in ca|broker) die "client name '$name' would overwrite the ${name} files" ;; esac
    done
}

make_ca() {
    [ -f "$OUT/ca.crt" ] && return
    openssl req -x509 -new -noenc -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$OUT/ca.key" -out "$OUT/ca.crt" -days 3650 -subj "/CN=fer-edge CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    chmod 600 "$OUT/ca.key"
    echo "$PROG: made $OUT/ca.crt"
}

# sign FILE CN USAGE [SAN]: FILE.key and a CA-signed FILE.crt for CN (USAGE: serverAuth or clientAuth).
sign() {
    local name=$1 cn=$2 usage=$3 san=${4:-} extensions
    if [ -f "$OUT/$name.crt" ]; then
        openssl x509 -in "$OUT/$name.crt" -noout -subject -nameopt multiline | grep -q "commonName *= $cn\$" ||
            die "$OUT/$name.crt exists for another name than $cn; move it away to make a new one"
        return
    fi
    extensions=$(mktemp)
    {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=$usage"
        echo "subjectKeyIdentifier=hash"
        echo "authorityKeyIdentifier=keyid"
        [ -z "$san" ] || echo "subjectAltName=$san"
    } > "$extensions"
    openssl req -new -noenc -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -keyout "$OUT/$name.key" -subj "/CN=$cn" 2>/dev/null |
        openssl x509 -req -CA "$OUT/ca.crt" -CAkey "$OUT/ca.key" -CAcreateserial -days "$DAYS" \
            -extfile "$extensions" -out "$OUT/$name.crt" 2>/dev/null
    rm -f "$extensions"
    chmod 600 "$OUT/$name.key"
    echo "$PROG: made $OUT/$name.crt (CN=$cn)"
}

main() {
    parse_args "$@"
    command -v openssl >/dev/null || die "openssl is not installed"
    mkdir -p "$OUT"
    make_ca
    sign broker "$BROKER" serverAuth "DNS:$BROKER,$SAN"
    local name
    for name in "${NAMES[@]}"; do
        sign "$name" "$name" clientAuth
    done
}

main "$@"
