# Private to the drc.registry collection: no compatibility promise for other collections.
"""A blob downloaded to a local file by a module: the destination decided, what is there already
hashed, the download resumed into its part file, verified, moved into place (``atomic_write``), the
file attributes applied. The Ansible side of ``registry_blob_fetch`` (v2 and v1).
"""

from __future__ import annotations

import os

from ansible_collections.drc.registry.plugins.module_utils._registry.atomic_write import (
    part_path, write_beside)
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import DigestHasher
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError

CHUNK = 1024 * 1024


def file_digest(path: str, algorithm: str = "sha256") -> tuple:
    """(digest, size) of a file, read in chunks; (None, None) when there is no such file."""
    if not os.path.isfile(path):
        return None, None
    hasher = DigestHasher(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            hasher.update(chunk)
    return hasher.digest(), hasher.size


def blob_destination(dest: str, digest: str) -> str:
    """An existing directory means a file named by the digest inside it."""
    return os.path.join(dest, digest) if os.path.isdir(dest) else dest


def write_verified_file(module, dest: str, digest: str, download, probe_size) -> dict:
    """Make ``dest`` hold the content with ``digest``; the one call a downloading module makes.

    ``download(fileobj)`` streams the content into a binary file (which may already hold the first
    bytes of an earlier, killed run: resume from its end), verifies it and returns its size.
    ``probe_size()`` returns the size without downloading (for check mode). Returns the module
    result: dest, digest, size, changed, and diff when the module runs in diff mode.
    """
    directory = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(directory):
        raise InputError("dest %s: directory %s does not exist" % (dest, directory))
    if os.path.isdir(dest):
        raise InputError("dest %s is a directory" % dest)
    algorithm = digest.split(":", 1)[0]
    before_digest, before_size = file_digest(dest, algorithm)
    result = {"dest": dest, "digest": digest, "size": before_size, "changed": False}
    if before_digest != digest:
        result["changed"] = True
        if module.check_mode:
            result["size"] = probe_size()
        else:
            result["size"] = _download(module, dest, digest, download)
    if os.path.exists(dest):
        file_args = module.load_file_common_arguments(module.params, path=dest)
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    if module._diff:
        result["diff"] = {"before": {"digest": before_digest, "size": before_size},
                          "after": {"digest": digest, "size": result["size"]}}
    return result


def _download(module, dest: str, digest: str, download) -> int:
    return write_beside(dest, download, part=part_path(dest, digest), move=module.atomic_move,
                        register=module.add_cleanup_file)
