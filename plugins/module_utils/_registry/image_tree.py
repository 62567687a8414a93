# Private to the drc.registry collection: no compatibility promise for other collections.
"""An image's file system as its layers build it, metadata only: whiteouts applied, every name
resolved inside the image's root as a container runtime resolves it.

Standard library only. Member names are cleaned lexically first (``..`` stops at the root, an
absolute name is relative to the root), then their parent directories are walked through the
tree, following the image's own symbolic links with the root as ``/`` (as umoci's and containerd's
secure join do): nothing here can name a place outside the image. File contents are not held:
a regular file carries the key of the layer member whose bytes it has.
"""

from __future__ import annotations

import posixpath

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError

# As Linux: more symbolic links than this on one path is ELOOP.
MAX_LINKS = 40
# No directory of the image deeper than this (real images stay far below): the code that prunes,
# lists and writes the tree goes one level per call and one descriptor per level.
MAX_DEPTH = 256
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"

DIRECTORY, FILE, SYMLINK, DEVICE = "directory", "file", "symlink", "device"


class ImageTreeError(RegistryError):
    """A member or a path that cannot be placed in the image's tree."""


class Entry:
    """What one path is: kind, the layer that set it, mode, owner, time, and for a file the key of
    the member holding its bytes (a hard link shares its target's), for a symlink its target."""

    __slots__ = ("kind", "layer", "mode", "uid", "gid", "mtime", "size", "linkname", "content", "detail")

    def __init__(self, kind: str, layer: int, mode: int = 0o755, uid: int = 0, gid: int = 0,
                 mtime: float = 0, size: int = 0, linkname: str = "", content=None,
                 detail: str = "") -> None:
        self.kind = kind
        self.layer = layer
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.mtime = mtime
        self.size = size
        self.linkname = linkname
        self.content = content
        self.detail = detail

    def copy(self, layer: int) -> "Entry":
        return Entry(self.kind, layer, self.mode, self.uid, self.gid, self.mtime, self.size,
                     self.linkname, self.content, self.detail)


class Node:
    __slots__ = ("entry", "children")

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self.children = {} if entry.kind == DIRECTORY else None


def clean_components(name: str) -> list:
    """The components of a name inside the image, lexically cleaned: ``/a/../../b/./c`` is
    ``["b", "c"]``; the root is ``[]``."""
    cleaned = posixpath.normpath("/" + name)
    return [part for part in cleaned.split("/") if part]


def _check_depth(names: list, what: str) -> None:
    """Refuse to go below ``names`` when that is MAX_DEPTH deep already."""
    if len(names) >= MAX_DEPTH:
        raise ImageTreeError("%s: deeper than %d directories in the image: refusing it" % (what, MAX_DEPTH))


class ImageTree:
    """The tree of one image, built layer by layer."""

    def __init__(self) -> None:
        self.root = Node(Entry(DIRECTORY, -1))
        self.generation = 0  # changes whenever a symlink appears or a subtree goes: resolutions go stale

    # -- resolution ---------------------------------------------------------------------------------
    def walk(self, components: list, what: str, create_layer: int | None = None,
             follow_last: bool = True):
        """Walk ``components`` from the root, following symlinks inside the image.

        Returns ``(node, resolved components)``; ``node`` is None when a component is missing
        (unless ``create_layer`` is given: then missing directories are made, implicit, in that
        layer). A symlink as the last component is followed only with ``follow_last``.
        """
        stack = [self.root]
        names: list = []
        pending = list(reversed(components))
        links = 0
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if len(stack) > 1:  # the root's parent is the root
                    stack.pop()
                    names.pop()
                continue
            current = stack[-1]
            if current.children is None:
                raise ImageTreeError("%s: /%s is not a directory in the image" % (what, "/".join(names)))
            child = current.children.get(part)
            if child is None:
                if create_layer is None:
                    return None, names + [part] + list(reversed(pending))
                child = current.children[part] = Node(Entry(DIRECTORY, create_layer))
            if child.entry.kind == SYMLINK and (pending or follow_last):
                links += 1
                if links > MAX_LINKS:
                    raise ImageTreeError("%s: too many levels of symbolic links" % what)
                target = child.entry.linkname
                if target.startswith("/"):  # absolute: the image's root, never the host's
                    del stack[1:]
                    del names[:]
                pending.extend(reversed(target.split("/")))
                continue
            if child.children is None and pending:
                raise ImageTreeError("%s: /%s is not a directory in the image"
                                     % (what, "/".join(names + [part])))
            _check_depth(names, what)
            stack.append(child)
            names.append(part)
        return stack[-1], names

    def lookup(self, components: list, what: str, follow_last: bool = False):
        """The node at a path (parents resolved, the last symlink kept unless asked), or None."""
        try:
            node, _names = self.walk(components, what, follow_last=follow_last)
        except ImageTreeError:
            return None
        return node

    def resolve_lenient(self, components: list) -> list:
        """Where a path leads in the tree as it stands, the missing rest appended as written."""
        try:
            _node, names = self.walk(components, "path", follow_last=True)
        except ImageTreeError:
            return list(components)
        return names

    # -- changes from a layer -----------------------------------------------------------------------
    def _parent(self, components: list, what: str, layer: int):
        parent, names = self.walk(components[:-1], what, create_layer=layer)
        if parent.children is None:
            raise ImageTreeError("%s: /%s is not a directory in the image" % (what, "/".join(names)))
        return parent, names

    def add(self, components: list, entry: Entry, what: str) -> list:
        """Put a member's entry at its place; returns the resolved components of that place."""
        if not components:  # the root's own entry: the destination directory keeps its own
            return []
        parent, names = self._parent(components, what, entry.layer)
        _check_depth(names, what)
        name = components[-1]
        existing = parent.children.get(name)
        if entry.kind == DIRECTORY and existing is not None and existing.children is not None:
            existing.entry = entry  # a directory over a directory: its contents stay
        else:
            if existing is not None and (existing.children or existing.entry.kind == SYMLINK):
                self.generation += 1
            parent.children[name] = Node(entry)
            if entry.kind == SYMLINK:
                self.generation += 1
        return names + [name]

    def whiteout(self, components: list, layer: int, what: str) -> None:
        """A ``.wh.<name>`` or ``.wh..wh..opq`` member of ``layer``: hide what lower layers had."""
        marker = components[-1]
        if marker == OPAQUE:
            directory, _names = self.walk(components[:-1], what, create_layer=layer)
            if directory.children is not None:
                self._prune_lower(directory, layer)
            return
        name = marker[len(WHITEOUT):]
        if name in ("", ".", ".."):
            return
        try:
            parent, _names = self.walk(components[:-1], what)
        except ImageTreeError:
            return
        if parent is None or parent.children is None:
            return
        child = parent.children.get(name)
        if child is None or child.entry.layer >= layer:
            return  # a whiteout hides lower layers only
        if child.children is not None and self._prune_lower(child, layer):
            child.entry = child.entry.copy(layer)  # what this layer put inside stays, in a directory
        else:
            del parent.children[name]
        self.generation += 1

    def _prune_lower(self, directory: Node, layer: int) -> bool:
        """Remove what lower layers put under ``directory``; True when something of ``layer`` stays."""
        kept = False
        for name, child in list(directory.children.items()):
            keep = child.entry.layer >= layer
            if child.children is not None and self._prune_lower(child, layer):
                keep = True
            if keep:
                kept = True
            else:
                del directory.children[name]
        self.generation += 1
        return kept
