#!/usr/bin/env bash
# Install or update the fer-edge agent on one Raspberry Pi OS Bookworm (Debian 12) machine. Idempotent.
set -euo pipefail

PROG=$(basename "$0")
DEPLOY_DIR=$(cd "$(dirname "$0")" && pwd)
SOURCE=$(dirname "$DEPLOY_DIR")
PREFIX=/opt/fer-edge
MODEL=""
PASSWORD_FILE=""
START=yes

APT_PACKAGES=(python3 python3-venv python3-pip ca-certificates)
# Raspberry Pi OS only: the camera stack and the Pi 5 GPIO backend are apt packages, not wheels.
OPTIONAL_APT_PACKAGES=(python3-picamera2 python3-lgpio)
MODEL_NAME=fer2013_cnn_bilstm_int8
MODEL_DIR=/usr/share/fer-edge/models
CONFIG=/etc/fer-edge/edge.toml
CREDENTIAL=/etc/fer-edge/mqtt-password
UNIT=/etc/systemd/system/fer-edge.service
SERVICE_USER=fer-edge

usage() {
    cat <<EOF
Usage: $PROG [--source DIR|WHEEL] [--model FILE] [--mqtt-password-file FILE] [--no-start]

Installs or updates the fer-edge agent (run as root; safe to run again):
  apt packages, a venv in $PREFIX/venv with fer-edge[edge,pi], the system user $SERVICE_USER
  (groups video, gpio), $CONFIG from the commented example (kept if present),
  the model in $MODEL_DIR, the systemd unit $UNIT, and the broker password as the
  unit's credential $CREDENTIAL (root only; empty for a broker that takes none).
  fer-edge itself is reinstalled whenever the source is not the one installed last, also at the same version.

  --source DIR|WHEEL  fer-edge source tree or wheel to install (default: $SOURCE)
  --model FILE        .tflite model with its .json sidecar beside it
                      (default: SOURCE/models/$MODEL_NAME.tflite; required with a wheel)
  --mqtt-password-file FILE
                      install the broker password (first line of FILE) as $CREDENTIAL
                      (default: keep the one there, or create it empty)
  --no-start          install and enable the unit but do not (re)start it
  -h, --help          this text
EOF
}

die() { echo "$PROG: error: $*" >&2; exit 1; }
need_value() { if [ $# -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (see --help)"; fi; }
say() { echo "$PROG: $*"; }

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --source) need_value "$@"; SOURCE="$2"; shift 2 ;;
            --model) need_value "$@"; MODEL="$2"; shift 2 ;;
            --mqtt-password-file) need_value "$@"; PASSWORD_FILE="$2"; shift 2 ;;
            --source=*|--model=*|--mqtt-password-file=*) set -- "${1%%=*}" "${1#*=}" "${@:2}" ;;
            --no-start) START=no; shift ;;
            -h|--help) usage; exit 0 ;;
            *) die "unknown argument '$1' (see --help)" ;;
        esac
    done
    [ -e "$SOURCE" ] || die "--source $SOURCE: no such file or directory"
    if [ -z "$MODEL" ]; then
        [ -d "$SOURCE" ] || die "--model is required when --source is a wheel"
        MODEL=$SOURCE/models/$MODEL_NAME.tflite
    fi
    [ -f "$MODEL" ] || die "--model $MODEL: no such file"
    [ -f "${MODEL%.tflite}.json" ] || die "--model $MODEL: its metadata ${MODEL%.tflite}.json is missing"
    if [ -n "$PASSWORD_FILE" ]; then
        [ -f "$PASSWORD_FILE" ] || die "--mqtt-password-file $PASSWORD_FILE: not a file"
        [ -r "$PASSWORD_FILE" ] || die "--mqtt-password-file $PASSWORD_FILE: not readable"
        [ -n "$(head -n 1 "$PASSWORD_FILE")" ] || die "--mqtt-password-file $PASSWORD_FILE: its first line (the password) is empty"
    fi
    [ "$(id -u)" -eq 0 ] || die "must run as root"
}

apt_available() {
    # True when apt knows an installable candidate for the package.
    local candidate
    candidate=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
    [ -n "$candidate" ] && [ "$candidate" != "(none)" ]
}

install_apt_packages() {
    local wanted=("${APT_PACKAGES[@]}") package
    [ "$(uname -m)" = aarch64 ] || say "note: this is $(uname -m), not aarch64 (Raspberry Pi OS 64-bit)"
    apt-get update -qq
    for package in "${OPTIONAL_APT_PACKAGES[@]}"; do
        if apt_available "$package"; then
            wanted+=("$package")
        else
            say "skipping $package: not available here (it comes from Raspberry Pi OS's archive)"
        fi
    done
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${wanted[@]}"
}

ensure_group() {
    getent group "$1" >/dev/null || groupadd --system "$1"
}

ensure_user() {
    ensure_group video
    ensure_group gpio
    if ! id "$SERVICE_USER" >/dev/null 2>&1; then
        useradd --system --user-group --home-dir /var/lib/fer-edge --no-create-home \
            --shell /usr/sbin/nologin --comment "fer-edge agent" "$SERVICE_USER"
    fi
    usermod --append --groups video,gpio "$SERVICE_USER"
    # The outbox lives here; systemd's StateDirectory= keeps it, this makes it for runs outside systemd too.
    install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" /var/lib/fer-edge
}

install_venv() {
    # --system-site-packages: picamera2 (and lgpio) come from apt, not from PyPI.
    [ -x "$PREFIX/venv/bin/python" ] || python3 -m venv --system-site-packages "$PREFIX/venv"
    "$PREFIX/venv/bin/pip" install -q --upgrade pip
    "$PREFIX/venv/bin/pip" install -q --upgrade "${SOURCE}[edge,pi]"
    install_agent
}

# pip keeps an installed version as it is, even from a rebuilt wheel with other code: reinstall fer-edge (not
# its dependencies) unless this very wheel is the one installed last. A source tree is always reinstalled.
install_agent() {
    local marker=$PREFIX/venv/fer-edge-wheel.sha256 wheel_sha=""
    if [ -f "$SOURCE" ]; then wheel_sha=$(sha256sum "$SOURCE" | cut -d' ' -f1); fi
    if [ -n "$wheel_sha" ] && [ "$(cat "$marker" 2>/dev/null)" = "$wheel_sha" ]; then
        say "fer-edge from $SOURCE is installed already"
        return
    fi
    "$PREFIX/venv/bin/pip" install -q --force-reinstall --no-deps "$SOURCE"
    if [ -n "$wheel_sha" ]; then echo "$wheel_sha" > "$marker"; else rm -f "$marker"; fi
    say "installed fer-edge from $SOURCE"
}

install_config() {
    install -d -m 0750 -o root -g "$SERVICE_USER" /etc/fer-edge
    if [ -e "$CONFIG" ]; then
        say "keeping existing $CONFIG"
    else
        install -m 0640 -o root -g "$SERVICE_USER" "$DEPLOY_DIR/edge.toml.example" "$CONFIG"
        say "wrote $CONFIG from the example: set device id and broker there"
    fi
}

install_password() {
    # One path for the secret, as in the Ansible role: systemd's LoadCredential= reads this root-only file.
    if [ -n "$PASSWORD_FILE" ]; then
        head -n 1 "$PASSWORD_FILE" | install -m 0600 -o root -g root /dev/stdin "$CREDENTIAL"
        say "installed the broker password as $CREDENTIAL"
    elif [ ! -e "$CREDENTIAL" ]; then
        install -m 0600 -o root -g root /dev/null "$CREDENTIAL"
        say "created an empty $CREDENTIAL: no broker password (run again with --mqtt-password-file if it wants one)"
    fi
}

install_model() {
    install -d -m 0755 "$MODEL_DIR"
    install -m 0644 "$MODEL" "$MODEL_DIR/$MODEL_NAME.tflite"
    install -m 0644 "${MODEL%.tflite}.json" "$MODEL_DIR/$MODEL_NAME.json"
}

install_unit() {
    install -m 0644 "$DEPLOY_DIR/fer-edge.service" "$UNIT"
    if ! command -v systemctl >/dev/null; then
        say "systemd is not installed here: unit written to $UNIT, not enabled"
        return
    fi
    systemctl enable fer-edge.service >/dev/null 2>&1 || say "could not enable fer-edge.service"
    if [ ! -d /run/systemd/system ]; then
        say "systemd is not running here (chroot or container): not starting the service"
        return
    fi
    systemctl daemon-reload
    [ "$START" = yes ] || return 0
    if "$PREFIX/venv/bin/fer-edge" check-config "$CONFIG"; then
        systemctl restart fer-edge.service
        say "fer-edge.service restarted"
    else
        say "not starting fer-edge.service: fix $CONFIG (see above), then: systemctl restart fer-edge"
    fi
}

main() {
    parse_args "$@"
    install_apt_packages
    ensure_user
    install_venv
    install_config
    install_password
    install_model
    install_unit
    say "done: $("$PREFIX/venv/bin/fer-edge" --version 2>/dev/null || echo "fer-edge installed in $PREFIX/venv")"
}

# Sourced (by the tests), only the functions are defined.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi
