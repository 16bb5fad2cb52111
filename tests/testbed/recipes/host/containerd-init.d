#!/bin/sh
### BEGIN INIT INFO
# Provides:          containerd
# Required-Start:    $remote_fs
# Required-Stop:     $remote_fs
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: containerd container runtime
### END INIT INFO
# SysV start script for containerd on testbed hosts without systemd as PID 1
# (Debian ships only containerd.service). Same binary, same config file.
PIDFILE=/run/containerd/containerd.pid
LOG=/var/log/containerd.log

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
    running && return 0
    mkdir -p /run/containerd
    setsid /usr/bin/containerd >> "$LOG" 2>&1 < /dev/null &
    echo $! > "$PIDFILE"
    for _ in $(seq 1 50); do
        [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1 && return 0
        running || break
        sleep 0.2
    done
    echo "containerd did not start; see $LOG" >&2
    return 1
}

stop() {
    running || return 0
    kill "$(cat "$PIDFILE")"
    for _ in $(seq 1 50); do running || { rm -f "$PIDFILE"; return 0; }; sleep 0.2; done
    return 1
}

case "$1" in
    start) start ;;
    stop) stop ;;
    restart) stop && start ;;
    status) if running; then echo 'containerd is running'; else echo 'containerd is not running'; exit 3; fi ;;
    *) echo "Usage: $0 {start|stop|restart|status}" >&2; exit 1 ;;
esac
