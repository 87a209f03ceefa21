# -*- coding: utf-8 -*-
# Copyright: cinder.multiattach maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# multiattach_volume is a static Go binary (cmd/multiattach_volume, built into plugins/bin/<platform>/multiattach_volume)
# run by the action plugin plugins/action/multiattach_volume.py. This file is its documentation
# only, the one place it is written: ansible-doc, ansible-test and Galaxy read it here.

from __future__ import annotations

DOCUMENTATION = r"""
module: multiattach_volume
short_description: Attach one Cinder volume to many Nova servers in one task
version_added: 1.0.0
author:
  - cinder.multiattach maintainers (@cinder-multiattach)
description:
  - Ensures that one OpenStack Cinder volume is attached to every listed server, creating the
    volume when it does not exist, or detaches it and optionally deletes it.
  - Unlike C(openstack.cloud.server_volume), it shares a volume. Attachments are made one server
    at a time with compute API microversion 2.60, because Cinder refuses a second reservation
    while the volume is C(reserved) or C(attaching). An attach is done when the volume's
    C(attachments) list holds that server, a detach when the server is gone from it; a shared
    volume is C(in-use) already, so its status alone proves nothing.
  - Attaching to more than one server needs a multiattach volume. The module checks that before
    any change, from the volume's C(multiattach) flag, or, for a volume it would create, from
    its volume type's extra spec C(multiattach="<is> True").
  - Server names are matched exactly, case included (Nova's own name filter is a regular
    expression, so C(s1) would also find C(s10)). A missing or ambiguous name fails before
    anything changes.
  - Refusals that end by themselves (400 or 409 while the volume or the server is busy, 5xx
    answers, broken connections) are retried with backoff until I(timeout). After an error the
    module reads the volume before retrying, so a lost answer never makes a second attachment.
    A failed run can simply be run again.
  - The whole task, connection included, is bounded by I(timeout).
  - The module is a static Go binary run on the controller or any host that reaches the cloud's
    APIs (Linux or macOS, x86_64 or arm64); it needs no Python OpenStack SDK. Its action plugin
    keeps a copy in a cache of the user it runs as on that host (C(~/.ansible/cinder.multiattach),
    mode 0700, one file per binary named by its SHA-256) and runs that copy.
options:
  cloud:
    description:
      - Named cloud or cloud config to operate against.
        If I(cloud) is a string, it references a named cloud config as defined
        in an OpenStack clouds.yaml file. Provides default values for I(auth)
        and I(auth_type). This parameter is not needed if I(auth) is provided
        or if OpenStack OS_* environment variables are present.
        If I(cloud) is a dict, it contains a complete cloud configuration like
        would be in a section of clouds.yaml.
      - clouds.yaml is read from C(OS_CLIENT_CONFIG_FILE), C(./clouds.yaml),
        C(~/.config/openstack/clouds.yaml) or C(/etc/openstack/clouds.yaml), with
        C(secure.yaml) and C(clouds-public.yaml) beside it. Without I(cloud), C(OS_CLOUD)
        names the entry. A named entry ignores other C(OS_*) variables except where it
        leaves a value unset.
      - Secrets in a dict (C(password), C(token), C(application_credential_secret)) never
        appear in the output.
    type: raw
  auth:
    description:
      - Dictionary containing auth information as needed by the cloud's auth
        plugin strategy. For the default I(password) plugin, this would contain
        I(auth_url), I(username), I(password), I(project_name) and any
        information about domains (for example, I(user_domain_name) or
        I(project_domain_name)) if the cloud supports them.
        For other plugins,
        this param will need to contain whatever parameters that auth plugin
        requires. This parameter is not needed if a named cloud is provided or
        OpenStack OS_* environment variables are present.
      - Merged over the auth section of I(cloud). Keys are those of a clouds.yaml C(auth)
        section; an unknown key is an error. The plugins supported are C(password),
        C(token) and C(v3applicationcredential) (Keystone v3).
    type: dict
  auth_type:
    description:
      - Name of the auth plugin to use. If the cloud uses something other than
        password authentication, the name of the plugin should be indicated here
        and the contents of the I(auth) parameter should be updated accordingly.
    type: str
  region_name:
    description:
      - Name of the region.
    type: str
  interface:
    description:
      - Endpoint URL type to fetch from the service catalog.
      - Without it, the cloud's C(interface), then C(OS_INTERFACE), then C(public).
    type: str
    choices: [admin, internal, public]
    aliases: [endpoint_type]
  validate_certs:
    description:
      - Whether or not SSL API requests should be verified.
      - Applies to every request, Keystone's included. Without it, the cloud's C(verify),
        then C(OS_INSECURE), then C(true).
    type: bool
    aliases: [verify]
  ca_cert:
    description:
      - A path to a CA Cert bundle that can be used as part of verifying
        SSL API requests.
    type: path
    aliases: [cacert]
  client_cert:
    description:
      - A path to a client certificate to use as part of the SSL transaction.
    type: path
    aliases: [cert]
  client_key:
    description:
      - A path to a client key to use as part of the SSL transaction.
    type: path
    aliases: [key]
  api_timeout:
    description:
      - How long should the socket layer wait before timing out for API calls.
        If this is omitted, only I(timeout) bounds them. 1 to 604800.
    type: int
  wait:
    description:
      - Wait until the last attach, detach or deletion is complete.
      - The module always waits between operations (Cinder allows one at a time) and for a new
        volume to be C(available) before attaching it; I(wait=false) only skips waiting for the
        last operation.
    type: bool
    default: true
  timeout:
    description:
      - How long, in seconds, the whole task may take, from authentication to the last check (every
        request, endpoint discovery included). 1 to 604800 (a week).
    type: int
    default: 600
  volume:
    description:
      - Name or ID of the volume. A name must match exactly one volume. A volume is only
        created by name.
    type: str
    required: true
  size:
    description:
      - Size in GiB of the volume to create when it does not exist. Required then. For an
        existing volume a different size is only a warning (the module never resizes).
    type: int
  volume_type:
    description:
      - Volume type (name or ID) of the volume to create. To attach to more than one server it
        must be multiattach (extra spec C(multiattach="<is> True")). Default is the cloud's
        default volume type.
    type: str
  availability_zone:
    description:
      - Availability zone of the volume to create.
    type: str
  description:
    description:
      - Description of the volume to create.
    type: str
  servers:
    description:
      - Names or IDs of the servers. A name must match exactly one server.
      - With I(state=present), the servers the volume must be attached to.
      - With I(state=absent), the servers to detach it from; omitted, every server.
    type: list
    elements: str
  state:
    description:
      - C(present) attaches the volume to every listed server that does not have it yet,
        creating the volume first if needed.
      - C(absent) detaches it (from the listed servers, or from all); with I(delete=true) the
        volume is deleted afterwards.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - With I(state=present), also detach the volume from the servers that are not listed.
    type: bool
    default: false
  delete:
    description:
      - With I(state=absent), delete the volume once it is detached. Refused, before any change,
        when the volume would stay attached to a server that I(servers) does not list.
    type: bool
    default: false
notes:
  - Supports check mode (nothing is changed; C(changed), C(attached), C(detached) and
    C(attachments) tell what would be done) and diff mode (the attached servers before and
    after).
  - The standard OpenStack environment variables, such as C(OS_USERNAME)
    may be used instead of providing explicit values.
  - Needs Nova with compute API microversion 2.60 (OpenStack Queens or newer) and a compute
    driver that supports multiattach; the module checks the microversion before any change.
  - A failure on the compute host after Nova accepted an attach or detach is reported with
    Nova's instance action details (compute API 2.84 or newer), or as a rolled-back operation.
  - When Nova no longer knows an attachment (404) that Cinder still lists, as when a server was
    deleted while its compute host was down, the detach fails and names the stale attachment to
    remove; a 404 for an attachment Cinder does not list either counts as detached.
requirements:
  - Nothing on the host that runs it (a static binary).
seealso:
  - name: Cinder multi-attach
    description: Creating multiattach volume types.
    link: https://docs.openstack.org/cinder/latest/admin/volume-multiattach.html
"""

EXAMPLES = r"""
- name: Create a 10 GiB multiattach volume and attach it to four servers
  cinder.multiattach.multiattach_volume:
    cloud: mycloud
    volume: cluster-shared
    size: 10
    volume_type: multiattach
    servers: [node1, node2, node3, node4]
  register: shared

- name: Use the stable device path on every node
  ansible.builtin.debug:
    msg: "{{ shared.device_by_id }}"

- name: Keep the volume on node1 to node3 only
  cinder.multiattach.multiattach_volume:
    cloud: mycloud
    volume: cluster-shared
    servers: [node1, node2, node3]
    exclusive: true

- name: Detach it from node3
  cinder.multiattach.multiattach_volume:
    cloud: mycloud
    volume: cluster-shared
    servers: [node3]
    state: absent

- name: Detach it from every server and delete it
  cinder.multiattach.multiattach_volume:
    cloud: mycloud
    volume: cluster-shared
    state: absent
    delete: true

- name: Credentials given directly, with a private CA
  cinder.multiattach.multiattach_volume:
    auth:
      auth_url: https://keystone.example.com:5000/v3
      username: demo
      password: "{{ vault_demo_password }}"
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    ca_cert: /etc/ssl/certs/example-ca.pem
    volume: cluster-shared
    servers: [node1, node2]
"""

RETURN = r"""
volume:
  description:
    - The volume after the task (in check mode, as it would be; C(id) is empty for a volume that
      would be created). Its C(status) is C(deleted) once deleted.
  type: dict
  returned: when the volume exists or would exist
  contains:
    id:
      description: The volume ID.
      type: str
    name:
      description: The volume name.
      type: str
    size:
      description: Size in GiB.
      type: int
    status:
      description: Cinder's status (C(available), C(in-use), ...).
      type: str
    multiattach:
      description: Whether the volume can be attached to many servers.
      type: bool
    volume_type:
      description: The volume type's name.
      type: str
  sample: {id: 6f1c2a84-3b7e-4a5d-9c0e-2d8b7f4e1a93, name: cluster-shared, size: 10, status: in-use, multiattach: true,
           volume_type: multiattach}
attachments:
  description: The volume's attachments after the task, sorted by server name.
  type: list
  elements: dict
  returned: always
  contains:
    server_id:
      description: The server ID.
      type: str
    server_name:
      description: The server name (empty for a server Nova no longer knows).
      type: str
    device:
      description: The device Nova reports (C(/dev/vdb), ...); empty in check mode for a new attachment. Use C(device_by_id) instead in guests.
      type: str
    attachment_id:
      description: Cinder's attachment ID; empty in check mode for a new attachment.
      type: str
  sample: [{server_id: 0b6e..., server_name: node1, device: /dev/vdb, attachment_id: 91c4...}]
attached:
  description: Names of the servers the volume was (or, in check mode, would be) attached to.
  type: list
  elements: str
  returned: always
  sample: [node3, node4]
detached:
  description: Names of the servers the volume was (or would be) detached from.
  type: list
  elements: str
  returned: always
  sample: []
device_by_id:
  description:
    - The volume's stable path inside every guest, C(/dev/disk/by-id/virtio-) followed by the
      first 20 characters of the volume ID (the virtio serial). Empty when the volume ID is not
      known yet (check mode) or the volume was deleted.
  type: str
  returned: always
  sample: /dev/disk/by-id/virtio-6f1c2a84-3b7e-4a5d-9
servers:
  description: The servers listed in I(servers), resolved, in the order given.
  type: list
  elements: dict
  returned: always
  contains:
    id:
      description: The server ID.
      type: str
    name:
      description: The server name.
      type: str
    status:
      description: Nova's status (C(ACTIVE), ...).
      type: str
    addresses:
      description: Network name to the server's addresses on it (C(addr), C(version), C(type) fixed or floating).
      type: dict
  sample: [{id: 0b6e..., name: node1, status: ACTIVE, addresses: {private: [{addr: 10.0.0.11, version: 4, type: fixed}]}}]
"""
