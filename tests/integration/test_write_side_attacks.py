"""Issue 26, the write side under attack: each finding and each property of the mutation audit,
through the modules, in one playbook.

Scripted servers (tests/testbed/hostile.py) play what no real registry does: upload Locations and
Link pages that point elsewhere, a signed schema 1 manifest, a realm at an IPv4-mapped address.
The names ``*.public.test`` resolve to a public address that reaches loopback
(tests/integration/public_names/sitecustomize.py): the only way to show a public registry
pointing at an internal service on a machine whose every server is on loopback. Layouts and
archives are built here, byte by byte, and checked after the run: nothing written outside, no
debris left behind.
"""

from __future__ import annotations

import base64
import fcntl
import gzip
import hashlib
import io
import json
import os
import signal
import subprocess
import tarfile
import time
from urllib.parse import unquote

import pytest

from tests.integration.ansible_runner import BIN, run_module, run_playbook, runner_env
from tests.testbed.hostile import HostileServer, Reply
from tests.testbed.pki import Pki

PASSWORD = "write-side-secret-7a1e"
SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "public_names")
PUBLIC_NAME = "registry.public.test"
INTERNAL_NAME = "service.internal.test"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
LAYER = b"a layer of the write-side attacks\n" * 64
SECRET = b"root-only bytes 5b0c\n"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def config_for(arch: str) -> bytes:
    return json.dumps({"architecture": arch, "os": "linux",
                       "rootfs": {"type": "layers", "diff_ids": [sha256(LAYER)]}}).encode()


def manifest_for(config: bytes, layers: list) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": sha256(config), "size": len(config)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                   "digest": digest, "size": size} for digest, size in layers]}).encode()


CONFIG = config_for("amd64")
MANIFEST = manifest_for(CONFIG, [(sha256(LAYER), len(LAYER))])


def make_layout(path: str, blobs: dict | None = None, index=None, manifest: bytes = MANIFEST) -> str:
    """An OCI layout holding the small image under the tag ``1`` (``blobs`` overrides files by digest,
    ``index`` the whole index.json)."""
    os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
    files = {sha256(CONFIG): CONFIG, sha256(LAYER): LAYER, sha256(manifest): manifest}
    files.update(blobs or {})
    for digest, data in files.items():
        with open(os.path.join(path, "blobs", "sha256", digest.split(":")[1]), "wb") as handle:
            handle.write(data)
    if index is None:
        index = {"schemaVersion": 2, "manifests": [{
            "mediaType": OCI_MANIFEST, "digest": sha256(manifest), "size": len(manifest),
            "annotations": {"org.opencontainers.image.ref.name": "1"}}]}
    with open(os.path.join(path, "index.json"), "w") as handle:
        handle.write(index if isinstance(index, str) else json.dumps(index))
    with open(os.path.join(path, "oci-layout"), "w") as handle:
        handle.write('{"imageLayoutVersion":"1.0.0"}')
    return path


def tar_of(path: str, members: list, mode: str = "w") -> str:
    """``members``: (TarInfo, bytes or None)."""
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_member(name: str, data: bytes) -> tuple:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def layout_members(root: str) -> list:
    out = []
    for base, dummy, names in os.walk(root):
        for name in sorted(names):
            full = os.path.join(base, name)
            with open(full, "rb") as handle:
                out.append(file_member(os.path.relpath(full, root), handle.read()))
    return out


def debris(directory: str) -> list:
    found = []
    for base, dirs, names in os.walk(directory):
        found += [os.path.join(base, n) for n in dirs + names if n.startswith(".drc-tmp-")]
    return found


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def schema1_signed() -> tuple:
    """A signed schema 1 manifest as libtrust writes it: (whole body, signed payload)."""
    payload = json.dumps({"schemaVersion": 1, "name": "old/app", "tag": "1", "architecture": "amd64",
                          "fsLayers": [{"blobSum": sha256(LAYER)}],
                          "history": [{"v1Compatibility": json.dumps({"id": "a" * 64})}]},
                         indent=3).encode()
    length = payload.rindex(b"\n}")
    tail = payload[length:]
    protected = b64(json.dumps({"formatLength": length, "formatTail": b64(tail),
                                "time": "2026-12-04T00:00:00Z"}).encode())
    signature = {"header": {"jwk": {"crv": "P-256", "kty": "EC", "x": "x", "y": "y"}, "alg": "ES256"},
                 "signature": "c2ln", "protected": protected}
    body = payload[:length] + b',\n   "signatures": ' + json.dumps([signature], indent=3).encode() + tail
    return body, payload[:length] + tail


SCHEMA1_BODY, SCHEMA1_PAYLOAD = schema1_signed()


class Scripted:
    """A scripted registry: ``routes(request, path)`` answers; /v2/ is open unless ``basic``."""

    def __init__(self, routes, basic: bool = False, tls_pki=None) -> None:
        self.routes, self.basic = routes, basic
        self.server = HostileServer(self.answer, tls_pki=tls_pki)
        self.requests = self.server.requests

    def answer(self, request):
        path = request.path.split("?", 1)[0]
        if self.basic and not request.headers.get("Authorization", "").startswith("Basic "):
            return Reply(401, {"WWW-Authenticate": 'Basic realm="scripted"'})
        if path == "/v2/":
            return Reply(200, {"Docker-Distribution-API-Version": "registry/2.0"}, b"{}")
        return self.routes(request, path)


def not_found():
    return Reply(404, {"Content-Type": "application/json"},
                 b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}')


@pytest.fixture(scope="module")
def attacks(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("attacks"))
    temp = os.path.join(work, "tmpdir")  # the modules' TMPDIR: unpacked archives land here
    os.makedirs(temp)
    pki = Pki(os.path.join(work, "pki"))
    collector = HostileServer(lambda request: Reply(201, {"Docker-Content-Digest": sha256(LAYER)}))
    collector.start()
    elsewhere = "http://127.0.0.1:%d" % collector.port

    locations = {  # repository -> the upload Location the registry answers
        "f3/internal": elsewhere + "/upload/internal",
        "f3/internal-name": "http://%s:%d/upload/by-name" % (INTERNAL_NAME, collector.port),
        "f3/userinfo": "http://user:pw@%s:{port}/upload/userinfo" % PUBLIC_NAME,
        "f3/backslash": "http://127.0.0.1:%d\\@%s:{port}/upload/backslash" % (collector.port, PUBLIC_NAME),
        "f7/app": "/v2/f7/app/blobs/uploads/one",
    }
    links = {  # repository -> the Link of its first tags page
        "f3/link-internal": '<%s/v2/f3/link-internal/tags/list?last=a>; rel="next"' % elsewhere,
        "f3/link-userinfo": '<http://user:pw@%s:{port}/v2/x/tags/list?last=a>; rel="next"' % PUBLIC_NAME,
        "f3/link-backslash": '<http://127.0.0.1:%d\\@%s:{port}/v2/x/tags/list>; rel="next"'
                             % (collector.port, PUBLIC_NAME),
    }

    def public_routes(request, path):
        parts = path.split("/")
        repository = "/".join(parts[2:4])
        if path == "/v1/_ping":
            return Reply(200, {"Content-Type": "application/json"}, b"true")
        if path == "/v1/repositories/f9/app/images":  # 9: a public index naming an internal endpoint
            return Reply(200, {"Content-Type": "application/json",
                               "X-Docker-Token": 'signature=f9,repository="f9/app",access=read',
                               "X-Docker-Endpoints": "%s:%d" % (INTERNAL_NAME, collector.port)}, b"[]")
        if "/manifests/" in path and repository == "old/app":
            return Reply(200, {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws",
                               "Docker-Content-Digest": sha256(SCHEMA1_PAYLOAD)}, SCHEMA1_BODY)
        if repository == "p8/app":
            return Reply(401, {"WWW-Authenticate": 'Bearer realm="http://[::ffff:100.100.100.200]/token",'
                                                   'service="public"'})
        if "/manifests/" in path:
            return not_found()
        if request.method == "HEAD" and "/blobs/" in path:
            return not_found()
        if request.method == "POST" and path.endswith("/blobs/uploads/") and repository in locations:
            return Reply(202, {"Location": locations[repository].replace("{port}", str(public.server.port)),
                               "Docker-Upload-UUID": "one"})
        if request.method in ("PUT", "PATCH") and "/blobs/uploads/" in path:  # f7: uploads accepted
            wanted = unquote(request.path.partition("digest=")[2])
            return Reply(201, {"Docker-Content-Digest": wanted or sha256(request.body),
                               "Location": "/v2/%s/blobs/%s" % (repository, wanted)})
        if path.endswith("/tags/list") and repository in links:
            return Reply(200, {"Content-Type": "application/json",
                               "Link": links[repository].replace("{port}", str(public.server.port))},
                         json.dumps({"name": repository, "tags": ["a"]}).encode())
        return None

    public = Scripted(public_routes)
    tls = Scripted(lambda request, path: (
        Reply(202, {"Location": elsewhere + "/upload/clear-text"}) if request.method == "POST"
        else not_found() if request.method == "HEAD" else None), tls_pki=pki)
    sources = [Scripted(lambda request, path: not_found(), basic=True) for dummy in range(2)]
    auths_registry = Scripted(lambda request, path: Reply(
        200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha256(MANIFEST)}, MANIFEST)
        if "/manifests/" in path else None, basic=True)

    def team_routes(request, path):
        blobs = {sha256(CONFIG): CONFIG, sha256(LAYER): LAYER}
        if "/manifests/" in path:
            return Reply(200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha256(MANIFEST)}, MANIFEST)
        if "/blobs/" in path and path.rsplit("/", 1)[1] in blobs:
            return Reply(200, {"Content-Type": "application/octet-stream"}, blobs[path.rsplit("/", 1)[1]])
        return None

    teams = Scripted(team_routes, basic=True)
    servers = [public.server, tls.server, auths_registry.server, teams.server] + [s.server for s in sources]
    for server in servers:
        server.start()
    pub = "http://%s:%d" % (PUBLIC_NAME, public.server.port)

    # -- layouts and archives --------------------------------------------------------------
    good = make_layout(os.path.join(work, "good"))
    secret = os.path.join(work, "secret.txt")
    with open(secret, "wb") as handle:
        handle.write(SECRET * (5 * 1024 * 1024 // len(SECRET) + 1))
    big = (sha256(b"declared"), os.path.getsize(secret))
    symlinked_manifest = manifest_for(CONFIG, [big])
    symlinked = make_layout(os.path.join(work, "symlinked"), manifest=symlinked_manifest)
    os.symlink(secret, os.path.join(symlinked, "blobs", "sha256", big[0].split(":")[1]))

    outside = os.path.join(work, "outside")
    os.makedirs(outside)
    linked_dest = os.path.join(work, "linked-dest")
    os.makedirs(os.path.join(linked_dest, "blobs"))
    os.symlink(outside, os.path.join(linked_dest, "blobs", "sha256"))

    arm64 = make_layout(os.path.join(work, "arm64-config"), blobs={sha256(CONFIG): config_for("arm64")})
    tampered = make_layout(os.path.join(work, "tampered-manifest"),
                           blobs={sha256(MANIFEST): MANIFEST.replace(b'"schemaVersion": 2', b'"schemaVersion":2')})
    entry = {"mediaType": OCI_MANIFEST, "digest": sha256(MANIFEST), "size": len(MANIFEST)}
    malformed = {}
    for name, index in (("null", [dict(entry, annotations=None), dict(entry, annotations=None)]),
                        ("list", [dict(entry, annotations=["x"]), entry]),
                        ("string", ["sha256:" + "0" * 64, entry])):
        index = {"schemaVersion": 2, "manifests": index}
        malformed[name] = make_layout(os.path.join(work, "malformed-" + name), index=index)
    traversal = make_layout(os.path.join(work, "traversal"), index={"schemaVersion": 2, "manifests": [
        dict(entry, digest="sha256:../../../secret.txt", annotations={"org.opencontainers.image.ref.name": "1"})]})

    truncated_dest = make_layout(os.path.join(work, "truncated-dest"))
    with open(os.path.join(truncated_dest, "blobs", "sha256", sha256(LAYER).split(":")[1]), "wb") as handle:
        handle.write(LAYER[:100])
    with open(os.path.join(truncated_dest, "index.json"), "w") as handle:
        handle.write('{"schemaVersion":2,"manifests":[]}')

    debris_dest = make_layout(os.path.join(work, "debris-dest"), index={"schemaVersion": 2, "manifests": []})
    os.remove(os.path.join(debris_dest, "blobs", "sha256", sha256(LAYER).split(":")[1]))
    for where in (debris_dest, os.path.join(debris_dest, "blobs", "sha256")):
        with open(os.path.join(where, ".drc-tmp-killedrun"), "wb") as handle:
            handle.write(b"half a blob")
    os.makedirs(os.path.join(work, ".drc-tmp-killedarchive", "blobs"))
    held = open(os.path.join(debris_dest, ".drc-tmp-heldbyanother"), "wb")
    fcntl.flock(held.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    archives = os.path.join(work, "archives")
    os.makedirs(archives)
    sparse_file = os.path.join(work, "sparse-src", "blobs", "sha256", "f" * 64)
    os.makedirs(os.path.dirname(sparse_file))
    with open(sparse_file, "wb") as handle:
        handle.truncate(256 * 1024 * 1024)
    subprocess.run(["tar", "--sparse", "-cf", os.path.join(archives, "sparse.tar"), "-C",
                    os.path.join(work, "sparse-src"), "blobs"], check=True)
    bomb = io.BytesIO()
    with tarfile.open(fileobj=bomb, mode="w:gz") as tar:
        info = tarfile.TarInfo("blobs/sha256/" + "e" * 64)
        info.size = 64 * 1024 * 1024
        tar.addfile(info, io.BytesIO(b"\0" * info.size))
    with open(os.path.join(archives, "bomb.tar.gz"), "wb") as handle:
        handle.write(bomb.getvalue())
    tar_of(os.path.join(archives, "docker-save.tar"),
           [file_member("manifest.json", b"[]"), file_member("repositories", b"{}")])
    whole = io.BytesIO()
    with tarfile.open(fileobj=whole, mode="w:gz") as tar:
        for info, data in layout_members(good):
            tar.addfile(info, io.BytesIO(data))
    with open(os.path.join(archives, "truncated.tar.gz"), "wb") as handle:
        handle.write(whole.getvalue()[:len(whole.getvalue()) // 2])
    absolute_target = os.path.join(outside, "absolute-member")
    tar_of(os.path.join(archives, "absolute.tar"),
           layout_members(good) + [file_member(absolute_target, b"escaped")])
    link = tarfile.TarInfo("blobs/sha256/" + "d" * 64)
    link.type, link.linkname = tarfile.SYMTYPE, secret
    tar_of(os.path.join(archives, "link.tar"), [(link, None)] + layout_members(good))

    def copy(name, src, dest, **extra):
        return {"name": name, "drc.registry.registry_copy": dict(src=src, dest=dest, retries=0, **extra),
                "register": name, "ignore_errors": True}

    def copy_archive(name, src, dest):
        """A copy from an oci-archive with a $TMPDIR of its own: a later run's sweep of killed runs'
        debris cannot hide what this one left."""
        os.makedirs(os.path.join(temp, name))
        return dict(copy(name, src, dest), environment={"TMPDIR": os.path.join(temp, name)})

    def tag(name, tag_value):
        return {"name": name, "drc.registry.registry_tag": dict(
            reference="127.0.0.1:1/app:1", tags=[tag_value], retries=0),
            "register": name, "ignore_errors": True}

    oci = "oci:" + good + ":1"
    tasks = [
        # 1: side credentials and two registries on that side
        {"name": "f1_src", "register": "f1_src", "ignore_errors": True, "drc.registry.registry_copy": {
            "images": [{"src": "http://%s/a/app:1" % sources[0].server.host, "dest": "oci:%s/f1a" % work},
                       {"src": "http://%s/b/app:1" % sources[1].server.host, "dest": "oci:%s/f1b" % work}],
            "src_auth": {"username": "alice", "password": "{{ lookup('env', 'DRC_TEST_SECRET') }}"}, "retries": 0}},
        {"name": "f1_dest", "register": "f1_dest", "ignore_errors": True, "drc.registry.registry_copy": {
            "images": [{"src": oci, "dest": "http://%s/a/app:1" % sources[0].server.host},
                       {"src": oci, "dest": "http://%s/b/app:1" % sources[1].server.host}],
            "dest_auth": {"username": "alice", "password": "{{ lookup('env', 'DRC_TEST_SECRET') }}"}, "retries": 0}},
        # 3: upload Locations and Link pages
        copy("f3_internal", oci, pub + "/f3/internal:1"),
        copy("f3_internal_name", oci, pub + "/f3/internal-name:1"),
        copy("f3_userinfo", oci, pub + "/f3/userinfo:1"),
        copy("f3_backslash", oci, pub + "/f3/backslash:1"),
        copy("f3_clear_text", oci, "https://%s/f3/tls:1" % tls.server.host, ca_path=pki.ca_cert),
    ] + [{"name": name, "register": name, "ignore_errors": True, "drc.registry.registry_tags_info": {
        "repository": pub + "/f3/" + name[3:].replace("_", "-"), "retries": 0}}
        for name in ("f3_link_internal", "f3_link_userinfo", "f3_link_backslash")] + [
        # 4, 5, 13: archives
        copy_archive("f4_sparse", "oci-archive:%s/sparse.tar" % archives, "oci:%s/f4a" % work),
        copy_archive("f4_bomb", "oci-archive:%s/bomb.tar.gz" % archives, "oci:%s/f4b" % work),
        copy_archive("f5_docker_save", "oci-archive:%s/docker-save.tar" % archives, "oci:%s/f5" % work),
        copy_archive("f13_truncated_gz", "oci-archive:%s/truncated.tar.gz" % archives, "oci:%s/f13gz" % work),
        # 6: what killed runs left
        copy("f6_debris", oci, "oci:%s:1" % debris_dest),
        copy("f6_archive_debris", oci, "oci-archive:%s/out.tar:1" % work),
        # 7, 8, 11: layouts
        copy("f7_symlink_blob", "oci:%s:1" % symlinked, pub + "/f7/app:1"),
        copy("f8_linked_dest", oci, "oci:%s:1" % linked_dest),
        copy("f11_platform", "oci:%s:1" % arm64, "oci:%s/f11" % work, platforms=["linux/arm64"]),
        # 12: tags
        tag("f12_traversal", "v2/../.."), tag("f12_query", "ok?x=1#frag"), tag("f12_long", "a" * 300),
        tag("f12_non_ascii", "caf\u00e9"), tag("f12_newline", "latest\n"), tag("f12_digest_shaped", "a" * 64),
        copy("f12_layout_newline", oci, "oci:%s/f12:latest\n" % work),
        copy("f12_layout_digest_shaped", oci, "oci:%s/f12:%s" % (work, "b" * 64)),
        # 13: malformed index.json
    ] + [copy("f13_" + name, "oci:%s" % path, "oci:%s/f13-%s" % (work, name)) for name, path in malformed.items()
         if name != "string"] + [
        copy("f13_string", oci, "oci:%s" % malformed["string"]),  # a destination's string entry is kept
        # 14: auths keys
        {"name": "f14_v2_key", "register": "f14_v2_key", "ignore_errors": True,
         "drc.registry.registry_manifest_info": {
             "reference": "http://%s/acme/app:1" % auths_registry.server.host, "retries": 0,
             "auths": {"%s/acme/v2" % auths_registry.server.host: {"username": "alice", "password": "{{ lookup('env', 'DRC_TEST_SECRET') }}"}}}},
        {"name": "f14_url_key", "register": "f14_url_key", "ignore_errors": True,
         "drc.registry.registry_manifest_info": {
             "reference": "http://%s/acme/app:1" % auths_registry.server.host, "retries": 0,
             "auths": {"http://%s/v2/" % auths_registry.server.host: {"username": "bob", "password": "url-form"}}}},
        # 9: v1 endpoints by the resolving rule
        {"name": "f9_v1_endpoint", "register": "f9_v1_endpoint", "ignore_errors": True,
         "drc.registry.registry_tags_info": {"repository": pub + "/f9/app", "api_version": "v1", "retries": 0}},
        # the images form's shared connections are keyed with the credentials
        {"name": "p5_teams", "register": "p5_teams", "ignore_errors": True, "drc.registry.registry_copy": {
            "images": [{"src": "http://%s/team-a/app:1" % teams.server.host, "dest": "oci:%s/p5:a" % work},
                       {"src": "http://%s/team-b/app:1" % teams.server.host, "dest": "oci:%s/p5:b" % work}],
            "auths": {"%s/team-a" % teams.server.host: {"username": "team-a", "password": "{{ lookup('env', 'DRC_TEST_SECRET') }}"},
                      "%s/team-b" % teams.server.host: {"username": "team-b", "password": "team-b-own"}},
            "retries": 0}},
        # 15: a signed schema 1 manifest
        {"name": "f15_schema1", "register": "f15_schema1", "ignore_errors": True,
         "drc.registry.registry_manifest_info": {"reference": pub + "/old/app:1", "retries": 0}},
        # properties
        copy("p1_tampered_manifest", "oci:%s:1" % tampered, "oci:%s/p1" % work),
        copy("p2_absolute_member", "oci-archive:%s/absolute.tar:1" % archives, "oci:%s/p2" % work),
        copy("p3_link_member", "oci-archive:%s/link.tar:1" % archives, "oci:%s/p3" % work),
        copy("p4_digest_path", "oci:%s:1" % traversal, "oci:%s/p4" % work),
        copy("p7_truncated_blob", oci, "oci:%s:1" % truncated_dest),
        {"name": "p8_mapped_realm", "register": "p8_mapped_realm", "ignore_errors": True,
         "drc.registry.registry_manifest_info": {"reference": pub + "/p8/app:1", "retries": 0, "timeout": 5,
                                                 "username": "alice", "password": "{{ lookup('env', 'DRC_TEST_SECRET') }}"}},
        copy("p9_wrong_digest", oci, pub + "/p9/app@" + sha256(b"another image")),
    ]
    env = {"PYTHONPATH": SHIM, "DRC_TEST_PUBLIC_NAMES": PUBLIC_NAME,
           "DRC_TEST_INTERNAL_NAMES": INTERNAL_NAME, "TMPDIR": temp, "DRC_TEST_SECRET": PASSWORD}
    try:
        run = run_playbook(tasks, work, env=env)
    finally:
        for server in servers + [collector]:
            server.stop()
        held.close()
    return {"run": run, "results": run.results, "work": work, "temp": temp, "collector": collector,
            "public": public, "tls": tls, "teams": teams, "sources": sources, "auths": auths_registry, "outside": outside,
            "secret": secret, "debris_dest": debris_dest, "truncated_dest": truncated_dest,
            "absolute_target": absolute_target}


def failed(attacks, name: str, *fragments: str) -> str:
    result = attacks["results"][name]
    message = result.get("msg", "")
    assert result.get("failed") is True, (name, result)
    assert "Traceback" not in message and "NoneType" not in message and "object has no attribute" not in message
    for fragment in fragments:
        assert fragment in message, (name, message)
    return message


def test_playbook_ran_and_leaked_nothing(attacks):
    assert attacks["results"], attacks["run"].output
    assert PASSWORD not in attacks["run"].output


# -- 1. side credentials name one registry -------------------------------------------------------
@pytest.mark.parametrize("side", ["src", "dest"])
def test_side_credentials_refused_for_a_side_on_two_registries(attacks, side):
    failed(attacks, "f1_" + side, "%s_auth credentials are for one registry" % side, "auths")
    for source in attacks["sources"]:
        assert not [r for r in source.requests if r.headers.get("Authorization")]


# -- 3. upload Locations and Link pages ----------------------------------------------------------
@pytest.mark.parametrize("case, fragment", [
    ("f3_internal", "internal service"), ("f3_internal_name", "internal service"),
    ("f3_userinfo", "refusing"), ("f3_backslash", "refusing"), ("f3_clear_text", "clear text"),
    ("f3_link_internal", "internal service"), ("f3_link_userinfo", "refusing"),
    ("f3_link_backslash", "refusing")])
def test_upload_locations_and_link_pages_follow_the_realm_rule(attacks, case, fragment):
    failed(attacks, case, fragment)
    assert attacks["collector"].requests == [], [(r.method, r.path) for r in attacks["collector"].requests]
    public_paths = [r.path for r in attacks["public"].requests]
    assert not [p for p in public_paths if "/upload/" in p]  # the userinfo/backslash URLs' other reading


# -- 4, 5, 13. archives ---------------------------------------------------------------------------
@pytest.mark.parametrize("case, fragment", [
    ("f4_sparse", "sparse"), ("f4_bomb", "unpacks to more than"),
    ("f5_docker_save", "index.json"), ("f13_truncated_gz", "cannot read the oci-archive")])
def test_archives_are_bounded_and_leave_nothing_behind(attacks, case, fragment):
    failed(attacks, case, fragment)
    assert os.listdir(os.path.join(attacks["temp"], case)) == []  # no unpacked directory left in its TMPDIR
    assert [n for n in os.listdir(attacks["temp"]) if n.startswith(".drc-tmp-")] == []


# -- 6. what killed runs left is removed; what another run holds stays -----------------------------
def test_debris_of_killed_runs_is_removed(attacks):
    for name in ("f6_debris", "f6_archive_debris"):
        assert attacks["results"][name].get("failed") is not True, attacks["results"][name]
    dest = attacks["debris_dest"]
    left = sorted(os.path.relpath(p, dest) for p in debris(dest))
    assert left == [".drc-tmp-heldbyanother"]
    assert not os.path.exists(os.path.join(attacks["work"], ".drc-tmp-killedarchive"))
    assert os.path.exists(os.path.join(dest, "blobs", "sha256", sha256(LAYER).split(":")[1]))


# -- 7. a symlinked source blob is never read -------------------------------------------------------
def test_symlinked_layout_blob_is_refused_before_reading(attacks):
    failed(attacks, "f7_symlink_blob", "symbolic link")
    declared = sha256(b"declared").split(":")[1]  # the layer the symlink stands for
    writes = [r for r in attacks["public"].requests if "/f7/" in r.path and r.method in ("PATCH", "PUT")]
    assert set(unquote(r.path.partition("digest=")[2]) for r in writes) <= {sha256(CONFIG)}  # the config only
    assert not [r for r in writes if declared in r.path]
    assert not any(SECRET in r.body for r in attacks["public"].requests)


# -- 8. a symlinked blobs/sha256 in a destination ---------------------------------------------------
def test_symlinked_blob_directory_of_a_destination_is_refused(attacks):
    failed(attacks, "f8_linked_dest", "symbolic link")
    assert os.listdir(attacks["outside"]) == []


# -- 11. platforms decided with a verified config only ---------------------------------------------
def test_platforms_of_a_layout_image_use_a_verified_config(attacks):
    failed(attacks, "f11_platform", "hashes to")
    assert not os.path.exists(os.path.join(attacks["work"], "f11", "index.json"))


# -- 12. tags matched whole -------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["f12_traversal", "f12_query", "f12_long", "f12_non_ascii",
                                  "f12_newline", "f12_digest_shaped"])
def test_registry_tag_refuses_tags_that_only_start_like_one(attacks, case):
    failed(attacks, case, "invalid tag")


@pytest.mark.parametrize("case", ["f12_layout_newline", "f12_layout_digest_shaped"])
def test_layout_tags_are_matched_whole(attacks, case):
    failed(attacks, case, "invalid location")
    assert not os.path.exists(os.path.join(attacks["work"], "f12"))


# -- 13. malformed index.json ----------------------------------------------------------------------
@pytest.mark.parametrize("case", ["f13_null", "f13_list"])
def test_malformed_index_json_is_a_clear_failure(attacks, case):
    """Two entries, one of them malformed: the source without a tag names both, no exception."""
    failed(attacks, case, "holds 2 images")


def test_a_string_entry_in_a_destination_index_is_kept_and_skipped(attacks):
    result = attacks["results"]["f13_string"]
    assert result.get("failed") is not True, result
    with open(os.path.join(attacks["work"], "malformed-string", "index.json")) as handle:
        manifests = json.load(handle)["manifests"]
    assert "sha256:" + "0" * 64 in manifests


# -- 14. auths keys ending in /v2 --------------------------------------------------------------------
def test_auths_key_ending_in_v2_is_a_namespace_not_the_host(attacks):
    failed(attacks, "f14_v2_key", "401")
    url_form = attacks["results"]["f14_url_key"]
    assert url_form.get("failed") is not True, url_form
    sent = [r.headers.get("Authorization") for r in attacks["auths"].requests]
    assert "Basic " + base64.b64encode(("alice:" + PASSWORD).encode()).decode() not in sent
    assert "Basic " + base64.b64encode(b"bob:url-form").decode() in sent


# -- 15. a signed schema 1 manifest is named by its payload -----------------------------------------
def test_signed_schema1_digest_is_the_payloads(attacks):
    result = attacks["results"]["f15_schema1"]
    assert result.get("failed") is not True, result
    assert result["digest"] == sha256(SCHEMA1_PAYLOAD) != sha256(SCHEMA1_BODY)
    assert not [w for w in result.get("warnings", []) if "digest" in w]


# -- properties of the mutation audit --------------------------------------------------------------
def test_layout_manifest_must_hash_to_its_index_digest(attacks):
    failed(attacks, "p1_tampered_manifest", "hashes to")
    assert not os.path.exists(os.path.join(attacks["work"], "p1", "index.json"))


def test_absolute_archive_member_is_refused(attacks):
    failed(attacks, "p2_absolute_member", "outside the layout")
    assert not os.path.exists(attacks["absolute_target"])


def test_link_archive_member_is_refused(attacks):
    failed(attacks, "p3_link_member", "link")
    assert not os.path.exists(os.path.join(attacks["work"], "p3", "index.json"))


def test_layout_blob_path_comes_from_a_validated_digest(attacks):
    failed(attacks, "p4_digest_path", "invalid digest")
    assert not os.path.exists(os.path.join(attacks["work"], "p4", "index.json"))


def test_truncated_destination_blob_is_not_taken_as_present(attacks):
    result = attacks["results"]["p7_truncated_blob"]
    assert result.get("failed") is not True, result
    path = os.path.join(attacks["truncated_dest"], "blobs", "sha256", sha256(LAYER).split(":")[1])
    with open(path, "rb") as handle:
        assert handle.read() == LAYER


def test_ipv4_mapped_realm_address_is_internal(attacks):
    failed(attacks, "p8_mapped_realm", "internal service")


def test_v1_endpoint_whose_name_resolves_inside_is_refused(attacks):
    failed(attacks, "f9_v1_endpoint", "internal address named by a public index")
    assert not [r for r in attacks["collector"].requests if r.path.startswith("/v1/")]


def test_images_form_connections_are_keyed_with_their_credentials(attacks):
    result = attacks["results"]["p5_teams"]
    assert result.get("failed") is not True, result
    team_a = "Basic " + base64.b64encode(("team-a:" + PASSWORD).encode()).decode()
    team_b = "Basic " + base64.b64encode(b"team-b:team-b-own").decode()
    by_team = {"a": set(), "b": set()}
    for request in attacks["teams"].requests:
        for team in by_team:
            if request.path.startswith("/v2/team-%s/" % team):
                by_team[team].add(request.headers.get("Authorization"))
    assert by_team["a"] - {None} == {team_a}
    assert by_team["b"] - {None} == {team_b}


def test_copy_to_a_digest_it_does_not_have_is_refused(attacks):
    failed(attacks, "p9_wrong_digest", "names the digest")
    assert not [r for r in attacks["public"].requests if "/p9/" in r.path and r.method in ("PUT", "POST", "PATCH")]


# -- 2. pin_images: the lock file chooses hosts --------------------------------------------------
@pytest.mark.parametrize("variable", ["pin_images_password", "drc_registry_password"])
def test_pin_images_verify_from_the_lock_file_refuses_plain_credentials(tmp_path, variable):
    """A lock file edited to name another registry must not receive a password that names none."""
    with HostileServer(lambda request: Reply(401, {"WWW-Authenticate": 'Basic realm="edited"'})) as server:
        lockfile = tmp_path / "images.lock.yml"
        pinned = "%s/app@%s" % (server.host, sha256(MANIFEST))
        lockfile.write_text("images:\n  %s/app:1: %s\n" % (server.host, pinned))
        role_vars = {"pin_images_lockfile": str(lockfile), "pin_images_mode": "verify",
                     variable: "{{ lookup('env', 'DRC_TEST_SECRET') }}"}
        if variable == "pin_images_password":
            role_vars["pin_images_username"] = "alice"
        else:
            role_vars["drc_registry_username"] = "alice"
        task = {"name": "Verify", "ansible.builtin.include_role": {"name": "drc.registry.pin_images"},
                "vars": role_vars}
        run = run_playbook([task], str(tmp_path), env={"DRC_TEST_SECRET": PASSWORD})
        sent = [r.headers.get("Authorization") for r in server.requests]
    assert run.rc != 0
    assert "the lock file chooses which registries are asked" in run.output.replace("\n", " "), run.output
    assert not [value for value in sent if value], sent
    assert PASSWORD not in run.output


# -- 6. a copy killed mid-blob: what it leaves, the next run removes --------------------------------
BIG_LAYER = os.urandom(1024 * 1024) * 6


def temp_holders(directory: str) -> set:
    """PIDs with a ``.drc-tmp-*`` file or directory under ``directory`` open: the module process,
    which Ansible runs outside the process group of the ``ansible`` command."""
    pids = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            targets = [os.readlink("/proc/%s/fd/%s" % (pid, fd)) for fd in os.listdir("/proc/%s/fd" % pid)]
        except OSError:
            continue
        if any(t.startswith(directory) and ".drc-tmp-" in t for t in targets):
            pids.add(int(pid))
    return pids


@pytest.mark.parametrize("kind, signal_number", [("oci", signal.SIGKILL), ("oci-archive", signal.SIGTERM)])
def test_a_killed_copy_leaves_debris_the_next_run_removes(tmp_path, kind, signal_number):
    config = config_for("amd64")
    manifest = manifest_for(config, [(sha256(BIG_LAYER), len(BIG_LAYER))])
    blobs = {sha256(config): config, sha256(BIG_LAYER): BIG_LAYER}

    def routes(request, path):
        if "/manifests/" in path:
            return Reply(200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": sha256(manifest)}, manifest)
        name = path.rsplit("/", 1)[1]
        if name == sha256(BIG_LAYER):  # half the layer, then a long silence
            return Reply(200, {"Content-Type": "application/octet-stream"}, BIG_LAYER, stall=60,
                         stall_at=len(BIG_LAYER) // 2)
        return Reply(200, {"Content-Type": "application/octet-stream"}, blobs[name]) if name in blobs else None

    dest_dir = tmp_path / "dest"
    dest_dir.mkdir()
    dest = "oci:%s:1" % (dest_dir / "layout") if kind == "oci" else "oci-archive:%s:1" % (dest_dir / "out.tar")
    source = Scripted(routes)
    with source.server:
        command = [os.path.join(BIN, "ansible"), "localhost", "-m", "drc.registry.registry_copy", "-a",
                   json.dumps({"src": "http://%s/app:1" % source.server.host, "dest": dest, "retries": 0,
                               "timeout": 120})]
        process = subprocess.Popen(command, env=runner_env(None), start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while not [p for p in debris(str(dest_dir)) if os.path.isfile(p) and os.path.getsize(p) > 0]:
                assert process.poll() is None and time.monotonic() < deadline, "the copy never wrote a part"
                time.sleep(0.2)
            holders = temp_holders(str(dest_dir))
            assert holders
            os.killpg(process.pid, signal_number)
            for pid in holders:
                os.kill(pid, signal_number)
            process.wait(timeout=60)
            while temp_holders(str(dest_dir)) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    left = debris(str(dest_dir))
    assert left  # what the killed run left: the reason for this finding
    good = make_layout(str(tmp_path / "good"))
    run = run_module("drc.registry.registry_copy", {"src": "oci:%s:1" % good, "dest": dest, "retries": 0})
    assert run.rc == 0, run.output
    assert debris(str(dest_dir)) == []


# -- 6. an oci-archive SOURCE killed mid-unpack: its directory in $TMPDIR, the next run removes ------
FILLER_MEMBERS = 20000  # small files after the layout: unpacking them takes seconds


def unpack_dirs(temp: str) -> list:
    return sorted(n for n in os.listdir(temp) if n.startswith(".drc-tmp-"))


def start_copy(src: str, dest: str, temp: str) -> subprocess.Popen:
    command = [os.path.join(BIN, "ansible"), "localhost", "-m", "drc.registry.registry_copy", "-a",
               json.dumps({"src": src, "dest": dest, "retries": 0})]
    return subprocess.Popen(command, env=runner_env({"TMPDIR": temp}), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_unpacking(temp: str, known: dict, count: int, processes: list) -> dict:
    """{unpack directory name: PID of the module holding it} once ``count`` new ones are held."""
    deadline = time.monotonic() + 120
    while True:
        held = {}
        for pid in temp_holders(temp):
            for fd in os.listdir("/proc/%d/fd" % pid):
                try:
                    target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                except OSError:
                    continue
                if os.path.dirname(target) == temp and os.path.basename(target) not in known:
                    held[os.path.basename(target)] = pid
        if len(held) >= count:
            return held
        assert all(p.poll() is None for p in processes), [p.communicate()[0] for p in processes]
        assert time.monotonic() < deadline, "no run started unpacking"
        time.sleep(0.05)


def docker_archive_members() -> list:
    """The small image as ``docker save`` writes it."""
    config = sha256(CONFIG).split(":")[1] + ".json"
    layer = sha256(LAYER).split(":")[1] + "/layer.tar"
    manifest = json.dumps([{"Config": config, "RepoTags": ["app:1"], "Layers": [layer]}]).encode()
    return [file_member("manifest.json", manifest), file_member(config, CONFIG), file_member(layer, LAYER)]


def slow_archives(tmp_path, kind: str) -> tuple:
    """(source location slow to unpack, a small one, the unpacked size of the slow one's copy).

    An oci-archive of the layout and many small files; a docker-archive gzip whose tar is followed
    by many small gzip members of zeros (past the tar's end, where a reader stops): both take
    seconds to unpack or decompress, in bounds."""
    if kind == "oci-archive":
        layout = layout_members(make_layout(str(tmp_path / "layout")))
        filler = [file_member("filler/%02d/%05d" % (i % 100, i), b"%d" % i) for i in range(FILLER_MEMBERS)]
        slow = tar_of(str(tmp_path / "slow.tar.gz"), layout + filler, "w:gz")
        small = tar_of(str(tmp_path / "small.tar"), layout)
        return "oci-archive:%s:1" % slow, "oci-archive:%s:1" % small, FILLER_MEMBERS
    plain = tar_of(str(tmp_path / "image.tar"), docker_archive_members())
    with open(plain, "rb") as handle:
        data = gzip.compress(handle.read())
    zeros = gzip.compress(bytes(64), mtime=0)
    with open(tmp_path / "slow.tar.gz", "wb") as handle:
        handle.write(data + zeros * FILLER_MEMBERS * 10)
    with open(tmp_path / "small.tar.gz", "wb") as handle:
        handle.write(data)  # compressed: it is decompressed in $TMPDIR too, and sweeps there
    return ("docker-archive:%s" % (tmp_path / "slow.tar.gz"), "docker-archive:%s" % (tmp_path / "small.tar.gz"),
            os.path.getsize(plain) + 64 * FILLER_MEMBERS * 10)


def unpacked(path: str, kind: str) -> int:
    """How far a run got: files unpacked (oci-archive), bytes decompressed (docker-archive)."""
    if kind == "oci-archive":
        return sum(len(names) for _base, _dirs, names in os.walk(path))
    archive = os.path.join(path, "archive.tar")
    return os.path.getsize(archive) if os.path.exists(archive) else 0


@pytest.mark.parametrize("kind", ["oci-archive", "docker-archive"])
def test_a_killed_archive_source_leaves_debris_the_next_run_removes_and_a_live_runs_stays(
        tmp_path, tmp_path_factory, kind):
    """Two copies from an archive slow to unpack (or decompress) are killed midway (SIGKILL,
    SIGTERM); a third is stopped midway (alive, its directory locked); a fourth copy from an archive
    removes the two dead runs' directories from $TMPDIR, not the live one's, which then finishes."""
    # A short $TMPDIR: the controller's multiprocessing socket goes there, 107 bytes at most.
    temp = str(tmp_path_factory.mktemp("tmp"))
    slow, small, full = slow_archives(tmp_path, kind)
    processes = []
    try:
        # Two runs killed midway.
        for name in ("k1", "k2"):
            processes.append(start_copy(slow, "oci:%s:1" % (tmp_path / name), temp))
        killed = wait_for_unpacking(temp, {}, 2, processes)
        for (name, pid), signal_number in zip(sorted(killed.items()), (signal.SIGKILL, signal.SIGTERM)):
            os.kill(pid, signal_number)
        for process in processes:
            process.wait(timeout=60)
        deadline = time.monotonic() + 60
        while temp_holders(temp) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert unpack_dirs(temp) == sorted(killed)  # the debris of this finding
        for name in killed:
            assert unpacked(os.path.join(temp, name), kind) < full  # killed midway
        # A live run, stopped midway: its directory is locked.
        live = start_copy(slow, "oci:%s:1" % (tmp_path / "live"), temp)
        processes.append(live)
        [(live_dir, live_pid)] = list(wait_for_unpacking(temp, killed, 1, [live]).items())
        os.kill(live_pid, signal.SIGSTOP)
        try:
            run = run_module("drc.registry.registry_copy",
                             {"src": small, "dest": "oci:%s:1" % (tmp_path / "next"), "retries": 0},
                             env={"TMPDIR": temp})
            assert run.rc == 0, run.output
            assert unpack_dirs(temp) == [live_dir]  # the dead runs' removed, its own removed, the live one kept
        finally:
            os.kill(live_pid, signal.SIGCONT)
        output = live.communicate(timeout=300)[0]
        assert live.returncode == 0, output
        assert '"changed": true' in output, output
        assert unpack_dirs(temp) == []
        copied = []
        for dest in ("live", "next"):
            with open(tmp_path / dest / "index.json") as handle:
                copied.append([m["digest"] for m in json.load(handle)["manifests"]])
        assert copied[0] == copied[1] and len(copied[0]) == 1
        if kind == "oci-archive":
            assert copied[0] == [sha256(MANIFEST)]
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
