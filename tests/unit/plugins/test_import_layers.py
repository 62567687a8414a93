"""The import rules of docs/architecture.md, read from the source (ast) of every file in plugins/.

- Layers, bottom up: grammar < http < registry < stores < services < v1 < adapters. No file
  imports from a layer above its own. Every file under ``module_utils/_registry/`` is placed here:
  a new one fails this test until it is (``adapters/`` and ``stores/`` place their files).
- The plugins (modules, lookup, filter) never reach the HTTP layer (transport, proxies, hosts,
  credentials, auth, auth files) nor ``connection.py``: connections and credentials come through
  ``adapters/``. They may call the operations of the other layers directly (one module, one
  service: a forwarding file per module in adapters/ would be code with no concern of its own).
- Only ``adapters/`` (and the plugins themselves) import Ansible; ``AnsibleModule`` and
  ``ansible.module_utils.basic`` only there and in the modules.
"""

from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "plugins")
ROOT = os.path.normpath(ROOT)
PACKAGE = "ansible_collections.drc.registry.plugins."
UTILS = "module_utils/_registry/"

LAYERS = ("grammar", "http", "registry", "stores", "services", "v1", "adapters")

PLACED = {
    "grammar": (
        "reference", "media_types", "digests", "platforms", "manifest", "errors", "tag_selection",
        "version", "json_input",
        # standard library only, so that every layer may write local files through it
        "atomic_write",
    ),
    "http": ("transport", "proxies", "hosts", "credentials", "auth", "auth_file"),
    "registry": ("connection", "throttle", "tags", "catalog", "manifests", "blobs", "uploads",
                 "blob_sources", "deletion", "layer_bags"),
    "stores": ("oci_layout", "docker_archive", "referrers", "blob_cache"),
    "services": (
        "images", "digest_batch", "tagging", "copy", "copy_list", "oci_format", "referrer_copy",
        "sync", "sync_rules", "retention", "retention_plan", "retention_rules", "login",
        "signing_keys", "signatures", "signature_verify", "signing",
        "image_fs", "image_tree", "layer_archive", "extract_dest", "extract_options",
    ),
    "v1": ("v1", "v1_results"),
    # sync_task.py turns registry_sync's task options into connections (adapters' options and
    # copy options): an adapter, to move into adapters/ with the next change of sync.
    "adapters": ("sync_task",),
}
# Directories whose files take the layer of the directory.
PLACED_DIRS = {"adapters": "adapters", "stores": "stores"}
# What the plugins may not import: connections and credentials come through adapters/.
PLUGIN_FORBIDDEN = set(PLACED["http"]) | {"connection"}


def _python_files():
    for directory, dummy, names in os.walk(ROOT):
        for name in sorted(names):
            if name.endswith(".py"):
                yield os.path.relpath(os.path.join(directory, name), ROOT).replace(os.sep, "/")


def layer_of(path: str) -> str | None:
    """The layer of a file under plugins/ (``module_utils/_registry/x.py`` -> its layer)."""
    if path.startswith("plugin_utils/"):
        return "adapters"  # the lookup's adapter
    if not path.startswith(UTILS):
        return None
    name = path[len(UTILS):-len(".py")]
    if "/" in name:
        return PLACED_DIRS.get(name.split("/", 1)[0])
    for layer, names in PLACED.items():
        if name in names:
            return layer
    return None


def _resolve(module: str) -> list:
    """The files under plugins/ a dotted module path may name (a module, or a package's files)."""
    if not module.startswith(PACKAGE):
        return []
    path = module[len(PACKAGE):].replace(".", "/")
    if os.path.isfile(os.path.join(ROOT, path + ".py")):
        return [path + ".py"]
    if os.path.isdir(os.path.join(ROOT, path)):
        return [path + "/"]
    raise AssertionError("an import of %s names no file under plugins/" % module)


def imports_of(path: str) -> list:
    """(line, imported file or module name) for every import in a file, nested ones included."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.extend((node.lineno, target) for target in _resolve(alias.name) or [alias.name])
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, "%s:%d: relative import" % (path, node.lineno)
            module = node.module or ""
            targets = _resolve(module)
            if targets and targets[0].endswith("/"):  # from a package: each name is a submodule
                package = targets[0]
                targets = [package + alias.name + ".py" for alias in node.names]
                missing = [t for t in targets if not os.path.isfile(os.path.join(ROOT, t))]
                assert not missing, "%s:%d: %s" % (path, node.lineno, missing)
            found.extend((node.lineno, target) for target in targets or [module])
    return found


FILES = list(_python_files())
UTIL_FILES = [path for path in FILES if path.startswith(UTILS) or path.startswith("plugin_utils/")]
PLUGIN_FILES = [path for path in FILES if path.split("/", 1)[0] in ("modules", "lookup", "filter")]


def test_the_check_sees_the_tree():
    assert len(UTIL_FILES) > 40 and len(PLUGIN_FILES) > 10
    assert (6, UTILS + "auth.py") in imports_of(UTILS + "catalog.py")


@pytest.mark.parametrize("path", UTIL_FILES)
def test_every_file_has_a_layer(path):
    assert layer_of(path) is not None, (
        "%s has no layer: place it in tests/unit/plugins/test_import_layers.py (PLACED) and in "
        "docs/architecture.md" % path)


@pytest.mark.parametrize("path", UTIL_FILES)
def test_no_file_imports_from_a_layer_above_its_own(path):
    own = LAYERS.index(layer_of(path) or "adapters")
    above = []
    for line, target in imports_of(path):
        if target.endswith(".py") and target != path:
            theirs = layer_of(target)
            if theirs is None or LAYERS.index(theirs) > own:
                above.append("line %d: %s (%s)" % (line, target, theirs))
    assert not above, "%s (%s) imports from above: %s" % (path, LAYERS[own], "; ".join(above))


@pytest.mark.parametrize("path", PLUGIN_FILES)
def test_plugins_reach_connections_and_credentials_only_through_the_adapters(path):
    reached = ["line %d: %s" % (line, target) for line, target in imports_of(path)
               if target.startswith(UTILS) and target[len(UTILS):-3] in PLUGIN_FORBIDDEN]
    assert not reached, "%s imports below the adapters: %s" % (path, "; ".join(reached))


@pytest.mark.parametrize("path", UTIL_FILES)
def test_only_the_adapters_import_ansible(path):
    ansible = ["line %d: %s" % (line, target) for line, target in imports_of(path)
               if target == "ansible" or target.startswith("ansible.")]
    if layer_of(path) == "adapters":
        return
    assert not ansible, "%s imports Ansible outside adapters/: %s" % (path, "; ".join(ansible))


@pytest.mark.parametrize("path", PLUGIN_FILES)
def test_ansible_module_only_in_modules(path):
    basic = [line for line, target in imports_of(path) if target == "ansible.module_utils.basic"]
    assert not basic or path.startswith("modules/"), (path, basic)


def test_the_map_names_only_files_that_exist():
    """A file moved or removed leaves the map too (so the map, and the documentation that follows
    it, stays true)."""
    gone = [name for names in PLACED.values() for name in names
            if not os.path.isfile(os.path.join(ROOT, UTILS + name + ".py"))]
    assert not gone, gone
