#!/usr/bin/env bash
# Installs what Periscope needs and is missing on a Debian 12 machine. Idempotent.
#   scripts/setup.sh          build + run dependencies (libevent-dev with libevent_openssl, libssl-dev, zlib1g-dev, openssl, pkg-config,
#                             libsqlite3-dev, libbpf-dev for the L7 BPF programs,
#                             libnats-dev for the report bus)
#   scripts/setup.sh --test   also what the tests drive: socat, neovim, iproute2, graphviz, tmux, podman/runc/busybox-static,
#                             chromium, Python test packages; the L7 tests' servers and tools (nginx-light, redis-server,
#                             postgresql, mariadb-server + mariadb-client, dnsmasq-base, curl, wrk, prometheus for promtool),
#                             nats-server for the report bus tests, gdb (a daemon that stops answering a test is
#                             reported with its threads' stacks)
set -euo pipefail
cd "$(dirname "$0")/.."

want=(libevent-dev libssl-dev zlib1g-dev openssl pkg-config)
want+=(libsqlite3-dev)  # history log (Sources/CSQLite)
want+=(libbpf-dev)  # L7 (issue 14): libbpf for loading the BPF programs
want+=(libnats-dev)  # report bus (issue 15): the NATS C client with JetStream and its libevent adapter
if [[ "${1:-}" == "--test" ]]; then
    want+=(socat neovim iproute2 graphviz tmux podman runc busybox-static chromium)
    want+=(nginx-light redis-server postgresql mariadb-server mariadb-client dnsmasq-base curl wrk prometheus)  # L7 tests and bench/l7.sh
    want+=(nats-server)  # the report bus tests and bench/nats.sh run a 3-node JetStream cluster
    want+=(gdb)  # Tests/integration/rpc.py: the stacks of a daemon that does not answer, in the failure message
fi

missing=()
for pkg in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}" >&2
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null; then
    if [[ -x /opt/swift/usr/bin/swift ]]; then
        echo "setup: Swift is at /opt/swift/usr/bin; add it to PATH" >&2
    else
        echo "setup: Swift 6 is required (https://www.swift.org/install/linux/)" >&2
        exit 1
    fi
fi

# The sanitizer and libFuzzer runtimes that scripts/sanitize.sh and scripts/fuzz.sh link come with the Swift
# toolchain itself (usr/lib/swift/clang/lib/linux/libclang_rt.{asan,tsan,fuzzer}-x86_64.a): nothing to install.
if [[ "${1:-}" == "--test" ]]; then
    python3 -m pip install -q --disable-pip-version-check -r Tests/integration/requirements.txt
    python3 -m pip install -q --disable-pip-version-check ./clients/python
fi
