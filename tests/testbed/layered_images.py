"""Images of several layers crafted member by member with ``tarfile`` (for registry_extract's
tests and bench): an OCI layout written here, pushed to a real registry with skopeo."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile

from tests.testbed.images import Layout, OCI_CONFIG, OCI_MANIFEST

LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _info(name: str, kind: bytes, mode: int, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, linkname
    info.mtime, info.uid, info.gid = 1700000000, 0, 0
    return info


def file(name: str, data: bytes, mode: int = 0o644) -> tuple:
    return (_info(name, tarfile.REGTYPE, mode, len(data)), data)


def directory(name: str, mode: int = 0o755) -> tuple:
    return (_info(name, tarfile.DIRTYPE, mode), None)


def symlink(name: str, target: str) -> tuple:
    return (_info(name, tarfile.SYMTYPE, 0o777, linkname=target), None)


def hardlink(name: str, target: str) -> tuple:
    return (_info(name, tarfile.LNKTYPE, 0o644, linkname=target), None)


def fifo(name: str) -> tuple:
    return (_info(name, tarfile.FIFOTYPE, 0o644), None)


def whiteout(parent: str, name: str) -> tuple:
    return file("%s/.wh.%s" % (parent.rstrip("/"), name) if parent.strip("/") else ".wh." + name, b"", 0o600)


def opaque(parent: str) -> tuple:
    return file("%s/.wh..wh..opq" % parent.rstrip("/"), b"", 0o600)


def owned(member: tuple, uid: int, gid: int) -> tuple:
    """The member with these numeric owners in its header."""
    info, data = member
    info.uid, info.gid = uid, gid
    return (info, data)


def tar_bytes(members: list, stream=None) -> bytes:
    buffer = stream or io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue() if stream is None else b""


def layer_blob(raw: bytes, compression: str) -> tuple:
    if compression == "gzip":
        return gzip.compress(raw, compresslevel=1, mtime=0), LAYER_GZIP
    if compression == "zstd":
        import zstandard
        return zstandard.ZstdCompressor().compress(raw), LAYER_ZSTD
    return raw, LAYER_TAR


def layered_image(layout: Layout, tag: str, layers: list, compression: str = "gzip",
                  declared_sizes: dict | None = None) -> str:
    """Write an image of ``layers`` (each raw tar bytes) to the layout under ``tag``; returns the
    manifest digest. ``declared_sizes`` {layer number: size} makes a manifest lie about a size."""
    descriptors, diff_ids = [], []
    for number, raw in enumerate(layers):
        blob, media_type = layer_blob(raw, compression)
        descriptor = layout.blob(blob, media_type)
        if declared_sizes and number in declared_sizes:
            descriptor = dict(descriptor, size=declared_sizes[number])
        descriptors.append(descriptor)
        diff_ids.append(sha256(raw))
    config = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
              "config": {}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    config_desc = layout.blob(json.dumps(config, sort_keys=True).encode(), OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc, "layers": descriptors}
    desc = layout.blob(json.dumps(manifest, sort_keys=True).encode(), OCI_MANIFEST)
    layout.tag(tag, desc)
    return desc["digest"]


def push(testbed, registry, layout_path: str, tag: str, dest: str) -> None:
    """skopeo copy oci:LAYOUT:TAG docker://REGISTRY/DEST, every digest kept."""
    command = ["skopeo", "copy", "--quiet", "--preserve-digests"]
    command += [arg.replace("--", "--dest-", 1) for arg in testbed.skopeo_args(registry)]
    command += ["oci:%s:%s" % (layout_path, tag), "docker://%s/%s" % (registry.host, dest)]
    subprocess.run(command, check=True, capture_output=True, timeout=600)


def umoci_unpack(layout_path: str, tag: str, bundle: str) -> str:
    """umoci's rootfs of the image: the reference output to compare with."""
    subprocess.run(["umoci", "unpack", "--rootless", "--image", "%s:%s" % (layout_path, tag), bundle],
                   check=True, capture_output=True, timeout=600)
    return os.path.join(bundle, "rootfs")
