# Private to the drc.registry collection: no compatibility promise for other collections.
"""registry_extract's file options: owner, group and mode given by the user, laid over the image's."""

from __future__ import annotations

import grp
import os
import pwd

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import InputError

FILE = "file"


def _id(value, lookup, what: str):
    if value is None:
        return None
    text = str(value)
    if text.isdigit() and text.isascii():
        return int(text)
    try:
        return lookup(text)
    except KeyError:
        raise InputError("%s %s does not exist on this host" % (what, text))


def _mode(value):
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value and all(c in "01234567" for c in value):
        number = int(value, 8)
    else:
        raise InputError("mode must be an octal number such as '0644', got %r (symbolic modes are "
                         "not supported here)" % (value,))
    if not 0 <= number <= 0o7777:
        raise InputError("mode %r is out of range (0 to 07777)" % (value,))
    return number


class FileOptions:
    """What the task says about the files written, over what the image says."""

    def __init__(self, mode=None, uid: int | None = None, gid: int | None = None) -> None:
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.as_root = os.geteuid() == 0

    def file_mode(self, entry) -> int:
        return self.mode if self.mode is not None and entry.kind == FILE else entry.mode

    def owner(self, entry):
        """(uid, gid) to set (-1 leaves one as it is), or None to leave both to the user running."""
        if self.as_root:
            return (entry.uid if self.uid is None else self.uid, entry.gid if self.gid is None else self.gid)
        if self.uid is not None or self.gid is not None:
            return (-1 if self.uid is None else self.uid, -1 if self.gid is None else self.gid)
        return None


def file_options(owner, group, mode) -> FileOptions:
    return FileOptions(_mode(mode), _id(owner, lambda n: pwd.getpwnam(n).pw_uid, "owner"),
                       _id(group, lambda n: grp.getgrnam(n).gr_gid, "group"))
