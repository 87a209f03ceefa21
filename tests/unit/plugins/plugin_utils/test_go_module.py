# -*- coding: utf-8 -*-
# Copyright: cinder.multiattach maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The remote side of the Go modules' action plugin, run here with /bin/sh.

Each test runs the very script the plugin sends to a target, with a fake
`uname` first on PATH for the platform and a temporary HOME for the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import time

import pytest

from ansible_collections.cinder.multiattach.plugins.plugin_utils.go_module import (
    CONTROLLER_PLATFORMS,
    MARKER,
    NODE_PLATFORMS,
    UNAME,
    platform_of,
    remote_script,
)

# A stand-in module binary: prints its arguments file back as JSON.
FAKE_BINARY = b"""#!/bin/sh
printf '{"changed": false, "args": %s}\\n' "$(cat "$1")"
"""
FAKE_SHA = hashlib.sha256(FAKE_BINARY).hexdigest()

# (uname -s, uname -m, Go platform or None when nothing is built for it)
PAIRS = [
    ("Linux", "x86_64", "linux_amd64"),
    ("Linux", "amd64", "linux_amd64"),
    ("Linux", "aarch64", "linux_arm64"),
    ("Linux", "arm64", "linux_arm64"),
    ("Darwin", "x86_64", "darwin_amd64"),
    ("Darwin", "arm64", "darwin_arm64"),
    ("Linux", "armv7l", None),
    ("Linux", "i686", None),
    ("Linux", "riscv64", None),
    ("Linux", "ppc64le", None),
    ("Linux", "s390x", None),
    ("FreeBSD", "amd64", None),
    ("OpenBSD", "arm64", None),
    ("SunOS", "i86pc", None),
    ("Darwin", "i386", None),
    ("CYGWIN_NT-10.0", "x86_64", None),
]


@pytest.fixture
def target(tmp_path):
    """A target: HOME, and a PATH whose uname says what the test wants."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    bindir = tmp_path / "fakebin"
    bindir.mkdir()

    def run(action, pairs, data=b"", uname=("Linux", "x86_64"), extra=()):
        (bindir / "uname").write_text(
            '#!/bin/sh\ncase "$1" in -s) echo %s ;; -m) echo %s ;; esac\n' % uname)
        (bindir / "uname").chmod(0o755)
        env = {"HOME": str(home), "PATH": "%s:/usr/bin:/bin" % bindir}
        cmd = ["/bin/sh", "-c", remote_script(), "cinder.multiattach", action, pairs] + list(extra)
        proc = subprocess.run(cmd, input=data, capture_output=True, env=env, check=False, timeout=60)
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()

    run.home = home
    run.cache = home / ".ansible" / "cinder.multiattach"
    return run


def marker(out):
    lines = [line for line in out.splitlines() if line.startswith(MARKER + " ")]
    return lines[0][len(MARKER) + 1:].split(" ") if lines else None


def pairs_for(platforms):
    return " ".join("%s=%s" % (p, FAKE_SHA) for p in platforms)


@pytest.mark.parametrize("os_name,machine,platform", PAIRS)
def test_platform_choice_node_module(target, os_name, machine, platform):
    """A node module runs on Linux amd64/arm64 only; every other pair is refused by name."""
    rc, out, err = target("run", pairs_for(NODE_PLATFORMS), b"{}", uname=(os_name, machine))
    assert rc == 0, err
    if platform in NODE_PLATFORMS:
        assert marker(out) == ["miss", platform]
    else:
        assert marker(out) == ["unsupported", "%s/%s" % (os_name, machine)]
    assert platform_of(os_name, machine) == platform


@pytest.mark.parametrize("os_name,machine,platform", PAIRS)
def test_platform_choice_controller_module(target, os_name, machine, platform):
    """multiattach_volume also runs on macOS, amd64 and arm64."""
    rc, out, err = target("run", pairs_for(CONTROLLER_PLATFORMS), b"{}", uname=(os_name, machine))
    assert rc == 0, err
    if platform:
        assert marker(out) == ["miss", platform]
    else:
        assert marker(out) == ["unsupported", "%s/%s" % (os_name, machine)]


def test_every_platform_has_a_uname():
    assert {entry[2] for entry in UNAME} == set(CONTROLLER_PLATFORMS)


def store(target, content=FAKE_BINARY, sha=FAKE_SHA):
    return target("store", "linux_amd64=%s" % sha, content)


def test_store_then_run_then_cached(target):
    rc, out, err = target("run", pairs_for(NODE_PLATFORMS), b'{"a": 1}')
    assert marker(out) == ["miss", "linux_amd64"]
    rc, out, err = store(target)
    assert marker(out) == ["stored", "linux_amd64"], err
    entry = target.cache / FAKE_SHA
    before = entry.stat()
    assert stat.S_IMODE(before.st_mode) == 0o700
    assert stat.S_IMODE(target.cache.stat().st_mode) == 0o700

    for n in (1, 2):
        rc, out, err = target("run", pairs_for(NODE_PLATFORMS), b'{"call": %d}' % n)
        assert rc == 0, err
        assert marker(out) is None
        assert json.loads(out) == {"changed": False, "args": {"call": n}}
    # the same file ran both times: nothing was copied again
    assert entry.stat().st_ino == before.st_ino
    # no arguments file is left behind
    assert sorted(os.listdir(target.cache)) == [FAKE_SHA]


def test_store_refuses_a_copy_that_does_not_match(target):
    rc, out, err = store(target, content=FAKE_BINARY + b"#", sha=FAKE_SHA)
    assert marker(out)[0] == "refused"
    assert "did not arrive whole" in out
    assert os.listdir(target.cache) == []


def test_tampered_entry_is_replaced_never_run(target):
    store(target)
    entry = target.cache / FAKE_SHA
    entry.write_bytes(b"#!/bin/sh\ntouch %s/ran\n" % str(target.home).encode())
    rc, out, err = target("run", pairs_for(NODE_PLATFORMS), b"{}")
    assert marker(out) == ["miss", "linux_amd64", "tampered"]
    assert not entry.exists()
    assert not (target.home / "ran").exists()


def test_entry_writable_by_others_is_refused(target):
    store(target)
    (target.cache / FAKE_SHA).chmod(0o722)
    rc, out, err = target("run", pairs_for(NODE_PLATFORMS), b"{}")
    assert marker(out)[0] == "refused"
    assert "writable by group or others" in out


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_cache_directory_writable_by_others_is_refused(target, mode):
    store(target)
    target.cache.chmod(mode)
    rc, out, err = target("run", pairs_for(NODE_PLATFORMS), b"{}")
    assert marker(out)[0] == "refused"
    assert "module cache directory %s is writable by group or others" % target.cache in out


def test_symlinked_entry_is_refused(target, tmp_path):
    store(target)
    real = tmp_path / "elsewhere"
    real.write_bytes(FAKE_BINARY)
    real.chmod(0o700)
    entry = target.cache / FAKE_SHA
    entry.unlink()
    entry.symlink_to(real)
    rc, out, err = target("run", pairs_for(NODE_PLATFORMS), b"{}")
    assert marker(out)[0] == "refused"
    assert "not a regular file" in out


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_foreign_owned_entry_is_refused(target):
    store(target)
    entry = target.cache / FAKE_SHA
    os.chown(entry, 65534, 65534)
    rc, out, err = target("run", pairs_for(NODE_PLATFORMS), b"{}")
    assert marker(out)[0] == "refused"
    assert "belongs to uid 65534, not uid 0" in out
    assert entry.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a directory's owner needs root")
def test_foreign_owned_cache_directory_is_refused(target):
    store(target)
    os.chown(target.cache, 65534, 65534)
    rc, out, err = target("run", pairs_for(NODE_PLATFORMS), b"{}")
    assert marker(out)[0] == "refused"
    assert "module cache directory %s belongs to uid 65534" % target.cache in out


def wait_for_job(path, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        data = json.loads(path.read_text())
        if "started" not in data:
            return data
        time.sleep(0.2)
    raise AssertionError("job %s did not finish" % path)


def test_async_writes_the_result_where_async_status_reads_it(target):
    store(target)
    rc, out, err = target("async", pairs_for(NODE_PLATFORMS), b'{"x": 1}', extra=["j1", "30", str(target.home / ".ansible_async")])
    assert rc == 0, err
    started = json.loads(out)
    job = target.home / ".ansible_async" / "j1"
    assert started == {"started": True, "finished": False, "ansible_job_id": "j1", "results_file": str(job)}
    assert wait_for_job(job) == {"changed": False, "args": {"x": 1}}
    assert sorted(os.listdir(target.cache)) == [FAKE_SHA]


def test_async_time_limit_kills_the_module(target):
    slow = b"#!/bin/sh\nexec sleep 30\n"
    sha = hashlib.sha256(slow).hexdigest()
    store(target, content=slow, sha=sha)
    rc, out, err = target("async", "linux_amd64=%s" % sha, b"{}", extra=["j2", "1", str(target.home / ".ansible_async")])
    assert rc == 0, err
    result = wait_for_job(target.home / ".ansible_async" / "j2")
    assert result["failed"] is True
    assert "Timeout exceeded" in result["msg"]
