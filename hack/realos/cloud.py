"""The parts of hack/realos/realos that talk to the cloud, in one process each
(the openstack CLI costs ~2 s a call): the Keystone catalog, readiness, test
fixtures, clean-up, and the multiattach smoke test. Debian's openstacksdk;
run with /usr/bin/python3 and OS_CLIENT_CONFIG_FILE/OS_CLOUD from `realos env`.

  cloud.py catalog                      service users, roles, endpoints (idempotent)
  cloud.py ready --compute-since T --volume-since T [--discover CMD]
                                        wait until every service answers and nova-compute and
                                        cinder-volume report after T (epoch s); CMD maps the host
  cloud.py fixtures PREFIX N [--twins]  flavor, image, multiattach type, N ACTIVE servers (and two
                                        sharing the name PREFIXtwin); JSON for the playbook out
  cloud.py provision-vars PREFIX N      flavor, image, type and network realos-net; JSON variables for
                                        playbooks/provision.yml creating N servers named PREFIX1..N
  cloud.py clean PREFIX                 delete servers and volumes named PREFIX*
  cloud.py smoke                        one multiattach volume on two servers, and back
  cloud.py probe S1,S2,S3 TYPE          the bad and racy cases' answers, normalised (diff real vs fake)
"""
import datetime
import json
import os
import shlex
import subprocess
import sys
import time

import openstack
from keystoneauth1 import exceptions as ksa_exc

IP = "127.0.0.1"
PASSWORD = "secret"
REGION = "RegionOne"
FLAVOR = "realos.tiny"
IMAGE = "realos-tiny"
VOLUME_TYPE = "realos-multiattach"
# A flat network on the physical network neutron.conf maps (ML2 binds its
# ports through the stand-in Linux bridge agent): servers get addresses.
NETWORK = "realos-net"
PHYSNET = "physnet1"
SUBNET_CIDR = "10.99.0.0/24"
# Multiattach attachments need compute API 2.60; --nic none needs 2.37.
COMPUTE_MV = "2.60"
SERVICE_USERS = ("nova", "cinder", "glance", "placement", "neutron")
CATALOG = {  # type: (name, url)
    "compute": ("nova", f"http://{IP}:8774/v2.1"),
    "placement": ("placement", f"http://{IP}:8778"),
    "image": ("glance", f"http://{IP}:9292"),
    "network": ("neutron", f"http://{IP}:9696"),
    "volumev3": ("cinderv3", f"http://{IP}:8776/v3/%(project_id)s"),
}
T0 = time.monotonic()


def log(msg):
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def connect():
    return openstack.connect(cloud=os.environ.get("OS_CLOUD", "realos"))


def transient(f, *args, attempts=15, **kwargs):
    """Retry what uWSGI's connection resets and services still starting
    throw; an HTTP error is an answer and is raised."""
    for i in range(attempts):
        try:
            return f(*args, **kwargs)
        except openstack.exceptions.HttpException:
            raise
        except (ksa_exc.ConnectionError, openstack.exceptions.SDKException, ConnectionError) as e:
            if i == attempts - 1:
                raise
            print(f"retry {getattr(f, '__name__', f)}: {e}", file=sys.stderr)
            time.sleep(1)


def until(what, check, timeout, interval=1.0):
    """Poll check() until it returns a true value; fail with what after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = check()
            if v:
                return v
        except (ksa_exc.ConnectionError, openstack.exceptions.SDKException) as e:
            last = e
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout} s waiting for {what}" + (f" (last error: {last})" if last else ""))


def call(adapter, method, url, ok=(200, 201, 202, 204), **kw):
    """One REST call; returns the decoded body (or None). Non-ok answers fail
    with the service's own message."""
    r = transient(adapter.request, url, method, raise_exc=False, **kw)
    if r.status_code not in ok:
        raise SystemExit(f"{method} {url}: HTTP {r.status_code}: {r.text[:400]}")
    return r.json() if r.content and "json" in r.headers.get("content-type", "") else None


# ---------------------------------------------------------------- catalog
def catalog():
    c = connect()
    idn = c.identity
    dom = transient(idn.find_domain, "default")
    proj = transient(idn.find_project, "service", domain_id=dom.id) or transient(
        idn.create_project, name="service", domain_id=dom.id)
    roles = [transient(idn.find_role, r) or transient(idn.create_role, name=r) for r in ("admin", "service")]
    for name in SERVICE_USERS:
        user = transient(idn.find_user, name, domain_id=dom.id) or transient(
            idn.create_user, name=name, password=PASSWORD, domain_id=dom.id)
        for role in roles:
            transient(idn.assign_project_role_to_user, proj, user, role)
    services = list(transient(idn.services))
    for typ, (name, url) in CATALOG.items():
        svc = next((s for s in services if s.type == typ), None) or transient(idn.create_service, name=name, type=typ)
        have = {e.interface for e in transient(lambda: list(idn.endpoints(service_id=svc.id)))}
        for iface in ("public", "internal", "admin"):
            if iface not in have:
                transient(idn.create_endpoint, service_id=svc.id, interface=iface, url=url, region_id=REGION)
    log("catalog: users, roles, endpoints in place")


# ---------------------------------------------------------------- readiness
def heartbeat_after(svcs, binary, since):
    """A service record says "up" for a minute after its process died: only
    a report newer than the process's start counts."""
    for s in svcs:
        if s["binary"] == binary and s["state"] == "up" and s.get("updated_at"):
            t = datetime.datetime.fromisoformat(s["updated_at"].split(".")[0]).replace(tzinfo=datetime.timezone.utc)
            if t.timestamp() >= since:
                return True
    return False


def ready(compute_since, volume_since, discover):
    c = connect()
    until("a keystone token", c.authorize, 60)
    log("keystone issues tokens")

    # Debian's neutron answers a port list with 500 until a network list has
    # configured its ORM mappers; Nova lists ports on every server show/delete.
    def neutron():
        a = c.network.get("/networks", raise_exc=False).status_code
        b = c.network.get("/ports?device_id=realos-warmup", raise_exc=False).status_code
        return a == 200 and b == 200
    until("neutron port lists", neutron, 90)
    log("neutron lists ports")
    until("glance", lambda: c.image.get("/images", raise_exc=False).status_code == 200, 90)
    log("glance lists images")

    until("a nova-compute heartbeat", lambda: heartbeat_after(
        call(c.compute, "GET", "/os-services")["services"], "nova-compute", compute_since), 180)

    def provider():
        return call(c.placement, "GET", "/resource_providers")["resource_providers"]
    until("the compute node's resource provider in placement", provider, 120)
    log("nova-compute is up and has its resource provider")
    if discover:
        out = subprocess.run(shlex.split(discover), capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise SystemExit(f"{discover}: exit {out.returncode}: {out.stderr[-800:]}")
        log("compute host mapped into cell1")

    until("a cinder-volume heartbeat", lambda: heartbeat_after(
        call(c.block_storage, "GET", "/os-services")["services"], "cinder-volume", volume_since), 180)
    log("cinder-volume is up")


# ---------------------------------------------------------------- fixtures
def ensure_base(c):
    """Flavor, image and multiattach volume type the tests use; returns their ids."""
    flavors = call(c.compute, "GET", "/flavors")["flavors"]
    flavor = next((f["id"] for f in flavors if f["name"] == FLAVOR), None)
    if not flavor:
        flavor = call(c.compute, "POST", "/flavors", json={"flavor": {
            "name": FLAVOR, "ram": 64, "vcpus": 1, "disk": 1}})["flavor"]["id"]
    images = call(c.image, "GET", f"/images?name={IMAGE}")["images"]
    image = next((i["id"] for i in images if i["status"] == "active"), None)
    if not image:
        for i in images:  # a half-made one from an interrupted run
            call(c.image, "DELETE", f"/images/{i['id']}")
        image = call(c.image, "POST", "/images", json={
            "name": IMAGE, "disk_format": "raw", "container_format": "bare", "visibility": "public"})["id"]
        call(c.image, "PUT", f"/images/{image}/file", data=b"\0" * (1 << 20),
             headers={"Content-Type": "application/octet-stream"})
    types = call(c.block_storage, "GET", "/types")["volume_types"]
    vtype = next((t for t in types if t["name"] == VOLUME_TYPE), None)
    if not vtype:
        vtype = call(c.block_storage, "POST", "/types", json={"volume_type": {
            "name": VOLUME_TYPE, "extra_specs": {"multiattach": "<is> True"}}})["volume_type"]
    return flavor, image, vtype["id"]


def ensure_network(c):
    """The network openstack.cloud.server puts servers on; returns its id."""
    nets = call(c.network, "GET", f"/networks?name={NETWORK}")["networks"]
    if nets:
        net = nets[0]
    else:
        net = call(c.network, "POST", "/networks", json={"network": {
            "name": NETWORK, "shared": True, "provider:network_type": "flat",
            "provider:physical_network": PHYSNET}})["network"]
    if not net["subnets"]:
        call(c.network, "POST", "/subnets", json={"subnet": {
            "network_id": net["id"], "name": NETWORK, "ip_version": 4, "cidr": SUBNET_CIDR,
            "enable_dhcp": False}})
    return net["id"]


def provision_vars(prefix, count):
    c = connect()
    ensure_base(c)
    ensure_network(c)
    log(f"network {NETWORK} ({SUBNET_CIDR}) ready")
    json.dump({
        "provision_cloud": "realos", "create_servers": True,
        "provision_server_prefix": prefix, "provision_server_count": count,
        "provision_image": IMAGE, "provision_flavor": FLAVOR, "provision_network": NETWORK,
        "provision_volume_name": prefix + "volume", "provision_volume_size": 1,
        "provision_volume_type": VOLUME_TYPE, "provision_timeout": 300,
        # the fake virt driver boots nothing: there is no SSH to wait for
        "provision_wait_for_ssh": False,
    }, sys.stdout)
    print()


def servers_named(c, prefix):
    body = call(c.compute, "GET", "/servers/detail", params={"name": "^" + prefix}, microversion=COMPUTE_MV)
    return [s for s in body["servers"] if s["name"].startswith(prefix)]


def create_servers(c, prefix, count, flavor, image):
    have = {s["name"]: s for s in servers_named(c, prefix)}
    names = [f"{prefix}{i}" for i in range(1, count + 1)]
    for n in names:
        if n in have and have[n]["status"] == "ERROR":
            call(c.compute, "DELETE", f"/servers/{have[n]['id']}")
            until(f"{n} deleted", lambda: n not in {s["name"] for s in servers_named(c, prefix)}, 60)
            del have[n]
        if n not in have:
            call(c.compute, "POST", "/servers", microversion=COMPUTE_MV, json={"server": {
                "name": n, "imageRef": image, "flavorRef": flavor, "networks": "none"}})

    def active():
        now = {s["name"]: s for s in servers_named(c, prefix)}
        bad = [f"{n}: {now[n].get('fault', {}).get('message')}" for n in names if n in now and now[n]["status"] == "ERROR"]
        if bad:
            raise SystemExit("server(s) in ERROR: " + "; ".join(bad))
        return all(n in now and now[n]["status"] == "ACTIVE" for n in names)
    until(f"{count} servers ACTIVE", active, 180)
    return names


def create_twins(c, name, flavor, image):
    """Two servers with the same name (Nova allows it): the ambiguous-name case."""
    have = [s for s in servers_named(c, name) if s["name"] == name and s["status"] != "ERROR"]
    for _twin in range(2 - len(have)):
        call(c.compute, "POST", "/servers", microversion=COMPUTE_MV, json={"server": {
            "name": name, "imageRef": image, "flavorRef": flavor, "networks": "none"}})
    until(f"two servers named {name} ACTIVE", lambda: [s["status"] for s in servers_named(c, name)
                                                       if s["name"] == name].count("ACTIVE") >= 2, 180)


def fixtures(prefix, count, twins=False):
    c = connect()
    flavor, image, vtype = ensure_base(c)
    out = {"mav_volume_type": VOLUME_TYPE}
    if twins:
        out["mav_ambiguous_server"] = prefix + "twin"
        create_twins(c, out["mav_ambiguous_server"], flavor, image)
    out["mav_servers"] = create_servers(c, prefix, count, flavor, image)
    log(f"{count} servers ACTIVE{' and two sharing a name' if twins else ''}, volume type {VOLUME_TYPE}")
    json.dump(out, sys.stdout)
    print()


# ---------------------------------------------------------------- clean-up
def clean(prefix):
    """Servers first: deleting a server detaches its volumes, which can then go."""
    c = connect()
    servers = servers_named(c, prefix)
    for s in servers:
        call(c.compute, "DELETE", f"/servers/{s['id']}", ok=(204, 404))
    until("servers deleted", lambda: not servers_named(c, prefix), 120)
    vols = [v for v in call(c.block_storage, "GET", "/volumes/detail")["volumes"] if (v["name"] or "").startswith(prefix)]
    for v in vols:
        if v["status"] not in ("available", "error"):
            # stuck half-way (an interrupted attach): admin reset, the server is gone
            call(c.block_storage, "POST", f"/volumes/{v['id']}/action",
                 json={"os-reset_status": {"status": "available", "attach_status": "detached"}})
        call(c.block_storage, "DELETE", f"/volumes/{v['id']}", ok=(202, 404))

    def gone():
        left = call(c.block_storage, "GET", "/volumes/detail")["volumes"]
        return not [v for v in left if (v["name"] or "").startswith(prefix)]
    until("volumes deleted", gone, 120)
    log(f"deleted {len(servers)} servers and {len(vols)} volumes named {prefix}*")


# ---------------------------------------------------------------- smoke test
def volume(c, vid):
    return call(c.block_storage, "GET", f"/volumes/{vid}")["volume"]


def detached(v, server_id):
    """The volume no longer lists the server and has left detaching."""
    return server_id not in {a["server_id"] for a in v["attachments"]} and v["status"] in ("in-use", "available")


def smoke():
    prefix = "realos-smoke-"
    c = connect()
    clean(prefix)  # what an interrupted run left
    try:
        attach_two(c, prefix)
    finally:
        clean(prefix)
    log("smoke test PASSED")


def attach_two(c, prefix):
    flavor, image, _network = ensure_base(c)
    names = create_servers(c, prefix, 2, flavor, image)
    ids = {s["name"]: s["id"] for s in servers_named(c, prefix)}
    log("2 servers ACTIVE")
    vid = call(c.block_storage, "POST", "/volumes", json={"volume": {
        "name": prefix + "vol", "size": 1, "volume_type": VOLUME_TYPE}})["volume"]["id"]
    until("volume available", lambda: volume(c, vid)["status"] == "available", 60)
    v = volume(c, vid)
    assert v["multiattach"] is True, f"volume not multiattach: {v}"
    log(f"multiattach volume {vid} available")
    # One at a time: while the first attachment is being made the volume is
    # "reserved", and Nova answers a second attach with 400 (see README).
    for n in names:
        call(c.compute, "POST", f"/servers/{ids[n]}/os-volume_attachments", microversion=COMPUTE_MV,
             json={"volumeAttachment": {"volumeId": vid}})
        until(f"attachment to {n}", lambda: ids[n] in {a["server_id"] for a in volume(c, vid)["attachments"]}
              and volume(c, vid)["status"] == "in-use", 60, interval=0.5)
    v = volume(c, vid)
    assert v["status"] == "in-use" and {a["server_id"] for a in v["attachments"]} == set(ids.values()), v
    for n in names:
        on = call(c.compute, "GET", f"/servers/{ids[n]}/os-volume_attachments", microversion=COMPUTE_MV)
        assert [a["volumeId"] for a in on["volumeAttachments"]] == [vid], f"{n}: {on}"
    log("attached to both servers (cinder and nova agree)")
    # One at a time again: while detaching, the volume is "detaching" and a
    # second detach gets 400 (see README).
    for n in names:
        call(c.compute, "DELETE", f"/servers/{ids[n]}/os-volume_attachments/{vid}", microversion=COMPUTE_MV)
        until(f"detachment from {n}", lambda: detached(volume(c, vid), ids[n]), 60, interval=0.5)
    v = volume(c, vid)
    assert v["status"] == "available" and not v["attachments"], v
    log("detached from both servers")


# ---------------------------------------------------------------- probe: real vs fake
def probe(server_names, mtype):
    """The answers to the bad and racy cases the module meets, one line each
    (UUIDs and request IDs normalised), so that the same run against
    bin/fakeopenstack can be diffed with the real cloud's."""
    import re
    c = connect()
    norm_map = {}

    def norm(text):
        text = re.sub(r"req-[0-9a-f-]{36}", "req-<id>", text)
        for k, v in norm_map.items():
            text = text.replace(k, v)
        return re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", text)

    def show(case, r, body=True):
        msg = ""
        if body and r.content:
            try:
                j = r.json()
                inner = next(iter(j.values())) if isinstance(j, dict) and len(j) == 1 else j
                msg = inner.get("message", "") if isinstance(inner, dict) and "message" in inner else json.dumps(j, sort_keys=True)
            except ValueError:
                msg = r.text[:300]
        print(f"{case:34} {r.status_code} {norm(msg)}", flush=True)

    def req(adapter, method, url, **kw):
        return transient(adapter.request, url, method, raise_exc=False, **kw)

    def vol(vid):
        return req(c.block_storage, "GET", f"/volumes/{vid}").json()["volume"]

    def watch(vid, stop, timeout=60):
        """Statuses the volume passes through (and whether its attachments
        list grows before it settles) until stop(volume) holds."""
        seen, t0 = [], time.monotonic()
        while time.monotonic() - t0 < timeout:
            v = vol(vid)
            item = f"{v['status']}/{len(v['attachments'])}"
            if not seen or seen[-1] != item:
                seen.append(item)
            if stop(v):
                return " -> ".join(seen)
            time.sleep(0.05)
        raise SystemExit(f"volume {vid} did not settle: {seen}")

    servers = {}
    for n in server_names:
        r = req(c.compute, "GET", "/servers", params={"name": n}, microversion=COMPUTE_MV).json()["servers"]
        servers[n] = next(s["id"] for s in r if s["name"] == n)
    s1, s2, s3 = (servers[n] for n in server_names[:3])
    for i, n in enumerate(server_names, 1):
        norm_map[servers[n]] = f"<server{i}>"
        norm_map[n] = f"<name{i}>"

    v = req(c.compute, "GET", "/").json()
    print(f"{'compute max microversion':34} {v['version']['version']}")
    created = []

    def create(name, vtype=None):
        body = {"name": name, "size": 1}
        if vtype:
            body["volume_type"] = vtype
        r = req(c.block_storage, "POST", "/volumes", json={"volume": body})
        vid = r.json()["volume"]["id"]
        created.append(vid)
        until(f"{name} available", lambda: vol(vid)["status"] == "available", 60, interval=0.2)
        return vid

    m = create("probe-multi", mtype)
    norm_map[m] = "<multi>"
    plain = create("probe-plain")
    norm_map[plain] = "<plain>"
    print(f"{'types: multi / plain multiattach':34} {vol(m)['multiattach']} / {vol(plain)['multiattach']}")

    def attach(sid, vid, mv=COMPUTE_MV):
        return req(c.compute, "POST", f"/servers/{sid}/os-volume_attachments", microversion=mv,
                   json={"volumeAttachment": {"volumeId": vid}})

    def detach(sid, vid):
        return req(c.compute, "DELETE", f"/servers/{sid}/os-volume_attachments/{vid}", microversion=COMPUTE_MV)

    def on(v, sid):
        return sid in {a["server_id"] for a in v["attachments"]}

    show("attach multi at 2.59", attach(s1, m, "2.59"))
    r = attach(s1, m)
    show("attach multi s1 (2.60)", r, body=False)
    print(f"{'  answer keys':34} {sorted(r.json()['volumeAttachment'])} device={r.json()['volumeAttachment'].get('device')}")
    show("attach multi s2 while s1 attaching", attach(s2, m))
    print(f"{'  statuses/attachments seen':34} {watch(m, lambda v: v['status'] == 'in-use' and on(v, s1))}")
    show("attach multi s1 again (attached)", attach(s1, m))
    show("attach multi s2", attach(s2, m), body=False)
    print(f"{'  statuses/attachments seen':34} {watch(m, lambda v: v['status'] == 'in-use' and on(v, s2))}")
    a = vol(m)["attachments"][0]
    print(f"{'volume attachment keys':34} {sorted(a)}")
    show("detach multi s1", detach(s1, m), body=False)
    # a race: the fake driver may finish the first detach before this arrives
    r = detach(s2, m)
    show("detach multi s2 while s1 detaching", r)
    print(f"{'  statuses/attachments seen':34} "
          f"{watch(m, lambda v: v['status'] in ('in-use', 'available') and not on(v, s1) and (r.status_code != 202 or not on(v, s2)))}")
    if r.status_code == 202:  # lost the race: back to attached to s2 only
        attach(s2, m)
        watch(m, lambda v: v["status"] == "in-use" and on(v, s2))
    show("detach multi s1 again (not attached)", detach(s1, m))
    show("show attachment s1 (not attached)", req(c.compute, "GET", f"/servers/{s1}/os-volume_attachments/{m}", microversion=COMPUTE_MV))
    show("delete multi while in-use", req(c.block_storage, "DELETE", f"/volumes/{m}"))
    show("attach plain s1", attach(s1, plain), body=False)
    show("attach plain s3 while s1 attaching", attach(s3, plain))
    show("attach plain s1 again while attaching", attach(s1, plain))
    watch(plain, lambda v: v["status"] == "in-use")
    show("attach plain s3 (in-use elsewhere)", attach(s3, plain))
    show("attach missing volume", attach(s1, "00000000-0000-0000-0000-000000000000"))
    show("attach to missing server", attach("00000000-0000-0000-0000-000000000000", m))
    show("detach from missing server", detach("00000000-0000-0000-0000-000000000000", m))
    show("detach missing volume", detach(s1, "00000000-0000-0000-0000-000000000000"))
    show("attach without volumeId", req(c.compute, "POST", f"/servers/{s1}/os-volume_attachments",
                                        microversion=COMPUTE_MV, json={"volumeAttachment": {}}))
    show("attach at microversion 2.99", attach(s1, m, "2.99"))
    show("create with missing type", req(c.block_storage, "POST", "/volumes", json={"volume": {
        "name": "probe-x", "size": 1, "volume_type": "no-such-type"}}))
    show("show missing volume", req(c.block_storage, "GET", "/volumes/00000000-0000-0000-0000-000000000000"))
    show("delete missing volume", req(c.block_storage, "DELETE", "/volumes/00000000-0000-0000-0000-000000000000"))
    names = [x["name"] for x in req(c.block_storage, "GET", "/volumes/detail", params={"name": "probe-mu"}).json()["volumes"]]
    print(f"{'volume list name=probe-mu':34} {names}")
    n1 = server_names[0]
    # Nova on MySQL escapes every "|" (nova/db/main/api.py _safe_regex_mysql):
    # alternatives never match.
    for q in (n1.upper(), n1[1:], f"^({n1}|{server_names[1]})$"):
        got = [norm(x["name"]) for x in req(c.compute, "GET", "/servers", params={"name": q}, microversion=COMPUTE_MV).json()["servers"]]
        print(f"{'server list name=' + norm(q):34} {sorted(got)}")
    # clean up
    detach(s2, m)
    detach(s1, plain)
    watch(m, lambda v: v["status"] == "available")
    watch(plain, lambda v: v["status"] == "available")
    for vid in created:
        req(c.block_storage, "DELETE", f"/volumes/{vid}")


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "catalog":
        catalog()
    elif cmd == "ready":
        opts = dict(zip(argv[2::2], argv[3::2]))
        ready(float(opts["--compute-since"]), float(opts["--volume-since"]), opts.get("--discover"))
    elif cmd == "fixtures" and len(argv) in (4, 5):
        fixtures(argv[2], int(argv[3]), argv[4:] == ["--twins"])
    elif cmd == "provision-vars" and len(argv) == 4:
        provision_vars(argv[2], int(argv[3]))
    elif cmd == "clean" and len(argv) == 3:
        clean(argv[2])
    elif cmd == "smoke":
        smoke()
    elif cmd == "probe" and len(argv) == 4:
        probe(argv[2].split(","), argv[3])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
