# -*- coding: utf-8 -*-
# Copyright: cinder.multiattach maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# cluster_state is a static Go binary (cmd/clusterfs, built into plugins/bin/<platform>/clusterfs)
# run by the action plugin plugins/action/cluster_state.py. This file is its documentation
# only, the one place it is written: ansible-doc, ansible-test and Galaxy read it here.

from __future__ import annotations

DOCUMENTATION = r"""
module: cluster_state
short_description: Read a node's cluster stack, and decide how corosync takes a new configuration
version_added: 1.1.0
author:
  - cinder.multiattach maintainers (@cinder-multiattach)
description:
  - Reads, changing nothing, what a node's cluster stack runs. For C(corosync) the state of the
    C(corosync) and C(dlm) services, the running configuration (cluster name, transport, nodes,
    from C(corosync-cmapctl)) and the authkey (SHA-1, mode and owner); for C(o2cb) the state of the
    C(o2cb) service and the nodes its kernel side has registered (configfs). For both, the type of
    the file system mounted at I(mount_point).
  - For C(corosync) it also decides how the running corosync must take the configuration given by
    I(cluster_name), I(nodes), I(transport), I(key_changes) and I(conf_changed) (C(corosync_action)),
    so that the roles decide restarts from typed data.
  - The module is a static Go binary for Linux targets (x86_64 and aarch64); the target needs no
    Python for it. Its action plugin keeps a copy in a cache of the user it runs as on the target
    (C(~/.ansible/cinder.multiattach), mode 0700, one file per binary named by its SHA-256) and runs
    that copy, so the binary crosses the network once per target and user, not once per task.
options:
  stack:
    description: The cluster stack to read.
    type: str
    required: true
    choices: [corosync, o2cb]
  mount_point:
    description: Where the cluster file system is (or would be) mounted.
    type: path
    required: true
  cluster_name:
    description:
      - The cluster's name. For o2cb, the cluster whose registered nodes to read; for corosync,
        the name the node should run with.
    type: str
    required: true
  authkey:
    description: corosync only. The authkey file.
    type: path
    default: /etc/corosync/authkey
  nodes:
    description: corosync only. The names of the nodes the cluster should have.
    type: list
    elements: str
  transport:
    description: corosync only. The transport the cluster should run.
    type: str
    choices: [knet, udpu]
  key_changes:
    description: corosync only. The node's authkey is (to be) replaced.
    type: bool
    default: false
  conf_changed:
    description: corosync only. The node's corosync.conf was changed.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: The module changes nothing in any mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no difference to show.
"""

EXAMPLES = r"""
- name: Read the cluster stack and how corosync would take three nodes
  cinder.multiattach.cluster_state:
    stack: corosync
    mount_point: /mnt/gfs2
    cluster_name: gfs2lab
    nodes: [node1, node2, node3]
    transport: knet
  register: state

- name: Say when corosync would have to restart
  ansible.builtin.debug:
    msg: "corosync: {{ state.corosync_action }} ({{ state.corosync_reasons | join('; ') }})"
"""

RETURN = r"""
services:
  description: The stack's services, each with C(active) and C(enabled) (booleans).
  type: dict
  returned: success
  sample: {corosync: {active: true, enabled: true}, dlm: {active: true, enabled: true}}
mounted:
  description: The type of the file system mounted at I(mount_point); empty when none is.
  type: str
  returned: success
  sample: gfs2
corosync:
  description: corosync only. What the running corosync says; empty values when it does not run.
  type: dict
  returned: stack is corosync
  contains:
    cluster_name:
      description: The running cluster's name.
      type: str
    transport:
      description: The running transport.
      type: str
    nodes:
      description: The names in the running node list, sorted.
      type: list
      elements: str
authkey:
  description: corosync only. The authkey file; C(sha1) is empty when there is none.
  type: dict
  returned: stack is corosync
  contains:
    sha1:
      description: The SHA-1 of the key.
      type: str
    mode:
      description: Its permission bits, in octal.
      type: str
    owner:
      description: Its owner.
      type: str
    group:
      description: Its group.
      type: str
corosync_action:
  description:
    - corosync only. C(start) it does not run; C(restart) it runs another cluster, its key or
      transport changes, or it would lose nodes (a reload applies none of these); C(reload) its file
      changed or it gains nodes (C(corosync-cfgtool -R)); C(none) nothing to do.
  type: str
  returned: stack is corosync
  sample: reload
corosync_reasons:
  description: corosync only. Why, one sentence a reason.
  type: list
  elements: str
  returned: stack is corosync
  sample: [it gains node(s) node3]
registered:
  description: o2cb only. The nodes o2cb's kernel side has registered for the cluster.
  type: list
  elements: str
  returned: stack is o2cb
  sample: [node1, node2]
"""
