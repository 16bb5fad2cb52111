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
