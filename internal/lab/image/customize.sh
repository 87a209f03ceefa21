#!/bin/sh
# mmdebstrap customize hook: runs on the host once the guest's packages are
# installed; $1 is the guest's root file system. The environment carries the
# lab's inputs (LAB_AUTHORIZED_KEY, LAB_REPO_DIR, LAB_REPO_PACKAGES).
set -eu
root=$1

# The cluster packages are downloaded (with what they need beyond the image)
# but not installed: the lab serves them to the guests, so that the roles'
# install tasks really install. Debian would start corosync and dlm with a
# one-node configuration at boot; left out of the image they cannot.
# What the image itself was installed from is dropped first: only what the
# cluster packages add is served.
rm -f "$root"/var/cache/apt/archives/*.deb
# shellcheck disable=SC2086 # a space-separated package list, split on purpose
APT_CONFIG="$MMDEBSTRAP_APT_CONFIG" apt-get --yes --quiet --download-only \
  -o APT::Install-Recommends=true install $LAB_REPO_PACKAGES
mkdir -p "$LAB_REPO_DIR"
cp "$root"/var/cache/apt/archives/*.deb "$LAB_REPO_DIR"/
rm -f "$root"/var/cache/apt/archives/*.deb

# The guest has no route out: its only package source is the lab's.
rm -f "$root"/etc/apt/sources.list.d/*
echo "deb [trusted=yes] http://10.0.2.100/ ./" >"$root"/etc/apt/sources.list
printf 'Acquire::Languages "none";\nAcquire::http::Timeout "20";\n' >"$root"/etc/apt/apt.conf.d/90lab
# The roles install packages under emulation, where every fsync is slow; a
# lab VM that crashes is thrown away, never repaired.
echo force-unsafe-io >"$root"/etc/dpkg/dpkg.cfg.d/90lab-unsafe-io

install -d -m 0700 "$root"/root/.ssh
printf '%s\n' "$LAB_AUTHORIZED_KEY" >"$root"/root/.ssh/authorized_keys
chmod 0600 "$root"/root/.ssh/authorized_keys

echo "LABEL=labroot / ext4 rw,relatime,errors=remount-ro 0 1" >"$root"/etc/fstab
# The name comes from systemd.hostname= on the kernel command line.
rm -f "$root"/etc/hostname
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root"/etc/hosts

# Management NIC (qemu user networking, PCI slot 3): the address slirp
# forwards SSH to, and no default route. Cluster NIC (slot 4): the address
# given by lab.cluster_address= on the kernel command line.
mkdir -p "$root"/etc/systemd/network
cat >"$root"/etc/systemd/network/10-lab-mgmt.network <<'NET'
[Match]
Path=pci-0000:00:03.0

[Network]
Address=10.0.2.15/24
LinkLocalAddressing=no
IPv6AcceptRA=no
NET
cat >"$root"/usr/local/sbin/lab-network <<'SCRIPT'
#!/bin/sh
addr=$(sed -n 's/.*lab\.cluster_address=\([^ ]*\).*/\1/p' /proc/cmdline)
[ -n "$addr" ] || exit 0
mkdir -p /run/systemd/network
printf '[Match]\nPath=pci-0000:00:04.0\n\n[Network]\nAddress=%s\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n' "$addr" \
  >/run/systemd/network/20-lab-cluster.network
SCRIPT
chmod 0755 "$root"/usr/local/sbin/lab-network
cat >"$root"/etc/systemd/system/lab-network.service <<'UNIT'
[Unit]
Description=Cluster link address from the kernel command line
DefaultDependencies=no
Before=systemd-networkd.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/lab-network

[Install]
WantedBy=systemd-networkd.service
UNIT

chroot "$root" systemctl enable systemd-networkd.service lab-network.service
# Timers and waits that only cost boot time under emulation.
chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer \
  e2scrub_reap.service systemd-networkd-wait-online.service

# Each VM makes its own machine id at first boot.
: >"$root"/etc/machine-id
rm -f "$root"/var/lib/dbus/machine-id
