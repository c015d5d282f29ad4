#!/usr/bin/env bash
# Run site.yml against the Debian root that ../check_debootstrap.sh left, through the community.general.chroot
# connection, twice: the first run installs or updates, the second must change nothing (handlers, idempotence).
# Secrets go through ansible-vault as in a real fleet. Needs root and an ansible with community.general
# (Debian's `ansible` package bundles it; ansible-core alone does not).
set -euo pipefail

PROG=$(basename "$0")
ANSIBLE_DIR=$(cd "$(dirname "$0")" && pwd)
SOURCE=$(cd "$ANSIBLE_DIR/../.." && pwd)
ROOT=/var/tmp/fer-edge-check/root
PLAYBOOK=ansible-playbook
DEVICE=chroot-check
MODEL=$SOURCE/models/fer2013_cnn_bilstm_int8.tflite
BUNDLES=()
KEYS=()

usage() {
    cat <<EOF
Usage: $PROG [--root DIR] [--model FILE] [--bundle FILE]... [--trusted-key PUB]... [--ansible-playbook PATH]

  --root DIR                a Debian root with python3 (default: $ROOT, made by check_debootstrap.sh)
  --model FILE              .tflite with its .json sidecar to push (default: $MODEL)
  --bundle FILE             a model bundle to push through \`fer-edge model install\` instead; given again, the
                            bundles are rolled out in turn, each checked to be the current model afterwards
  --trusted-key PUB         a public key the bundles must be signed by (fer_edge_trusted_keys); repeatable
  --ansible-playbook PATH   an ansible-playbook that has community.general (default: $PLAYBOOK)
  -h, --help                this text
EOF
}

die() { echo "$PROG: error: $*" >&2; exit 1; }
need_value() { if [ $# -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (see --help)"; fi; }
say() { echo "$PROG: [$(date -u +%H:%M:%S)] $*"; }

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --root) need_value "$@"; ROOT="$2"; shift 2 ;;
            --model) need_value "$@"; MODEL=$(realpath "$2"); shift 2 ;;
            --bundle) need_value "$@"; BUNDLES+=("$(realpath "$2")"); shift 2 ;;
            --trusted-key) need_value "$@"; KEYS+=("$(realpath "$2")"); shift 2 ;;
            --ansible-playbook) need_value "$@"; PLAYBOOK="$2"; shift 2 ;;
            -h|--help) usage; exit 0 ;;
            *) die "unknown argument '$1' (see --help)" ;;
        esac
    done
    [ "$(id -u)" -eq 0 ] || die "must run as root (chroot)"
    [ -x "$ROOT/usr/bin/python3" ] || die "--root $ROOT: no Debian root with python3 (run check_debootstrap.sh first)"
    { [ -f "$MODEL" ] && [ -f "${MODEL%.tflite}.json" ]; } || die "--model $MODEL: no such model with a .json sidecar"
    command -v "$PLAYBOOK" >/dev/null || die "$PLAYBOOK not found"
    "$(dirname "$(command -v "$PLAYBOOK")")/ansible-doc" -t connection community.general.chroot >/dev/null 2>&1 ||
        die "$PLAYBOOK has no community.general.chroot (apt-get install ansible, or pip install ansible)"
}

prepare() {
    # A wheel built from a copy of the tree, certificates, an inventory for the root, secrets in a vault.
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
    tar -C "$SOURCE" --exclude=.git --exclude=.venv --exclude=runs --exclude='*.egg-info' --exclude=build \
        -cf - . | (mkdir "$WORK/src" && tar -C "$WORK/src" -xf -)
    "$SOURCE/.venv/bin/python" -m pip wheel -q --no-deps -w "$WORK/dist" "$WORK/src" > "$WORK/wheel.log" 2>&1 ||
        die "building the wheel failed: $(tail -5 "$WORK/wheel.log")"
    "$ANSIBLE_DIR/../mosquitto/make-certs.sh" --out "$WORK/certs" "$DEVICE" >/dev/null
    cat > "$WORK/inventory.yml" <<EOF
fer_edge:
  hosts:
    $ROOT:
      ansible_connection: community.general.chroot
      ansible_python_interpreter: /usr/bin/python3
      fer_edge_device_id: $DEVICE
      fer_edge_manage_service: false
      fer_edge_mqtt_host: 127.0.0.1
      fer_edge_wheel: $(ls "$WORK"/dist/fer_edge-*.whl)
      fer_edge_model: $MODEL
      fer_edge_certs_dir: $WORK/certs
      fer_edge_settings: {camera: {kind: opencv, fps: 2}, trigger: {kind: motion}}
      fer_edge_bundle: "${BUNDLES[0]:-}"
      fer_edge_trusted_keys: [$(IFS=,; echo "${KEYS[*]}")]
EOF
    printf 'vault_fer_edge_mqtt_passwords:\n  %s: chroot-secret\n' "$DEVICE" > "$WORK/vault.yml"
    head -c 24 /dev/urandom | base64 > "$WORK/vault-pass"
    "$(dirname "$(command -v "$PLAYBOOK")")/ansible-vault" encrypt --vault-password-file "$WORK/vault-pass" "$WORK/vault.yml" >/dev/null
}

run_playbook() {
    say "ansible-playbook site.yml on $ROOT (run $1)"
    (cd "$ANSIBLE_DIR" && ANSIBLE_FORCE_COLOR=0 "$PLAYBOOK" -i "$WORK/inventory.yml" site.yml \
        -e "@$WORK/vault.yml" --vault-password-file "$WORK/vault-pass" "${@:2}") | tee "$WORK/run$1.log"
}

main() {
    parse_args "$@"
    prepare
    run_playbook 1
    run_playbook 2
    grep -Eq "changed=0 +unreachable=0 +failed=0" "$WORK/run2.log" || die "the second run changed something (see above)"
    chroot "$ROOT" /opt/fer-edge/venv/bin/fer-edge check-config /etc/fer-edge/edge.toml
    say "both runs passed; the second changed nothing"
    local run=3 bundle
    for bundle in "${BUNDLES[@]:1}"; do
        run_playbook $run -e "fer_edge_bundle=$bundle"
        chroot "$ROOT" /opt/fer-edge/venv/bin/fer-edge model status --config /etc/fer-edge/edge.toml \
            --expect-bundle "/opt/fer-edge/bundles/$(basename "$bundle")" || die "$(basename "$bundle") is not current"
        say "$(basename "$bundle") is the current model, the one before it previous"
        run=$((run + 1))
    done
}

main "$@"
