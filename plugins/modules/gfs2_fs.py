# -*- coding: utf-8 -*-
# Copyright: cinder.multiattach maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# gfs2_fs is a static Go binary (cmd/gfs2_fs, built into plugins/bin/<platform>/gfs2_fs)
# run by the action plugin plugins/action/gfs2_fs.py. This file is its documentation
# only, the one place it is written: ansible-doc, ansible-test and Galaxy read it here.

from __future__ import annotations

DOCUMENTATION = r"""
module: gfs2_fs
short_description: Create a GFS2 file system on a shared device safely and only once, and add journals
version_added: 1.0.0
author:
  - cinder.multiattach maintainers (@cinder-multiattach)
description:
  - Creates a GFS2 file system with C(mkfs.gfs2) on a block device or image file, but only when the
    device is empty. Run it on one node (C(run_once)); the other nodes see the result.
  - Probes first, reading the device directly (O_DIRECT; the buffer cache of a block device is flushed
    first), so that a file system another node has just made is seen. The probe reads the GFS2
    superblock (lock protocol, lock table, block size, UUID) and counts the journals in the
    C(jindex) directory; any other signature (C(blkid -p)) or a GPT or MBR partition table counts
    as data, and so does any non-zero byte in the first 8 MiB or the last MiB of a device where
    nothing is recognised (a file system behind an erased partition table, or one whose signatures
    were wiped); a new volume reads as zeros there.
  - An empty device gets a new file system. A GFS2 file system with the same lock table and lock
    protocol (and block size, when given) is kept. Anything else fails with a message saying what
    was found (type, label or lock table, UUID); with I(force=true) its signatures are wiped
    (C(wipefs --all)) and the file system is created.
  - A device that is mounted, used as swap or held by the kernel (device-mapper, md, a loop device)
    is never formatted, not even with I(force=true).
  - When the file system has fewer journals than I(journals), the difference is added with
    C(gfs2_jadd) on the mount point where this node has it mounted (from C(/proc/self/mountinfo)).
    With C(lock_dlm) the C(dlm.service) unit must be active (checked over systemd's D-Bus API).
    Journals are never removed.
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
  cluster_name:
    description:
      - The cluster part of the lock table C(cluster_name:fs_name). The kernel mounts the file system
        only in a cluster whose corosync C(cluster_name) is the same.
      - At most 32 letters, digits, C(-) or C(_) (the rules of C(mkfs.gfs2)).
      - Required with C(lock_protocol=lock_dlm).
    type: str
  fs_name:
    description:
      - The file system part of the lock table, unique within the cluster.
      - At most 30 letters, digits, C(-) or C(_).
      - Required with C(lock_protocol=lock_dlm).
    type: str
  journals:
    description:
      - The number of journals, one per node that mounts the file system at the same time. At least 1.
      - Journals are added (never removed) when an existing file system has fewer.
    type: int
    required: true
  journal_size:
    description:
      - The size of each journal in MiB, 8 to 1024, for new file systems and added journals.
      - Defaults to the choice of C(mkfs.gfs2), which grows with the device (8 MiB below 512 MiB per journal,
        128 MiB from 16 GiB per journal).
    type: int
  block_size:
    description:
      - The block size in bytes. Defaults to the choice of C(mkfs.gfs2) (4096 on most devices).
      - When given, an existing GFS2 file system with another block size is not accepted as the same one.
    type: int
    choices: [512, 1024, 2048, 4096]
  lock_protocol:
    description:
      - C(lock_dlm) for a cluster file system; C(lock_nolock) for a file system mounted by one node only.
    type: str
    default: lock_dlm
    choices: [lock_dlm, lock_nolock]
  force:
    description:
      - Wipe whatever the device holds when it is not the GFS2 file system asked for, then create it.
        B(This destroys the data on the device.)
      - Never formats a device that is in use on this node. A GFS2 file system with the lock table asked for
        is never wiped (it may be mounted on other nodes), not even when its journal index cannot be read
        or its lock protocol or block size differ from those asked for.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Runs the probe only and reports truthfully what would change; the device's bytes are unchanged.
  diff_mode:
    support: full
    description: Shows the file system's properties (or what the device holds) before and after.
notes:
  - Creating needs no running cluster stack, so image files can be formatted offline.
  - Adding journals needs the file system mounted on the node the module runs on; when it is not, the module
    fails and says so.
  - The module cannot see whether another node has the device mounted with GFS2; creating (and I(force))
    relies on the probe finding a signature. Run it once per cluster (C(run_once)).
  - Every external command runs with an empty standard input and the C locale; a failure reports the command,
    its exit code and its standard error.
seealso:
  - module: cinder.multiattach.ocfs2_fs
  - module: cinder.multiattach.cluster_conf
  - name: mkfs.gfs2(8)
    description: Make a GFS2 file system.
    link: https://manpages.debian.org/bookworm/gfs2-utils/mkfs.gfs2.8.en.html
  - name: gfs2_jadd(8)
    description: Add journals to a mounted GFS2 file system.
    link: https://manpages.debian.org/bookworm/gfs2-utils/gfs2_jadd.8.en.html
"""

EXAMPLES = r"""
- name: Create the shared GFS2 file system once, with a journal per node
  cinder.multiattach.gfs2_fs:
    device: "{{ gfs2_device }}"
    cluster_name: gfs2lab
    fs_name: shared
    journals: "{{ groups['cluster_nodes'] | length }}"
  run_once: true
  register: gfs2_fs

- name: Add journals for new nodes (runs where the file system is mounted; dlm must run)
  cinder.multiattach.gfs2_fs:
    device: /dev/disk/by-id/virtio-0c2f6a1e-2b5d-4c3e-9
    cluster_name: gfs2lab
    fs_name: shared
    journals: 5
    journal_size: 64
  run_once: true

- name: A single-node GFS2 on an image file, made offline
  cinder.multiattach.gfs2_fs:
    device: /var/tmp/gfs2.img
    lock_protocol: lock_nolock
    journals: 1

- name: Reuse a disk that held something else (destroys its data)
  cinder.multiattach.gfs2_fs:
    device: /dev/vdc
    cluster_name: gfs2lab
    fs_name: scratch
    journals: 2
    force: true
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
  sample: 4c5e1f2a-9b0d-4e3c-8a7b-6d5c4b3a2f10
lock_table:
  description: The lock table, C(cluster_name:fs_name) (empty for C(lock_nolock) without names).
  type: str
  returned: success
  sample: gfs2lab:shared
lock_protocol:
  description: The lock protocol.
  type: str
  returned: success
  sample: lock_dlm
block_size:
  description: The block size in bytes. Null in check mode when it would be chosen by C(mkfs.gfs2).
  type: int
  returned: success
  sample: 4096
journals_before:
  description: The journals the file system had before this run; 0 when the module created it.
  type: int
  returned: success
  sample: 2
journals:
  description: The journals the file system has after this run.
  type: int
  returned: success
  sample: 3
"""
