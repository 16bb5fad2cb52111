#!/bin/bash
# Builds a root file system equivalent to Docker Hub's registry:2 from Debian's
# docker-registry package (CNCF distribution 2.8): the binary, the C library it
# needs, and registry:2's default configuration. No Docker Hub access needed.
# Usage: build-rootfs.sh ROOTFS   (docker-registry must be installed here)
set -euo pipefail
rootfs=$1
here=$(cd "$(dirname "$0")" && pwd)
binary=/usr/bin/docker-registry

install -D -m 0755 "$binary" "$rootfs/bin/registry"
# The loader and every library the binary links (only libc today).
for lib in $(ldd "$binary" | grep -oE '/[^ ]+'); do
  install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
done
install -D -m 0644 "$here/config.yml" "$rootfs/etc/docker/registry/config.yml"
install -d "$rootfs/var/lib/registry" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
