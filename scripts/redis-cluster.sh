#!/usr/bin/env bash
# A throwaway Redis Cluster on loopback for CI and local runs: three masters and three replicas, nothing
# saved to disk. Prints the REDIS_CLUSTER_NODES value on start.
#   scripts/redis-cluster.sh start [first-port]   (default 30000: ports 30000-30005, buses 31000-31005)
# Bus ports are set (--cluster-port) rather than the default port + 10000: 40000-40005 lie in Linux's
# ephemeral range (32768-60999), where a test's client socket may hold one and the node then cannot start
# (seen once in CI). Keep first-port + 1005 below 32768.
#   scripts/redis-cluster.sh stop  [first-port]
set -euo pipefail

command="${1:-}"
first_port="${2:-30000}"
ports=()
for i in 0 1 2 3 4 5; do ports+=("$((first_port + i))"); done
dir="${TMPDIR:-/tmp}/smartline-redis-cluster-${first_port}"

stop() {
  for port in "${ports[@]}"; do
    redis-cli -p "${port}" shutdown nosave >/dev/null 2>&1 || true
  done
  rm -rf "${dir}"
}

case "${command}" in
  start)
    stop
    mkdir -p "${dir}"
    for port in "${ports[@]}"; do
      redis-server --daemonize yes --bind 127.0.0.1 --port "${port}" --save "" --appendonly no \
        --cluster-enabled yes --cluster-port "$((port + 1000))" --cluster-config-file "${dir}/nodes-${port}.conf" --cluster-node-timeout 2000 \
        --dir "${dir}" --logfile "${dir}/redis-${port}.log"
    done
    for port in "${ports[@]}"; do
      for attempt in $(seq 1 50); do
        [ "$(redis-cli -p "${port}" ping 2>/dev/null)" = "PONG" ] && break
        [ "${attempt}" -eq 50 ] && { echo "redis-server on ${port} did not start" >&2; exit 1; }
        sleep 0.1
      done
    done
    nodes=()
    for port in "${ports[@]}"; do nodes+=("127.0.0.1:${port}"); done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"${dir}/create.log"
    for attempt in $(seq 1 300); do
      healthy=yes
      for port in "${ports[@]}"; do
        redis-cli -p "${port}" cluster info | grep -q 'cluster_state:ok' || healthy=no
      done
      [ "${healthy}" = yes ] && break
      [ "${attempt}" -eq 300 ] && { echo "the cluster did not reach cluster_state:ok within 30 s" >&2; exit 1; }
      sleep 0.1
    done
    (IFS=,; echo "${nodes[*]}")
    ;;
  stop)
    stop
    ;;
  *)
    echo "usage: $0 start|stop [first-port]" >&2
    exit 2
    ;;
esac
