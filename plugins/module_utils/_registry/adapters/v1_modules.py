# Private to the drc.registry collection: no compatibility promise for other collections.
"""The v1 side of the modules: choosing the API (``api_version``) and building each v1 result.

The modules stay thin: each calls ``select`` (or ``blob_fetch`` / ``search_info``) and returns
what these functions build.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ansible_collections.drc.registry.plugins.module_utils._registry.connection import (
    ConnectionOptions)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import (
    check_connection_options, connection_options, host_options)
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import (
    parse_registry_host, parse_repository)

if TYPE_CHECKING:
    from ansible_collections.drc.registry.plugins.module_utils._registry.v1 import V1Connection

# v1.py and downloads.py are imported where a v1 registry is actually used: a module run that only
# meets a v2 registry (nearly every run) neither compiles nor executes them.

API_VERSION_OPTION = dict(type="str", choices=["auto", "v2", "v1"], default="auto")


def _connect(module, options: ConnectionOptions, index: dict,
             base_url: str | None = None) -> V1Connection:
    """A v1 connection from the same ConnectionOptions as v2 (credentials bound to the host)."""
    from ansible_collections.drc.registry.plugins.module_utils._registry.v1 import (
        V1Connection, index_url_for)
    return V1Connection(
        index_url_for(index, base_url), options.credentials,
        explicit_scheme=options.scheme_written or base_url is not None,
        validate_certs=options.validate_certs, ca_path=options.ca_path,
        client_cert=options.client_cert, client_key=options.client_key,
        timeout=options.timeout, retries=options.retries, log=module.debug, warn=module.warn,
        proxy=options.proxy)


def connect(module, reference, base_url: str | None = None) -> V1Connection:
    """A v1 connection to the registry of an ImageReference."""
    return _connect(module, connection_options(reference, module.params), reference.registry_host(),
                    base_url)


def select(module, reference, connection) -> V1Connection | None:
    """The v1 connection to use, or None for v2.

    ``auto`` pings ``/v2/`` with the v2 ``connection`` and falls back to v1 only when the registry
    has no v2 API (404 on ``/v2/``) and ``/v1/_ping`` answers. Any other v2 failure is reported as is.
    """
    mode = module.params.get("api_version") or "auto"
    explicit = reference.scheme_written
    if mode == "v2":
        return None
    if mode == "v1":
        return connect(module, reference)
    client = connection
    try:
        client.ping()
        return None
    except RegistryError as exc:
        if exc.status == 404:
            candidate, check_v2 = client.base_url, False
        elif exc.status is None and not explicit and client.base_url.startswith("http://"):
            # The v2 client tried https, then http (a loopback host): ask http directly.
            candidate, check_v2 = client.base_url, True
        else:
            raise
        legacy = connect(module, reference, base_url=candidate)
        try:
            if check_v2 and legacy.has_v2() is not False:
                raise exc
            legacy.ping()
        except RegistryError:
            legacy.close()
            raise exc
        module.debug("%s has no v2 API and its v1 API answers: using v1" % candidate)
        return legacy


class _Discard:
    """A file object that only counts: hashing a layer in check mode writes nothing."""

    def write(self, data: bytes) -> int:
        return len(data)


def blob_fetch(module, registry_module, source: str) -> dict:
    """registry_blob_fetch on v1: a layer by image id, verified when the registry says how."""
    from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.downloads import (
        blob_destination, file_digest)
    from ansible_collections.drc.registry.plugins.module_utils._registry.atomic_write import (
        write_beside)
    from ansible_collections.drc.registry.plugins.module_utils._registry.v1 import validate_image_id
    params = module.params
    image_id = params.get("image_id")
    if params.get("api_version") == "v2":
        raise InputError("image_id names a v1 image, but api_version is v2: give digest instead")
    if image_id is None:
        raise InputError("the v1 API names layers by image id, not digest: give image_id instead "
                         "of digest")
    validate_image_id(image_id)
    reference = parse_repository(source)
    dest = blob_destination(params["dest"], image_id)
    directory = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(directory):
        raise InputError("dest %s: directory %s does not exist" % (params["dest"], directory))
    client = registry_module.connect(reference) if params.get("api_version") != "v1" else None
    connection = select(module, reference, client)
    if connection is None:
        raise InputError("%s serves the v2 API, where blobs are named by digest: give digest "
                         "instead of image_id" % reference.registry)
    repository = reference.repository
    before, before_size = file_digest(dest)
    _image, checksum, size = connection.image_json(repository, image_id)
    result = dict(dest=dest, image_id=image_id, size=before_size, checksum=before,
                  verified=False, changed=False, registry=connection.index_url, api_version="v1")
    diff = dict(before=dict(checksum=before, size=before_size))
    if checksum and before == checksum and (size is None or size == before_size):
        result["verified"] = True
    elif module.check_mode:
        if before is None:
            result.update(changed=True, size=size, checksum=checksum, verified=bool(checksum))
        else:  # hash what the registry serves, write nothing
            got = connection.fetch_layer(repository, image_id, _Discard(), checksum, size)
            result.update(changed=got["checksum"] != before, size=got["size"],
                          checksum=got["checksum"], verified=got["verified"])
    else:
        fetched: dict = {}

        def fetch(out) -> None:
            fetched.update(connection.fetch_layer(repository, image_id, out, checksum, size))

        def move(temp: str, dest: str) -> None:
            if fetched["checksum"] != before:  # the same content: the temp file is removed instead
                module.atomic_move(temp, dest)
                result["changed"] = True

        write_beside(dest, fetch, move=move)
        result.update(size=fetched["size"], checksum=fetched["checksum"],
                      verified=fetched["verified"])
    diff["after"] = dict(checksum=result["checksum"], size=result["size"])
    if os.path.exists(dest):
        file_args = module.load_file_common_arguments(params, path=dest)
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    if module._diff:
        result["diff"] = diff
    connection.close()
    return result


def search_info(module) -> dict:
    """registry_search_info: ``GET /v1/search`` on the registry's index, page after page."""
    from ansible_collections.drc.registry.plugins.module_utils._registry.v1 import MAX_SEARCH_LIMIT
    params = module.params
    query = params["query"]
    limit = params["limit"]
    if not query or not query.strip():
        raise InputError("query must not be empty")
    if limit < 1 or limit > MAX_SEARCH_LIMIT:
        raise InputError("limit must be between 1 and %d, got %d" % (MAX_SEARCH_LIMIT, limit))
    index = parse_registry_host(params["registry"])
    check_connection_options(params)
    # The v1 index takes no bearer token: the credentials are looked up as if none were given.
    options = host_options(index["name"], index["scheme"], "://" in params["registry"],
                           dict(params, bearer_token=None))
    connection = _connect(module, options, index)
    try:
        results = connection.search(query, limit)
    finally:
        connection.close()
    return dict(changed=False, results=results, query=query, registry=connection.index_url)
