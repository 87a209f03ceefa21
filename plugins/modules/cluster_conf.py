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
short_description: Render and validate corosync.conf, the o2cb cluster.conf, or dlm.conf
version_added: 1.0.0
author:
  - cinder.multiattach maintainers (@cinder-multiattach)
description:
  - Renders the cluster-membership file of a cluster stack, C(corosync.conf) for GFS2 with dlm or
    C(/etc/ocfs2/cluster.conf) for OCFS2 with o2cb, validates it, and writes it atomically.
  - With I(stack=dlm) it renders C(/etc/dlm/dlm.conf), dlm's fencing of the corosync cluster's
    nodes (I(dlm)), and tells what a running C(dlm_controld) needs to apply the new file
    (C(restart)).
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
    choices: [corosync, o2cb, dlm]
  path:
    description:
      - The file to write.
      - Defaults to C(/etc/corosync/corosync.conf) for C(corosync), C(/etc/ocfs2/cluster.conf)
        for C(o2cb) and C(/etc/dlm/dlm.conf) for C(dlm).
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
          - Required with I(stack=dlm), whose node ids are corosync's.
        type: int
      server_id:
        description:
          - I(stack=dlm) only. The node's Nova server ID (a UUID), which the fence agent powers
            off or reboots. Required with I(dlm.fencing=openstack).
        type: str
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
  dlm:
    description:
      - I(stack=dlm) only, and required with it (at least C({})). What dlm.conf says.
    type: dict
    suboptions:
      fencing:
        description:
          - C(openstack) fences a failed node through Nova with the fence agent C(fence_nova)
            (a C(device) line, and a C(connect) line with its server ID for every node).
          - C(dlm) is dlm's own default (C(enable_fencing=1), no device). Without Pacemaker, I/O
            waits on every node until an operator runs C(dlm_tool fence_ack).
          - C(off) writes C(enable_fencing=0). A node that only looks dead can go on writing while
            the others replay its journal.
        type: str
        choices: ['off', dlm, openstack]
        default: dlm
      fence_agent:
        description: The fence agent's path on the nodes.
        type: path
        default: /usr/local/sbin/fence_nova
      fence_cloud:
        description: The agent's entry in I(fence_clouds_yaml).
        type: str
        default: fence
      fence_clouds_yaml:
        description: The clouds.yaml the agent reads its credentials from.
        type: path
        default: /etc/cinder-multiattach/fence-clouds.yaml
      fence_action:
        description: C(reboot), a hard reboot (the node comes back), or C(off), a stop (it stays off).
        type: str
        choices: [reboot, 'off']
        default: reboot
      fence_timeout:
        description: Seconds the agent may take to have Nova confirm (1 to 3600).
        type: int
        default: 180
      fence_delay:
        description:
          - Seconds the other node waits before fencing the node with the lowest id, in a
            two-node cluster only (0 to 600). Of two nodes that lose each other, that node fences
            first and the other is gone before its delay ends, so they never fence each other.
        type: int
        default: 15
      options:
        description: Further C(key=value) settings of dlm.conf(5), written sorted.
        type: dict
      extra_lines:
        description: Lines written as they are, after the settings.
        type: list
        elements: str
      members:
        description:
          - Names of the nodes whose C(dlm_controld) runs now. It read their fencing lines when they
            joined, so a change there needs a restart (C(restart=required)); a node that has not
            joined yet reads its own line when it joins.
        type: list
        elements: str
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
  - The module writes the file only. Reloading corosync (C(corosync-cfgtool -R)), registering
    nodes with a running o2cb cluster or restarting dlm is the caller's job (see the C(gfs2) and
    C(ocfs2) roles); with I(stack=dlm), C(restart) tells whether dlm must restart.
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

- name: Fence through Nova (in check mode first, since a restart of dlm needs the file system unmounted)
  cinder.multiattach.cluster_conf:
    stack: dlm
    cluster_name: gfs2lab
    nodes:
      - { name: node1, address: 192.168.100.11, id: 1, server_id: 6a0c9a57-1d4e-4b8f-9c3a-2e7f1b0d5a11 }
      - { name: node2, address: 192.168.100.12, id: 2, server_id: 0b3e6d2c-7a58-4f91-8e24-5c9d1a7f3b22 }
    dlm:
      fencing: openstack
      members: [node1, node2]
  check_mode: true
  register: dlm_conf

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
    server_id:
      description: The node's Nova server ID (I(stack=dlm) with one given).
      type: str
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
restart:
  description:
    - I(stack=dlm) only. What a running C(dlm_controld) needs to apply the new file.
    - C(none) nothing it uses changes (or only the lines of nodes that have not joined yet);
      C(deferred) settings it reads at its start change, safe to apply at its next start;
      C(required) the fencing of a running member changes (enable_fencing, the device, a member's
      server); until dlm restarts, a failed node would be fenced as before, or not at all.
  type: str
  returned: stack is dlm
  sample: required
restart_reasons:
  description: I(stack=dlm) only. Why, one sentence a change.
  type: list
  elements: str
  returned: stack is dlm
  sample: [the fence device changes]
backup_file:
  description: The copy of the previous file, when C(backup) was set and the file changed.
  type: str
  returned: changed and backup requested
  sample: /etc/corosync/corosync.conf.2301.2026-11-25@18:30:05~
"""
