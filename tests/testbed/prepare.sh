#!/usr/bin/env bash
# Installs and starts what the testbed needs on this machine (as root):
# Debian packages, then dockerd when it is not running. Idempotent and quick
# when all is there already.
set -euo pipefail
PACKAGES=(docker.io debootstrap docker-registry skopeo openssh-client iproute2 procps)

log() { echo "[testbed] $*" >&2; }

if [ "$(id -u)" != 0 ]; then
  SUDO=sudo
else
  SUDO=
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: /var/log/regwiz-testbed-dockerd.log)"
  $SUDO sh -c 'setsid nohup dockerd >>/var/log/regwiz-testbed-dockerd.log 2>&1 < /dev/null &'
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see /var/log/regwiz-testbed-dockerd.log"; exit 1; }
fi

# Each systemd testbed host holds about 7 inotify instances (up to 18 while it
# boots), all charged to root, and the kernel's default allows 128 per user: a
# few other systemd containers on the machine and hosts die at boot ("the
# container exited"). As root, raise this machine's limits (a kernel setting,
# until reboot; never lowered). Otherwise the testbed checks the headroom
# itself before it starts hosts (tests/testbed/hosts.py, check_inotify_headroom).
INOTIFY_INSTANCES=1024
INOTIFY_WATCHES=524288   # raised only when below MIN_INOTIFY_WATCHES
MIN_INOTIFY_WATCHES=65536
raise_sysctl() {  # NAME WANTED MINIMUM: set NAME to WANTED when it is below MINIMUM
  local name=$1 wanted=$2 minimum=$3 file="/proc/sys/${1//.//}" now
  now=$(cat "$file" 2>/dev/null) || return 0
  [ "$now" -ge "$minimum" ] && return 0
  if [ "$(id -u)" != 0 ]; then
    log "$name is $now (below $minimum) and this is not root: not raised; the testbed checks its headroom before starting hosts (as root: sysctl -w $name=$wanted)"
  elif { echo "$wanted" > "$file"; } 2>/dev/null && [ "$(cat "$file")" -ge "$wanted" ]; then
    log "raised this machine's kernel setting $name from $now to $wanted, until reboot (undo: sysctl -w $name=$now)"
  else
    log "could not raise $name from $now to $wanted; the testbed checks its headroom before starting hosts"
  fi
}
raise_sysctl fs.inotify.max_user_instances "$INOTIFY_INSTANCES" "$INOTIFY_INSTANCES"
raise_sysctl fs.inotify.max_user_watches "$INOTIFY_WATCHES" "$MIN_INOTIFY_WATCHES"
