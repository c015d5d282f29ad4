#!/usr/bin/env bash
# Check deploy/install.sh on a fresh Debian 12 root: debootstrap (arm64 under qemu-user-static by default),
# run install.sh inside twice (the second run must keep the config and succeed), then run the installed
# agent, as its user, with the installed config, on the demo clip, against a Mosquitto on the host's
# loopback configured as deploy/mosquitto/ (TLS, client certificate, password, ACL); fer-monitor on the
# host stores what arrives, and the check counts it. Slow (much longer under qemu): not in the test suite.
# Needs root, Debian's archive, and the source tree's .venv (`make setup`) for fer-monitor.
set -euo pipefail

PROG=$(basename "$0")
DEPLOY_DIR=$(cd "$(dirname "$0")" && pwd)
SOURCE=$(dirname "$DEPLOY_DIR")
ROOT=/var/tmp/fer-edge-check/root
ARCH=arm64
MIRROR=http://deb.debian.org/debian
MODEL=""
MOUNTS=()
PIDS=()
WORK=""

usage() {
    cat <<EOF
Usage: $PROG [--root DIR] [--arch arm64|amd64] [--mirror URL] [--model FILE]

  --root DIR     where the Debian 12 root goes; reused when already complete (default: $ROOT)
  --arch ARCH    arm64 (the Pi's, emulated with qemu-user-static + binfmt) or amd64 (default: $ARCH)
  --mirror URL   Debian mirror for debootstrap (default: $MIRROR)
  --model FILE   model passed to install.sh --model (default: install.sh's, from the source tree)
  --work DIR     certificates, broker and monitor files, logs (default: ROOT/../work)
  -h, --help     this text

Logs to stdout; run it in the background: nice -n 19 $0 > check.log 2>&1 &
EOF
}

die() { echo "$PROG: error: $*" >&2; exit 1; }
need_value() { if [ $# -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (see --help)"; fi; }
say() { echo "$PROG: [$(date -u +%H:%M:%S)] $*"; }

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --root) need_value "$@"; ROOT="$2"; shift 2 ;;
            --arch) need_value "$@"; ARCH="$2"; shift 2 ;;
            --mirror) need_value "$@"; MIRROR="$2"; shift 2 ;;
            --model) need_value "$@"; MODEL=$(realpath "$2"); shift 2 ;;
            --work) need_value "$@"; WORK="$2"; shift 2 ;;
            -h|--help) usage; exit 0 ;;
            *) die "unknown argument '$1' (see --help)" ;;
        esac
    done
    case "$ARCH" in arm64|amd64) ;; *) die "--arch $ARCH: expected arm64 or amd64" ;; esac
    [ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot, mounts)"
    [ -x "$SOURCE/.venv/bin/python" ] || die "$SOURCE/.venv is missing: run 'make setup' (fer-monitor runs from it)"
    WORK=${WORK:-$(dirname "$ROOT")/work}
}

host_tools() {
    local packages=(debootstrap mosquitto)
    [ "$ARCH" = "$(dpkg --print-architecture)" ] || packages+=(qemu-user-static binfmt-support)
    dpkg -s "${packages[@]}" >/dev/null 2>&1 && return
    say "installing ${packages[*]} on the host"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
}

enable_binfmt() {
    [ "$ARCH" = "$(dpkg --print-architecture)" ] && return
    mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || die "binfmt handler qemu-aarch64 is not registered"
}

bootstrap() {
    if [ -f "$ROOT/etc/debian_version" ] && [ ! -d "$ROOT/debootstrap" ]; then
        say "reusing the Debian root in $ROOT"
        return
    fi
    say "debootstrap --arch=$ARCH --variant=minbase bookworm $ROOT"
    rm -rf "$ROOT"
    mkdir -p "$ROOT"
    debootstrap --arch="$ARCH" --variant=minbase bookworm "$ROOT" "$MIRROR" >/dev/null
}

mount_into_root() {
    local target targets=(proc dev)
    # Under qemu-user, /sys would show the host's (x86) CPUs, and LiteRT's cpuinfo crashes the interpreter
    # on them (SIGSEGV in Interpreter()); without /sys it falls back to defaults. Native roots get /sys.
    [ "$ARCH" != "$(dpkg --print-architecture)" ] || targets+=(sys)
    for target in "${targets[@]}"; do
        mountpoint -q "$ROOT/$target" && continue
        case "$target" in
            proc) mount -t proc proc "$ROOT/proc" ;;
            sys) mount -t sysfs sysfs "$ROOT/sys" ;;
            dev) mount --bind /dev "$ROOT/dev" ;;
        esac
        MOUNTS+=("$ROOT/$target")
    done
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    # pip inside the root trusts what the host trusts (the host may sit behind a TLS-inspecting proxy).
    cp /etc/ssl/certs/ca-certificates.crt "$ROOT/root/host-ca.crt"
}

clean_up() {
    local index
    for ((index = ${#PIDS[@]} - 1; index >= 0; index--)); do
        if kill "${PIDS[index]}" 2>/dev/null; then wait "${PIDS[index]}" 2>/dev/null || true; fi
    done
    for ((index = ${#MOUNTS[@]} - 1; index >= 0; index--)); do
        umount "${MOUNTS[index]}" || umount -l "${MOUNTS[index]}"
    done
}

copy_source() {
    say "copying $SOURCE to $ROOT/usr/src/fer-edge"
    rm -rf "$ROOT/usr/src/fer-edge"
    mkdir -p "$ROOT/usr/src/fer-edge"
    tar -C "$SOURCE" --exclude=.git --exclude=.venv --exclude='*.egg-info' --exclude=build \
        --exclude=__pycache__ --exclude=.pytest_cache --exclude=runs -cf - . | tar -C "$ROOT/usr/src/fer-edge" -xf -
    if [ -n "$MODEL" ]; then
        cp "$MODEL" "${MODEL%.tflite}.json" "$ROOT/root/"
    fi
}

in_root() {
    chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        PIP_CERT=/root/host-ca.crt "$@"
}

run_install() {
    local args=(--source /usr/src/fer-edge)
    [ -z "$MODEL" ] || args+=(--model "/root/$(basename "$MODEL")")
    say "install.sh ${args[*]} (run $1)"
    in_root bash /usr/src/fer-edge/deploy/install.sh "${args[@]}"
}

check_installed() {
    in_root id fer-edge
    in_root test -f /etc/fer-edge/edge.toml
    in_root test -f /usr/share/fer-edge/models/fer2013_cnn_bilstm_int8.tflite
    in_root test -f /etc/systemd/system/fer-edge.service
    in_root /opt/fer-edge/venv/bin/python -c 'import edge, paho.mqtt, ai_edge_litert, cv2, gpiozero; print("imports ok")'
    say "installed files, user and imports are in place"
}

DEVICE=""
PORT=""

start_broker() {
    # The fleet's broker config (deploy/mosquitto/) on a free loopback port, its files in WORK/broker.
    DEVICE="debootstrap-$ARCH"
    rm -rf "$WORK" && mkdir -p "$WORK/broker"
    "$DEPLOY_DIR/mosquitto/make-certs.sh" --out "$WORK/broker" "$DEVICE" fer-reader >/dev/null
    echo reader-secret > "$WORK/reader-password"
    cp "$DEPLOY_DIR/mosquitto/acl" "$WORK/broker/acl"
    PORT=$("$SOURCE/.venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    { echo "user root"; echo "log_dest stderr"; echo "log_type all"
      sed -e "s#/etc/mosquitto/fer/#$WORK/broker/#" -e "s#^listener 8883\$#listener $PORT 127.0.0.1#" \
          "$DEPLOY_DIR/mosquitto/fer-edge.conf"; } > "$WORK/broker/mosquitto.conf"
    mosquitto -c "$WORK/broker/mosquitto.conf" 2> "$WORK/mosquitto.log" &
    PIDS+=($!)
    wait_for "mosquitto listening on 127.0.0.1:$PORT" "grep -q 'listen socket on port $PORT' '$WORK/mosquitto.log'"
    # The device's side of it, where the example config expects it (group fer-edge of the root, by number).
    local gid
    gid=$(in_root getent group fer-edge | cut -d: -f3)
    install -m 0640 -g "$gid" "$WORK/broker/ca.crt" "$ROOT/etc/fer-edge/ca.crt"
    install -m 0640 -g "$gid" "$WORK/broker/$DEVICE.crt" "$ROOT/etc/fer-edge/client.crt"
    install -m 0640 -g "$gid" "$WORK/broker/$DEVICE.key" "$ROOT/etc/fer-edge/client.key"
    # The password's one path (the broker here ignores it: it takes the user from the certificate).
    echo device-secret | install -m 0600 /dev/stdin "$ROOT/etc/fer-edge/mqtt-password"
}

# wait_for WHAT COMMAND: poll COMMAND for up to 60 s.
wait_for() {
    local tries
    for ((tries = 0; tries < 600; tries++)); do
        eval "$2" && return
        sleep 0.1
    done
    die "timed out waiting for $1"
}

start_monitor() {
    "$SOURCE/.venv/bin/python" -m edge.monitor.cli --log-level INFO watch --mqtt-host 127.0.0.1 --mqtt-port "$PORT" \
        --mqtt-tls-ca-file "$WORK/broker/ca.crt" --mqtt-tls-cert-file "$WORK/broker/fer-reader.crt" \
        --mqtt-tls-key-file "$WORK/broker/fer-reader.key" --mqtt-username fer-reader \
        --mqtt-password-file "$WORK/reader-password" --mqtt-client-id fer-monitor-check \
        --sqlite "$WORK/monitor.db" --jsonl "$WORK/monitor.jsonl" --no-table 2> "$WORK/monitor.log" &
    PIDS+=($!)
    # the broker makes the user name (the certificate's CN) the client id: use_username_as_clientid
    wait_for "fer-monitor to subscribe" "grep -q 'Received SUBSCRIBE from fer-reader' '$WORK/mosquitto.log'"
}

run_agent() {
    local clip settings
    clip=$(in_root /opt/fer-edge/venv/bin/python -c 'from edge.demo import CLIP; print(CLIP)')
    in_root /opt/fer-edge/venv/bin/fer-edge check-config /etc/fer-edge/edge.toml
    # The installed example config, with only what differs here: the device, the broker's port, the clip.
    settings=(--device-id "$DEVICE" --mqtt-host 127.0.0.1 --mqtt-port "$PORT" --mqtt-username "$DEVICE"
              --mqtt-tls-cert-file /etc/fer-edge/client.crt --mqtt-tls-key-file /etc/fer-edge/client.key
              --camera-kind opencv --camera-source "$clip" --camera-fps 10 --trigger-kind motion
              --trigger-quiet-seconds 0.5 --publish-health-seconds 5)
    say "running the agent as user fer-edge on $clip (it stops at the clip's end)"
    # The password reaches it as the unit passes it: LoadCredential= copies the root-only file into a
    # directory only the service's user reads, named by $CREDENTIALS_DIRECTORY.
    local credentials=/run/credentials/fer-edge.service
    install -d -m 0500 -o "$(in_root id -u fer-edge)" "$ROOT$credentials"
    install -m 0400 -o "$(in_root id -u fer-edge)" "$ROOT/etc/fer-edge/mqtt-password" "$ROOT$credentials/mqtt-password"
    chroot --userspec=fer-edge:fer-edge "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/var/lib/fer-edge \
        LANG=C.UTF-8 CREDENTIALS_DIRECTORY="$credentials" timeout --signal=TERM 900 /opt/fer-edge/venv/bin/fer-edge run --config /etc/fer-edge/edge.toml \
        "${settings[@]}" > "$WORK/agent.log" 2>&1 || die "the agent failed (exit $?): $(tail -5 "$WORK/agent.log")"
    cat "$WORK/agent.log"
}

check_received() {
    local counts
    sleep 2
    if kill -TERM "${PIDS[-1]}"; then wait "${PIDS[-1]}" || true; fi
    unset 'PIDS[-1]'
    counts=$(sqlite_counts)
    say "fer-monitor stored, per kind: $counts"
    grep -q "emotion" <<< "$counts" || die "no emotion message from $DEVICE reached the monitor"
    "$SOURCE/.venv/bin/python" -m edge.monitor.cli report "$WORK/monitor.db" -o "$WORK/report.png"
}

sqlite_counts() {
    "$SOURCE/.venv/bin/python" - "$WORK/monitor.db" "$DEVICE" <<'EOF'
import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute(
    "SELECT kind, COUNT(*) FROM messages WHERE device = ? GROUP BY kind", (sys.argv[2],)).fetchall()
print(", ".join(f"{kind} {count}" for kind, count in rows) or "nothing")
EOF
}

main() {
    parse_args "$@"
    host_tools
    enable_binfmt
    bootstrap
    trap clean_up EXIT
    mount_into_root
    copy_source
    run_install 1
    echo "# edited by $PROG" >> "$ROOT/etc/fer-edge/edge.toml"
    run_install 2
    grep -q "edited by $PROG" "$ROOT/etc/fer-edge/edge.toml" || die "the second run overwrote /etc/fer-edge/edge.toml"
    check_installed
    start_broker
    start_monitor
    run_agent
    check_received
    say "all checks passed"
}

main "$@"
