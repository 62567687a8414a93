"""Deterministic OCI layouts for the test bed, and seeding registries with skopeo."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import subprocess
import tarfile

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"

PLATFORMS = [("linux", "amd64", None), ("linux", "arm64", "v8"), ("linux", "arm", "v7")]


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar(files: dict) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in sorted(files):
            data = files[name]
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode, info.uid, info.gid = len(data), 0, 0o644, 0, 0
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Layout:
    """An OCI image layout directory being written: blobs plus tagged entries in index.json."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as handle:
            json.dump({"imageLayoutVersion": "1.0.0"}, handle)
        self.entries: list = []

    def blob(self, data: bytes, media_type: str) -> dict:
        digest = _digest(data)
        blob_path = os.path.join(self.path, "blobs", "sha256", digest.split(":")[1])
        if not os.path.exists(blob_path):
            with open(blob_path, "wb") as handle:
                handle.write(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def image(self, platform: tuple, files: dict, label: str, compress: bool = True) -> dict:
        """Write one image (layer, config, manifest); return the manifest descriptor."""
        os_name, arch, variant = platform
        raw = _tar(files)
        layer_bytes = gzip.compress(raw, compresslevel=1, mtime=0) if compress else raw
        layer = self.blob(layer_bytes, LAYER_GZIP if compress else LAYER_TAR)
        config = {"architecture": arch, "os": os_name, "created": "2024-01-01T00:00:00Z",
                  "config": {"Env": ["PATH=/usr/bin", "IMAGE=%s" % label],
                             "Labels": {"org.example.image": label}},
                  "rootfs": {"type": "layers", "diff_ids": [_digest(raw)]}}
        if variant:
            config["variant"] = variant
        config_desc = self.blob(json.dumps(config, sort_keys=True).encode(), OCI_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc,
                    "layers": [layer]}
        desc = self.blob(json.dumps(manifest, sort_keys=True).encode(), OCI_MANIFEST)
        desc["platform"] = {"os": os_name, "architecture": arch}
        if variant:
            desc["platform"]["variant"] = variant
        return desc

    def index(self, children: list) -> dict:
        body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children}
        return self.blob(json.dumps(body, sort_keys=True).encode(), OCI_INDEX)

    def tag(self, name: str, descriptor: dict) -> None:
        entry = {k: v for k, v in descriptor.items() if k != "platform"}
        entry["annotations"] = {"org.opencontainers.image.ref.name": name}
        self.entries.append(entry)

    def save(self) -> None:
        with open(os.path.join(self.path, "index.json"), "w") as handle:
            json.dump({"schemaVersion": 2, "manifests": self.entries}, handle, sort_keys=True)


def build_layouts(path: str, big_size: int = 64 * 1024 * 1024) -> Layout:
    """Every image kind the tests use, tagged in one layout."""
    layout = Layout(path)
    single = ("linux", "amd64", None)
    layout.tag("single", layout.image(single, {"hello.txt": b"hello from drc\n"}, "single"))
    layout.tag("public", layout.image(single, {"public.txt": b"public image\n"}, "public"))
    children = [layout.image(p, {"arch.txt": ("%s/%s\n" % p[:2]).encode()}, "multi-" + p[1])
                for p in PLATFORMS]
    layout.tag("multi", layout.index(children))
    big = random.Random(64).randbytes(big_size)
    layout.tag("big", layout.image(single, {"big.bin": big}, "big", compress=False))
    layout.save()
    return layout


class Seeder:
    """Copies layout images into a registry with skopeo, as an independent client would."""

    def __init__(self, layout_path: str, registry, creds: str | None = None) -> None:
        self.layout_path = layout_path
        self.registry = registry
        self.creds = creds

    def _dest_args(self) -> list:
        args = []
        if self.registry.tls:
            args.append("--dest-cert-dir=%s" % self.registry.pki.ca_dir)
        else:
            args.append("--dest-tls-verify=false")
        if self.creds:
            args.append("--dest-creds=%s" % self.creds)
        return args

    def copy(self, source_tag: str, dest: str, docker_format: bool = False) -> None:
        command = ["skopeo", "copy", "--all", "--quiet", "--retry-times", "2"]
        if docker_format:
            command += ["--format", "v2s2"]
        command += self._dest_args()
        command += ["oci:%s:%s" % (self.layout_path, source_tag),
                    "docker://%s/%s" % (self.registry.host, dest)]
        subprocess.run(command, check=True, capture_output=True, timeout=300)
