"""Signatures on the real test bed: the fixtures upstream skopeo 1.9.3 signed, seeded into a real
CNCF Distribution registry, verified by registry_signature_verify and the registry_digest lookup
and compared with skopeo's own verdicts (verdicts.json); then what registry_sign writes.

Debian's skopeo has sigstore patched out, so it cannot judge what registry_sign writes: the shape
is compared with the fixtures skopeo wrote, and our verifier (which agrees with skopeo on every
fixture) checks it.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error

import pytest

from tests.integration.ansible_runner import run_playbook
from tests.integration.conftest import connection, ref
from tests.testbed.signed_fixtures import cases, fixtures_dir, seed_signed_fixtures, verdicts

MODE = "token"  # credentials and a token per repository: the hardest of the three
SIGNED_PREFIX = "registry.example/fx"
ARM64_CHILD = "sha256:799342f935ea3f3280471ae31f439ea3606ca6b538716f868d39a4cee1f57575"


def key(name: str, part: str) -> str:
    return os.path.join(fixtures_dir(), "keys", "%s.%s" % (name, part))


def passphrase(name: str) -> str:
    with open(key(name, "passphrase")) as handle:
        return handle.read()


def skopeo_accepts(case: str) -> bool:
    return verdicts()["cases"][case]["skopeo"] == "accepted"


@pytest.fixture(scope="module")
def verified(testbed, tmp_path_factory):
    """One playbook: every case through the module (prefix given and defaulted) and the lookup."""
    registry = testbed.registries[MODE]
    seeded = seed_signed_fixtures(testbed, registry)
    conn = connection(testbed, registry)
    prefix = "%s/fx" % registry.host
    tasks = []
    for case in cases():
        reference = ref(registry, seeded[case]["reference"])
        tasks.append({"drc.registry.registry_signature_verify": dict(
            reference=reference, keys=[key("key-a", "pub")], signed_prefix=SIGNED_PREFIX,
            prefix=prefix, **conn), "register": "module_" + case.replace("-", "_"),
            "ignore_errors": True})
        tasks.append({"drc.registry.registry_signature_verify": dict(
            reference=reference, keys=[key("key-a", "pub")], signed_prefix=SIGNED_PREFIX, **conn),
            "register": "default_prefix_" + case.replace("-", "_"), "ignore_errors": True})
        tasks.append({"ansible.builtin.set_fact": {"looked_up": (
            "{{ lookup('drc.registry.registry_digest', '%s', output='pinned', signed_prefix='%s', "
            "prefix='%s', username=u, password=p, ca_path=ca) }}" % (reference, SIGNED_PREFIX, prefix))},
            "vars": {"u": testbed.username, "p": testbed.password, "ca": testbed.pki.ca_cert,
                     "drc_registry_verify_keys": [key("key-a", "pub")]},
            "register": "lookup_" + case.replace("-", "_"), "ignore_errors": True})
    index = ref(registry, seeded["signed-index"]["reference"])
    tasks += [
        {"drc.registry.registry_signature_verify": dict(
            reference=index, keys=[key("key-b", "pub"), key("key-a", "pub")],
            signed_prefix=SIGNED_PREFIX, platform="linux/arm64", **conn), "register": "platform"},
        {"ansible.builtin.set_fact": {"child": (
            "{{ lookup('drc.registry.registry_digest', '%s', platform='linux/arm64', "
            "verify_keys=[k], signed_prefix='%s', username=u, password=p, ca_path=ca) }}"
            % (index, SIGNED_PREFIX))},
         "vars": {"u": testbed.username, "p": testbed.password, "ca": testbed.pki.ca_cert,
                  "k": key("key-a", "pub")}, "register": "lookup_platform"},
        # by digest: matchRepoDigestOrExact compares repositories only
        {"drc.registry.registry_signature_verify": dict(
            reference=ref(registry, "fx/signed-image@" + seeded["signed-image"]["digest"]),
            keys=[key("key-a", "pub")], signed_prefix=SIGNED_PREFIX, **conn), "register": "by_digest"},
        # no remap: signed for registry.example, so only identity any accepts it here
        {"drc.registry.registry_signature_verify": dict(
            reference=ref(registry, seeded["signed-image"]["reference"]), keys=[key("key-a", "pub")],
            **conn), "register": "no_remap", "ignore_errors": True},
        {"drc.registry.registry_signature_verify": dict(
            reference=ref(registry, seeded["signed-image"]["reference"]), keys=[key("key-a", "pub")],
            identity="any", **conn), "register": "identity_any"},
        {"drc.registry.registry_signature_verify": dict(
            reference=ref(registry, seeded["other-identity"]["reference"]),
            keys=[key("key-a", "pub")], signed_prefix=SIGNED_PREFIX, identity="match_repository",
            **conn), "register": "other_identity_by_repository", "ignore_errors": True},
        {"drc.registry.registry_signature_verify": dict(
            reference=ref(registry, seeded["signed-image"]["reference"]),
            keys=["not a key"], **conn), "register": "bad_key", "ignore_errors": True},
        {"drc.registry.registry_signature_verify": dict(
            reference=ref(registry, seeded["signed-docker"]["reference"]), keys=[key("key-a", "pub")],
            identity="signed_prefix", signed_prefix=SIGNED_PREFIX, prefix=prefix, **conn),
         "register": "remap_rule"},
    ]
    # the lookup's identity= option: the same term under two rules, each result opposite to what
    # the default rule gives (no remap: default refuses, any accepts; by digest with the remap:
    # default accepts, match_exact refuses, the signature naming the tag)
    by_digest = ref(registry, "fx/signed-image@" + seeded["signed-image"]["digest"])
    for name, term, options in (
            ("lookup_identity_any", ref(registry, seeded["signed-image"]["reference"]), "identity='any'"),
            ("lookup_no_remap", ref(registry, seeded["signed-image"]["reference"]), ""),
            ("lookup_identity_exact", by_digest, "identity='match_exact', signed_prefix='%s'" % SIGNED_PREFIX),
            ("lookup_default_by_digest", by_digest, "signed_prefix='%s'" % SIGNED_PREFIX)):
        tasks.append({"ansible.builtin.set_fact": {"looked_up": (
            "{{ lookup('drc.registry.registry_digest', '%s', verify_keys=[k], %susername=u, password=p, "
            "ca_path=ca) }}" % (term, options + ", " if options else ""))},
            "vars": {"u": testbed.username, "p": testbed.password, "ca": testbed.pki.ca_cert,
                     "k": key("key-a", "pub")}, "register": name})
    for task in tasks:  # each test reads its own result: one failing task must not hide the others
        task["ignore_errors"] = True
    run = run_playbook(tasks, str(tmp_path_factory.mktemp("verify")))
    return seeded, run


@pytest.mark.parametrize("case", cases())
def test_module_agrees_with_skopeo(verified, case):
    seeded, run = verified
    for name in ("module_", "default_prefix_"):
        result = run.results[name + case.replace("-", "_")]
        assert result.get("failed", False) is not skopeo_accepts(case), (case, result)
        if skopeo_accepts(case):
            assert result["digest"] == seeded[case]["digest"]
            assert result["pinned"].endswith("/fx/%s@%s" % (case, seeded[case]["digest"]))
            assert [s["key_index"] for s in result["signatures"]] == [0]
            assert result["signatures"][0]["identity"] == "registry.example/fx/%s:1" % case
            assert result["signatures"][0]["optional"]["creator"].startswith("containers/image")
            assert result["signatures"][0]["location"].endswith(
                "/fx/%s:sha256-%s.sig" % (case, seeded[case]["digest"][7:]))


REASONS = {
    "unsigned": "no signatures exist",
    "other-key": "verifies with none of the 1 key(s)",
    "bad-signature": "verifies with none of the 1 key(s)",
    "other-identity": "identity not accepted: signed for registry.example/fx/elsewhere:1",
    "other-digest": "a signature for another digest, sha256:4432fe9f",
}


@pytest.mark.parametrize("case", sorted(REASONS))
def test_module_says_why(verified, case):
    reason = REASONS[case]
    result = verified[1].results["module_" + case.replace("-", "_")]
    assert result["failed"] is True and reason in result["msg"], result
    assert "Traceback" not in json.dumps(result)


@pytest.mark.parametrize("case", cases())
def test_lookup_agrees_with_skopeo(verified, case):
    seeded, run = verified
    result = run.results["lookup_" + case.replace("-", "_")]
    if skopeo_accepts(case):
        assert result["ansible_facts"]["looked_up"].endswith("/fx/%s:1@%s" % (case, seeded[case]["digest"]))
    else:
        assert result["failed"] is True, result
        assert seeded[case]["reference"] in result["msg"], result["msg"]


def test_platform_verifies_index_and_child(verified):
    seeded, run = verified
    result = run.results["platform"]
    assert result["digest"] == ARM64_CHILD
    assert result["index_digest"] == seeded["signed-index"]["digest"]
    assert [s["key_index"] for s in result["signatures"]] == [1]
    assert [s["key_index"] for s in result["index_signatures"]] == [1]
    assert run.results["lookup_platform"]["ansible_facts"]["child"] == ARM64_CHILD


def test_identity_rules_on_the_registry(verified):
    seeded, run = verified
    assert run.results["by_digest"]["digest"] == seeded["signed-image"]["digest"]
    assert run.results["no_remap"]["failed"] is True
    assert "identity not accepted" in run.results["no_remap"]["msg"]
    assert run.results["identity_any"]["signatures"][0]["identity"] == "registry.example/fx/signed-image:1"
    # match_repository: another repository is still refused
    assert run.results["other_identity_by_repository"]["failed"] is True
    assert "keys[0]" in run.results["bad_key"]["msg"] and "not a key" in run.results["bad_key"]["msg"]
    assert run.results["remap_rule"]["digest"] == seeded["signed-docker"]["digest"]


def test_lookup_identity_option_on_the_registry(verified):
    """identity= reaches the lookup's check: each rule flips what the default rule says."""
    seeded, run = verified
    digest = seeded["signed-image"]["digest"]
    assert run.results["lookup_identity_any"]["ansible_facts"]["looked_up"] == digest, run.results["lookup_identity_any"]
    assert run.results["lookup_no_remap"]["failed"] is True
    assert "identity not accepted" in run.results["lookup_no_remap"]["msg"], run.results["lookup_no_remap"]
    assert run.results["lookup_default_by_digest"]["ansible_facts"]["looked_up"] == digest
    refused = run.results["lookup_identity_exact"]
    assert refused["failed"] is True, refused
    assert "identity not accepted: signed for registry.example/fx/signed-image:1, not for " in refused["msg"], refused
    assert "fx/signed-image@" + digest in refused["msg"] and "Traceback" not in json.dumps(refused)


def test_the_lookup_without_cryptography_names_the_library(tmp_path):
    """The controller's Python without cryptography (a package of that name that fails to import,
    first on its path): the lookup fails naming the option and the library, no request made (the
    term's registry listens nowhere)."""
    from tests.integration.ansible_runner import ROOT, run_expression
    (tmp_path / "cryptography").mkdir()
    (tmp_path / "cryptography" / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    run = run_expression("lookup('drc.registry.registry_digest', '127.0.0.1:9/never/contacted:1', "
                         "verify_keys=['%s'])" % key("key-a", "pub"), env={
                             "PYTHONPATH": os.pathsep.join((str(tmp_path), os.path.join(ROOT, "build", "collections")))})
    assert run.rc != 0
    assert run.result["msg"].endswith(
        "failed: verify_keys needs the Python library 'cryptography' on the controller"), run.output
    assert "Traceback" not in run.output


# -- signing ----------------------------------------------------------------------------------------
def sig_raw(testbed, registry, repository: str, digest: str,
            accept: str = "application/vnd.oci.image.manifest.v1+json") -> bytes:
    with testbed.raw_request(registry, "GET", "/v2/%s/manifests/sha256-%s.sig" % (repository, digest[7:]),
                             repository, headers={"Accept": accept}) as answer:
        return answer.read()


def sig_manifest(testbed, registry, repository: str, digest: str):
    import urllib.error
    try:
        with testbed.raw_request(registry, "GET", "/v2/%s/manifests/sha256-%s.sig" % (repository, digest[7:]),
                                 repository, headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def blob(testbed, registry, repository: str, digest: str) -> bytes:
    with testbed.raw_request(registry, "GET", "/v2/%s/blobs/%s" % (repository, digest), repository) as answer:
        return answer.read()


@pytest.fixture(scope="module")
def signed(testbed, tmp_path_factory):
    registry = testbed.registries[MODE]
    seeded = seed_signed_fixtures(testbed, registry)
    conn = connection(testbed, registry)
    image = testbed.skopeo_copy(registry, "fx/unsigned:1", "sign/fresh:1")
    index = testbed.skopeo_copy(registry, "fx/signed-index:1", "sign/index:1")
    other = testbed.skopeo_copy(registry, "fx/other-key:1", "sign/kept:1")
    # the .sig of other-key (key B's signature, for registry.example/fx/other-key:1) comes along
    tag = "sha256-%s.sig" % other[7:]
    testbed.skopeo_copy(registry, "fx/other-key:" + tag, "sign/kept:" + tag)
    cosign_a = dict(private_key=key("key-a", "private"), private_key_passphrase=passphrase("key-a"))
    with open(key("key-b", "private")) as handle:
        cosign_b = dict(private_key=handle.read(), private_key_passphrase=passphrase("key-b"))
    fresh, kept = ref(registry, "sign/fresh:1"), ref(registry, "sign/kept:1")
    copied = ref(registry, "sign/copied:1")
    # a destination .sig that is no layer bag (an index at that tag): left as it is
    signed_image = seeded["signed-image"]["digest"]
    bad_index = testbed.skopeo_copy(registry, "fx/signed-index:1", "sign/badsig:sha256-%s.sig" % signed_image[7:])
    merge_layout = str(tmp_path_factory.mktemp("merge-layout"))
    tasks = [
        {"drc.registry.registry_sign": dict(reference=fresh, annotations={"pipeline": "test"},
                                            **cosign_a, **conn),
         "check_mode": True, "diff": True, "register": "check"},
        {"drc.registry.registry_sign": dict(reference=fresh, annotations={"pipeline": "test"},
                                            **cosign_a, **conn), "diff": True, "register": "first"},
        {"drc.registry.registry_sign": dict(reference=fresh, annotations={"pipeline": "test"},
                                            **cosign_a, **conn), "register": "again"},
        {"drc.registry.registry_sign": dict(reference=fresh, **cosign_b, **conn),
         "check_mode": True, "register": "check_b"},
        {"drc.registry.registry_sign": dict(reference=fresh, identity="registry.example/sign/fresh:1",
                                            **cosign_b, **conn), "register": "second_key"},
        {"drc.registry.registry_signature_verify": dict(reference=fresh, keys=[key("key-a", "pub")], **conn),
         "register": "verify_fresh"},
        {"drc.registry.registry_signature_verify": dict(reference=fresh, keys=[key("key-b", "pub")],
                                                        signed_prefix="registry.example/sign", **conn),
         "register": "verify_fresh_b"},
        {"drc.registry.registry_sign": dict(reference=kept, identity="registry.example/fx/other-key:1",
                                            **cosign_a, **conn), "register": "kept"},
        {"drc.registry.registry_signature_verify": dict(
            reference=kept, keys=[key("key-a", "pub"), key("key-b", "pub")],
            signed_prefix="registry.example/fx", prefix=ref(registry, "sign"), identity="any", **conn),
         "register": "verify_kept"},
        {"drc.registry.registry_sign": dict(reference=ref(registry, "sign/index:1"), recursive=True,
                                            **cosign_a, **conn), "register": "recursive"},
        {"drc.registry.registry_signature_verify": dict(
            reference=ref(registry, "sign/index:1"), keys=[key("key-a", "pub")],
            platform="linux/arm/v7", **conn), "register": "verify_recursive"},
        {"drc.registry.registry_sign": dict(reference=fresh, private_key=key("key-a", "private"),
                                            private_key_passphrase="not-the-passphrase-7c1", **conn),
         "register": "wrong_passphrase", "ignore_errors": True},
        # registry_copy's sign_key: the mirror carries our own signature, in the same run
        {"drc.registry.registry_copy": dict(src=ref(registry, "fx/signed-image:1"), dest=copied,
                                            sign_key=cosign_b["private_key"],
                                            sign_key_passphrase=cosign_b["private_key_passphrase"], **conn),
         "check_mode": True, "register": "copy_check"},
        {"drc.registry.registry_copy": dict(src=ref(registry, "fx/signed-image:1"), dest=copied,
                                            sign_key=cosign_b["private_key"],
                                            sign_key_passphrase=cosign_b["private_key_passphrase"], **conn),
         "register": "copy_signed"},
        {"drc.registry.registry_copy": dict(src=ref(registry, "fx/signed-image:1"), dest=copied,
                                            sign_key=cosign_b["private_key"],
                                            sign_key_passphrase=cosign_b["private_key_passphrase"], **conn),
         "register": "copy_again"},
        {"drc.registry.registry_signature_verify": dict(reference=copied, keys=[key("key-b", "pub")], **conn),
         "register": "verify_copied"},
        {"drc.registry.registry_copy": dict(src=ref(registry, "fx/signed-image:1"),
                                            dest="oci:%s:1" % tmp_path_factory.mktemp("layout"),
                                            sign_key=cosign_b["private_key"],
                                            sign_key_passphrase=cosign_b["private_key_passphrase"], **conn),
         "register": "copy_to_layout", "ignore_errors": True},
    ]
    tasks += merge_tasks(registry, conn, cosign_a, cosign_b, merge_layout)
    unsigned = testbed.skopeo_copy(registry, "fx/unsigned:1", "sign/ssrc:1")
    testbed.skopeo_copy(registry, "fx/unsigned:1", "sign/ssrc:also")
    testbed.skopeo_copy(registry, "fx/signed-image:1", "sign/ssrc:2")
    tasks += many_signed_tasks(registry, conn, cosign_b, str(tmp_path_factory.mktemp("list-layout")))
    before_kept = sig_manifest(testbed, registry, "sign/kept", other)
    for task in tasks:
        task["ignore_errors"] = True
    run = run_playbook(tasks, str(tmp_path_factory.mktemp("sign")))
    return {"registry": registry, "run": run, "image": image, "index": index, "other": other, "unsigned": unsigned,
            "before_kept": before_kept, "seeded": seeded, "signed_image": signed_image,
            "bad_index": bad_index, "merge_layout": merge_layout}


def many_signed_tasks(registry, conn: dict, cosign_b: dict, layout: str) -> list:
    """sign_key beyond one copy: the images form of registry_copy, registry_sync (check mode, a
    tag already in sync, two tags of one digest) and the mirror_images role, all with key B."""
    sign = dict(sign_key=cosign_b["private_key"], sign_key_passphrase=cosign_b["private_key_passphrase"])

    def sync(match: str, signing: bool) -> dict:
        return {"drc.registry.registry_sync": dict(
            src_registry=registry.host, dest=registry.host, repositories=[
                {"name": "sign/ssrc", "rename": "sign/sdest", "tags": {"match": match}}],
            **(sign if signing else {}), **conn)}

    def images(*pairs) -> list:
        return [{"src": ref(registry, src), "dest": ref(registry, dest)} for src, dest in pairs]

    listed = images(("sign/ssrc:1", "sign/clist:a"), ("sign/ssrc:also", "sign/clist:b"),
                    ("fx/signed-image:1", "sign/clist:c"))
    verify = [{"drc.registry.registry_signature_verify": dict(
        reference=ref(registry, name), keys=[key("key-b", "pub")], **conn), "register": "verify_" + label}
        for label, name in (("sdest_1", "sign/sdest:1"), ("sdest_also", "sign/sdest:also"),
                            ("sdest_2", "sign/sdest:2"), ("clist_a", "sign/clist:a"),
                            ("clist_b", "sign/clist:b"), ("clist_c", "sign/clist:c"),
                            ("role_image", "sign/rmirror/sign/ssrc:1"),
                            ("role_synced", "sign/rmirror/sign/ssrc:2"))]
    auth = dict(conn)
    return [
        dict(sync("2", False), register="ssync_plain"),
        dict(sync("1|also|2", True), check_mode=True, register="ssync_check"),
        dict(sync("1|also|2", True), register="ssync"),
        dict(sync("1|also|2", True), register="ssync_again"),
        dict(sync("1|also|2", True), check_mode=True, register="ssync_check_again"),
        {"drc.registry.registry_copy": dict(images=listed, **sign, **conn), "register": "clist"},
        {"drc.registry.registry_copy": dict(images=listed, **sign, **conn), "register": "clist_again"},
        {"drc.registry.registry_copy": dict(images=images(("sign/ssrc:1", "sign/clist-never:a")) + [
            {"src": ref(registry, "sign/ssrc:1"), "dest": "oci:%s:1" % layout}], **sign, **conn),
         "register": "clist_layout"},
        {"ansible.builtin.include_role": {"name": "drc.registry.mirror_images"}, "vars": {
            "mirror_images_images": [ref(registry, "sign/ssrc:1")],
            "mirror_images_repositories": [{"name": ref(registry, "sign/ssrc"), "tags": {"match": "2"}}],
            "mirror_images_dest": ref(registry, "sign/rmirror"),
            "mirror_images_src_auths": {registry.host: auth}, "mirror_images_dest_auth": auth,
            "mirror_images_sign_key": cosign_b["private_key"],
            "mirror_images_sign_key_passphrase": cosign_b["private_key_passphrase"]}},
        {"ansible.builtin.set_fact": {"role_images": "{{ mirror_images_result }}",
                                      "role_syncs": "{{ mirror_images_sync_results }}"},
         "register": "role_facts"},
    ] + verify


def merge_tasks(registry, conn: dict, cosign_a: dict, cosign_b: dict, layout: str) -> list:
    """A mirror signed with key B, then plain copies and syncs of the source (signed with key A):
    the mirror's .sig is merged into, never overwritten."""
    msrc, merged = ref(registry, "sign/msrc:1"), ref(registry, "sign/merged:1")
    copy = {"drc.registry.registry_copy": dict(src=msrc, dest=merged, **conn)}
    sync = {"drc.registry.registry_sync": dict(
        src_registry=registry.host, dest=registry.host, repositories=[
            {"name": "sign/msrc", "rename": "sign/merged", "tags": {"match": "1"}}], **conn)}
    return [
        {"drc.registry.registry_copy": dict(src=ref(registry, "fx/signed-image:1"), dest=msrc, **conn),
         "register": "merge_seed"},
        dict(copy, register="merge_first"),
        {"drc.registry.registry_sign": dict(reference=merged, **cosign_b, **conn), "register": "merge_sign_b"},
        dict(copy, register="merge_plain"),
        dict(sync, register="merge_sync"),
        # the source gains a layer the mirror lacks: it is added beside the mirror's own
        {"drc.registry.registry_sign": dict(reference=msrc, annotations={"stage": "source"},
                                            **cosign_a, **conn), "register": "merge_source_signed"},
        dict(copy, check_mode=True, register="merge_add_check"),
        dict(copy, register="merge_add"),
        dict(copy, register="merge_add_again"),
        dict(sync, register="merge_sync_again"),
        {"drc.registry.registry_signature_verify": dict(reference=merged, keys=[key("key-a", "pub")],
                                                        identity="any", **conn), "register": "merge_verify_a"},
        {"drc.registry.registry_signature_verify": dict(reference=merged, keys=[key("key-b", "pub")], **conn),
         "register": "merge_verify_b"},
        # the same in an OCI layout: its .sig entry is merged into, not replaced
        {"drc.registry.registry_copy": dict(src=merged, dest="oci:%s:1" % layout, **conn),
         "register": "merge_layout_first"},
        {"drc.registry.registry_copy": dict(src=msrc, dest="oci:%s:1" % layout, **conn),
         "register": "merge_layout_plain"},
        {"drc.registry.registry_copy": dict(src=msrc, dest=ref(registry, "sign/badsig:1"), **conn),
         "register": "merge_bad"},
    ]


def test_check_mode_writes_nothing_and_shows_the_diff(testbed, signed):
    results = signed["run"].results
    assert results["check"]["changed"] is True
    assert results["check"]["diff"]["before"] == {next(iter(results["check"]["diff"]["before"])): {}}
    assert len(next(iter(results["check"]["diff"]["after"].values()))["layers"]) == 1
    assert results["first"]["changed"] is True
    assert results["check_b"]["changed"] is True
    # check mode wrote nothing: the first real run found no signature (its diff starts empty)
    assert list(results["first"]["diff"]["before"].values()) == [{}]


def test_signing_is_idempotent_and_adds_beside(testbed, signed):
    results = signed["run"].results
    assert results["again"]["changed"] is False
    assert results["again"]["signatures"] == [{"digest": signed["image"], "changed": False,
                                               "location": results["first"]["signatures"][0]["location"]}]
    assert results["second_key"]["changed"] is True
    body = sig_manifest(testbed, signed["registry"], "sign/fresh", signed["image"])
    assert len(body["layers"]) == 2
    assert [s["key_index"] for s in results["verify_fresh"]["signatures"]] == [0]
    assert results["verify_fresh"]["signatures"][0]["optional"] == {"pipeline": "test"}
    assert results["verify_fresh_b"]["signatures"][0]["identity"] == "registry.example/sign/fresh:1"


def test_what_registry_sign_writes_has_the_fixtures_shape(testbed, signed):
    registry = signed["registry"]
    ours = sig_manifest(testbed, registry, "sign/fresh", signed["image"])
    theirs = json.loads(signed["seeded"]["signed-image"]["manifests"][
        signed["seeded"]["signed-image"]["sig_tags"]["sha256-%s.sig" % signed["seeded"]["signed-image"]["digest"][7:]]])
    assert ours["mediaType"] == theirs["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert ours["config"]["mediaType"] == theirs["config"]["mediaType"]
    assert [layer["mediaType"] for layer in ours["layers"]] == [theirs["layers"][0]["mediaType"]] * 2
    assert all(set(layer["annotations"]) == set(theirs["layers"][0]["annotations"]) for layer in ours["layers"])
    payload = json.loads(blob(testbed, registry, "sign/fresh", ours["layers"][0]["digest"]))
    assert payload["critical"] == {"identity": {"docker-reference": "%s/sign/fresh:1" % registry.host},
                                   "image": {"docker-manifest-digest": signed["image"]},
                                   "type": "cosign container image signature"}
    assert payload["optional"] == {"pipeline": "test"}
    config = json.loads(blob(testbed, registry, "sign/fresh", ours["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == [layer["digest"] for layer in ours["layers"]]


def test_another_keys_signature_is_kept(testbed, signed):
    results = signed["run"].results
    assert results["kept"]["changed"] is True
    after = sig_manifest(testbed, signed["registry"], "sign/kept", signed["other"])
    assert after["layers"][0] == signed["before_kept"]["layers"][0]  # key B's, byte for byte
    assert len(after["layers"]) == 2
    assert sorted(s["key_index"] for s in results["verify_kept"]["signatures"]) == [0, 1]


def test_recursive_signs_every_child(testbed, signed):
    results = signed["run"].results
    children = json.loads(signed["seeded"]["signed-index"]["manifests"][signed["index"]])["manifests"]
    assert [s["digest"] for s in results["recursive"]["signatures"]] == (
        [child["digest"] for child in children] + [signed["index"]])
    # the index copies carried no .sig tags: every one was written now
    assert all(s["changed"] for s in results["recursive"]["signatures"])
    assert results["verify_recursive"]["index_digest"] == signed["index"]
    assert results["verify_recursive"]["digest"] == children[2]["digest"]


def test_a_wrong_passphrase_is_a_clear_failure(signed):
    result = signed["run"].results["wrong_passphrase"]
    assert result["failed"] is True
    assert "private_key cannot be decrypted: wrong or missing private_key_passphrase" in result["msg"]


@pytest.mark.parametrize("library, module, args", [
    ("PyNaCl", "drc.registry.registry_sign", {"private_key": key("key-a", "private"),
                                              "private_key_passphrase": "fixture-a"}),
    ("cryptography", "drc.registry.registry_sign", {"private_key": key("key-a", "private")}),
    ("cryptography", "drc.registry.registry_signature_verify", {"keys": [key("key-a", "pub")]}),
])
def test_a_missing_library_gives_the_standard_message(library, module, args, tmp_path):
    """The module's Python without the library (a package of that name that fails to import,
    first on its path): Ansible's own "missing required library" message, no request made."""
    from tests.integration.ansible_runner import ROOT, run_module
    package = {"PyNaCl": "nacl", "cryptography": "cryptography"}[library]
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    run = run_module(module, dict(args, reference="127.0.0.1:9/never/contacted:1"), env={
        "PYTHONPATH": os.pathsep.join((str(tmp_path), os.path.join(ROOT, "build", "collections")))})
    assert run.rc != 0
    assert run.result["msg"].startswith("Failed to import the required Python library (%s)" % library), run.output
    assert "fixture-a" not in run.output


def test_registry_copy_signs_what_it_copied(testbed, signed):
    results = signed["run"].results
    assert results["copy_check"]["changed"] is True and results["copy_check"]["signatures"][0]["changed"]
    assert results["copy_signed"]["changed"] is True
    assert results["copy_signed"]["signatures"][0]["digest"] == results["copy_signed"]["digest"]
    assert results["copy_again"]["changed"] is False
    assert results["copy_again"]["signatures"][0]["changed"] is False
    assert results["verify_copied"]["signatures"][0]["identity"].endswith("/sign/copied:1")
    # check mode wrote nothing: the real run found neither image nor signature
    assert results["copy_signed"]["signatures"][0]["changed"] is True
    assert results["copy_to_layout"]["failed"] is True
    assert "sign_key needs a registry destination" in results["copy_to_layout"]["msg"]


def test_sync_signs_every_tag_once_even_two_of_one_digest(testbed, signed):
    results, registry = signed["run"].results, signed["registry"]
    check = results["ssync_check"]
    assert check["changed"] is True and check["would_copy"] == 2 and check["already_present"] == 1, check
    assert check["signed"] == 3 and all(i["signed"] for i in check["images"]), check
    done = results["ssync"]
    assert done["changed"] is True and done["copied"] == 2 and done["already_present"] == 1, done
    # the tag synced before without a key is signed now too
    assert done["signed"] == 3 and {i["dest"].rsplit(":", 1)[1] for i in done["images"] if i["signed"]} == {
        "1", "also", "2"}, done
    assert all(s["changed"] for i in done["images"] for s in i["signatures"])
    for name in ("ssync_again", "ssync_check_again"):
        again = results[name]
        assert again["changed"] is False and again["signed"] == 0 and again["copied"] == 0, (name, again)
    for label in ("sdest_1", "sdest_also", "sdest_2"):
        assert results["verify_" + label].get("failed") is not True, results["verify_" + label]
    # the fixtures are one image (signed or not): three tags of one digest, each name's signature
    # in the one .sig, none lost to another
    assert signed["unsigned"] == signed["signed_image"]
    layers = sig_manifest(testbed, registry, "sign/sdest", signed["unsigned"])["layers"]
    identities = sorted(json.loads(blob(testbed, registry, "sign/sdest", layer["digest"]))["critical"]["identity"][
        "docker-reference"] for layer in layers)
    assert identities == ["%s/sign/sdest:%s" % (registry.host, tag) for tag in ("1", "2", "also")], identities
    assert results["ssync_plain"].get("signed") is None and "signatures" not in results["ssync_plain"]["images"][0]


def test_copy_list_signs_each_image_at_its_destination(testbed, signed):
    results, registry = signed["run"].results, signed["registry"]
    listed = results["clist"]
    assert listed["changed"] is True and listed["copied"] == 3 and listed["failed_images"] == [], listed
    for image in listed["images"]:
        [signature] = image["signatures"]
        assert signature["changed"] is True and signature["digest"] == image["digest"], image
    assert results["clist_again"]["changed"] is False, results["clist_again"]
    assert [s["changed"] for i in results["clist_again"]["images"] for s in i["signatures"]] == [False] * 3
    for label in ("clist_a", "clist_b", "clist_c"):
        assert results["verify_" + label].get("failed") is not True, results["verify_" + label]
    # one digest under three names: key A's signature that travelled with clist:c, and ours for each name
    layers = sig_manifest(testbed, registry, "sign/clist", signed["signed_image"])["layers"]
    identities = sorted(json.loads(blob(testbed, registry, "sign/clist", layer["digest"]))["critical"]["identity"][
        "docker-reference"] for layer in layers)
    assert identities == sorted(["%s/sign/clist:%s" % (registry.host, tag) for tag in "abc"]
                                + ["registry.example/fx/signed-image:1"]), identities
    refused = results["clist_layout"]
    assert refused["failed"] is True and "sign_key needs a registry destination" in refused["msg"], refused
    assert "Traceback" not in refused["msg"]
    with pytest.raises(urllib.error.HTTPError) as missing:  # refused before any copy, the registry entry too
        testbed.raw_request(registry, "HEAD", "/v2/sign/clist-never/manifests/a", "sign/clist-never").close()
    assert missing.value.code == 404


def test_the_mirror_role_signs_both_forms(signed):
    results = signed["run"].results
    facts = results["role_facts"]["ansible_facts"]
    [image] = facts["role_images"]["images"]
    assert [s["changed"] for s in image["signatures"]] == [True], image
    [synced] = facts["role_syncs"]
    assert synced["signed"] == 1 and synced["copied"] == 1, synced
    for label in ("role_image", "role_synced"):
        assert results["verify_" + label].get("failed") is not True, results["verify_" + label]


def test_a_destination_signature_is_merged_never_overwritten(testbed, signed):
    results, registry = signed["run"].results, signed["registry"]
    digest = signed["signed_image"]
    for name in ("merge_seed", "merge_first", "merge_sign_b", "merge_source_signed", "merge_add"):
        assert results[name]["changed"] is True, (name, results[name])
    # the mirror holds every source layer already: nothing written, key B's layer kept
    assert results["merge_plain"]["changed"] is False, results["merge_plain"]
    assert results["merge_plain"]["referrers_copied"] == 0
    assert results["merge_sync"]["changed"] is False, results["merge_sync"]
    assert results["merge_add_check"]["changed"] is True and results["merge_add_check"]["referrers_copied"] == 1
    assert results["merge_add"]["referrers_copied"] == 1
    assert results["merge_add_again"]["changed"] is False, results["merge_add_again"]
    assert results["merge_sync_again"]["changed"] is False, results["merge_sync_again"]
    source = sig_manifest(testbed, registry, "sign/msrc", digest)
    mirror = sig_manifest(testbed, registry, "sign/merged", digest)
    assert len(source["layers"]) == 2 and len(mirror["layers"]) == 3
    # the mirror's layers first, byte for byte, then the one it lacked
    assert mirror["layers"][0] == source["layers"][0]
    assert mirror["layers"][2] == source["layers"][1]
    config = json.loads(blob(testbed, registry, "sign/merged", mirror["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == [layer["digest"] for layer in mirror["layers"]]
    # what the copy reports the destination holds: the merged .sig, not the source's
    held = "sha256:" + hashlib.sha256(sig_raw(testbed, registry, "sign/merged", digest)).hexdigest()
    assert results["merge_add"]["referrers"] == [held]
    # both keys verify at the mirror: key A's two layers, key B's own
    assert sorted(s["layer"] for s in results["merge_verify_a"]["signatures"]) == [0, 2]
    assert [s["layer"] for s in results["merge_verify_b"]["signatures"]] == [1]
    assert results["merge_verify_b"]["signatures"][0]["identity"].endswith("/sign/merged:1")


def test_a_layout_signature_is_merged_never_overwritten(signed):
    results = signed["run"].results
    assert results["merge_layout_first"]["changed"] is True
    assert results["merge_layout_plain"]["changed"] is False, results["merge_layout_plain"]
    layout = signed["merge_layout"]
    with open(os.path.join(layout, "index.json")) as handle:
        entries = json.load(handle)["manifests"]
    tag = "sha256-%s.sig" % signed["signed_image"][7:]
    [entry] = [e for e in entries if (e.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag]
    with open(os.path.join(layout, "blobs", "sha256", entry["digest"][7:])) as handle:
        assert len(json.load(handle)["layers"]) == 3


def test_a_destination_tag_that_is_no_signature_is_left_alone(testbed, signed):
    result = signed["run"].results["merge_bad"]
    assert result["changed"] is True  # the image itself was copied
    [skipped] = [s for s in result["referrers_skipped"] if s["found_by"] == "cosign_tag"]
    assert "is an index" in skipped["reason"] and "not overwritten" in skipped["reason"]
    assert any("left as it is" in w for w in result.get("warnings", []))
    raw = sig_raw(testbed, signed["registry"], "sign/badsig", signed["signed_image"],
                  "application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.list.v2+json")
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == signed["bad_index"]
