# Private to the drc.registry collection: no compatibility promise for other collections.
"""Where credentials come from: task options, environment, Docker config.json, podman auth.json.

First source found wins. Nothing here logs a secret.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess

ENV_USERNAME = "DRC_REGISTRY_USERNAME"
ENV_PASSWORD = "DRC_REGISTRY_PASSWORD"

DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io",
                   "registry-1.docker.io", "https://registry-1.docker.io")
HELPER_TIMEOUT = 30


class CredentialError(Exception):
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


def normalise_host(key: str) -> str:
    """``https://index.docker.io/v1/`` -> ``docker.io``; ``http://myreg:5000/`` -> ``myreg:5000``."""
    host = key.split("://", 1)[-1].split("/", 1)[0].lower()
    return "docker.io" if host in ("index.docker.io", "registry-1.docker.io") else host


def _key_matches(key: str, host: str, repository: str | None) -> int:
    """How well an auths key matches: 0 none, 1 host, 2+ host/namespace (podman style)."""
    bare = key.split("://", 1)[-1].rstrip("/")
    if bare.endswith("/v1") or bare.endswith("/v2"):
        bare = bare[:-3]
    key_host, dummy, key_path = bare.partition("/")
    if normalise_host(key_host) != host:
        return 0
    if not key_path:
        return 1
    if repository and (repository == key_path or repository.startswith(key_path + "/")):
        return 1 + key_path.count("/") + 1
    return 0


def resolve(host: str, repository: str | None = None, username: str | None = None,
            password: str | None = None, identity_token: str | None = None,
            environ: dict | None = None) -> Credentials:
    """Find credentials for a registry host (``docker.io``, ``myreg:5000``)."""
    environ = os.environ if environ is None else environ
    host = normalise_host(host)
    if identity_token:
        return Credentials(username, None, identity_token, "options")
    if username is not None or password is not None:
        return Credentials(username, password, None, "options")
    if environ.get(ENV_USERNAME) or environ.get(ENV_PASSWORD):
        return Credentials(environ.get(ENV_USERNAME), environ.get(ENV_PASSWORD), None, "environment")
    for path in _docker_config_paths(environ):
        found = _from_docker_config(path, host, repository, environ)
        if found is not None:
            return found
    for path in _auth_json_paths(environ):
        found = _from_auths(_load_json(path), host, repository, path)
        if found is not None:
            return found
    return Credentials()


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
            data = json.loads(handle.read().decode("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise CredentialError("cannot read credentials file %s: %s" % (path, exc))
    return data if isinstance(data, dict) else {}


def _from_docker_config(path: str, host: str, repository: str | None, environ) -> Credentials | None:
    config = _load_json(path)
    if not config:
        return None
    helpers = config.get("credHelpers") or {}
    for key, helper in helpers.items():
        if _key_matches(key, host, None) and helper:
            return run_helper(helper, key, environ)
    found = _from_auths(config, host, repository, path)
    if found is not None:
        return found
    if config.get("credsStore"):
        server = DOCKER_HUB_KEYS[0] if host == "docker.io" else host
        return run_helper(config["credsStore"], server, environ, missing_ok=True)
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


def run_helper(helper: str, server: str, environ, missing_ok: bool = False) -> Credentials | None:
    """Ask ``docker-credential-<helper> get`` for a server's credentials."""
    program = "docker-credential-" + helper
    try:
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
        answer = json.loads(done.stdout.decode("utf-8"))
        user, secret = answer["Username"], answer["Secret"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise CredentialError("credential helper %s returned something that is not "
                              "{\"Username\", \"Secret\"} JSON" % program)
    source = "helper %s" % program
    if user == "<token>":
        return Credentials(None, None, secret, source)
    return Credentials(user, secret, None, source)
