# Private to the drc.registry collection: no compatibility promise for other collections.
"""The collection's version, for the User-Agent. A unit test keeps it equal to galaxy.yml's."""

from __future__ import annotations

COLLECTION_VERSION = "0.1.0"
