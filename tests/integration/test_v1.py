"""The legacy v1 API through the modules, against the scripted v1 index + registry pair.

No maintained v1 registry can be installed; tests/testbed/v1server.py follows the published v1
API documentation (see docs/v1.md).
"""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

from tests.integration.ansible_runner import run_module
from tests.testbed.hostile import HostileServer
from tests.testbed.v1server import PASSWORD, USERNAME, V1Pair


@pytest.fixture(scope="module")
def pair():
    with V1Pair() as bed:
        yield bed


@pytest.fixture
def bed(pair):
    pair.log.clear()
    pair.corrupt.clear()
    return pair


def repo(bed, name="public/app", scheme="http://"):
    return "%s%s/%s" % (scheme, bed.index.host, name)


def paths(bed, role=None):
    return [r.path for r in bed.log if role is None or r.server == role]


# -- tags ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("api_version", ["v1", "auto"])
def test_tags_info(bed, api_version):
    run = run_module("drc.registry.registry_tags_info",
                     {"repository": repo(bed), "api_version": api_version})
    result = run.result
    assert run.rc == 0, run.output
    expected = {tag: image.id for tag, image in bed.repositories["public/app"].tags.items()}
    assert result["api_version"] == "v1"
    assert result["tags"] == list(expected)
    assert result["tag_ids"] == expected
    assert result["repository"] == "%s/public/app" % bed.index.host
    index_paths = paths(bed, "index")
    if api_version == "auto":
        assert index_paths[:2] == ["/v2/", "/v1/_ping"]
    else:
        assert "/v2/" not in index_paths
    assert "/v1/repositories/public/app/images" in index_paths
    assert paths(bed, "registry") == ["/v1/repositories/public/app/tags"]


def test_tags_info_match_and_sort_on_v1(bed):
    run = run_module("drc.registry.registry_tags_info",
                     {"repository": repo(bed), "match": r"^\d", "sort": "semver"})
    assert run.rc == 0, run.output
    assert run.result["tags"] == ["1.0", "2.0"]
    assert set(run.result["tag_ids"]) == {"1.0", "2.0"}


def test_auto_fallback_for_a_loopback_host_without_scheme(bed):
    """https fails, http /v2/ is a 404, /v1/_ping answers: v1."""
    run = run_module("drc.registry.registry_tags_info", {"repository": repo(bed, scheme="")})
    assert run.rc == 0, run.output
    assert run.result["api_version"] == "v1"
    assert run.result["registry"] == bed.index.url


@pytest.mark.parametrize("v2_status, message", [
    (200, None),  # v2 answers the ping, the repository is unknown there: exists false, no v1
    (503, "503 Service Unavailable: UNAVAILABLE"),  # v2 is there but failing
])
def test_auto_never_falls_back_when_v2_exists(v2_status, message):
    with V1Pair(v2=True, v2_status=v2_status) as bed:
        run = run_module("drc.registry.registry_tags_info", {"repository": repo(bed), "retries": 0})
        if message is None:
            assert run.rc == 0, run.output
            assert run.result["exists"] is False and run.result["api_version"] == "v2"
        else:
            assert run.rc != 0
            assert message in run.result["msg"], run.result["msg"]
        assert not [p for p in paths(bed) if p.startswith("/v1/")], bed.log


def test_auto_reports_the_v2_failure_when_v1_does_not_answer_either():
    """A server that answers 404 to everything is no registry: the v2 error is the one reported."""
    with HostileServer(lambda request: None) as server:
        run = run_module("drc.registry.registry_tags_info",
                         {"repository": "http://%s/public/app" % server.host})
        assert run.rc != 0
        assert "GET http://%s/v2/ failed: 404" % server.host in run.result["msg"], run.result["msg"]
        assert [r.path for r in server.requests] == ["/v2/", "/v1/_ping"]


def test_v2_option_does_not_try_v1(bed):
    run = run_module("drc.registry.registry_tags_info",
                     {"repository": repo(bed), "api_version": "v2"})
    assert run.rc != 0
    assert "GET %s/v2/ failed: 404" % bed.index.url in run.result["msg"]
    assert paths(bed) == ["/v2/"]


def test_unknown_repository(bed):
    run = run_module("drc.registry.registry_tags_info", {"repository": repo(bed, "public/none")})
    assert run.rc != 0
    assert "404 Not Found: Repository not found" in run.result["msg"]
    assert run.result["http_status"] == 404


# -- manifest_info ---------------------------------------------------------------------------------
def test_manifest_info_on_v1(bed):
    run = run_module("drc.registry.registry_manifest_info", {"reference": repo(bed) + ":2.0"})
    assert run.rc == 0, run.output
    result = run.result
    top = bed.repositories["public/app"].tags["2.0"]
    assert result["api_version"] == "v1"
    assert result["image_id"] == top.id
    assert result["ancestry"] == [top.id, top.parent.id, top.parent.parent.id]
    assert result["image_json"] == top.json
    assert "digest" not in result
    registry = [r for r in bed.log if r.server == "registry"]
    assert [r.path for r in registry] == [
        "/v1/repositories/public/app/tags/2.0", "/v1/images/%s/ancestry" % top.id,
        "/v1/images/%s/json" % top.id]
    assert registry[0].header("Cookie") is None
    assert all(r.header("Cookie", ).startswith("session=") for r in registry[1:])
    assert all(r.header("Authorization").startswith("Token signature=") for r in registry)


@pytest.mark.parametrize("reference, message", [
    (":nope", "404 Not Found: Tag not found"),
    ("@sha256:" + "0" * 64, "the v1 API has no manifests or digests; name a tag"),
])
def test_manifest_info_failures_on_v1(bed, reference, message):
    run = run_module("drc.registry.registry_manifest_info",
                     {"reference": repo(bed) + reference, "api_version": "v1"})
    assert run.rc != 0
    assert message in run.result["msg"]
    assert "Traceback" not in run.output


# -- blob_fetch --------------------------------------------------------------------------------------
def _sha(path):
    with open(path, "rb") as handle:
        return "sha256:" + hashlib.sha256(handle.read()).hexdigest()


def test_blob_fetch_layer_idempotent_and_check_mode(bed, tmp_path):
    base = bed.repositories["public/app"].tags["1.0"].parent
    args = {"repository": repo(bed), "image_id": base.id, "dest": str(tmp_path)}
    dest = str(tmp_path / base.id)
    check = run_module("drc.registry.registry_blob_fetch", args, check=True)
    assert check.rc == 0 and check.result["changed"] is True, check.output
    assert not os.listdir(tmp_path)
    first = run_module("drc.registry.registry_blob_fetch", dict(args, mode="0640"), diff=True)
    assert first.rc == 0, first.output
    assert first.result["changed"] is True and first.result["verified"] is True
    assert first.result["api_version"] == "v1" and first.result["dest"] == dest
    assert first.result["checksum"] == base.checksum == _sha(dest)
    assert first.result["size"] == len(base.layer) == os.path.getsize(dest)
    assert oct(os.stat(dest).st_mode & 0o777) == "0o640"
    assert "digest" not in first.result
    layer_gets = [p for p in paths(bed) if p.endswith("/layer")]
    again = run_module("drc.registry.registry_blob_fetch", dict(args, mode="0640"), check=True)
    assert again.rc == 0 and again.result["changed"] is False, again.output
    again = run_module("drc.registry.registry_blob_fetch", dict(args, mode="0640"))
    assert again.rc == 0 and again.result["changed"] is False, again.output
    assert [p for p in paths(bed) if p.endswith("/layer")] == layer_gets  # nothing downloaded
    assert os.listdir(tmp_path) == [base.id]


def test_blob_fetch_refuses_a_corrupt_layer_and_keeps_dest(bed, tmp_path):
    mid = bed.repositories["public/app"].tags["1.0"]
    dest = tmp_path / "layer.tar"
    dest.write_bytes(b"what the user had")
    bed.corrupt.add(mid.id)
    run = run_module("drc.registry.registry_blob_fetch",
                     {"repository": repo(bed), "image_id": mid.id, "dest": str(dest)})
    assert run.rc != 0
    assert "hashes to" in run.result["msg"] and mid.checksum in run.result["msg"]
    assert dest.read_bytes() == b"what the user had"
    assert os.listdir(tmp_path) == ["layer.tar"]


def test_blob_fetch_without_registry_checksum_compares_bytes(tmp_path):
    with V1Pair(checksums=False) as bed:
        top = bed.repositories["public/app"].tags["2.0"]
        args = {"repository": repo(bed), "image_id": top.id, "dest": str(tmp_path / "t")}
        first = run_module("drc.registry.registry_blob_fetch", args)
        assert first.rc == 0 and first.result["changed"] is True, first.output
        assert first.result["verified"] is False and _sha(tmp_path / "t") == top.checksum
        second = run_module("drc.registry.registry_blob_fetch", args)
        assert second.rc == 0 and second.result["changed"] is False, second.output
        assert os.listdir(tmp_path) == ["t"]
        check = run_module("drc.registry.registry_blob_fetch", args, check=True)
        assert check.rc == 0 and check.result["changed"] is False, check.output
        (tmp_path / "t").write_bytes(b"changed by hand")
        check = run_module("drc.registry.registry_blob_fetch", args, check=True)
        assert check.rc == 0 and check.result["changed"] is True, check.output
        assert (tmp_path / "t").read_bytes() == b"changed by hand"


@pytest.mark.parametrize("args, message", [
    ({"digest": "sha256:" + "0" * 64, "api_version": "v1"}, "give image_id instead of digest"),
    ({"image_id": "0" * 64, "api_version": "v2"}, "api_version is v2: give digest instead"),
    ({"image_id": "xyz"}, "image_id 'xyz' is not a v1 image id"),
    ({"image_id": "0" * 64, "digest": "sha256:" + "0" * 64}, "mutually exclusive"),
    ({}, "one of the following is required: digest, image_id"),
])
def test_blob_fetch_bad_input(bed, tmp_path, args, message):
    run = run_module("drc.registry.registry_blob_fetch",
                     dict(args, repository=repo(bed), dest=str(tmp_path)))
    assert run.rc != 0
    assert message in run.result["msg"], run.result["msg"]
    assert not [p for p in paths(bed) if p.startswith("/v1/repositories")]


# -- credentials -------------------------------------------------------------------------------------
def test_private_repository_password_reaches_the_index_only(bed, tmp_path):
    secret = bed.repositories["private/secret"].tags["1.0"]
    denied = run_module("drc.registry.registry_tags_info", {"repository": repo(bed, "private/secret")})
    assert denied.rc != 0
    assert "401" in denied.result["msg"] and "no credentials were found" in denied.result["msg"]
    bed.log.clear()
    creds = {"username": USERNAME, "password": PASSWORD}
    run = run_module("drc.registry.registry_blob_fetch",
                     dict(creds, repository=repo(bed, "private/secret"), image_id=secret.id,
                          dest=str(tmp_path)), verbosity=4)
    assert run.rc == 0, run.output
    assert _sha(tmp_path / secret.id) == secret.checksum
    assert PASSWORD not in run.output
    signatures = [token.split(",")[0] for token in bed.tokens]
    assert signatures and not [sig for sig in signatures if sig in run.output]  # nor the token
    basic = "Basic " + base64.b64encode(("%s:%s" % (USERNAME, PASSWORD)).encode()).decode()
    index_auth = [r.header("Authorization") for r in bed.log if r.server == "index"
                  and r.path.startswith("/v1/repositories/")]
    assert index_auth == [basic]
    registry = [r for r in bed.log if r.server == "registry"]
    assert [r.path.rsplit("/", 1)[-1] for r in registry] == ["json", "layer"]
    for request in registry:
        assert request.header("Authorization").startswith("Token signature=")
        assert PASSWORD not in repr(request.headers) and basic not in repr(request.headers)
    assert registry[1].header("Cookie").startswith("session=")


def test_standalone_registry_through_the_module():
    with V1Pair(standalone=True) as bed:
        run = run_module("drc.registry.registry_manifest_info",
                         {"reference": repo(bed) + ":1.0", "api_version": "v1"})
        assert run.rc == 0, run.output
        mid = bed.repositories["public/app"].tags["1.0"]
        assert run.result["ancestry"] == [mid.id, mid.parent.id]
        assert {r.server for r in bed.log} == {"index"}


# -- cookies -----------------------------------------------------------------------------------------
SHIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "public_names")
INDEX_NAME, ENDPOINT_NAME, CDN_NAME = "index.v1.public.test", "reg.v1.public.test", "cdn.v1.public.test"


@pytest.mark.parametrize("layer_host", [INDEX_NAME, CDN_NAME])
def test_a_domain_cookie_of_an_endpoint_never_reaches_another_host(tmp_path, layer_host):
    """Issue 26, finding 10: the index and its endpoint are two hosts of one domain on one port
    (as on 443); the endpoint sets ``session=…; Domain=v1.public.test`` and then sends the layer
    to storage on the index host (or a third host of the domain). The cookie goes back to the
    endpoint and to no other host."""
    names = (INDEX_NAME, ENDPOINT_NAME)
    with V1Pair(names=names, cookie_domain="v1.public.test", layer_host=layer_host) as bed:
        base = bed.repositories["public/app"].tags["1.0"].parent
        env = {"PYTHONPATH": SHIM, "DRC_TEST_PUBLIC_NAMES": ",".join(names + (CDN_NAME,))}
        run = run_module("drc.registry.registry_blob_fetch",
                         {"repository": "http://%s:%d/public/app" % (INDEX_NAME, bed.index.port),
                          "image_id": base.id, "dest": str(tmp_path), "api_version": "v1",
                          "retries": 0}, env=env)
        assert run.rc == 0, run.output
        assert _sha(tmp_path / base.id) == base.checksum
        roles = [(r.server, r.path.split("/")[-1]) for r in bed.log]
        storage = "index" if layer_host == INDEX_NAME else CDN_NAME
        assert roles == [("index", "_ping"), ("index", "images"), ("registry", "json"),
                         ("registry", "layer"), (storage, base.id)], roles
        endpoint = bed.requests_to("registry")
        # The endpoint got its own cookie back: the jar kept it (the test is not vacuous).
        assert endpoint[0].header("Cookie") is None
        assert (endpoint[1].header("Cookie") or "").startswith("session="), endpoint[1].headers
        for request in bed.log:
            if request.server != "registry":
                assert request.header("Cookie") is None, (request, request.headers)
                assert request.header("Authorization") is None, (request, request.headers)
