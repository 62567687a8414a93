# Private to the drc.registry collection: no compatibility promise for other collections.
"""One image layer as a stream of tar members: its media type decides the decompression (gzip;
zstd when the ``zstandard`` library is importable), every header is bounded and every member name
checked before anyone uses it. Memory stays constant whatever the layer's size or member count.
"""

from __future__ import annotations

import os
import tarfile
import zlib

from ansible_collections.drc.registry.plugins.module_utils._registry.digests import shown
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError

TAR_TYPES = (
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
)
GZIP_TYPES = (
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
)
ZSTD_TYPES = (
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
)

# Linux's PATH_MAX: no name (or link target) longer than this can exist in a container.
MAX_NAME_BYTES = 4096
# A PAX or GNU long-name header is read whole into memory by tarfile: bounded here.
MAX_EXTENDED_HEADER = 1024 * 1024
READ_SIZE = 1024 * 1024
# What reading a damaged layer raises (a zstd layer adds zstandard's own error).
READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError, ValueError)


class LayerError(RegistryError):
    """A layer that cannot be read as a tar archive, or a member refused by name."""


class HeaderTooLarge(LayerError):
    """An extended header above the bound (raised inside tarfile, named with the layer outside)."""


class _BoundedTarInfo(tarfile.TarInfo):
    """tarfile's header, refusing extended headers (read whole into memory) above the bound."""

    def _proc_member(self, tarfile):  # pylint: disable=redefined-outer-name
        if self.type in _EXTENDED_HEADERS and self.size > MAX_EXTENDED_HEADER:
            raise HeaderTooLarge("an extended tar header of %d bytes (more than %d) before member %s"
                                 % (self.size, MAX_EXTENDED_HEADER, shown(self.name)))
        return super()._proc_member(tarfile)


_EXTENDED_HEADERS = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE,
                     tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)


def check_media_type(media_type, what: str) -> str:
    """``tar``, ``gzip`` or ``zstd`` for a layer's media type; a clear error for anything else."""
    if media_type in TAR_TYPES or media_type in GZIP_TYPES:
        return "tar"  # tarfile tells gzip from plain tar by its magic, as containerd does
    if media_type in ZSTD_TYPES:
        try:
            import zstandard  # noqa: F401 pylint: disable=unused-import
        except ImportError:
            raise LayerError("%s has media type %s: reading zstd layers needs the Python library "
                             "'zstandard' on the host that runs the module" % (what, media_type))
        return "zstd"
    raise LayerError("%s has media type %s, which is not an image layer this module can read "
                     "(tar, tar+gzip, tar+zstd)" % (what, shown(media_type)))


def check_member_name(info: tarfile.TarInfo, what: str) -> None:
    """Names (and link targets) with NUL or longer than PATH_MAX exist in no container: refused."""
    for label, value in (("name", info.name), ("link target", info.linkname)):
        if "\x00" in value:
            raise LayerError("%s: refusing member %s: its %s contains a NUL byte"
                             % (what, shown(info.name), label))
        if len(os.fsencode(value)) > MAX_NAME_BYTES:
            raise LayerError("%s: refusing member %s: its %s is longer than %d bytes"
                             % (what, shown(info.name), label, MAX_NAME_BYTES))


class LayerArchive:
    """The members of one layer read from ``stream`` (a verified blob reader), in order.

    Iterate for ``(ordinal, TarInfo)``; ``read_member(info)`` streams the current member's bytes
    (before the next iteration step only). Read errors become a LayerError naming the layer.
    """

    def __init__(self, stream, compression: str, what: str) -> None:
        self.stream = stream
        self.what = what
        source = stream
        self._errors = READ_ERRORS
        if compression == "zstd":
            import zstandard
            source = zstandard.ZstdDecompressor().stream_reader(stream, read_size=READ_SIZE)
            self._errors = READ_ERRORS + (zstandard.ZstdError,)  # bytes that are no zstd frame
        self._source = source
        try:
            self.tar = tarfile.open(fileobj=source, mode="r|*" if compression == "tar" else "r|",
                                    tarinfo=_BoundedTarInfo)  # small reads: its buffer is copied at each
        except HeaderTooLarge as exc:
            raise LayerError("%s: %s" % (what, exc))
        except self._errors as exc:
            raise LayerError("%s is not a valid tar archive: %s" % (what, exc))
        self.current = None

    def __iter__(self):
        ordinal = 0
        while True:
            try:
                info = self.tar.next()
            except HeaderTooLarge as exc:
                raise LayerError("%s: %s" % (self.what, exc))
            except self._errors as exc:
                raise LayerError("%s is not a valid tar archive%s: %s" % (
                    self.what, " after member %s" % shown(self.current.name) if self.current else "",
                    exc))
            if info is None:
                return
            self.tar.members = []  # stream mode keeps every header it read: memory stays flat
            self.current = info
            check_member_name(info, self.what)
            if info.issparse():  # its holes would be written out whole: a few KiB fill a disk
                raise LayerError("%s: refusing member %s: a sparse file has no place in an image layer"
                                 % (self.what, shown(info.name)))
            yield ordinal, info
            ordinal += 1

    def read_member(self, info: tarfile.TarInfo):
        """The bytes of the current regular member, in pieces of at most READ_SIZE."""
        handle = self.tar.extractfile(info)
        left = info.size
        try:
            while left > 0:
                chunk = handle.read(min(READ_SIZE, left))
                if not chunk:
                    raise LayerError("%s ends inside member %s (%d of its %d bytes missing)"
                                     % (self.what, shown(info.name), left, info.size))
                left -= len(chunk)
                yield chunk
        except self._errors as exc:
            raise LayerError("%s is not a valid tar archive: reading member %s: %s"
                             % (self.what, shown(info.name), exc))

    def finish(self) -> None:
        """Read the rest of the blob (padding, a compression trailer) so that it is verified."""
        try:
            self.tar.close()
        except self._errors:
            pass
        self.stream.drain()
