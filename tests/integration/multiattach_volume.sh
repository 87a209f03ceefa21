#!/usr/bin/env bash
# Integration test of multiattach_volume: the built module run by
# ansible-playbook on localhost against bin/fakeopenstack served on
# 127.0.0.1, through a clouds.yaml that points at it. The playbook
# (multiattach_volume.yml) is the one a real cloud runs too.
# Also syntax-checks playbooks/provision.yml and playbooks/teardown.yml.
# Run by hack/integration (make integration), which installs the collection
# and sets IT_WORKDIR and IT_INVENTORY.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# the controller's venv (hack/controller) before any system Ansible
export PATH=${VIRTUAL_ENV:+$VIRTUAL_ENV/bin:}/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
work=$(mktemp -d "${IT_WORKDIR:-/var/tmp}/mav.XXXXXX")
inventory=${IT_INVENTORY:-$here/inventory.ini}

echo "== syntax check: playbooks/provision.yml playbooks/teardown.yml"
ansible-playbook --syntax-check -i "$inventory" "$root/playbooks/provision.yml" "$root/playbooks/teardown.yml"

# The fake is a developer tool: build it if `make tools` has not.
if [ ! -x "$root/bin/fakeopenstack" ]; then
  (cd "$root" && mkdir -p bin && CGO_ENABLED=0 go build -trimpath -o bin/fakeopenstack ./cmd/fakeopenstack)
fi

pid=
stop_fake() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop_fake EXIT

# mav-1 is also a prefix of mav-10 (Nova's name filter is an unanchored
# regex); two servers share the name mav-dup.
"$root/bin/fakeopenstack" -listen 127.0.0.1:0 -cloud fake -clouds-yaml "$work/clouds.yaml" -pid-file "$work/fake.pid" \
  -servers mav-1=10.0.0.11,mav-2=10.0.0.12,mav-3=10.0.0.13,mav-4=10.0.0.14,mav-10=10.0.0.20,mav-dup,mav-dup \
  -attach-latency 100ms -detach-latency 50ms -create-latency 50ms -delete-latency 50ms 2>"$work/fake.log" &
pid=$!
for _ in $(seq 100); do
  [ -s "$work/clouds.yaml" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/fake.log" >&2; echo "fakeopenstack exited" >&2; exit 1; }
  sleep 0.1
done
[ -s "$work/clouds.yaml" ] || { echo "fakeopenstack wrote no clouds.yaml in 10 s" >&2; exit 1; }
[ "$(cat "$work/fake.pid")" = "$pid" ] || { echo "fakeopenstack pid file does not hold $pid" >&2; exit 1; }

export OS_CLIENT_CONFIG_FILE=$work/clouds.yaml
unset OS_CLOUD OS_AUTH_URL OS_USERNAME OS_PASSWORD OS_PROJECT_NAME OS_REGION_NAME
ansible-playbook -i "$inventory" "$here/multiattach_volume.yml" -e '{
  "mav_cloud": "fake",
  "mav_servers": ["mav-1", "mav-2", "mav-3", "mav-4"],
  "mav_volume_type": "multiattach",
  "mav_volume_name": "mav-it",
  "mav_plain_volume_type": "standard",
  "mav_ambiguous_server": "mav-dup",
  "mav_timeout": 60
}'

# playbooks/provision.yml and teardown.yml with existing servers
# (create_servers: false; server creation needs openstack.cloud 2.x, which
# Debian 12 does not have): found by name, then as lab-like inventory nodes.
export ANSIBLE_PLAYBOOK_VARS_ROOT=all
common='"provision_cloud": "fake", "create_servers": false, "provision_volume_name": "mav-provision",
  "provision_volume_size": 1, "provision_wait_for_ssh": false, "provision_timeout": 60, "provision_ssh_user": "debian",
  "check_servers": ["mav-1", "mav-2", "mav-3"]'
echo "== provision.yml + teardown.yml: existing servers found by name"
ansible-playbook -i "$inventory" "$here/multiattach_volume/provision_check.yml" -e "{ $common,
  \"provision_server_names\": [\"mav-1\", \"mav-2\", \"mav-3\"], \"provision_jump_host\": \"jump@bastion.example:2222\",
  \"check_addresses\": [\"10.0.0.11\", \"10.0.0.12\", \"10.0.0.13\"], \"check_inventory\": false,
  \"check_jump_host\": \"jump@bastion.example:2222\" }"
echo "== provision.yml + teardown.yml: nodes already in the inventory (the lab)"
ansible-playbook -i "$here/multiattach_volume/lab.ini" "$here/multiattach_volume/provision_check.yml" -e "{ $common,
  \"check_addresses\": [\"192.168.100.11\", \"192.168.100.12\", \"192.168.100.13\"], \"check_inventory\": true,
  \"check_jump_host\": \"\" }"
