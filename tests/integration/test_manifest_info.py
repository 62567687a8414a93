"""registry_manifest_info against real registries, digests compared with skopeo's."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.integration.ansible_runner import run_module, run_playbook
from tests.integration.conftest import connection, ref

MODULE = "drc.registry.registry_manifest_info"
PLATFORMS = {"linux/amd64": ("amd64", None), "linux/arm64/v8": ("arm64", "v8"), "linux/arm/v7": ("arm", "v7")}
KINDS = {
    "app/docker:1.0": "application/vnd.docker.distribution.manifest.v2+json",
    "app/oci:1.0": "application/vnd.oci.image.manifest.v1+json",
    "app/multi:oci": "application/vnd.oci.image.index.v1+json",
    "app/multi:docker": "application/vnd.docker.distribution.manifest.list.v2+json",
}


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def skopeo_child(testbed, registry, image: str, platform: str) -> str:
    """The child digest for a platform, read from skopeo's raw copy of the index."""
    arch, variant = PLATFORMS[platform]
    index = json.loads(testbed.skopeo_raw_manifest(registry, image))
    for entry in index["manifests"]:
        p = entry["platform"]
        if p["architecture"] == arch and p.get("variant") == variant:
            return entry["digest"]
    raise AssertionError("skopeo shows no %s in %s" % (platform, image))


def describe(testbed, registry, workdir: str) -> dict:
    """One playbook for a registry: every kind, every platform, and the failures."""
    conn = connection(testbed, registry)
    tasks = []
    for i, image in enumerate(KINDS):
        tasks.append({MODULE: dict(reference=ref(registry, image), config=True, **conn),
                      "register": "kind_%d" % i})
    for image in ("app/multi:oci", "app/multi:docker"):
        for j, platform in enumerate(PLATFORMS):
            tasks.append({MODULE: dict(reference=ref(registry, image), platform=platform, config=True,
                                       **conn), "register": "plat_%s_%d" % (image[-3:], j)})
    failures = {
        "unknown_tag": dict(reference=ref(registry, "app/oci:nope")),
        "unknown_repo": dict(reference=ref(registry, "app/nothing:1")),
        "missing_platform": dict(reference=ref(registry, "app/multi:oci"), platform="linux/s390x"),
        "wrong_single_platform": dict(reference=ref(registry, "app/oci:1.0"), platform="linux/arm64"),
        "unknown_digest": dict(reference=ref(registry, "app/oci@sha256:" + "0" * 64)),
        "bad_platform": dict(reference=ref(registry, "app/oci:1.0"), platform="linux"),
        "bad_reference": dict(reference="Bad:Ref"),
    }
    for name, args in failures.items():
        tasks.append({MODULE: dict(args, **conn), "register": name, "ignore_errors": True})
    run = run_playbook(tasks, workdir)
    assert run.rc == 0, run.output
    return run.results


class Described(dict):
    """The playbook of each registry, run the first time a test asks for that registry (the smoke
    run on the oldest ansible-core asks for one only)."""

    def __init__(self, testbed, tmp_path_factory) -> None:
        super().__init__()
        self.testbed = testbed
        self.tmp_path_factory = tmp_path_factory

    def __missing__(self, mode: str) -> dict:
        self[mode] = describe(self.testbed, self.testbed.registries[mode], str(self.tmp_path_factory.mktemp(mode)))
        return self[mode]


@pytest.fixture(scope="module")
def described(testbed, tmp_path_factory):
    return Described(testbed, tmp_path_factory)


@pytest.mark.parametrize("mode", ["open", "basic", "token"])
def test_digests_equal_skopeo(testbed, described, mode):
    registry = testbed.registries[mode]
    for i, (image, media_type) in enumerate(KINDS.items()):
        result = described[mode]["kind_%d" % i]
        raw = testbed.skopeo_raw_manifest(registry, image)
        assert result["digest"] == sha256(raw), image
        assert result["media_type"] == media_type
        assert result["size"] == len(raw)
        assert result["manifest"] == json.loads(raw)
        repo = image.split(":")[0]
        assert result["pinned"] == "%s/%s@%s" % (registry.host, repo, sha256(raw))
        assert result["reference"] == "%s/%s" % (registry.host, image)
        assert result["changed"] is False


@pytest.mark.parametrize("mode", ["open", "basic", "token"])
def test_index_lists_platforms(testbed, described, mode):
    for i, image in enumerate(KINDS):
        result = described[mode]["kind_%d" % i]
        if "multi" not in image:
            assert "platforms" not in result
            assert result["config"]["architecture"] == "amd64"
            assert result["config"]["config"]["Labels"] == {"org.example.image": "single"}
            continue
        platforms = sorted("%s/%s/%s" % (p["platform"]["os"], p["platform"]["architecture"],
                                         p["platform"]["variant"]) for p in result["platforms"])
        assert platforms == ["linux/amd64/None", "linux/arm/v7", "linux/arm64/v8"]
        assert "config" not in result  # an index has no config


@pytest.mark.parametrize("mode", ["open", "basic", "token"])
def test_platform_children_equal_skopeo(testbed, described, mode):
    registry = testbed.registries[mode]
    for image in ("app/multi:oci", "app/multi:docker"):
        index_digest = sha256(testbed.skopeo_raw_manifest(registry, image))
        for j, platform in enumerate(PLATFORMS):
            result = described[mode]["plat_%s_%d" % (image[-3:], j)]
            child = skopeo_child(testbed, registry, image, platform)
            assert result["digest"] == child, (image, platform)
            assert result["index_digest"] == index_digest
            raw_child = testbed.skopeo_raw_manifest(registry, "app/multi@" + child)
            assert sha256(raw_child) == child
            assert result["config"]["architecture"] == PLATFORMS[platform][0]
            assert result["config"]["config"]["Labels"]["org.example.image"] == "multi-" + PLATFORMS[platform][0]


@pytest.mark.parametrize("mode", ["open", "basic", "token"])
@pytest.mark.parametrize("name", ["unknown_tag", "unknown_repo", "unknown_digest"])
def test_absence_is_an_answer(described, mode, name):
    """A manifest or repository the registry does not have: exists is false, not a failure."""
    result = described[mode][name]
    assert result.get("failed") is not True, result
    assert result["exists"] is False and "digest" not in result


@pytest.mark.parametrize("mode", ["open", "basic", "token"])
@pytest.mark.parametrize("name, expected", [
    ("missing_platform", ["linux/s390x", "available: linux/amd64, linux/arm/v7, linux/arm64/v8"]),
    ("wrong_single_platform", ["platform linux/arm64 is not available", "single-platform image for linux/amd64"]),
    ("bad_platform", ["invalid platform 'linux'"]),
    ("bad_reference", ["'Bad:Ref'", "lowercase"]),
])
def test_failures_are_clear(described, mode, name, expected):
    result = described[mode][name]
    assert result["failed"] is True
    for fragment in expected:
        assert fragment in result["msg"], result["msg"]
    assert "Traceback" not in json.dumps(result)


def test_ad_hoc_platform_child_with_config_equals_skopeo(testbed):
    """One ad-hoc command, as users run it: a platform's child of an index on the token registry,
    with its config (the smoke subset that every other ansible-core and managed-host Python runs:
    one module run, where the playbooks above have 17)."""
    registry = testbed.registries["token"]
    run = run_module(MODULE, dict(reference=ref(registry, "app/multi:oci"), platform="linux/arm64/v8",
                                  config=True, **connection(testbed, registry)))
    assert run.rc == 0, run.output
    result = run.result
    child = skopeo_child(testbed, registry, "app/multi:oci", "linux/arm64/v8")
    raw_child = testbed.skopeo_raw_manifest(registry, "app/multi@" + child)
    assert result["digest"] == child == sha256(raw_child)
    assert result["manifest"] == json.loads(raw_child)
    assert result["index_digest"] == sha256(testbed.skopeo_raw_manifest(registry, "app/multi:oci"))
    assert result["pinned"] == "%s/app/multi@%s" % (registry.host, child)
    assert result["config"] == json.loads(testbed.skopeo_raw_manifest(registry, "app/multi@" + child, "--config"))
    assert result["changed"] is False
