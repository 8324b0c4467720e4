#!/bin/bash
# Container health check of the ringside image: GET /healthz on the
# process's own metrics/health listener (RINGSIDE_HEALTH_PORT, 9464 by
# default; the gateway answers on its HTTP port, 8080). Plain bash, so the
# image needs no curl. A process without a health listener (pbx-sim) sets
# RINGSIDE_HEALTH_PORT=none and is checked by its AMI port instead.
set -u
port="${RINGSIDE_HEALTH_PORT:-9464}"
path="${RINGSIDE_HEALTH_PATH:-/healthz}"

if [[ "$port" == none ]]; then
    exec 3<>"/dev/tcp/127.0.0.1/${RINGSIDE_HEALTH_TCP_PORT:-5038}" || exit 1
    exit 0
fi

exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$path" >&3
read -r -t 3 status_line <&3 || exit 1
[[ "$status_line" == "HTTP/1."?" 200"* ]]
