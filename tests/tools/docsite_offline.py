"""Make the Sphinx project that ``antsibull-docs sphinx-init`` generated build without a network.

sphinx-init's conf.py maps intersphinx to docs.python.org, jinja and docs.ansible.com, whose
inventories Sphinx downloads; offline, each is a warning, and ``-W`` makes warnings errors. The
pages antsibull-docs writes do link to ansible-core's documentation (``common_return_values``,
``ansible_configuration_settings``): an inventory of those labels is written here, pointing at the
real pages of docs.ansible.com, and conf.py is told to read it instead of downloading one.

A label missing from ANSIBLE_LABELS fails the build ("undefined label"): add it here.

Usage: python tests/tools/docsite_offline.py build/docs
"""

from __future__ import annotations

import os
import sys
import zlib

ANSIBLE_DOCS = "https://docs.ansible.com/projects/ansible/devel/"

# label -> (page and anchor under ANSIBLE_DOCS, title)
ANSIBLE_LABELS = {
    "ansible_configuration_settings": (
        "reference_appendices/config.html#ansible-configuration-settings",
        "Ansible Configuration Settings"),
    "common_return_values": (
        "reference_appendices/common_return_values.html#common-return-values",
        "Return Values"),
}


def write_inventory(path: str) -> None:
    """A Sphinx inventory (version 2) of ANSIBLE_LABELS."""
    header = ("# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n"
              "# The remainder of this file is compressed using zlib.\n")
    body = "".join("%s std:label -1 %s %s\n" % (label, uri, title)
                   for label, (uri, title) in sorted(ANSIBLE_LABELS.items()))
    with open(path, "wb") as handle:
        handle.write(header.encode("utf-8"))
        handle.write(zlib.compress(body.encode("utf-8")))


def main(site: str) -> int:
    conf = os.path.join(site, "conf.py")
    if not os.path.isfile(conf):
        sys.stderr.write("%s: no conf.py (run antsibull-docs sphinx-init first)\n" % site)
        return 1
    inventory = os.path.abspath(os.path.join(site, "ansible_devel.inv"))
    write_inventory(inventory)
    with open(conf, "a") as handle:
        handle.write("\n# Offline: the labels of ansible-core's docs that the pages use "
                     "(tests/tools/docsite_offline.py).\n")
        handle.write("intersphinx_mapping = {%r: (%r, %r)}\n" % ("ansible_devel", ANSIBLE_DOCS, inventory))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
