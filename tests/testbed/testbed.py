"""The whole test bed: three real registries (open, basic+TLS, token) seeded with every image kind."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import tempfile
import urllib.request
import ssl
import base64
import concurrent.futures

from tests.testbed.images import build_layouts, Seeder
from tests.testbed.pki import Pki
from tests.testbed.registry import RegistryProcess
from tests.testbed.token_server import TokenServer

MANY_TAGS = 250
MANIFEST_ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json"])

# What every registry holds: repository:tag -> (layout tag, docker format?)
SEEDS = {
    "app/docker:1.0": ("single", True),
    "app/oci:1.0": ("single", False),
    "app/multi:oci": ("multi", False),
    "app/multi:docker": ("multi", True),
    "app/big:1.0": ("big", False),
    "public/app:1.0": ("public", False),
    "app/tags:t000": ("single", False),
}


def many_tag_names() -> list:
    return ["t%03d" % i for i in range(MANY_TAGS)]


class Testbed:
    def __init__(self, workdir: str | None = None, big_size: int = 64 * 1024 * 1024,
                 modes: tuple = ("open", "basic", "token")) -> None:
        self.own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="drc-testbed-")
        self.big_size = big_size
        self.modes = modes
        self.username = "alice"
        self.password = "pw-" + secrets.token_hex(12)
        self.identity_token = "idt-" + secrets.token_hex(12)
        self.registries: dict = {}
        self.token_server = None

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> "Testbed":
        self.pki = Pki(os.path.join(self.workdir, "pki"))
        self.htpasswd = os.path.join(self.workdir, "htpasswd")
        if "basic" in self.modes:  # htpasswd (apache2-utils): not a package `make demo` installs
            line = subprocess.run(["htpasswd", "-Bbn", self.username, self.password], check=True,
                                  capture_output=True).stdout
            with open(self.htpasswd, "wb") as handle:
                handle.write(line.strip() + b"\n")
        self.token_server = TokenServer(self.pki, {self.username: self.password},
                                        service="drc-testbed", issuer="drc-testbed-issuer",
                                        identity_tokens={self.identity_token: self.username}).start()
        for mode in self.modes:
            self.registries[mode] = RegistryProcess(
                mode, os.path.join(self.workdir, mode), pki=self.pki, htpasswd=self.htpasswd,
                token_server=self.token_server).start()
        self.layout = os.path.join(self.workdir, "layout")
        build_layouts(self.layout, self.big_size)
        # The registries are seeded side by side: each seeding mostly waits on skopeo and the registry.
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(self.registries)) as pool:
            for seeded in [pool.submit(self.seed, registry) for registry in self.registries.values()]:
                seeded.result()
        return self

    def stop(self) -> None:
        for registry in self.registries.values():
            registry.stop()
        if self.token_server:
            self.token_server.stop()
        if self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def creds_for(self, registry) -> str | None:
        return None if registry.mode == "open" else "%s:%s" % (self.username, self.password)

    def seed(self, registry) -> None:
        seeder = Seeder(self.layout, registry, self.creds_for(registry))
        for dest, (source, docker_format) in SEEDS.items():
            seeder.copy(source, dest, docker_format)
        self.put_tags(registry, "app/tags", "t000", many_tag_names()[1:])

    # -- raw HTTP for the harness only (not the client under test) ---------------------------------
    def _authorization(self, registry, repository: str) -> str | None:
        if registry.mode == "basic":
            raw = ("%s:%s" % (self.username, self.password)).encode()
            return "Basic " + base64.b64encode(raw).decode()
        if registry.mode == "token":
            token = self.token_server.issue(self.username, [
                {"type": "repository", "name": repository, "actions": ["pull", "push"]}])
            return "Bearer " + token
        return None

    def raw_request(self, registry, method: str, path: str, repository: str, data: bytes | None = None,
                    headers: dict | None = None):
        request = urllib.request.Request(registry.url + path, data=data, method=method,
                                         headers=dict(headers or {}))
        authorization = self._authorization(registry, repository)
        if authorization:
            request.add_header("Authorization", authorization)
        context = ssl.create_default_context(cafile=self.pki.ca_cert) if registry.tls else None
        return urllib.request.urlopen(request, timeout=30, context=context)

    def put_tags(self, registry, repository: str, source_tag: str, names: list) -> None:
        with self.raw_request(registry, "GET", "/v2/%s/manifests/%s" % (repository, source_tag),
                              repository, headers={"Accept": MANIFEST_ACCEPT}) as answer:
            body, content_type = answer.read(), answer.headers["Content-Type"]
        for name in names:
            with self.raw_request(registry, "PUT", "/v2/%s/manifests/%s" % (repository, name),
                                  repository, data=body, headers={"Content-Type": content_type}):
                pass

    # -- what the tests compare against ------------------------------------------------------------
    def skopeo_args(self, registry, creds: bool = True) -> list:
        args = []
        if registry.tls:
            args.append("--cert-dir=%s" % self.pki.ca_dir)
        else:
            args.append("--tls-verify=false")
        if creds and self.creds_for(registry):
            args.append("--creds=%s" % self.creds_for(registry))
        return args

    def skopeo(self, registry, verb: str, image: str, *extra: str) -> bytes:
        command = ["skopeo"] + list(extra[:0]) + [verb] + self.skopeo_args(registry) + list(extra) + [
            "docker://%s/%s" % (registry.host, image)]
        return subprocess.run(command, check=True, capture_output=True, timeout=120).stdout

    def skopeo_copy(self, registry, source: str, dest: str) -> str:
        """Copy an image (every platform, digests kept) within a registry as an independent client
        would, and return its manifest digest."""
        side_args = []
        for arg in self.skopeo_args(registry):
            side_args += [arg.replace("--", "--src-", 1), arg.replace("--", "--dest-", 1)]
        with tempfile.TemporaryDirectory(dir=self.workdir) as scratch:
            digest_file = os.path.join(scratch, "digest")
            command = ["skopeo", "copy", "--all", "--preserve-digests", "--quiet", "--digestfile", digest_file]
            command += side_args + ["docker://%s/%s" % (registry.host, source), "docker://%s/%s" % (registry.host, dest)]
            subprocess.run(command, check=True, capture_output=True, timeout=120)
            with open(digest_file) as handle:
                return handle.read().strip()

    def skopeo_tags(self, registry, repository: str) -> list:
        return json.loads(self.skopeo(registry, "list-tags", repository))["Tags"]

    def skopeo_raw_manifest(self, registry, image: str, *extra: str) -> bytes:
        return self.skopeo(registry, "inspect", image, "--raw", *extra)

    def endpoints(self) -> dict:
        return {mode: {"url": r.url, "host": r.host, "tls": r.tls} for mode, r in self.registries.items()}
