"""The benchmark bed: a real token-auth registry behind a latency proxy, its token server behind
another, seeded with 10 repositories of 10 tags and large single-layer images."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import tarfile
import tempfile
import shutil
import ssl
import types
import urllib.error
import urllib.request

from tests.testbed.images import Layout, Seeder, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST, LAYER_TAR, PLATFORMS
from tests.testbed.pki import Pki
from tests.testbed.proxy import LatencyProxy
from tests.testbed.registry import RegistryProcess
from tests.testbed.token_server import TokenServer

REPOSITORIES = 10
TAGS_PER_REPOSITORY = 10
MIB = 1024 * 1024
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
USERNAME = "bench"


class _DeterministicBytes(io.RawIOBase):
    """``size`` pseudo-random bytes, produced in chunks (never all in memory)."""

    def __init__(self, size: int, seed: int) -> None:
        self.left = size
        self.random = random.Random(seed)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return self.random.randbytes(n)


def _big_layer_image(layout: Layout, size: int, label: str) -> dict:
    """An image whose single uncompressed layer holds one file of ``size`` bytes."""
    fd, tar_path = tempfile.mkstemp(dir=layout.path)
    os.close(fd)
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as archive:
        info = tarfile.TarInfo("data.bin")
        info.size, info.mtime, info.mode = size, 0, 0o644
        archive.addfile(info, _DeterministicBytes(size, seed=size))
    digest = hashlib.sha256()
    with open(tar_path, "rb") as handle:
        for chunk in iter(lambda: handle.read(8 * MIB), b""):
            digest.update(chunk)
    layer_digest = "sha256:" + digest.hexdigest()
    layer_size = os.path.getsize(tar_path)
    os.replace(tar_path, os.path.join(layout.path, "blobs", "sha256", layer_digest.split(":")[1]))
    config = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
              "config": {"Labels": {"bench": label}}, "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}
    config_desc = layout.blob(json.dumps(config, sort_keys=True).encode(), OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc,
                "layers": [{"mediaType": LAYER_TAR, "digest": layer_digest, "size": layer_size}]}
    descriptor = layout.blob(json.dumps(manifest, sort_keys=True).encode(), OCI_MANIFEST)
    return {"descriptor": descriptor, "layer": {"digest": layer_digest, "size": layer_size}}


class BenchBed:
    def __init__(self, delay: float, blob_sizes: dict, workdir: str | None = None,
                 multi_layer_size: int | None = None) -> None:
        self.delay = delay
        self.blob_sizes = blob_sizes  # label -> bytes
        # For the copy benchmark: a multi-platform index (one layer of this size per platform)
        # and a second registry to copy to. None: neither.
        self.multi_layer_size = multi_layer_size
        self.target = None
        self.workdir = workdir or tempfile.mkdtemp(prefix="drc-bench-")
        self.password = "bench-" + os.urandom(8).hex()
        self.blobs: dict = {}
        self.open_blobs: dict = {}  # label -> layer descriptor in the plain-http registry

    def start(self) -> "BenchBed":
        self.pki = Pki(os.path.join(self.workdir, "pki"))
        self.tokens = TokenServer(self.pki, {USERNAME: self.password}, service="drc-bench",
                                  issuer="drc-bench-issuer").start()
        self.token_proxy = LatencyProxy(self.tokens.realm.rsplit("/", 1)[0], self.delay, tls_pki=self.pki).start()
        realm = types.SimpleNamespace(realm=self.token_proxy.url + "/token", service=self.tokens.service,
                                      issuer=self.tokens.issuer)
        # TLS everywhere a client meets the registry: python-dxf refuses credentials over http.
        self.registry = RegistryProcess("token", os.path.join(self.workdir, "registry"), pki=self.pki,
                                        token_server=realm, tls=True).start()
        self.proxy = LatencyProxy(self.registry.url, self.delay, ca_file=self.pki.ca_cert,
                                  tls_pki=self.pki).start()
        # An open registry on loopback (plain http, no auth): module start-up costs, and blob fetches
        # where curl is not slowed by TLS.
        self.open_registry = RegistryProcess("open", os.path.join(self.workdir, "open")).start()
        if self.multi_layer_size is not None:
            # The copy benchmark's destination: another token-auth registry (TLS, same token server).
            self.target = RegistryProcess("token", os.path.join(self.workdir, "target"), pki=self.pki,
                                          token_server=realm, tls=True).start()
        self._seed()
        return self

    def stop(self) -> None:
        if self.target is not None:
            self.target.stop()
        self.open_registry.stop()
        self.proxy.stop()
        self.registry.stop()
        self.token_proxy.stop()
        self.tokens.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- what the scenarios use ----------------------------------------------------------------------
    @property
    def remote_host(self) -> str:
        """The registry as seen across the simulated network."""
        return self.proxy.host

    @property
    def local_host(self) -> str:
        """The registry itself, for transfer benchmarks that the Python proxy would throttle."""
        return self.registry.host

    @staticmethod
    def references(count: int) -> list:
        """``count`` tag references spread over the ten repositories."""
        return ["bench/r%d:t%d" % (i % REPOSITORIES, i // REPOSITORIES) for i in range(count)]

    def token(self, repository: str) -> str:
        return self.tokens.issue(USERNAME, [{"type": "repository", "name": repository, "actions": ["pull"]}])

    def counters(self) -> tuple:
        return self.registry.access_log_mark(), self.tokens.requests

    def requests_since(self, mark: tuple) -> dict:
        log_mark, tokens = mark
        return {"registry": len(self.registry.requests_since(log_mark)), "token": self.tokens.requests - tokens}

    # -- the copy benchmark: the source registry, the target registry, the token server -------------
    def copy_counters(self) -> tuple:
        return self.registry.access_log_mark(), self.target.access_log_mark(), self.tokens.requests

    def copy_requests_since(self, mark: tuple) -> dict:
        source, target, tokens = mark
        return {"source": len(self.registry.requests_since(source)),
                "dest": len(self.target.requests_since(target)), "token": self.tokens.requests - tokens}

    def manifest_digest(self, registry, repository: str, reference: str) -> str | None:
        """The digest a registry gives for a manifest (HEAD, every manifest type accepted)."""
        accept = ", ".join([OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST])
        context = ssl.create_default_context(cafile=self.pki.ca_cert)
        request = urllib.request.Request("%s/v2/%s/manifests/%s" % (registry.url, repository, reference),
                                         method="HEAD", headers={
                                             "Accept": accept, "Authorization": "Bearer " + self.token(repository)})
        try:
            with urllib.request.urlopen(request, timeout=30, context=context) as answer:
                return answer.headers.get("Docker-Content-Digest")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    @property
    def open_host(self) -> str:
        """The plain-http registry without auth, on loopback."""
        return self.open_registry.host

    # -- seeding ---------------------------------------------------------------------------------------
    def _seed(self) -> None:
        layout = Layout(os.path.join(self.workdir, "layout"))
        layout.tag("small", layout.image(("linux", "amd64", None), {"hello": b"bench\n"}, "small"))
        for label, size in self.blob_sizes.items():
            layout.tag(label, _big_layer_image(layout, size, label)["descriptor"])
        if self.multi_layer_size is not None:
            layout.tag("multi", layout.index([
                layout.image(platform, {"data.bin": random.Random(i).randbytes(self.multi_layer_size)},
                             "multi-" + platform[1]) for i, platform in enumerate(PLATFORMS)]))
        layout.save()
        seeder = Seeder(layout.path, self.registry, "%s:%s" % (USERNAME, self.password))
        open_seeder = Seeder(layout.path, self.open_registry)
        open_seeder.copy("small", "bench/r0:t0")
        for r in range(REPOSITORIES):
            seeder.copy("small", "bench/r%d:t0" % r)
            self._put_tags("bench/r%d" % r, "t0", ["t%d" % t for t in range(1, TAGS_PER_REPOSITORY)])
        if self.multi_layer_size is not None:
            seeder.copy("multi", "bench/multi:latest")
        # A tiny blob (the small image's config) in each kind, for a module's start-up on a fetch.
        self.tiny_blobs = {
            "tls": json.loads(self._get("bench/r0", "/v2/bench/r0/manifests/t0", {"Accept": OCI_MANIFEST}))["config"],
            "plain": self._get_open("/v2/bench/r0/manifests/t0", {"Accept": OCI_MANIFEST})["config"]}
        for label in self.blob_sizes:
            seeder.copy(label, "bench/big:%s" % label)
            # skopeo may recompress a layer on the way in: learn what the registry holds.
            manifest = json.loads(self._get("bench/big", "/v2/bench/big/manifests/" + label,
                                            {"Accept": OCI_MANIFEST}))
            self.blobs[label] = manifest["layers"][0]
            open_seeder.copy(label, "bench/big:%s" % label)
            self.open_blobs[label] = self._get_open("/v2/bench/big/manifests/" + label,
                                                    {"Accept": OCI_MANIFEST})["layers"][0]

    def _get_open(self, path: str, headers: dict) -> dict:
        request = urllib.request.Request("http://%s%s" % (self.open_host, path), headers=headers)
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def _get(self, repository: str, path: str, headers: dict) -> bytes:
        context = ssl.create_default_context(cafile=self.pki.ca_cert)
        request = urllib.request.Request(self.registry.url + path, headers=dict(
            headers, Authorization="Bearer " + self.token(repository)))
        with urllib.request.urlopen(request, timeout=30, context=context) as answer:
            return answer.read()

    def _put_tags(self, repository: str, source: str, names: list) -> None:
        headers = {"Authorization": "Bearer " + self.tokens.issue(USERNAME, [
            {"type": "repository", "name": repository, "actions": ["pull", "push"]}])}
        accept = dict(headers, Accept=OCI_MANIFEST)
        context = ssl.create_default_context(cafile=self.pki.ca_cert)
        request = urllib.request.Request("%s/v2/%s/manifests/%s" % (self.registry.url, repository, source),
                                         headers=accept)
        with urllib.request.urlopen(request, timeout=30, context=context) as answer:
            body, content_type = answer.read(), answer.headers["Content-Type"]
        for name in names:
            put = urllib.request.Request("%s/v2/%s/manifests/%s" % (self.registry.url, repository, name),
                                         data=body, method="PUT",
                                         headers=dict(headers, **{"Content-Type": content_type}))
            urllib.request.urlopen(put, timeout=30, context=context).close()
