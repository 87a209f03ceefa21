# -*- coding: utf-8 -*-
# Copyright: cinder.multiattach maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# ocfs2_fs is a static Go binary (cmd/ocfs2_fs, built into plugins/bin/<platform>/ocfs2_fs)
# run by the action plugin plugins/action/ocfs2_fs.py. This file is its documentation
# only, the one place it is written: ansible-doc, ansible-test and Galaxy read it here.

from __future__ import annotations

DOCUMENTATION = r"""
module: ocfs2_fs
short_description: Create an OCFS2 file system on a shared device safely and only once, and change its slots
version_added: 1.0.0
author:
  - cinder.multiattach maintainers (@cinder-multiattach)
description:
  - Creates an OCFS2 file system with C(mkfs.ocfs2) on a block device or image file, but only when the
    device is empty. Run it on one node (C(run_once)); the other nodes see the result.
  - Probes first, reading the device directly (O_DIRECT; the buffer cache of a block device is flushed
    first), so that a file system another node has just made is seen. The probe reads the OCFS2
    superblock in block 2 for 512-byte to 4 KiB blocks (slots, label, UUID, cluster stack and name,
    block and cluster size); any other signature (C(blkid -p)) or a GPT or MBR partition table counts
    as data, and so does any non-zero byte in the first 8 MiB or the last MiB of a device where
    nothing is recognised (a file system behind an erased partition table, or one whose signatures
    were wiped); a new volume reads as zeros there.
  - An empty device gets a new file system. An OCFS2 file system of the same cluster stack and cluster
    name (and label, block size and cluster size, when given) is kept. Anything else fails with a message
    saying what was found (type, label, UUID); with I(force=true) its signatures are wiped
    (C(wipefs --all)) and the file system is created. Before wiping an OCFS2 volume the module asks
    C(mounted.ocfs2 -f) which nodes have it mounted and refuses when any does.
  - A device that is mounted, used as swap or held by the kernel (device-mapper, md, a loop device)
    is never formatted, not even with I(force=true).
  - When the file system has fewer node slots than I(slots), they are raised with C(tunefs.ocfs2 -N).
    That works only while the volume is unmounted on every node and the cluster stack is online
    (C(o2cb.service) for C(o2cb), C(dlm.service) for C(pcmk), checked over systemd's D-Bus API); the
    module checks the local mounts and the cluster's view (C(mounted.ocfs2 -f)) and fails listing the
    nodes that hold the volume. Slots are reduced only with I(shrink=true). A device that holds more
    than the OCFS2 volume (a partition table, another signature) is not touched.
  - The module is a static Go binary for Linux targets (x86_64 and aarch64); the target needs no
    Python for it. Its action plugin keeps a copy in a cache of the user it runs as on the target
    (C(~/.ansible/cinder.multiattach), mode 0700, one file per binary named by its SHA-256) and runs
    that copy, so the binary crosses the network once per target and user, not once per task.
options:
  device:
    description:
      - The block device, or a regular file (an image), to hold the file system.
      - Prefer the stable C(/dev/disk/by-id/...) path of the shared volume.
    type: path
    required: true
  slots:
    description:
      - The number of node slots, the most nodes that can mount the file system at the same time. 1 to 255.
    type: int
    required: true
  label:
    description:
      - The volume label, shorter than 64 bytes.
      - When given, an existing OCFS2 file system with another label is not accepted as the same one.
    type: str
  cluster_stack:
    description:
      - The cluster stack recorded in the superblock. C(o2cb) is OCFS2's own stack; C(pcmk) is corosync
        with dlm (the userspace stack).
    type: str
    default: o2cb
    choices: [o2cb, pcmk]
  cluster_name:
    description:
      - The name of the cluster that mounts the file system, recorded in the superblock. For C(o2cb) it is
        the cluster name of C(/etc/ocfs2/cluster.conf).
      - 1 to 16 letters or digits with C(cluster_stack=o2cb) (the rule of o2cb); with C(cluster_stack=pcmk) also
        C(-), C(_) and C(.) (the cluster name of corosync).
      - A classic o2cb volume that records no cluster name is accepted for any name with C(cluster_stack=o2cb).
    type: str
    required: true
  fs_type:
    description:
      - The use the file system is tuned for (C(mkfs.ocfs2 -T)). Applies when creating only.
    type: str
    choices: [mail, datafiles, vmstore]
  block_size:
    description:
      - The block size in bytes. Defaults to the choice of C(mkfs.ocfs2).
    type: int
    choices: [512, 1024, 2048, 4096]
  cluster_size:
    description:
      - The cluster size in bytes. Defaults to the choice of C(mkfs.ocfs2).
    type: int
    choices: [4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576]
  force:
    description:
      - Wipe whatever the device holds when it is not the OCFS2 file system asked for, then create it.
        B(This destroys the data on the device.)
      - Never formats a device that is in use on this node, nor an OCFS2 volume mounted on any node.
    type: bool
    default: false
  shrink:
    description:
      - Reduce the node slots when the file system has more than I(slots). Without it, extra slots are kept.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Runs the probe (and the read-only checks) only and reports truthfully what would change; the device's bytes are unchanged.
  diff_mode:
    support: full
    description: Shows the file system's properties (or what the device holds) before and after.
notes:
  - Creating needs no running cluster stack (C(mkfs.ocfs2) is given C(--cluster-stack) and C(--cluster-name)),
    so image files can be formatted offline.
  - Every external command runs with an empty standard input and the C locale; a failure reports the command,
    its exit code and its standard error.
seealso:
  - module: cinder.multiattach.gfs2_fs
  - module: cinder.multiattach.cluster_conf
  - name: mkfs.ocfs2(8)
    description: Make an OCFS2 file system.
    link: https://manpages.debian.org/bookworm/ocfs2-tools/mkfs.ocfs2.8.en.html
  - name: tunefs.ocfs2(8)
    description: Change OCFS2 file system parameters.
    link: https://manpages.debian.org/bookworm/ocfs2-tools/tunefs.ocfs2.8.en.html
"""

EXAMPLES = r"""
- name: Create the shared OCFS2 file system once, with a slot per node
  cinder.multiattach.ocfs2_fs:
    device: "{{ ocfs2_device }}"
    cluster_name: ocfs2lab
    slots: "{{ groups['cluster_nodes'] | length }}"
    label: shared
  run_once: true
  register: ocfs2_fs

- name: Raise the slots for new nodes (the volume must be unmounted everywhere; o2cb must run)
  cinder.multiattach.ocfs2_fs:
    device: /dev/disk/by-id/virtio-0c2f6a1e-2b5d-4c3e-9
    cluster_name: ocfs2lab
    slots: 6
  run_once: true

- name: An OCFS2 image for a pacemaker cluster, tuned for VM images
  cinder.multiattach.ocfs2_fs:
    device: /var/tmp/ocfs2.img
    cluster_stack: pcmk
    cluster_name: hacluster
    slots: 4
    fs_type: vmstore
"""

RETURN = r"""
device:
  description: The device, as given.
  type: str
  returned: always
  sample: /dev/disk/by-id/virtio-0c2f6a1e-2b5d-4c3e-9
created:
  description: Whether the module created the file system in this run (or would, in check mode).
  type: bool
  returned: success
  sample: true
uuid:
  description: The file system's UUID. Null in check mode when the file system would be created.
  type: str
  returned: success
  sample: ec483452-0d96-40c2-bd20-ce896ff44f4f
label:
  description: The volume label.
  type: str
  returned: success
  sample: shared
slots_before:
  description: The node slots the file system had before this run; 0 when the module created it.
  type: int
  returned: success
  sample: 2
slots:
  description: The node slots the file system has after this run.
  type: int
  returned: success
  sample: 3
cluster_stack:
  description: The cluster stack recorded in the superblock (empty for a local-mount volume).
  type: str
  returned: success
  sample: o2cb
cluster_name:
  description: The cluster name recorded in the superblock (empty for a classic o2cb volume).
  type: str
  returned: success
  sample: ocfs2lab
block_size:
  description: The block size in bytes. Null in check mode when it would be chosen by C(mkfs.ocfs2).
  type: int
  returned: success
  sample: 4096
cluster_size:
  description: The cluster size in bytes. Null in check mode when it would be chosen by C(mkfs.ocfs2).
  type: int
  returned: success
  sample: 4096
"""
