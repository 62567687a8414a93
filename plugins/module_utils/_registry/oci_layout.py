# Private to the drc.registry collection: no compatibility promise for other collections.
"""OCI image layouts as skopeo writes them: ``oci:PATH[:TAG]`` (a directory) and
``oci-archive:PATH[:TAG]`` (the same directory as a tar file).

A layout is ``oci-layout`` (``{"imageLayoutVersion": "1.0.0"}``), ``index.json`` (an OCI index whose
entries carry their tag in the ``org.opencontainers.image.ref.name`` annotation) and
``blobs/<algorithm>/<hex>``. Every file is written to a temporary name beside its final one,
verified, and renamed: a killed copy leaves no half blob under a blob's name.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import tempfile

from ansible_collections.drc.registry.plugins.module_utils._registry.blob_sources import (
    FileSource, RangeStream, SourceFailed)
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import DigestHasher
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    DigestMismatch, InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
    MAX_MANIFEST_SIZE, Manifest, ManifestError, digest_of)
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import validate_digest

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = "oci-layout"
LAYOUT_VERSION = {"imageLayoutVersion": "1.0.0"}
MAX_INDEX_SIZE = 16 * 1024 * 1024
CHUNK = 1024 * 1024
TMP_PREFIX = ".drc-tmp-"
# What skopeo accepts after the path: a tag-like name.
LAYOUT_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
TRANSPORTS = ("oci", "oci-archive")


def parse_layout_location(value: str) -> tuple | None:
    """``oci:PATH[:TAG]`` / ``oci-archive:PATH[:TAG]`` -> (transport, path, tag); else None.

    As skopeo does, the path ends at the first ``:``.
    """
    transport, sep, rest = value.partition(":")
    if not sep or transport not in TRANSPORTS:
        return None
    path, sep, tag = rest.partition(":")
    if not path:
        raise InputError("invalid location %r: the path of the OCI layout is empty" % value)
    if sep and not LAYOUT_TAG_RE.match(tag):
        raise InputError("invalid location %r: the tag %r must match %s"
                         % (value, tag, LAYOUT_TAG_RE.pattern))
    return transport, path, (tag if sep else None)


def _write_atomically(path: str, data: bytes) -> None:
    directory = os.path.dirname(path)
    fd, temp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        _remove(temp)
        raise


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class OciLayout:
    """An OCI image layout directory: read its tags, manifests and blobs; write new ones."""

    def __init__(self, path: str, display: str | None = None) -> None:
        self.path = path
        self.display = display or "oci:%s" % path

    # -- reading -------------------------------------------------------------------------------
    def exists(self) -> bool:
        return os.path.isfile(os.path.join(self.path, "index.json"))

    def read_index(self) -> dict:
        index_path = os.path.join(self.path, "index.json")
        try:
            with open(index_path, "rb") as handle:
                raw = handle.read(MAX_INDEX_SIZE + 1)
        except FileNotFoundError:
            return {"schemaVersion": 2, "manifests": []}
        except OSError as exc:
            raise RegistryError("cannot read %s: %s" % (index_path, exc.strerror or exc))
        if len(raw) > MAX_INDEX_SIZE:
            raise RegistryError("%s is larger than %d bytes" % (index_path, MAX_INDEX_SIZE))
        try:
            index = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            index = None
        if not isinstance(index, dict) or not isinstance(index.get("manifests", []), list):
            raise RegistryError("%s is not an OCI index" % index_path)
        index.setdefault("manifests", [])
        return index

    def entries(self) -> list:
        return [entry for entry in self.read_index()["manifests"]
                if isinstance(entry, dict) and isinstance(entry.get("digest"), str)]

    def find(self, tag: str | None) -> dict | None:
        """The index.json entry for a tag; without a tag, the only entry (as skopeo does)."""
        entries = self.entries()
        if tag is None:
            if len(entries) == 1:
                return entries[0]
            if not entries:
                return None
            names = sorted(set(e.get("annotations", {}).get(REF_NAME, "") for e in entries) - {""})
            raise InputError("%s holds %d images: name one with :TAG (tags: %s)"
                             % (self.display, len(entries), ", ".join(names) or "none"))
        for entry in entries:
            if (entry.get("annotations") or {}).get(REF_NAME) == tag:
                return entry
        return None

    def blob_file(self, digest: str) -> str:
        validate_digest(digest)
        algorithm, hex_part = digest.split(":", 1)
        return os.path.join(self.path, "blobs", algorithm, hex_part)

    def has_blob(self, digest: str, size: int | None = None) -> bool:
        path = self.blob_file(digest)
        return os.path.isfile(path) and (size is None or os.path.getsize(path) == size)

    def blob_source(self, digest: str) -> FileSource:
        path = self.blob_file(digest)
        if not os.path.isfile(path):
            raise RegistryError("%s has no blob %s" % (self.display, digest))
        return FileSource(path, "blob %s in %s" % (digest, self.display))

    def read_manifest(self, digest: str, media_type: str | None = None) -> Manifest:
        path = self.blob_file(digest)
        try:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_MANIFEST_SIZE + 1)
        except OSError as exc:
            raise RegistryError("%s: cannot read the manifest %s: %s"
                                % (self.display, digest, exc.strerror or exc))
        if len(raw) > MAX_MANIFEST_SIZE:
            raise RegistryError("%s: the manifest %s is larger than %d bytes"
                                % (self.display, digest, MAX_MANIFEST_SIZE))
        actual = digest_of(raw, digest.split(":", 1)[0])
        if actual != digest:
            raise DigestMismatch("%s: the manifest %s hashes to %s" % (self.display, digest, actual))
        try:
            return Manifest(raw, media_type, digest)
        except ManifestError as exc:
            raise RegistryError("%s: %s" % (self.display, exc))

    # -- writing -------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Create the layout (directory, oci-layout, blobs/) if it is not one yet."""
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise InputError("%s: %s exists and is not a directory" % (self.display, self.path))
        os.makedirs(self.path, exist_ok=True)
        layout_file = os.path.join(self.path, LAYOUT_FILE)
        if not os.path.exists(layout_file):
            _write_atomically(layout_file, json.dumps(LAYOUT_VERSION).encode())

    def _blob_dir(self, digest: str) -> str:
        directory = os.path.dirname(self.blob_file(digest))
        os.makedirs(directory, exist_ok=True)
        return directory

    def write_blob_bytes(self, digest: str, data: bytes) -> bool:
        """Store a small blob (a manifest); False when it was already there."""
        if digest_of(data, digest.split(":", 1)[0]) != digest:
            raise DigestMismatch("refusing to store content under the digest %s it does not have" % digest)
        if self.has_blob(digest, len(data)):
            return False
        self._blob_dir(digest)
        _write_atomically(self.blob_file(digest), data)
        return True

    def write_blob_stream(self, digest: str, size: int, source) -> int:
        """Stream a blob from a source into place, hashed as it is written; returns its size.

        The source is read and hashed on a reader thread a few buffers ahead of the writes.
        """
        final = self.blob_file(digest)
        hasher = DigestHasher.for_digest(digest)
        written = 0
        reader = source.open(0)  # before the temp file: a source that cannot open leaves nothing
        stream = RangeStream(reader, 0, size, hasher, source.what)
        fd, temp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=self._blob_dir(digest))
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in stream:
                    handle.write(chunk)
                    written += len(chunk)
                if reader.read(1):
                    raise DigestMismatch("%s is larger than its declared %d bytes" % (source.what, size))
                handle.flush()
                os.fsync(handle.fileno())
            actual = hasher.digest()
            if written != size or actual != digest:
                raise DigestMismatch("%s is %d bytes hashing to %s, not %d bytes hashing to %s"
                                     % (source.what, written, actual, size, digest))
            os.chmod(temp, 0o644)
            os.replace(temp, final)
        except SourceFailed as exc:
            _remove(temp)
            if isinstance(exc.error, RegistryError):
                raise exc.error
            reason = getattr(exc.error, "strerror", None) or exc.error
            raise RegistryError("cannot read %s: %s" % (source.what, reason))
        except OSError as exc:
            _remove(temp)
            raise RegistryError("writing %s failed: %s" % (final, exc.strerror or exc))
        except BaseException:
            _remove(temp)
            raise
        finally:
            stream.close()
            reader.close()
        return written

    def set_tag(self, tag: str | None, descriptor: dict) -> None:
        """Point a tag at a manifest in index.json (an untagged entry when ``tag`` is None)."""
        index = self.read_index()
        entry = {"mediaType": descriptor["mediaType"], "digest": descriptor["digest"],
                 "size": descriptor["size"]}
        manifests = []
        for existing in index["manifests"]:
            name = (existing.get("annotations") or {}).get(REF_NAME) if isinstance(existing, dict) else None
            if tag is not None and name == tag:
                continue
            if tag is None and name is None and existing.get("digest") == descriptor["digest"]:
                continue
            manifests.append(existing)
        if descriptor.get("artifactType"):
            entry["artifactType"] = descriptor["artifactType"]
        if tag is not None:
            entry["annotations"] = {REF_NAME: tag}
        manifests.append(entry)
        self._write_index(index, manifests)

    def add_entry(self, descriptor: dict) -> bool:
        """List an untagged manifest in index.json (a referrer, found by its ``subject``), kept
        with its artifactType and annotations; False when it is listed already."""
        index = self.read_index()
        if any(isinstance(e, dict) and e.get("digest") == descriptor["digest"] for e in index["manifests"]):
            return False
        self._write_index(index, list(index["manifests"]) + [dict(descriptor)])
        return True

    def _write_index(self, index: dict, manifests: list) -> None:
        index["manifests"] = manifests
        index.setdefault("schemaVersion", 2)
        _write_atomically(os.path.join(self.path, "index.json"),
                          json.dumps(index, separators=(",", ":")).encode())


# -- oci-archive: a layout in a tar file ---------------------------------------------------------
def extract_archive(archive: str, directory: str) -> None:
    """Unpack an oci-archive into ``directory``: regular files and directories only, inside it."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = os.path.normpath(member.name)
                if name.startswith("..") or os.path.isabs(name):
                    raise RegistryError("%s: refusing the archive member %r outside the layout"
                                        % (archive, member.name))
                target = os.path.join(directory, name)
                if member.isdir():
                    os.makedirs(target, exist_ok=True)
                elif member.isfile():
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with tar.extractfile(member) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out, CHUNK)
                # links, devices and the like have no place in a layout: skipped
    except (tarfile.TarError, OSError) as exc:
        raise RegistryError("cannot read the oci-archive %s: %s" % (archive, exc))


def write_archive(directory: str, archive: str) -> None:
    """Tar a layout directory into ``archive`` atomically (temp file beside it, then rename)."""
    fd, temp = tempfile.mkstemp(prefix=TMP_PREFIX, dir=os.path.dirname(os.path.abspath(archive)))
    os.close(fd)
    try:
        with tarfile.open(temp, "w", format=tarfile.PAX_FORMAT) as tar:
            for root, dirs, files in os.walk(directory):
                dirs.sort()
                for name in sorted(dirs) + sorted(files):
                    full = os.path.join(root, name)
                    if name.startswith(TMP_PREFIX):
                        continue
                    tar.add(full, arcname=os.path.relpath(full, directory), recursive=False)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, archive)
    except BaseException:
        _remove(temp)
        raise
