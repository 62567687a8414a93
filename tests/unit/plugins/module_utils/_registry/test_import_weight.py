"""What each entry point imports when it loads: code a run does not need is not compiled.

Ansible loads collection code from source on every run (a module's payload from a zip, the
lookup through the collection loader), so every file imported costs its compile time each time.
Checked in a fresh interpreter, on what the import itself pulls in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PREFIX = "ansible_collections.drc.registry.plugins."
UTILS = PREFIX + "module_utils._registry."
# Write-side, copy and legacy code: no read module or the lookup needs it to start.
HEAVY = ("uploads", "copy", "copy_list", "adapters.copy_options", "oci_layout", "blob_sources", "v1",
         "adapters.downloads", "atomic_write",
         "deletion", "tagging")


def loaded_after_import(*names: str) -> set:
    code = ("import importlib, json, sys\n"
            "for name in %r: importlib.import_module(name)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith(%r))))" % (names, UTILS))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ),
                          check=True)
    return {name[len(UTILS):] for name in json.loads(done.stdout)}


@pytest.mark.parametrize("module", ["registry_tags_info", "registry_catalog_info", "registry_tag",
                                    "registry_manifest_info", "registry_search_info"])
def test_read_modules_leave_write_and_legacy_code_alone(module):
    loaded = loaded_after_import(PREFIX + "modules." + module)
    assert "connection" in loaded  # the check sees what the module imports
    assert not loaded & set(HEAVY) - ({"deletion", "tagging"} if module == "registry_tag" else set()), loaded


def test_tags_info_needs_no_manifest_or_blob_code():
    loaded = loaded_after_import(PREFIX + "modules.registry_tags_info")
    assert not loaded & {"manifest", "manifests", "platforms", "blobs", "images"}, loaded


def test_the_lookup_without_a_platform_loads_no_platform_or_blob_code():
    loaded = loaded_after_import(PREFIX + "lookup.registry_digest", UTILS + "digest_batch")
    assert {"digest_batch", "images", "manifests", "connection"} <= loaded
    assert not loaded & ({"manifest", "platforms", "blobs"} | set(HEAVY)), loaded


SIGNATURE_CODE = {"signatures", "signing_keys", "signature_verify", "signing"}


def test_signature_code_is_loaded_only_by_what_uses_it():
    """The lookup without verify_keys and registry_copy without sign_key load no signature code
    (nor cryptography); the verify module loads no write code."""
    assert not loaded_after_import(PREFIX + "lookup.registry_digest", UTILS + "digest_batch") & SIGNATURE_CODE
    assert not loaded_after_import(PREFIX + "modules.registry_copy") & SIGNATURE_CODE
    verify = loaded_after_import(PREFIX + "modules.registry_signature_verify")
    assert {"signatures", "signing_keys", "signature_verify"} <= verify
    assert not verify & (set(HEAVY) | {"signing"}), verify


# Copy code proper: what moves blobs, writes manifests and reads layouts, archives and referrers.
COPY_CODE = {"copy", "uploads", "blob_sources", "oci_layout", "docker_archive", "oci_format", "referrer_copy",
             "layer_bags", "referrers", "deletion"}


def test_registry_sync_loads_no_copy_code_until_an_image_is_copied():
    """A sync with nothing to do (one HEAD each side per tag) starts without the copy code; the
    first image to copy or convert loads it (sync.copy_module)."""
    loaded = loaded_after_import(PREFIX + "modules.registry_sync", UTILS + "sync_task")
    assert {"sync", "sync_task", "manifests", "tags", "throttle"} <= loaded
    assert not loaded & (COPY_CODE | SIGNATURE_CODE), loaded
