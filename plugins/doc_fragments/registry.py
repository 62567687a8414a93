# -*- coding: utf-8 -*-
# Copyright (c) drc.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection and authentication options every registry plugin shares, documented once."""

from __future__ import annotations


class ModuleDocFragment:

    DOCUMENTATION = r"""
options:
  username:
    description:
      - Username for the registry the task names (with O(password)). These plain credentials are
        sent to that one registry and its token service, whatever it is; to give credentials for
        several registries, or in C(module_defaults), use O(auths), which binds them to a host.
      - The lookups refuse plain credentials when their terms name more than one registry.
      - When neither O(username) nor O(identity_token) is given, credentials are looked up, first
        found wins, in O(auths), then in the environment variables E(DRC_REGISTRY_USERNAME) and
        E(DRC_REGISTRY_PASSWORD), which are used only for the registry named by
        E(DRC_REGISTRY_HOST) (a host such as V(quay.io) or V(localhost:5000); setting the pair
        without E(DRC_REGISTRY_HOST) is an error), then in Docker's C(config.json)
        (E(DOCKER_CONFIG) or C(~/.docker/config.json), with its C(auths), C(credHelpers) and
        C(credsStore) entries), then in the podman/skopeo C(auth.json) (E(REGISTRY_AUTH_FILE),
        C($XDG_RUNTIME_DIR/containers/auth.json) or C(~/.config/containers/auth.json)).
      - Every source is bound to a host. See C(docs/security.md) in the collection.
    type: str
  password:
    description:
      - Password or access token for O(username).
    type: str
  identity_token:
    description:
      - An OAuth2 refresh token (Docker's C(identitytoken)), exchanged for access tokens. Like
        O(username), it belongs to the one registry the task names.
    type: str
  auths:
    description:
      - Credentials bound to registry hosts, for tasks, C(module_defaults) and the lookups.
      - A dict keyed by registry host as Docker's C(config.json) keys it (V(quay.io),
        V(localhost:5000), V(docker.io); V(https://index.docker.io/v1/), V(index.docker.io) and
        V(registry-1.docker.io) also name Docker Hub), or C(host/namespace) (V(quay.io/team)) for
        the repositories under that namespace; the most specific key wins.
      - Each value is a dict with C(username) and C(password), or with C(identity_token) (and
        optionally C(username)).
      - An entry is used only for the registry its key names; a registry without an entry falls
        through to the environment and the files (see O(username)). O(username), O(password) and
        O(identity_token) given to the task win over O(auths) for the registry the task names.
    type: dict
  validate_certs:
    description:
      - Verify the registry's TLS certificate.
    type: bool
    default: true
  ca_path:
    description:
      - A PEM file of CA certificates to trust instead of the system store.
    type: path
  client_cert:
    description:
      - A PEM client certificate for mutual TLS.
    type: path
  client_key:
    description:
      - The private key for O(client_cert), when it is not in the same file.
    type: path
  timeout:
    description:
      - Seconds to wait to connect, and between bytes of an answer.
    type: float
    default: 30
  retries:
    description:
      - How many times to retry a request that failed for a temporary reason (connection error,
        408, 429, 500, 502, 503, 504). Retries back off exponentially and honour C(Retry-After).
      - Only idempotent requests are retried.
    type: int
    default: 3
  bearer_token:
    description:
      - A registry token obtained elsewhere (for example from a CI system or a cloud's CLI), sent
        as-is as the C(Bearer) credential of the C(Authorization) header of every request to the
        registry the task names, and to no other host. It never goes to a host a redirect leads
        to, nor to the token service (no token is requested with it).
      - It replaces O(username), O(password), O(identity_token) and the other credential sources;
        giving it with O(username), O(password) or O(identity_token) is an error. A task or
        lookup that names more than one registry refuses it.
      - A token the registry refuses (expired, or without access) fails the task; it is not
        renewed. The legacy v1 API does not use it.
    type: str
    version_added: 0.1.0
  proxy:
    description:
      - An http(s) proxy for every request of this task, such as
        V(http://proxy.example.com:3128) or V(http://user:password@proxy.example.com:3128).
        https registries are reached through a C(CONNECT) tunnel (the proxy sees the host name
        only); plain http registries through the proxy itself, which then sees the requests and
        their C(Authorization) headers.
      - Without it, the environment variables E(HTTPS_PROXY), E(HTTP_PROXY), E(ALL_PROXY) and
        E(NO_PROXY) apply, as before. When it is given it wins over them, and E(NO_PROXY) does not
        apply to it.
      - The proxy's user and password are never shown in results, errors or logs; messages name
        the proxy as C(scheme://host:port).
    type: str
    version_added: 0.1.0
notes:
  - A registry named without a scheme is reached over https; for loopback hosts (C(localhost),
    C(127.0.0.0/8), C(::1)) plain http is tried when https fails, as Docker does. When both fail,
    the error names both attempts.
    Write C(http://host:port/repo) to use http for any other host.
  - Docker Hub (C(docker.io)) is reached at C(https://registry-1.docker.io).
"""

    SIDES = r"""
options:
  src_auth:
    description:
      - Connection options for the registry of the source side only, over the task's connection
        options.
      - When it names any credential (O(src_auth.username), O(src_auth.password),
        O(src_auth.identity_token)), all the credentials of that side come from it.
      - Credentials are only ever sent to the registry of their side (and its token server).
        A side whose images are on more than one registry (the C(images) form of
        M(drc.registry.registry_copy)) refuses credentials here (they would reach every one of
        them); use O(auths) keyed by registry host.
      - The task's own O(username)/O(password)/O(identity_token) name no registry; they are
        refused when the sides without credentials of their own are on two different registries.
        Use O(src_auth) and O(dest_auth), or O(auths) keyed by registry host.
    type: dict
    suboptions: &side
      username:
        description: Username for this side's registry.
        type: str
      password:
        description: Password or access token for this side's username.
        type: str
      identity_token:
        description: An OAuth2 refresh token for this side's registry.
        type: str
      validate_certs:
        description: Verify this side's TLS certificate.
        type: bool
      ca_path:
        description: CA certificates (PEM) to trust for this side.
        type: path
      client_cert:
        description: A client certificate (PEM) for this side.
        type: path
      client_key:
        description: The key of this side's client certificate.
        type: path
      timeout:
        description: Seconds to wait on this side.
        type: float
      retries:
        description: Retries of temporary failures on this side.
        type: int
  dest_auth:
    description:
      - Connection options for the registry of the destination side only, with the same keys and
        rules as O(src_auth).
    type: dict
    suboptions: *side
"""

    ACTIONGROUP = r"""
attributes:
  action_group:
    description: Use C(group/drc.registry.registry) in C(module_defaults) to set credentials once.
    support: full
    membership:
      - drc.registry.registry
"""

    INFO_MODULE = r"""
attributes:
  check_mode:
    support: full
    description: The module only reads; it runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
"""

    # The read modules that also speak the legacy v1 API.
    API_VERSION = r"""
options:
  api_version:
    description:
      - Which registry API to use. V(auto) pings C(/v2/) and uses the legacy v1 API only when the
        registry has no v2 API (C(/v2/) answers 404) and C(/v1/_ping) answers; a v2 registry
        whose call fails is never retried on v1. See the collection's C(docs/v1.md).
    type: str
    choices: [auto, v2, v1]
    default: auto
    version_added: 0.1.0
"""

    # Lookups also read the connection options from variables and the environment.
    LOOKUP = r"""
options:
  username:
    vars:
      - name: drc_registry_username
  password:
    vars:
      - name: drc_registry_password
  identity_token:
    vars:
      - name: drc_registry_identity_token
  auths:
    vars:
      - name: drc_registry_auths
  validate_certs:
    vars:
      - name: drc_registry_validate_certs
  ca_path:
    vars:
      - name: drc_registry_ca_path
  timeout:
    vars:
      - name: drc_registry_timeout
  retries:
    vars:
      - name: drc_registry_retries
  bearer_token:
    vars:
      - name: drc_registry_bearer_token
  proxy:
    vars:
      - name: drc_registry_proxy
"""
