# -*- coding: utf-8 -*-
# Copyright: cinder.multiattach maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# cluster_conf is a static Go binary (cmd/cluster_conf, built into plugins/bin/<platform>/cluster_conf)
# run by the action plugin plugins/action/cluster_conf.py. This file is its documentation
# only, the one place it is written: ansible-doc, ansible-test and Galaxy read it here.

from __future__ import annotations

DOCUMENTATION = r"""
module: cluster_conf
short_description: Render and validate corosync.conf or the o2cb cluster.conf
version_added: 1.0.0
author:
  - cinder.multiattach maintainers (@cinder-multiattach)
description:
  - Renders the cluster-membership file of a cluster stack, C(corosync.conf) for GFS2 with dlm or
    C(/etc/ocfs2/cluster.conf) for OCFS2 with o2cb, validates it, and writes it atomically.
  - Node ids are stable. A node already in the existing file keeps its id; a new node gets the
    lowest free id (corosync ids start at 1, o2cb node numbers at 0). Adding a node never renumbers
    the others, and the order of C(nodes) does not matter.
  - Everything is validated before anything is written; on error the existing file is untouched.
  - The module is a static Go binary for Linux targets (x86_64 and aarch64); the target needs no
    Python for it. Its action plugin keeps a copy in a cache of the user it runs as on the target
    (C(~/.ansible/cinder.multiattach), mode 0700, one file per binary named by its SHA-256) and runs
    that copy, so the binary crosses the network once per target and user, not once per task.
options:
  stack:
    description: The cluster stack whose file to write.
    type: str
    required: true
    choices: [corosync, o2cb]
  path:
    description:
      - The file to write.
      - Defaults to C(/etc/corosync/corosync.conf) for C(corosync) and C(/etc/ocfs2/cluster.conf)
        for C(o2cb).
    type: path
  cluster_name:
    description:
      - The cluster's name. For corosync it is also the cluster part of a GFS2 lock table
        (C(cluster:fs)), so at most 32 letters, digits, C(-) or C(_). For o2cb at most 16
        letters or digits.
    type: str
    required: true
  nodes:
    description: Every member of the cluster.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - The node's name. For o2cb it must equal the node's host name (C(uname -n)).
        type: str
        required: true
      address:
        description:
          - The node's address on the cluster network. corosync takes an IP address or a host
            name; o2cb needs an IPv4 address.
        type: str
        required: true
      id:
        description:
          - The node's id (corosync C(nodeid), o2cb C(number)). Leave it out to keep the id the
            node has in the existing file, or to get the lowest free one.
          - corosync with knet takes 1 to 65535; o2cb takes 0 to 254.
        type: int
  transport:
    description:
      - corosync only. C(knet) is corosync 3's default and supports encryption; C(udpu) has no
        encryption.
      - Defaults to C(knet).
    type: str
    choices: [knet, udpu]
  crypto:
    description:
      - corosync only. Encrypt and authenticate cluster traffic (aes256 and sha256). Needs the
        same C(/etc/corosync/authkey) on every node.
      - Defaults to C(true) with C(knet); refused with C(udpu).
    type: bool
  ip_port:
    description:
      - o2cb only. The TCP port of the o2cb network layer on every node.
      - Defaults to C(7777).
    type: int
  backup:
    description: Keep a timestamped copy of the previous file when it changes.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports truthfully whether the file would change; writes nothing.
  diff_mode:
    support: full
    description: Shows the file's content before and after.
notes:
  - Writes through a temporary file in the same directory, fsync and rename; an existing file's
    mode and owner are kept, a new file is mode 0644.
  - An existing file that cannot be parsed is replaced with a warning; its node ids are not
    carried over.
  - The module writes the file only. Reloading corosync (C(corosync-cfgtool -R)) or registering
    nodes with a running o2cb cluster is the caller's job (see the C(gfs2) and C(ocfs2) roles).
seealso:
  - name: corosync.conf(5)
    description: corosync's configuration file.
    link: https://manpages.debian.org/bookworm/corosync/corosync.conf.5.en.html
  - name: ocfs2.cluster.conf(5)
    description: The o2cb cluster configuration file.
    link: https://manpages.debian.org/bookworm/ocfs2-tools/ocfs2.cluster.conf.5.en.html
"""

EXAMPLES = r"""
- name: Write corosync.conf (knet with encryption; /etc/corosync/authkey must exist on every node)
  cinder.multiattach.cluster_conf:
    stack: corosync
    cluster_name: gfs2lab
    nodes:
      - { name: node1, address: 192.168.100.11 }
      - { name: node2, address: 192.168.100.12 }
      - { name: node3, address: 192.168.100.13 }

- name: Write /etc/ocfs2/cluster.conf with fixed node numbers
  cinder.multiattach.cluster_conf:
    stack: o2cb
    cluster_name: ocfs2lab
    nodes:
      - { name: node1, address: 192.168.100.11, id: 0 }
      - { name: node2, address: 192.168.100.12, id: 1 }
    backup: true
  register: cluster_conf

- name: Tell the running o2cb cluster about new nodes
  ansible.builtin.debug:
    msg: "added {{ cluster_conf.added }}"
  when: cluster_conf.added | length > 0
"""

RETURN = r"""
path:
  description: The file written (or that would be written in check mode).
  type: str
  returned: success
  sample: /etc/corosync/corosync.conf
nodes:
  description: The nodes as written, ordered by id.
  type: list
  elements: dict
  returned: success
  contains:
    name:
      description: The node's name.
      type: str
    address:
      description: The node's address.
      type: str
    id:
      description: The node's id (corosync C(nodeid), o2cb C(number)).
      type: int
  sample: [{name: node1, address: 192.168.100.11, id: 1}, {name: node2, address: 192.168.100.12, id: 2}]
added:
  description: Names of the nodes that were not in the previous file.
  type: list
  elements: str
  returned: success
  sample: [node3]
removed:
  description: Names of the nodes of the previous file that are no longer listed.
  type: list
  elements: str
  returned: success
  sample: []
backup_file:
  description: The copy of the previous file, when C(backup) was set and the file changed.
  type: str
  returned: changed and backup requested
  sample: /etc/corosync/corosync.conf.2301.2026-11-25@18:30:05~
"""
