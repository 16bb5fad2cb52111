#!/bin/bash
# Builds the testbed host's root file system: a Debian release (bookworm,
# trixie or sid), as a fresh cloud server would have it, plus docker.io,
# containerd and (trixie, sid) podman; the flavours turn them off or remove them.
# Usage: build-rootfs.sh ROOTFS MIRROR [RELEASE]   (as root; 1-2 minutes)
set -euo pipefail
rootfs=$1
mirror=$2
release=${3:-bookworm}
here=$(cd "$(dirname "$0")" && pwd)

base=openssh-server,sudo,iproute2,ca-certificates,procps,curl,systemd-sysv,dbus,iptables,less,netcat-openbsd
case "$release" in
  # bookworm's podman 4.3 does not configure inside debootstrap (golang-github-containers-common).
  bookworm) runtimes=docker.io,containerd ;;
  # From trixie on, the docker CLI is a package of its own (docker-cli).
  trixie|sid) runtimes=docker.io,docker-cli,containerd,podman ;;
  *) echo "build-rootfs.sh: unknown release $release" >&2; exit 2 ;;
esac
# debootstrap does not check the Release file's Valid-Until (sid's on the
# mirror here is past it); apt inside the root does, so sid's is told not to.
debootstrap --variant=minbase --include="$base,$runtimes" "$release" "$rootfs" "$mirror"
if [ "$release" = sid ]; then
  echo 'Acquire::Check-Valid-Until "false";' > "$rootfs/etc/apt/apt.conf.d/99regwiz-testbed-valid-until"
fi

# Every container makes its own host keys at start, so a test can swap them.
rm -f "$rootfs"/etc/ssh/ssh_host_*
install -D -m 0644 "$here/sshd-testbed.conf" "$rootfs/etc/ssh/sshd_config.d/regwiz-testbed.conf"
install -D -m 0755 "$here/testbed-init" "$rootfs/usr/local/sbin/testbed-init"
install -D -m 0755 "$here/boot2docker-init.d-docker" "$rootfs/usr/local/share/regwiz-testbed/boot2docker-init.d-docker"
# Debian's containerd has only a systemd unit: hosts that cannot boot systemd
# (sid here) start and restart it with this SysV script.
[ -e "$rootfs/etc/init.d/containerd" ] || install -m 0755 "$here/containerd-init.d" "$rootfs/etc/init.d/containerd"
echo "$release" > "$rootfs/etc/regwiz-testbed-release"
install -d -m 0700 "$rootfs/etc/regwiz-testbed"

# Debian's SysV script sets ulimits a container may not raise (no
# CAP_SYS_RESOURCE); under `set -e` that aborts it. Make those lines non-fatal.
sed -i -E 's/^(\s*ulimit -[nup] [^|]*)$/\1 || true/' "$rootfs/etc/init.d/docker"

# systemd makes a machine id on each boot; units that need hardware are masked.
: > "$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"
chroot "$rootfs" systemctl mask --quiet \
  e2scrub_reap.service getty@tty1.service console-getty.service \
  systemd-udevd.service systemd-udev-trigger.service systemd-modules-load.service \
  sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
  systemd-remount-fs.service systemd-journald-audit.socket

# The packages debootstrap fetched become a local apt repository inside the
# image, and the only source apt knows there: a test host can install
# packages (the bare flavour installs Docker) without reaching any network.
repo="$rootfs/srv/regwiz-testbed-apt"
mkdir -p "$repo"
mv "$rootfs"/var/cache/apt/archives/*.deb "$repo"/
(
  cd "$repo"
  for deb in *.deb; do
    dpkg-deb -f "$deb"
    echo "Filename: ./$deb"
    echo "Size: $(stat -c %s "$deb")"
    echo "SHA256: $(sha256sum "$deb" | cut -d' ' -f1)"
    echo
  done > Packages
  {
    echo "Origin: regwiz-testbed"
    echo "Label: regwiz-testbed"
    echo "Suite: testbed"
    echo "Codename: testbed"
    echo "Date: $(LC_ALL=C date -u -R)"
    echo "Architectures: amd64 all"
    echo "SHA256:"
    echo " $(sha256sum Packages | cut -d' ' -f1) $(stat -c %s Packages) Packages"
  } > Release
)
rm -f "$rootfs"/etc/apt/sources.list.d/*.sources
echo 'deb [trusted=yes] file:/srv/regwiz-testbed-apt ./' > "$rootfs/etc/apt/sources.list"

# A smaller image: no package lists, caches or manuals.
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
  "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/log/*.log
