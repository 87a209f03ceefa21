# -*- coding: utf-8 -*-
# Copyright: cinder.multiattach maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a cinder.multiattach module, a static Go binary, on its target.

Ansible copies a binary module to the target on every task. Here each
module's binary is copied once per target user and platform into a
content-addressed cache on the target (``~/.ansible/cinder.multiattach/<sha256>``),
and every task is one remote command that finds the platform, checks the
cache entry and runs it with the task's arguments on stdin. The remote side
is the POSIX shell script below; the Go binary does all the module's work.

The cache is trusted only as far as it can be: the directory must belong to
the user the module runs as (after become) and be writable by no one else,
and an entry runs only when it belongs to that user, is writable by no one
else, and its content hashes to its name. A tampered entry is replaced; a
foreign-owned or group/world-writable one is refused with nothing run.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shlex

from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.module_utils.json_utils import _filter_non_json_lines
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()

# Platforms as Go names them (GOOS_GOARCH), and how `uname -s`/`uname -m`
# name them. The remote script is generated from this table.
UNAME = (
    ("Linux", "x86_64", "linux_amd64"),
    ("Linux", "amd64", "linux_amd64"),
    ("Linux", "aarch64", "linux_arm64"),
    ("Linux", "arm64", "linux_arm64"),
    ("Darwin", "x86_64", "darwin_amd64"),
    ("Darwin", "arm64", "darwin_arm64"),
)
NODE_PLATFORMS = ("linux_amd64", "linux_arm64")
CONTROLLER_PLATFORMS = NODE_PLATFORMS + ("darwin_amd64", "darwin_arm64")

# The binaries, built by `make` into the collection: plugins/bin/<platform>/<binary>.
BIN_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin")

# What the remote script prints when it did not run the module.
MARKER = "@@cinder.multiattach@@"

# $1 action (run, async, store), $2 the wanted platform=sha256 pairs
# (space-separated), then for async: $3 job id, $4 time limit, $5 async
# directory (absolute).
# stdin: the module's arguments (run, async) or the binary (store).
_SCRIPT = r"""
set -u
umask 077
action=$1 pairs=$2 jid=${3:-} limit=${4:-} adir=${5:-}
say() { printf '%s %s\n' "$MARKER" "$*"; exit 0; }
os=$(uname -s) arch=$(uname -m)
case "$os/$arch" in
@CASES@
*) say unsupported "$os/$arch" ;;
esac
sha=
for pair in $pairs; do
  case $pair in "$platform="*) sha=${pair#*=} ;; esac
done
[ -n "$sha" ] || say unsupported "$os/$arch"
uid=$(id -u)
[ -n "${HOME:-}" ] && [ -d "$HOME" ] || say refused "HOME is not set to a directory for uid $uid"
# refuse PATH unless it belongs to one of OWNERS and no one else may write it
check() { # KIND PATH OWNERS...
  kind=$1 path=$2
  shift 2
  read -r mode links owner rest <<EOF
$(ls -ldn "$path")
EOF
  ok=
  for o in "$@"; do [ "$owner" = "$o" ] && ok=1; done
  [ -n "$ok" ] || say refused "the module cache $kind $path belongs to uid $owner, not uid $uid"
  case $mode in ?????w* | ????????w*) say refused "the module cache $kind $path is writable by group or others ($mode)" ;; esac
}
cache=$HOME/.ansible/cinder.multiattach
[ -d "$HOME/.ansible" ] || mkdir -m 700 "$HOME/.ansible" || say refused "cannot make $HOME/.ansible"
[ -d "$cache" ] || mkdir -m 700 "$cache" || say refused "cannot make $cache"
check directory "$HOME" "$uid" 0
check directory "$HOME/.ansible" "$uid" 0
check directory "$cache" "$uid"
hash_of() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1"; else shasum -a 256 "$1"; fi | cut -d' ' -f1
}
bin=$cache/$sha
if [ "$action" = store ]; then
  new=$(mktemp "$cache/.incoming.XXXXXX") || say refused "cannot write in $cache"
  if cat >"$new" && [ "$(hash_of "$new")" = "$sha" ] && chmod 700 "$new" && mv -f "$new" "$bin"; then
    say stored "$platform"
  fi
  rm -f "$new"
  say refused "the copy of the binary to $bin did not arrive whole"
fi
if [ -L "$bin" ] || { [ -e "$bin" ] && [ ! -f "$bin" ]; }; then
  say refused "the module cache entry $bin is not a regular file"
fi
[ -f "$bin" ] || say miss "$platform"
check entry "$bin" "$uid"
if [ ! -x "$bin" ] || [ "$(hash_of "$bin")" != "$sha" ]; then
  rm -f "$bin" || say refused "cannot remove the tampered module cache entry $bin"
  say miss "$platform" tampered
fi
args=$(mktemp "$cache/.args.XXXXXX") || say refused "cannot write in $cache"
cat >"$args"
if [ "$action" = run ]; then
  "$bin" "$args"
  rc=$?
  rm -f "$args"
  exit $rc
fi
# async, as ansible's async_wrapper: the job file holds a "started" record
# until the module's result replaces it; past the time limit the module is
# killed and the job file says so.
mkdir -p "$adir" || { rm -f "$args"; say refused "cannot make the async directory $adir"; }
job=$adir/$jid
printf '{"started": true, "finished": false, "ansible_job_id": "%s"}\n' "$jid" >"$job"
(
  trap '' HUP
  "$bin" "$args" >"$job.out" 2>/dev/null &
  pid=$!
  waited=0
  while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt "$limit" ]; do
    sleep 1
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid"
    printf '{"failed": true, "msg": "Timeout exceeded (%s s)"}\n' "$limit" >"$job.out"
  fi
  wait "$pid"
  rm -f "$args"
  [ -s "$job.out" ] || printf '{"failed": true, "msg": "the module ended without a result"}\n' >"$job.out"
  mv -f "$job.out" "$job"
) </dev/null >/dev/null 2>&1 &
printf '{"started": true, "finished": false, "ansible_job_id": "%s", "results_file": "%s"}\n' "$jid" "$job"
"""


def remote_script():
    """The remote side: _SCRIPT with the platform table filled in."""
    cases = "\n".join(
        '%s/%s) platform=%s ;;' % (os_, arch, platform) for os_, arch, platform in UNAME
    )
    return _SCRIPT.replace("@CASES@", cases).replace("$MARKER", MARKER)


def platform_of(os_name, machine):
    """The Go platform for `uname -s` and `uname -m`, or None."""
    for os_, arch, platform in UNAME:
        if os_ == os_name and arch == machine:
            return platform
    return None


_HASHES = {}


def binary(name, platform):
    """The path and sha256 of a binary for a platform in this collection."""
    path = os.path.join(BIN_DIR, platform, name)
    try:
        st = os.stat(path)
    except OSError:
        raise AnsibleError(
            "the collection has no %s binary for %s (%s is missing): it was built without it; "
            "rebuild or reinstall cinder.multiattach" % (name, platform, path)
        )
    key = (path, st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        _HASHES[key] = digest.hexdigest()
    return path, _HASHES[key]


class GoModuleAction(ActionBase):
    """The action plugin of a Go module: subclasses set MODULE, BINARY and PLATFORMS."""

    MODULE = None  # the module's name
    BINARY = None  # its binary (cmd/<BINARY>), which may serve other modules too
    PLATFORMS = NODE_PLATFORMS

    def __init__(self, *args, **kwargs):
        super(GoModuleAction, self).__init__(*args, **kwargs)
        # instance attributes: ansible-core 2.14's ActionBase sets them in __init__
        self._supports_check_mode = True
        self._supports_async = True

    def run(self, tmp=None, task_vars=None):
        if task_vars is None:
            task_vars = {}
        result = super(GoModuleAction, self).run(tmp, task_vars)
        del tmp

        if not self._connection.has_pipelining:
            raise AnsibleError(
                "%s: the connection %s cannot pass data on stdin, which the module needs"
                % (self.MODULE, self._connection.transport)
            )
        if self._connection.become and getattr(self._connection.become, "require_tty", False):
            raise AnsibleError(
                "%s: become method %s needs a terminal; use one that does not (sudo)"
                % (self.MODULE, self._connection.become.name)
            )

        # Every platform's hash is known before anything runs; a missing
        # binary fails only when the target turns out to need it.
        wanted = []
        for platform in self.PLATFORMS:
            try:
                wanted.append("%s=%s" % (platform, binary(self.BINARY, platform)[1]))
            except AnsibleError:
                pass

        module_args = self._task.args.copy()
        # _ansible_module_name picks the module in a binary that serves several.
        self._update_module_args("cinder.multiattach." + self.MODULE, module_args, task_vars)
        args_data = to_bytes(json.dumps(module_args, cls=_args_encoder()))

        if self._task.async_val:
            action = [
                "async",
                " ".join(wanted),
                "j%d" % secrets.randbelow(999999999999),
                str(self._task.async_val),
                # expanded as async_status will, which reads the job file
                self._remote_expand_user(self.get_shell_option("async_dir", default="~/.ansible_async")),
            ]
        else:
            action = ["run", " ".join(wanted)]

        res = self._remote(action, args_data)
        marker = _marker(res)
        if marker and marker[0] == "miss":
            platform = marker[1]
            path, sha = binary(self.BINARY, platform)
            display.vvv(
                "cinder.multiattach: copying %s (%s, sha256 %s) to the module cache%s"
                % (self.BINARY, platform, sha, " (replacing a tampered entry)" if "tampered" in marker else ""),
                host=self._play_context.remote_addr,
            )
            with open(path, "rb") as f:
                stored = self._remote(["store", "%s=%s" % (platform, sha)], f.read())
            done = _marker(stored)
            if not done or done[0] != "stored":
                return self._refused(result, stored, done)
            res = self._remote(action, args_data)
            marker = _marker(res)
        if marker:
            return self._refused(result, res, marker)

        display.vvv("cinder.multiattach: ran %s from the module cache (%s)" % (self.MODULE, self.BINARY),
                    host=self._play_context.remote_addr)
        result.update(self._module_result(res))
        return result

    def _remote(self, action, data):
        cmd = " ".join(shlex.quote(a) for a in ["/bin/sh", "-c", remote_script(), "cinder.multiattach"] + action)
        # the task's environment (OS_CLOUD, proxies...) as a module gets it
        env = self._compute_environment_string()
        if env:
            cmd = "%s %s" % (env, cmd)
        return self._low_level_execute_command(cmd, sudoable=True, in_data=data)

    def _refused(self, result, res, marker):
        result["failed"] = True
        if marker and marker[0] == "unsupported":
            result["msg"] = "%s does not run on %s: its binaries are built for %s" % (
                self.MODULE, marker[1] if len(marker) > 1 else "this platform", ", ".join(self.PLATFORMS))
        elif marker and marker[0] == "miss":
            result["msg"] = "%s: the module cache still lacks the binary for %s after copying it" % (self.MODULE, marker[1])
        elif marker:
            result["msg"] = "%s: %s; nothing was run" % (self.MODULE, " ".join(marker[1:]))
        else:
            result["msg"] = "%s: copying the binary to the module cache failed; nothing was run" % self.MODULE
            result["module_stderr"] = res.get("stderr", "")
            result["rc"] = res.get("rc")
        return result

    def _module_result(self, res):
        out = res.get("stdout", "")
        try:
            filtered, warnings = _filter_non_json_lines(out, objects_only=True)
            for w in warnings:
                display.warning(w)
            data = json.loads(filtered)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except ValueError:
            return {
                "failed": True,
                "msg": "MODULE FAILURE: %s gave no JSON result (exit status %s)" % (self.MODULE, res.get("rc")),
                "module_stdout": out,
                "module_stderr": res.get("stderr", ""),
                "rc": res.get("rc"),
            }
        for key in [k for k in data if k.startswith("_ansible_") and k != "_ansible_no_log"]:
            del data[key]
        if res.get("rc") and not data.get("failed"):
            data["failed"] = True
        return data


def _marker(res):
    for line in to_text(res.get("stdout", "")).splitlines():
        if line.startswith(MARKER + " "):
            return line[len(MARKER) + 1:].split(" ", 2)
    return None


def _args_encoder():
    """The JSON encoder Ansible itself uses for a binary module's arguments."""
    try:  # ansible-core 2.19 and newer: the module serialization profile
        from ansible.module_utils.common.json import Direction, get_module_encoder
        return get_module_encoder("legacy", Direction.CONTROLLER_TO_MODULE)
    except ImportError:
        from ansible.module_utils.common.json import AnsibleJSONEncoder

        class Encoder(AnsibleJSONEncoder):
            def __init__(self, *args, **kwargs):
                kwargs["vault_to_text"] = True
                super(Encoder, self).__init__(*args, **kwargs)
        return Encoder
