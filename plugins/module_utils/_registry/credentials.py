# Private to the drc.registry collection: no compatibility promise for other collections.
"""Where credentials come from: task options, ``auths``, environment, config.json, auth.json.

First source found wins, and every source is bound to a registry host: plain options to the one
registry a task names, ``auths`` entries and file entries to their key, the environment pair to
``DRC_REGISTRY_HOST``. Nothing here logs a secret.
"""

from __future__ import annotations

import base64
import os
import subprocess

from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.json_input import parse_json

ENV_USERNAME = "DRC_REGISTRY_USERNAME"
ENV_PASSWORD = "DRC_REGISTRY_PASSWORD"
ENV_HOST = "DRC_REGISTRY_HOST"
AUTHS_FIELDS = ("username", "password", "identity_token")

DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io",
                   "registry-1.docker.io", "https://registry-1.docker.io")
HELPER_TIMEOUT = 30


class CredentialError(RegistryError):
    """A credential source exists but cannot be used (bad JSON, failing helper)."""


class Credentials:
    def __init__(self, username: str | None = None, password: str | None = None,
                 identity_token: str | None = None, source: str = "none") -> None:
        self.username = username
        self.password = password
        self.identity_token = identity_token
        self.source = source

    def __repr__(self) -> str:  # never show the secret
        return "Credentials(username=%r, source=%r)" % (self.username, self.source)

    def binding(self) -> tuple:
        """Equal for the same credentials: one client (and token cache) per registry and binding."""
        return (self.source, self.username, self.password, self.identity_token)


def normalise_host(key: str) -> str:
    """``https://index.docker.io/v1/`` -> ``docker.io``; ``http://myreg:5000/`` -> ``myreg:5000``."""
    host = key.split("://", 1)[-1].split("/", 1)[0].lower()
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


def _bare_key(key: str) -> str:
    """A key without its scheme and trailing slash; a URL-form key (``https://host/v1/``) also
    without its API suffix. ``ghcr.io/acme/v2`` (no scheme) is the namespace ``acme/v2``, not
    all of ``ghcr.io/acme``."""
    url_form = "://" in key
    bare = key.split("://", 1)[-1].rstrip("/")
    if url_form and (bare.endswith("/v1") or bare.endswith("/v2")):
        bare = bare[:-3]
    return bare


def _key_matches(key: str, host: str, repository: str | None) -> int:
    """How well an auths key matches: 0 none, 1 host, 2+ host/namespace (podman style)."""
    bare = _bare_key(key)
    key_host, dummy, key_path = bare.partition("/")
    if normalise_host(key_host) != host:
        return 0
    if not key_path:
        return 1
    if repository and (repository == key_path or repository.startswith(key_path + "/")):
        return 1 + key_path.count("/") + 1
    return 0


def auths_key(key) -> str:
    """An ``auths`` key as Docker's config.json writes it -> ``host`` or ``host/namespace``.

    ``https://index.docker.io/v1/``, ``index.docker.io`` and ``registry-1.docker.io`` are
    ``docker.io``; a scheme, a trailing slash and (after a scheme only) a ``/v1`` or ``/v2``
    suffix are dropped.
    """
    if not isinstance(key, str) or not key.strip():
        got = "an empty key" if isinstance(key, str) else "a %s" % type(key).__name__
        raise CredentialError("auths keys must be registry hosts such as quay.io or "
                              "localhost:5000, got %s" % got)
    bare = _bare_key(key.strip())
    host, dummy, path = bare.partition("/")
    if not host or any(char.isspace() or char in "@\\?#" for char in bare):
        raise CredentialError("auths key %r is not a registry host (such as quay.io, "
                              "localhost:5000 or docker.io)" % key)
    host = normalise_host(host)
    return host + "/" + path.lower() if path else host


def check_auths(auths) -> dict:
    """Validate ``auths``; return {normalised key: Credentials}. Errors name keys, never values."""
    if auths is None:
        return {}
    if not isinstance(auths, dict):
        raise CredentialError("auths must be a dict keyed by registry host, got a %s"
                              % type(auths).__name__)
    out: dict = {}
    given: dict = {}
    for key, entry in auths.items():
        name = auths_key(key)
        if name in out:
            raise CredentialError("auths keys %r and %r name the same registry" % (given[name], key))
        where = "auths[%r]" % key
        if not isinstance(entry, dict):
            raise CredentialError("%s must be a dict with username and password, or identity_token, "
                                  "got a %s" % (where, type(entry).__name__))
        unknown = sorted(str(field) for field in entry if field not in AUTHS_FIELDS)
        if unknown:
            raise CredentialError("%s has unknown keys %s (expected username and password, or "
                                  "identity_token)" % (where, ", ".join(unknown)))
        for field in AUTHS_FIELDS:
            if entry.get(field) is not None and not isinstance(entry[field], str):
                raise CredentialError("%s: %s must be a string" % (where, field))
        username, password, token = (entry.get(field) for field in AUTHS_FIELDS)
        if token:
            if password is not None:
                raise CredentialError("%s: give username and password, or identity_token, not both"
                                      % where)
            out[name] = Credentials(username, None, token, "auths entry %s" % key)
        elif username and password is not None:
            out[name] = Credentials(username, password, None, "auths entry %s" % key)
        else:
            raise CredentialError("%s needs username and password, or identity_token" % where)
        given[name] = key
    return out


def _from_checked_auths(entries: dict, host: str, repository: str | None) -> Credentials | None:
    best, best_score = None, 0
    for key, credentials in entries.items():
        score = _key_matches(key, host, repository)
        if score > best_score:
            best, best_score = credentials, score
    return best


def plain_credentials(username: str | None = None, password: str | None = None,
                      identity_token: str | None = None) -> bool:
    return username is not None or password is not None or bool(identity_token)


def _from_environment(host: str, environ) -> Credentials | None:
    """The environment pair, for the registry named by DRC_REGISTRY_HOST only."""
    if not (environ.get(ENV_USERNAME) or environ.get(ENV_PASSWORD)):
        return None
    if not environ.get(ENV_HOST):
        raise CredentialError(
            "%s/%s are set but %s is not: set %s to the registry they are for (for example "
            "quay.io or localhost:5000), or give auths" % (ENV_USERNAME, ENV_PASSWORD, ENV_HOST, ENV_HOST))
    try:
        bound = auths_key(environ[ENV_HOST])
    except CredentialError:
        raise CredentialError("%s=%r is not a registry host (such as quay.io or localhost:5000)"
                              % (ENV_HOST, environ[ENV_HOST]))
    if "/" in bound:
        raise CredentialError("%s=%r names a namespace: give the registry host only"
                              % (ENV_HOST, environ[ENV_HOST]))
    if bound != host:
        return None
    return Credentials(environ.get(ENV_USERNAME), environ.get(ENV_PASSWORD), None,
                       "environment (%s=%s)" % (ENV_HOST, environ[ENV_HOST]))


def resolve(host: str, repository: str | None = None, username: str | None = None,
            password: str | None = None, identity_token: str | None = None,
            environ: dict | None = None, auths: dict | None = None,
            helper_cache: dict | None = None) -> Credentials:
    """Find credentials for a registry host (``docker.io``, ``myreg:5000``).

    Plain ``username``/``password``/``identity_token`` are taken as given for this host: the
    caller makes sure they were meant for it (a module task names one registry; a lookup refuses
    plain credentials with terms on several, see ``check_one_registry``).
    """
    environ = os.environ if environ is None else environ
    host = normalise_host(host)
    entries = check_auths(auths)
    if identity_token:
        return Credentials(username, None, identity_token, "options")
    if username is not None or password is not None:
        return Credentials(username, password, None, "options")
    found = _from_checked_auths(entries, host, repository)
    if found is not None:
        return found
    found = _from_environment(host, environ)
    if found is not None:
        return found
    for path in _docker_config_paths(environ):
        found = _from_docker_config(path, host, repository, environ, helper_cache)
        if found is not None:
            return found
    for path in _auth_json_paths(environ):
        found = _from_auths(_load_json(path), host, repository, path)
        if found is not None:
            return found
    return Credentials()


def check_one_registry(hosts: list, username: str | None = None, password: str | None = None,
                       identity_token: str | None = None, what: str = "username/password (or identity_token)",
                       named: str = "the terms name %d", advice: str | None = None) -> None:
    """Plain credentials name no registry: refuse them when several registries are asked.

    The one check for the lookup's terms and a copy's or sync's sides: ``what`` names the
    credentials, ``named`` (with ``%d``) where the registries come from, ``advice`` the way out.
    """
    if not plain_credentials(username, password, identity_token):
        return
    names = []
    for host in hosts:
        name = normalise_host(host)
        if name not in names:
            names.append(name)
    if len(names) > 1:
        if advice is None:
            advice = ("Give each registry its own credentials with auths (drc_registry_auths), keyed "
                      "by registry host, for example {'%s': {'username': ..., 'password': ...}}"
                      % names[0])
        raise CredentialError("%s are for one registry, and %s: %s. %s"
                              % (what, named % len(names), ", ".join(names), advice))


def resolve_each(references: list, options: dict, environ: dict | None = None) -> list:
    """Credentials for each ImageReference (host and namespace of each term), plain ones bound.

    ``options`` holds ``username``, ``password``, ``identity_token`` and ``auths``.
    """
    plain = dict(username=options.get("username"), password=options.get("password"),
                 identity_token=options.get("identity_token"))
    check_one_registry([reference.registry for reference in references], **plain)
    helper_cache: dict = {}
    return [resolve(reference.registry, reference.repository, environ=environ,
                    auths=options.get("auths"), helper_cache=helper_cache, **plain)
            for reference in references]


def _docker_config_paths(environ) -> list:
    base = environ.get("DOCKER_CONFIG") or os.path.join(environ.get("HOME") or os.path.expanduser("~"),
                                                        ".docker")
    return [os.path.join(base, "config.json")]


def _auth_json_paths(environ) -> list:
    paths = []
    if environ.get("REGISTRY_AUTH_FILE"):
        paths.append(environ["REGISTRY_AUTH_FILE"])
    if environ.get("XDG_RUNTIME_DIR"):
        paths.append(os.path.join(environ["XDG_RUNTIME_DIR"], "containers", "auth.json"))
    home = environ.get("HOME") or os.path.expanduser("~")
    paths.append(os.path.join(home, ".config", "containers", "auth.json"))
    return paths


def _load_json(path: str) -> dict:
    try:
        with open(path, "rb") as handle:
            data = parse_json(handle.read())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise CredentialError("cannot read credentials file %s: %s" % (path, exc))
    return data if isinstance(data, dict) else {}


def _from_docker_config(path: str, host: str, repository: str | None, environ,
                        helper_cache: dict | None = None) -> Credentials | None:
    config = _load_json(path)
    if not config:
        return None
    helpers = config.get("credHelpers") or {}
    for key, helper in helpers.items():
        if _key_matches(key, host, None) and helper:
            return _cached_helper(helper_cache, helper, key, environ)
    found = _from_auths(config, host, repository, path)
    if found is not None:
        return found
    if config.get("credsStore"):
        server = DOCKER_HUB_KEYS[0] if host == "docker.io" else host
        return _cached_helper(helper_cache, config["credsStore"], server, environ, missing_ok=True)
    return None


def _from_auths(config: dict, host: str, repository: str | None, path: str) -> Credentials | None:
    best, best_score = None, 0
    for key, entry in (config.get("auths") or {}).items():
        score = _key_matches(key, host, repository)
        if score > best_score and isinstance(entry, dict):
            best, best_score = entry, score
    if best is None:
        return None
    source = "file %s" % path
    if best.get("identitytoken"):
        return Credentials(best.get("username"), None, best["identitytoken"], source)
    if best.get("auth"):
        try:
            decoded = base64.b64decode(best["auth"]).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise CredentialError("the 'auth' entry for %s in %s is not base64 of user:password"
                                  % (host, path))
        user, sep, secret = decoded.partition(":")
        if not sep:
            raise CredentialError("the 'auth' entry for %s in %s is not base64 of user:password"
                                  % (host, path))
        return Credentials(user, secret, None, source)
    if best.get("username") is not None and best.get("password") is not None:
        return Credentials(best["username"], best["password"], None, source)
    return None


def _cached_helper(cache: dict | None, helper: str, server: str, environ,
                   missing_ok: bool = False) -> Credentials | None:
    """One helper run per (helper, server) for all the terms of a lookup."""
    if cache is None:
        return run_helper(helper, server, environ, missing_ok)
    if (helper, server) not in cache:
        cache[(helper, server)] = run_helper(helper, server, environ, missing_ok)
    return cache[(helper, server)]


def run_helper(helper: str, server: str, environ, missing_ok: bool = False) -> Credentials | None:
    """Ask ``docker-credential-<helper> get`` for a server's credentials."""
    program = "docker-credential-" + helper
    try:
        # Not AnsibleModule.run_command: the lookup runs this on the controller, where there is no
        # AnsibleModule, and run_command has no timeout (a helper that never answers must not hang).
        # pylint: disable-next=ansible-bad-function
        done = subprocess.run([program, "get"], input=server.encode("utf-8"), capture_output=True,
                              timeout=HELPER_TIMEOUT, env=dict(environ), check=False)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise CredentialError("credential helper %s is configured for %s but is not on PATH"
                              % (program, server))
    except subprocess.TimeoutExpired:
        raise CredentialError("credential helper %s did not answer within %d seconds"
                              % (program, HELPER_TIMEOUT))
    if done.returncode != 0:
        if missing_ok or b"credentials not found" in done.stdout.lower() + done.stderr.lower():
            return None
        raise CredentialError("credential helper %s failed for %s (exit %d)"
                              % (program, server, done.returncode))
    try:
        answer = parse_json(done.stdout)
        user, secret = answer["Username"], answer["Secret"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise CredentialError("credential helper %s returned something that is not "
                              "{\"Username\", \"Secret\"} JSON" % program)
    source = "helper %s" % program
    if user == "<token>":
        return Credentials(None, None, secret, source)
    return Credentials(user, secret, None, source)
