# Private to the drc.registry collection: no compatibility promise for other collections.
"""The manifests API: HEAD for a digest, GET verified against its digest."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from ansible_collections.drc.registry.plugins.module_utils._registry import media_types as mt
from ansible_collections.drc.registry.plugins.module_utils._registry.auth import repository_scope
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import (
    DIGEST_HEX_LENGTHS, digest_problem, manifest_digest_of, parse_decimal_header, validate_digest)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    DigestMismatch, RegistryError, is_not_found, redact_url)
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import release

if TYPE_CHECKING:
    from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import Manifest


def manifest_path(repository: str, reference: str) -> str:
    return "/v2/%s/manifests/%s" % (repository, quote(reference, safe=":"))


def checked_header_digest(response, method: str) -> str | None:
    """Docker-Content-Digest, when sent, must be a digest: it is returned and may be pinned."""
    value = response.headers.get("Docker-Content-Digest")
    if value is None:
        return None
    problem = digest_problem(value)
    if problem is not None:
        raise RegistryError("%s %s: the registry's Docker-Content-Digest header is unusable: %s"
                            % (method, redact_url(response.url), problem), method=method,
                            url=response.url)
    return value


def head_manifest(connection, repository: str, reference: str) -> dict:
    """digest (the registry's header, a hint), media_type and size, without the body."""
    response = connection.request("HEAD", manifest_path(repository, reference),
                                  [repository_scope(repository)],
                                  headers={"Accept": mt.MANIFEST_ACCEPT},
                                  what="manifest %s:%s" % (repository, reference))
    release(response)
    return {"digest": checked_header_digest(response, "HEAD"),
            "media_type": mt.base_type(response.headers.get("Content-Type")) or None,
            "size": parse_decimal_header(response.headers.get("Content-Length"))}


def get_manifest(connection, repository: str, reference: str) -> Manifest:
    """GET a manifest; fetched by digest, its bytes must hash to that digest."""
    # Here, not at the top: a HEAD (manifest_digest's usual path) needs no manifest model.
    from ansible_collections.drc.registry.plugins.module_utils._registry.manifest import (
        MAX_MANIFEST_SIZE, Manifest, ManifestError)
    what = "manifest %s:%s" % (repository, reference)
    raw, response = connection.get_bounded(manifest_path(repository, reference),
                                           [repository_scope(repository)], MAX_MANIFEST_SIZE,
                                           "the " + what, headers={"Accept": mt.MANIFEST_ACCEPT})
    header_digest = checked_header_digest(response, "GET")
    by_digest = ":" in reference
    algorithm = reference.split(":", 1)[0] if by_digest else (
        header_digest.split(":", 1)[0] if header_digest and ":" in header_digest else "sha256")
    if algorithm not in DIGEST_HEX_LENGTHS:
        algorithm = "sha256"
    actual = manifest_digest_of(raw, algorithm)
    if by_digest and actual != reference:
        raise DigestMismatch("the manifest served for %s@%s hashes to %s: refusing content that "
                             "does not match its digest" % (repository, reference, actual))
    if header_digest and header_digest != actual:
        connection.warn("the registry's Docker-Content-Digest %s for %s:%s does not match the "
                        "content (%s); using the digest of the content"
                        % (header_digest, repository, reference, actual))
    try:
        return Manifest(raw, response.headers.get("Content-Type"), actual)
    except ManifestError as exc:
        raise RegistryError("GET %s: %s" % (redact_url(response.url), exc), method="GET",
                            url=response.url)


def manifest_digest(connection, repository: str, reference: str) -> dict:
    """The digest a tag (or digest) names: HEAD first (cheap, not rate-limited), GET when needed.

    Returns digest, media_type and size.
    """
    by_digest = ":" in reference
    if by_digest:
        validate_digest(reference)
    try:
        head = head_manifest(connection, repository, reference)
    except RegistryError as exc:
        if exc.status in (401, 403):
            raise
        head = None  # a failed HEAD has no body: GET tells the reason, or succeeds
    if head and head["digest"] and (not by_digest or head["digest"] == reference):
        return head
    # No digest header, or one that contradicts the reference: the bytes decide.
    manifest = get_manifest(connection, repository, reference)
    return {"digest": manifest.digest, "media_type": manifest.media_type, "size": manifest.size}


def find_manifest(connection, repository: str, reference: str) -> dict | None:
    """digest, media_type and size of the manifest a tag or digest names, or None when absent."""
    try:
        return manifest_digest(connection, repository, reference)
    except RegistryError as exc:
        if is_not_found(exc):
            return None
        raise


def current_digest(connection, repository: str, reference: str) -> str | None:
    """The digest a tag names at a destination now, None when it is absent: one HEAD (a 404 asks
    nothing more); a GET only when the HEAD gave no digest."""
    try:
        head = head_manifest(connection, repository, reference)
    except RegistryError as exc:
        if exc.status == 404:
            return None  # absent: no GET to learn more (one request less per copy)
        head = None
    if head and head["digest"]:
        return head["digest"]
    found = find_manifest(connection, repository, reference)
    return found["digest"] if found else None


def put_manifest(connection, repository: str, reference: str, raw: bytes, media_type: str) -> str:
    """PUT a manifest with its own media type; the registry's digest must equal ours.

    ``reference`` is a tag or the manifest's digest. Children of an index go first (the caller's
    order). Returns the digest.
    """
    return put_manifest_answer(connection, repository, reference, raw, media_type)[0]


def put_manifest_answer(connection, repository: str, reference: str, raw: bytes,
                        media_type: str) -> tuple:
    """put_manifest, returning (digest, the answer's headers): a registry with the referrers API
    answers the PUT of a manifest with a ``subject`` with an ``OCI-Subject`` header."""
    algorithm = reference.split(":", 1)[0] if ":" in reference else "sha256"
    digest = manifest_digest_of(raw, algorithm if algorithm in DIGEST_HEX_LENGTHS else "sha256")
    if ":" in reference and reference != digest:
        raise DigestMismatch("refusing to PUT a manifest hashing to %s under the digest %s"
                             % (digest, reference))
    response = connection.request("PUT", manifest_path(repository, reference),
                                  [repository_scope(repository, "pull,push")],
                                  headers={"Content-Type": media_type}, body=raw, ok=(200, 201, 202),
                                  what="repository %s" % repository)
    release(response)
    answered = checked_header_digest(response, "PUT")
    if answered and answered != digest:
        raise DigestMismatch("the registry stored the manifest for %s:%s as %s, not %s"
                             % (repository, reference, answered, digest))
    return digest, response.headers
