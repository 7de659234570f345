#!/usr/bin/env bash
# Starts, stops and shows a local cluster: one registry, one master, two slaves (configs/*.json).
# Uses the compiled binaries in dist/ (deno task compile) when present, `deno run` otherwise.
#
#   deploy/cluster.sh start     start registry, master, slave1, slave2 (waits until each is up)
#   deploy/cluster.sh stop      stop them all (SIGTERM, then SIGKILL after 10 s)
#   deploy/cluster.sh status    pid, state and the node's own status line for each process
#   deploy/cluster.sh restart   stop, then start
#   deploy/cluster.sh logs NAME follow one process's log
#
# Environment: RUN_DIR (default ./run) holds pid files and logs; CONFIG_DIR (default ./configs).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN_DIR=${RUN_DIR:-run}
CONFIG_DIR=${CONFIG_DIR:-configs}
NODES=(master slave1 slave2)
mkdir -p "$RUN_DIR"

command_for() { # name -> the command line that runs it
  local name=$1 bin entry config
  if [ "$name" = registry ]; then bin=dist/registry entry=registry.ts; else bin=dist/gameserver entry=main.ts; fi
  config="$CONFIG_DIR/$name.json"
  if [ -x "$bin" ]; then echo "$bin --config=$config"; else echo "deno run -A $entry --config=$config"; fi
}

alive() { # pid -> 0 while the process exists and is not a zombie (kill -0 passes for a zombie:
  # a killed process its parent never reaped, common in containers without an init)
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "${state:0:1}" != Z ]
}

is_running() { [ -f "$RUN_DIR/$1.pid" ] && alive "$(cat "$RUN_DIR/$1.pid")"; }

wait_for_line() { # name pattern seconds
  local deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    grep -qE "$2" "$RUN_DIR/$1.log" 2>/dev/null && return 0
    is_running "$1" || { echo "  $1 exited; last log lines:"; tail -n 5 "$RUN_DIR/$1.log"; return 1; }
    sleep 0.2
  done
  echo "  $1: no '$2' within $3 s"; return 1
}

start_one() { # name pattern
  local name=$1
  if is_running "$name"; then echo "$name already running (pid $(cat "$RUN_DIR/$name.pid"))"; return 0; fi
  # shellcheck disable=SC2046
  nohup $(command_for "$name") >"$RUN_DIR/$name.log" 2>&1 &
  echo $! >"$RUN_DIR/$name.pid"
  echo "starting $name (pid $!): $(command_for "$name")"
  wait_for_line "$name" "$2" 30
}

start() {
  start_one registry "Registry listening"
  start_one master "listening for clients"
  # After a whole-cluster restart any member may win the election (the one holding the most).
  for s in slave1 slave2; do start_one "$s" "Snapshot applied|Now MASTER"; done
  status
}

stop() {
  for name in "${NODES[@]}" registry; do
    if is_running "$name"; then
      local pid; pid=$(cat "$RUN_DIR/$name.pid")
      kill -CONT "$pid" 2>/dev/null || true
      kill -TERM "$pid"
      for _ in $(seq 50); do alive "$pid" || break; sleep 0.2; done
      if alive "$pid"; then kill -KILL "$pid"; fi
      echo "stopped $name (pid $pid)"
    fi
    rm -f "$RUN_DIR/$name.pid"
  done
}

status() {
  for name in registry "${NODES[@]}"; do
    if is_running "$name"; then
      local last; last=$(grep -E "Registered|Re-registered|Now MASTER|Following|listening|Stepping down" "$RUN_DIR/$name.log" | tail -n 1 | sed -E 's/^[^]]*\] //')
      printf '%-9s running (pid %s)  %s\n' "$name" "$(cat "$RUN_DIR/$name.pid")" "$last"
    else
      printf '%-9s stopped\n' "$name"
    fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  restart) stop; start ;;
  logs) tail -n 50 -f "$RUN_DIR/${2:?usage: cluster.sh logs NAME}.log" ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
