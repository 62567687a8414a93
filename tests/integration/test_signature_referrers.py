"""Signatures stored as OCI 1.1 referrers (issues 27/28 wired together): a skopeo-signed fixture's
``.sig`` manifest re-stored as a referrer of its image (``artifactType`` cosign's signature type,
``subject`` the image, no ``.sig`` tag) verifies through registry_signature_verify — on the
in-process referrers API server (tests/testbed/referrers_server.py: no installable registry has
the API) and as a fallback-tag referrer on the real test-bed registry. A referrer that is not a
signature is ignored, and the number of signature manifests read is bounded."""

from __future__ import annotations

import json
import os

import pytest

from tests.integration.ansible_runner import run_playbook
from tests.integration.conftest import connection, ref
from tests.testbed.artifacts import SBOM_TYPE, ArtifactPusher, artifact
from tests.testbed.referrers_server import ReferrersRegistry
from tests.testbed.signed_fixtures import REF_NAME, _Case, _push_manifest, fixtures_dir

VERIFY = "drc.registry.registry_signature_verify"
SIG_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json"
SIGNED_PREFIX = "registry.example/fx"


def key(name: str) -> str:
    return os.path.join(fixtures_dir(), "keys", "%s.pub" % name)


def fixture(name: str = "signed-image"):
    """(the case, the image's entry, the .sig manifest's bytes)."""
    case = _Case(os.path.join(fixtures_dir(), name))
    image = next(e for e in case.entries if (e.get("annotations") or {}).get(REF_NAME) == "1")
    sig = next(e for e in case.entries if (e.get("annotations") or {}).get(REF_NAME, "").endswith(".sig"))
    return case, image, case.blob(sig["digest"])


def as_referrer(sig_raw: bytes, image: dict, artifact_type: str = SIG_TYPE, label: str = "") -> bytes:
    body = json.loads(sig_raw)
    body["artifactType"] = artifact_type
    body["subject"] = {"mediaType": image["mediaType"], "digest": image["digest"], "size": image["size"]}
    if label:
        body["annotations"] = {"label": label}
    return json.dumps(body, sort_keys=True).encode()


def seed_server(server: ReferrersRegistry, signatures: int, sbom: bool, other_type: bool) -> None:
    case, image, sig_raw = fixture()
    for name in os.listdir(os.path.join(case.path, "blobs", "sha256")):
        server.put_blob(case.blob("sha256:" + name))
    server.put_raw("fx/signed-image", case.blob(image["digest"]), tag="1")
    for number in range(signatures):
        server.put_raw("fx/signed-image", as_referrer(sig_raw, image, label=str(number) if number else ""))
    if other_type:  # simple-signing layers, but declared as another artifact type: not a signature
        server.put_raw("fx/signed-image", as_referrer(sig_raw, image, "application/vnd.example.other"))
    if sbom:
        raw, blobs = artifact(SBOM_TYPE, b'{"spdxVersion":"SPDX-2.3"}', SBOM_TYPE, image, "sbom")
        for data in blobs.values():
            server.put_blob(data)
        server.put_raw("fx/signed-image", raw)


@pytest.fixture(scope="module")
def bed(testbed, tmp_path_factory):
    servers = {"api": ReferrersRegistry(), "notsig": ReferrersRegistry(), "many": ReferrersRegistry(page_size=100)}
    for server in servers.values():
        server.start()
    seed_server(servers["api"], 1, sbom=True, other_type=False)
    seed_server(servers["notsig"], 0, sbom=True, other_type=True)
    seed_server(servers["many"], 65, sbom=False, other_type=False)
    # the real registry (Distribution 2.8, no API): the image, then the signature as a fallback-tag referrer
    registry = testbed.registries["token"]
    case, image, sig_raw = fixture()
    pusher = ArtifactPusher(testbed, registry, "fxref/signed-image")
    _push_manifest(case, pusher, image["digest"], image["mediaType"], "1", {})
    referrer = as_referrer(sig_raw, image)
    body = json.loads(referrer)
    blobs = {d["digest"]: case.blob(d["digest"]) for d in [body["config"]] + body["layers"]}
    pusher.push_referrer(referrer, blobs)
    sbom_raw, sbom_blobs = artifact(SBOM_TYPE, b'{"spdxVersion":"SPDX-2.3"}', SBOM_TYPE, image, "sbom")
    pusher.push_referrer(sbom_raw, sbom_blobs)
    conn = connection(testbed, registry)

    def task(name: str, reference: str, prefix: str, **options) -> dict:
        return {VERIFY: dict(reference=reference, keys=[key("key-a")], signed_prefix=SIGNED_PREFIX,
                             prefix=prefix, **options), "register": name, "ignore_errors": True}

    tasks = [task(name, "%s/fx/signed-image:1" % server.host, "%s/fx" % server.host)
             for name, server in servers.items()]
    tasks.append(task("fallback", ref(registry, "fxref/signed-image:1"), "%s/fxref" % registry.host, **conn))
    run = run_playbook(tasks, str(tmp_path_factory.mktemp("signature-referrers")))
    for server in servers.values():
        server.stop()
    assert "Traceback" not in run.output, run.output
    return {"run": run, "image": image["digest"]}


def result(bed, name: str) -> dict:
    assert name in bed["run"].results, bed["run"].output
    return bed["run"].results[name]


def test_a_signature_listed_by_the_referrers_api_verifies(bed):
    verified = result(bed, "api")
    assert not verified.get("failed"), verified
    assert verified["digest"] == bed["image"]
    assert [s["source"] for s in verified["signatures"]] == ["api"]
    assert verified["signatures"][0]["identity"] == "registry.example/fx/signed-image:1"


def test_a_signature_in_the_fallback_tag_index_verifies_on_the_real_registry(bed):
    verified = result(bed, "fallback")
    assert not verified.get("failed"), verified
    assert verified["digest"] == bed["image"]
    # the SBOM beside it is not read as a signature: one verified signature, from the fallback index
    assert [s["source"] for s in verified["signatures"]] == ["fallback_tag"]


def test_referrers_that_are_not_signatures_are_ignored(bed):
    refused = result(bed, "notsig")
    assert refused.get("failed") and "no signatures exist" in refused["msg"], refused


def test_signature_manifests_are_bounded(bed):
    refused = result(bed, "many")
    assert refused.get("failed") and "65 signature manifests, more than the 64 allowed" in refused["msg"], refused
