# Private to the drc.registry collection: no compatibility promise for other collections.
"""One registry's entry in a Docker ``config.json`` or containers ``auth.json``: read, set,
remove, shown without secrets, written atomically with mode 0600.

Both files hold ``{"auths": {"<key>": {"auth": base64("user:password")}}}`` beside other keys,
which are kept as they are. Keys are matched as credentials.py matches them when reading: every
spelling of a host (``https://index.docker.io/v1/``, ``docker.io`` ...) names it.
"""

from __future__ import annotations

import base64
import copy
import json
import os

from ansible_collections.drc.registry.plugins.module_utils._registry.credentials import (
    CredentialError, auths_key)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    InputError, RegistryError)
from ansible_collections.drc.registry.plugins.module_utils._registry.atomic_write import (
    write_file_atomically)
from ansible_collections.drc.registry.plugins.module_utils._registry.json_input import parse_json

# Docker's own spelling of Docker Hub, the only one the Docker CLI reads; podman and skopeo read it
# too, and write docker.io.
DOCKER_HUB_KEY = "https://index.docker.io/v1/"
MAX_AUTH_FILE = 4 * 1024 * 1024
HIDDEN = "********"
SECRET_FIELDS = ("auth", "password", "identitytoken", "registrytoken")


def load(path: str) -> dict:
    """The file's JSON object; {} when there is no file. Errors name the file, never its content."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_AUTH_FILE + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InputError("config_path %s cannot be read: %s" % (path, exc.strerror or exc))
    if len(raw) > MAX_AUTH_FILE:
        raise InputError("config_path %s is more than %d bytes: not a credentials file"
                         % (path, MAX_AUTH_FILE))
    if not raw.strip():
        return {}
    try:
        data = parse_json(raw)
    except (ValueError, UnicodeDecodeError):
        raise InputError("config_path %s is not JSON: it is left as it is" % path)
    if not isinstance(data, dict) or not isinstance(data.get("auths", {}), dict):
        raise InputError("config_path %s is not a Docker config.json or containers auth.json "
                         "(a JSON object whose auths is an object): it is left as it is" % path)
    return data


def host_keys(config: dict, host: str) -> list:
    """The ``auths`` keys that name ``host`` itself (not a namespace under it), in file order."""
    keys = []
    for key in (config.get("auths") or {}):
        try:
            if auths_key(key) == host:
                keys.append(key)
        except CredentialError:
            continue  # a key we cannot read names no registry of ours
    return keys


def entry_for(credentials) -> dict:
    """The entry Docker writes for credentials: ``auth`` (and ``identitytoken``)."""
    if credentials.identity_token:
        user = credentials.username or ""
        return {"auth": base64.b64encode(("%s:" % user).encode("utf-8")).decode("ascii"),
                "identitytoken": credentials.identity_token}
    if credentials.username is None or credentials.password is None:
        raise InputError("there are no credentials to store: give username and password (or "
                         "identity_token)")
    if ":" in credentials.username:
        raise InputError("the username must not contain ':' to be stored in config_path")
    raw = "%s:%s" % (credentials.username, credentials.password)
    return {"auth": base64.b64encode(raw.encode("utf-8")).decode("ascii")}


def with_entry(config: dict, path: str, host: str, entry: dict) -> tuple:
    """(new config, key): ``entry`` for ``host``, under the key the file already spells it with
    (the first), or Docker's spelling; other spellings of the same host are dropped."""
    new = copy.deepcopy(config)
    auths = new.setdefault("auths", {})
    existing = host_keys(config, host)
    if existing:
        key = existing[0]
    elif host == "docker.io" and os.path.basename(path) == "config.json":
        key = DOCKER_HUB_KEY
    else:
        key = host
    for other in existing[1:]:
        del auths[other]
    auths[key] = entry
    return new, key


def without_entry(config: dict, host: str) -> tuple:
    """(new config, removed keys): every key naming ``host`` removed."""
    keys = host_keys(config, host)
    new = copy.deepcopy(config)
    for key in keys:
        del new["auths"][key]
    return new, keys


def helper_for(config: dict, host: str) -> str | None:
    """The credential helper that Docker (and we) would ask instead of the file's entry."""
    for key, helper in (config.get("credHelpers") or {}).items():
        try:
            if auths_key(key) == host and helper:
                return "credHelpers (docker-credential-%s)" % helper
        except CredentialError:
            continue
    return None


def masked(config: dict) -> dict:
    """The config with every secret replaced: what a diff may show."""
    shown = copy.deepcopy(config)
    for entry in (shown.get("auths") or {}).values():
        if isinstance(entry, dict):
            for field in SECRET_FIELDS:
                if field in entry:
                    entry[field] = HIDDEN
    return shown


def diff(before: dict, after: dict, path: str, key: str | None) -> dict:
    """A diff without secrets; a changed secret of ``key`` is marked as changed, not shown."""
    before_shown, after_shown = masked(before), masked(after)
    if key:
        old = (before.get("auths") or {}).get(key)
        new = (after.get("auths") or {}).get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            for field in SECRET_FIELDS:
                if field in new and old.get(field) != new[field]:
                    after_shown["auths"][key][field] = HIDDEN + " (changed)"
    return {"before": json.dumps(before_shown, indent=2, sort_keys=True) + "\n" if before else "",
            "after": json.dumps(after_shown, indent=2, sort_keys=True) + "\n",
            "before_header": path, "after_header": path}


def save(path: str, config: dict) -> None:
    """Write the config atomically with mode 0600, creating a missing directory (mode 0700)."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise RegistryError("cannot create the directory %s of config_path: %s"
                            % (directory, exc.strerror or exc))
    write_file_atomically(path, (json.dumps(config, indent="\t") + "\n").encode("utf-8"), 0o600)
