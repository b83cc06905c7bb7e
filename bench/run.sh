#!/usr/bin/env bash
# Runs every benchmark; each prints its figures. Results are recorded by hand in bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")"
for script in ping.sh socket-events.sh host-map.sh subscriptions.sh containers.sh multihost.sh web-ui.sh history.sh; do
    [[ -x "$script" ]] && { echo "== $script"; "./$script"; }
done
