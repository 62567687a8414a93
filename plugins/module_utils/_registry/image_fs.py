# Private to the drc.registry collection: no compatibility promise for other collections.
"""Files out of an image, as the container would see them: the service behind registry_extract.

The layers are read in order, each streamed and verified by digest (blobs.BlobReader). One pass
builds the image's tree (image_tree.py: whiteouts, symlinks resolved inside the image) and keeps,
in a private temporary directory, the bytes of the members that can end up in the requested paths.
A member the tree finally needs that the pass did not keep (a hard link to a file outside the
requested paths, a symlink that a later layer points into them) is read in a second pass over
the layers that hold one. The new tree is then written beside ``dest`` and swapped into place,
unless ``dest`` already holds exactly it (same content hashes, modes and, as root, owners).
"""

from __future__ import annotations

import os

from ansible_collections.drc.registry.plugins.module_utils._registry import image_tree as it
from ansible_collections.drc.registry.plugins.module_utils._registry.blobs import open_blob
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import (
    DigestHasher, digest_problem, shown)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.extract_dest import (
    Destination, TreeWriter, Workspace, write_error)
from ansible_collections.drc.registry.plugins.module_utils._registry.extract_options import FileOptions
from ansible_collections.drc.registry.plugins.module_utils._registry.images import describe_image
from ansible_collections.drc.registry.plugins.module_utils._registry.layer_archive import (
    LayerArchive, check_media_type)
from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt

DEVICE_KINDS = {b"3": "character device", b"4": "block device", b"6": "fifo"}


# -- what was asked -------------------------------------------------------------------------------
def parse_paths(paths) -> list:
    """``[(as written, components)]``; absolute, no ``..``, none inside another. InputError otherwise."""
    if not isinstance(paths, list) or not paths:
        raise InputError("paths must be a non-empty list of absolute paths inside the image")
    parsed = []
    for path in paths:
        if not isinstance(path, str) or not path.startswith("/"):
            raise InputError("paths: %s is not an absolute path inside the image" % shown(path))
        if "\x00" in path or len(os.fsencode(path)) > 4096:
            raise InputError("paths: %s has a NUL byte or is longer than 4096 bytes" % shown(path))
        parts = path.split("/")
        if ".." in parts:
            raise InputError("paths: %s has a '..' component: name the path inside the image "
                             "without it" % shown(path))
        parsed.append((path, [part for part in parts if part not in ("", ".")]))
    for path, parts in parsed:
        for other, other_parts in parsed:
            if other is not path and parts[:len(other_parts)] == other_parts:
                raise InputError("paths: %s is %s %s" % (
                    shown(path), "the same path as" if parts == other_parts else "inside", shown(other)))
    return parsed


def image_layers(connection, reference, platform) -> tuple:
    """(image manifest digest, its layer descriptors, checked), the index resolved by platform."""
    info = describe_image(connection, reference, platform)
    if info["media_type"] in mt.INDEX_TYPES:
        available = ", ".join(sorted(set(
            "/".join(str(c["platform"].get(key)) for key in ("os", "architecture", "variant")
                     if key != "variant" or c["platform"].get("variant"))
            for c in info.get("platforms", []))))
        raise InputError("%s is a multi-platform index: give platform (available: %s)"
                         % (reference.string, available or "none"))
    if info["media_type"] not in mt.IMAGE_TYPES:
        raise RegistryError("%s is a %s manifest: only OCI and Docker schema 2 images can be "
                            "extracted" % (reference.string, info["media_type"]))
    layers = info["manifest"].get("layers")
    if not isinstance(layers, list):
        raise RegistryError("the manifest %s has no list of layers" % info["digest"])
    for number, layer in enumerate(layers):
        what = "layer %d of %s" % (number + 1, info["digest"])
        if not isinstance(layer, dict) or digest_problem(layer.get("digest")) is not None:
            raise RegistryError("%s has no usable digest" % what)
        size = layer.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise RegistryError("%s (%s) has no usable size" % (what, layer["digest"]))
        check_media_type(layer.get("mediaType"), "%s (%s)" % (what, layer["digest"]))
    return info["digest"], layers


# -- member bytes kept aside ------------------------------------------------------------------------
class ContentStore:
    """Member bytes by key ``(layer, ordinal)``: sha256 and size always, the bytes themselves in
    the workspace's ``content/`` unless in check mode (``directory`` None)."""

    def __init__(self, directory: str | None) -> None:
        self.directory = directory
        self.records: dict = {}

    @staticmethod
    def name(key) -> str:
        return "%d-%d" % key

    def capture(self, key, chunks) -> None:
        hasher = DigestHasher("sha256")
        handle = None
        if self.directory is not None:
            path = os.path.join(self.directory, self.name(key))
            try:
                handle = open(path, "xb")
            except OSError as exc:
                raise write_error(exc, path)
        try:
            for chunk in chunks:
                hasher.update(chunk)
                if handle is not None:
                    handle.write(chunk)
        except OSError as exc:
            raise write_error(exc, self.directory or "the workspace")
        finally:
            if handle is not None:
                handle.close()
        self.records[key] = (hasher.digest().split(":", 1)[1], hasher.size)


# -- reading the layers -----------------------------------------------------------------------------
class _Reader:
    def __init__(self, connection, repository: str, layers: list) -> None:
        self.connection = connection
        self.repository = repository
        self.layers = layers

    def members(self, number: int):
        """Yield ``(archive, ordinal, TarInfo)`` of one layer; the blob verified at the end."""
        layer = self.layers[number]
        what = "layer %d (%s)" % (number + 1, layer["digest"])
        compression = check_media_type(layer.get("mediaType"), what)
        with open_blob(self.connection, self.repository, layer["digest"], layer["size"]) as stream:
            archive = LayerArchive(stream, compression, what)
            for ordinal, info in archive:
                yield archive, ordinal, info
            archive.finish()


def _entry(info, layer: int, kind: str, key=None, detail: str = "") -> it.Entry:
    return it.Entry(kind, layer, mode=info.mode & 0o7777, uid=info.uid, gid=info.gid,
                    mtime=info.mtime, size=info.size if kind == it.FILE else 0,
                    linkname=info.linkname if kind == it.SYMLINK else "", content=key, detail=detail)


class _Wanted:
    """Is a member's resolved place inside a requested path (as the tree resolves them now)?"""

    def __init__(self, tree: it.ImageTree, requested: list) -> None:
        self.tree = tree
        self.requested = requested
        self._generation = None
        self._prefixes: list = []

    def __call__(self, names: list) -> bool:
        if self._generation != self.tree.generation:
            self._generation = self.tree.generation
            prefixes = [parts for _path, parts in self.requested]
            prefixes += [self.tree.resolve_lenient(parts) for _path, parts in self.requested]
            self._prefixes = prefixes
        return any(names[:len(prefix)] == prefix for prefix in self._prefixes)


def build_tree(reader: _Reader, requested: list, store: ContentStore) -> it.ImageTree:
    """The first pass: every layer applied to the tree, wanted member bytes kept."""
    tree = it.ImageTree()
    wanted = _Wanted(tree, requested)
    for number in range(len(reader.layers)):
        for archive, ordinal, info in reader.members(number):
            what = "%s: member %s" % (archive.what, shown(info.name))
            parts = it.clean_components(info.name)
            if parts and parts[-1].startswith(it.WHITEOUT):
                tree.whiteout(parts, number, what)
            elif info.isdir():
                tree.add(parts, _entry(info, number, it.DIRECTORY), what)
            elif info.issym():
                tree.add(parts, _entry(info, number, it.SYMLINK), what)
            elif info.islnk():
                tree.add(parts, _hard_link(tree, info, number, what), what)
            elif info.isreg():
                key = (number, ordinal)
                names = tree.add(parts, _entry(info, number, it.FILE, key), what)
                if wanted(names):
                    store.capture(key, archive.read_member(info))
            elif info.type in DEVICE_KINDS:
                tree.add(parts, _entry(info, number, it.DEVICE, detail=DEVICE_KINDS[info.type]), what)
    return tree


def _hard_link(tree: it.ImageTree, info, layer: int, what: str) -> it.Entry:
    """A hard link's entry: its target's, as the image has it at this point (inside the image)."""
    target = tree.lookup(it.clean_components(info.linkname), what)
    if target is None:
        raise RegistryError("%s is a hard link to %s, which is not in the image" % (what, shown(info.linkname)))
    if target.children is not None:
        raise RegistryError("%s is a hard link to the directory %s" % (what, shown(info.linkname)))
    return target.entry.copy(layer)


def fetch_missing(reader: _Reader, keys: set, store: ContentStore) -> None:
    """The second pass: the members the tree needs that the first did not keep."""
    for number in sorted(set(key[0] for key in keys)):
        left = set(key for key in keys if key[0] == number)
        for archive, ordinal, info in reader.members(number):
            if (number, ordinal) in left:
                store.capture((number, ordinal), archive.read_member(info))
                left.discard((number, ordinal))


# -- the tree to write ------------------------------------------------------------------------------
def plan_outputs(tree: it.ImageTree, requested: list, image: str, warn) -> tuple:
    """``(outputs, parents)``: ``outputs`` the requested entries as ``(components, Entry, path)``
    in writing order, parents before children; ``parents`` the directories made above them."""
    outputs: list = []
    parents: set = set()
    for path, parts in requested:
        node = tree.lookup(parts, "paths: %s" % path)
        if node is None:
            raise InputError("paths: %s is not in the image %s" % (path, image))
        for depth in range(1, len(parts)):
            parents.add(tuple(parts[:depth]))
        _walk_output(node, tuple(parts), outputs, warn)
    return outputs, parents


def _walk_output(node: it.Node, parts: tuple, outputs: list, warn) -> None:
    entry = node.entry
    shown_path = "/" + "/".join(parts)
    if entry.kind == it.DEVICE:
        warn("skipped %s: a %s is not extracted" % (shown_path, entry.detail))
        return
    if parts:
        outputs.append((parts, entry, shown_path))
    if node.children is not None:
        for name in sorted(node.children):
            _walk_output(node.children[name], parts + (name,), outputs, warn)


def expected_tree(outputs: list, parents: set, store: ContentStore, options: FileOptions) -> dict:
    """``{relative path: (type, mode, content, uid, gid)}`` of the tree the extraction makes."""
    expected: dict = {}
    for parts in parents:
        expected["/" + "/".join(parts)] = ("directory", 0o755, None, None, None)
    for parts, entry, path in outputs:
        owner = options.owner(entry) or (None, None)
        owner = tuple(None if value == -1 else value for value in owner)
        if entry.kind == it.FILE:
            content = store.records[entry.content][0]
        elif entry.kind == it.SYMLINK:
            content = entry.linkname
        else:
            content = None
        mode = options.file_mode(entry) if entry.kind != it.SYMLINK else 0o777
        expected[path] = (entry.kind, mode, content) + owner
    return expected


def same_tree(expected: dict, current: dict | None) -> bool:
    if current is None or set(expected) != set(current):
        return False
    for path, (kind, mode, content, uid, gid) in expected.items():
        have = current[path]
        if (kind, mode, content) != have[:3]:
            return False
        if (uid is not None and uid != have[3]) or (gid is not None and gid != have[4]):
            return False
    return True


def write_tree(workspace: Workspace, outputs: list, parents: set, store: ContentStore,
               options: FileOptions) -> None:
    writer = TreeWriter(workspace.root, workspace.content)
    try:
        for parts in sorted(parents, key=len):
            writer.directory(parts, 0o755, None, 0)
        for parts, entry, path in outputs:
            owner = options.owner(entry)
            try:
                if entry.kind == it.DIRECTORY:
                    writer.directory(parts, options.file_mode(entry), owner, entry.mtime)
                elif entry.kind == it.SYMLINK:
                    writer.symlink(parts, entry.linkname, owner, entry.mtime)
                else:
                    writer.file(parts, store.name(entry.content), options.file_mode(entry), owner, entry.mtime)
            except OSError as exc:
                raise write_error(exc, "%s (from the image's %s)" % (workspace.root, path))
        writer.finish()
    finally:
        writer.close()


def file_list(outputs: list, store: ContentStore, options: FileOptions) -> list:
    files = []
    for _parts, entry, path in outputs:
        item = {"path": path, "type": entry.kind, "size": 0, "sha256": None,
                "mode": "%04o" % (options.file_mode(entry) if entry.kind != it.SYMLINK else 0o777)}
        if entry.kind == it.FILE:
            item["sha256"], item["size"] = store.records[entry.content]
        elif entry.kind == it.SYMLINK:
            item["link_target"] = entry.linkname
            item["size"] = len(os.fsencode(entry.linkname))
        files.append(item)
    return files


def _diff_lines(tree: dict | None) -> str:
    lines = []
    for path in sorted(tree or {}):
        kind, mode, content = tree[path][:3]
        lines.append("%s %s %04o%s" % (path, kind, mode, " " + content if content else ""))
    return "\n".join(lines) + ("\n" if lines else "")


# -- the whole job ----------------------------------------------------------------------------------
def extract(connection, reference, platform, paths, dest: str, options: FileOptions,
            check_mode: bool, want_diff: bool, warn) -> dict:
    """The registry_extract result for an ImageReference."""
    requested = parse_paths(paths)
    destination = Destination(dest)
    digest, layers = image_layers(connection, reference, platform)
    reader = _Reader(connection, reference.repository, layers)
    if not check_mode:
        destination.clean_stale()
    workspace = None if check_mode else Workspace(destination)
    try:
        store = ContentStore(workspace.content if workspace else None)
        tree = build_tree(reader, requested, store)
        outputs, parents = plan_outputs(tree, requested, digest, warn)
        missing = set(entry.content for _parts, entry, _path in outputs
                      if entry.kind == it.FILE and entry.content not in store.records)
        if missing:
            fetch_missing(reader, missing, store)
        expected = expected_tree(outputs, parents, store, options)
        current = destination.describe()
        changed = not same_tree(expected, current)
        if changed and workspace is not None:
            write_tree(workspace, outputs, parents, store, options)
            try:
                workspace.swap_into_place()
            except OSError as exc:
                raise write_error(exc, destination.path)
    finally:
        if workspace is not None:
            workspace.close()
    result = {"changed": changed, "digest": digest, "dest": destination.path,
              "files": file_list(outputs, store, options)}
    if want_diff:
        result["diff"] = {"before": _diff_lines(current), "after": _diff_lines(expected),
                          "before_header": destination.path, "after_header": "%s@%s" % (reference.full_name, digest)}
    return result
