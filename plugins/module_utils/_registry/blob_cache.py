# Private to the drc.registry collection: no compatibility promise for other collections.
"""Where blobs already are at a destination registry: "repository R of registry G holds blob X".

``BlobLocations`` is the run-wide memory a copy consults before it uploads a blob: a repository of
the same registry that holds it lets the copy mount it (``POST ?mount=&from=``) instead of sending
its bytes. It also serialises the pushes of one blob to one registry, so that two images sharing a
base layer send it once and mount it for the other.

The memory can persist across runs in a small JSON file (``blob_cache``), as skopeo keeps its
blob-info cache. The file is only a hint: bounded in size (entries and bytes read), written to a
temporary file beside it and renamed into place (a killed run leaves the old file, or no file, and
at most one ``.blob-cache-*.tmp`` that the next save does not read), ignored when unreadable, and
never trusted: an entry that is wrong only costs a mount the registry answers with 202, which
becomes an ordinary upload. Entries are bound to the registry (API base URL) they were learned
from; a repository name is only ever sent to that registry.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from contextlib import contextmanager

from ansible_collections.drc.registry.plugins.module_utils._registry.digests import digest_problem
from ansible_collections.drc.registry.plugins.module_utils._registry.json_input import parse_json
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import PATH_RE

CACHE_VERSION = 1
# Bounds of the file: entries (registry, digest) kept, newest first; repositories per entry;
# bytes read (a larger file is ignored and replaced).
MAX_ENTRIES = 20000
MAX_REPOSITORIES = 4
MAX_FILE_BYTES = 8 * 1024 * 1024
FILE_NAME = "blob-locations.json"


def default_cache_path() -> str:
    """``$XDG_CACHE_HOME/drc.registry/blob-locations.json`` (``~/.cache`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "drc.registry", FILE_NAME)


def cache_path_option(value) -> str | None:
    """The ``blob_cache`` option: a path, ``true``/unset (the default path) or ``false`` (off)."""
    if value is None or value is True:
        return default_cache_path()
    if value is False:
        return None
    text = str(value).strip()
    if text.lower() in ("false", "no", "off", "0", ""):
        return None
    if text.lower() in ("true", "yes", "on", "1"):
        return default_cache_path()
    return os.path.abspath(os.path.expanduser(text))


def _valid(registry, digest, repository) -> bool:
    if not all(isinstance(value, str) for value in (registry, digest, repository)):
        return False
    return all((registry.startswith(("http://", "https://")), digest_problem(digest) is None,
                len(repository) <= 255, PATH_RE.fullmatch(repository) is not None))


def read_entries(path: str) -> dict:
    """The file's entries as {(registry, digest): [repository, ...]}, oldest first; {} when the
    file is missing, too large, unreadable or not ours (a cache is safe to lose)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError:
        return {}
    if len(raw) > MAX_FILE_BYTES:
        return {}
    try:
        data = parse_json(raw)
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION \
            or not isinstance(data.get("entries"), list):
        return {}
    entries: dict = {}
    for item in data["entries"][-MAX_ENTRIES:]:
        if not isinstance(item, list) or len(item) != 3 or not isinstance(item[2], list):
            continue
        registry, digest, repositories = item
        kept = [r for r in repositories[:MAX_REPOSITORIES] if _valid(registry, digest, r)]
        if kept:
            entries[(registry, digest)] = kept
    return entries


def write_entries(path: str, entries: dict) -> None:
    """Write the newest MAX_ENTRIES entries atomically (temporary file, fsync, rename)."""
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o700, exist_ok=True)
    items = list(entries.items())[-MAX_ENTRIES:]
    body = json.dumps({"version": CACHE_VERSION,
                       "entries": [[registry, digest, repositories[:MAX_REPOSITORIES]]
                                   for (registry, digest), repositories in items]},
                      separators=(",", ":")).encode("utf-8")
    fd, temporary = tempfile.mkstemp(prefix=".blob-cache-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


class BlobLocations:
    """Run-wide "which repository of registry G holds blob X", optionally loaded from and saved to
    a cache file. Thread-safe."""

    def __init__(self, path: str | None = None, warn=None) -> None:
        self.path = path
        self.warn = warn or (lambda msg: None)
        self._lock = threading.Lock()
        self._blob_locks: dict = {}
        self._entries = read_entries(path) if path else {}
        self._learned: dict = {}
        self.mounts_from_cache = 0

    @contextmanager
    def pushing(self, registry: str, digest: str):
        """Held while one blob is pushed to ``registry``: a second push of the same blob waits,
        then finds where the first one put it (skip or mount instead of a second upload)."""
        with self._lock:
            lock = self._blob_locks.setdefault((registry, digest), threading.Lock())
        with lock:
            yield

    def holder(self, registry: str, digest: str, repository: str) -> str | None:
        """A repository of ``registry`` known to hold ``digest``, other than ``repository``."""
        with self._lock:
            for candidate in reversed(self._entries.get((registry, digest), [])):
                if candidate != repository:
                    return candidate
        return None

    def placed(self, registry: str, digest: str, repository: str) -> bool:
        """Whether this run pushed (or found) the blob in that repository (never from the file)."""
        with self._lock:
            return repository in self._learned.get((registry, digest), ())

    def record(self, registry: str, digest: str, repository: str) -> None:
        if not _valid(registry, digest, repository):
            return
        with self._lock:
            known = [r for r in self._entries.pop((registry, digest), []) if r != repository]
            self._entries[(registry, digest)] = (known + [repository])[-MAX_REPOSITORIES:]
            # the run's own memory keeps every repository (bounded by the run); the file, the newest few
            learned = [r for r in self._learned.pop((registry, digest), []) if r != repository]
            self._learned[(registry, digest)] = learned + [repository]

    def forget(self, registry: str, digest: str, repository: str) -> None:
        """A location that turned out wrong (the registry refused the mount outright)."""
        with self._lock:
            for store in (self._entries, self._learned):
                known = store.get((registry, digest))
                if known and repository in known:
                    known.remove(repository)
                    if not known:
                        del store[(registry, digest)]

    def save(self) -> None:
        """Merge what this run learned into the file (re-read now: another run may have saved
        since); a failure is a warning, never a failed task."""
        if not self.path or not self._learned:
            return
        try:
            merged = read_entries(self.path)
            with self._lock:
                learned = dict(self._learned)
            for key, repositories in learned.items():
                known = [r for r in merged.pop(key, []) if r not in repositories]
                merged[key] = (known + repositories)[-MAX_REPOSITORIES:]
            write_entries(self.path, merged)
        except OSError as exc:
            self.warn("the blob cache %s was not saved: %s" % (self.path, exc.strerror or exc))
