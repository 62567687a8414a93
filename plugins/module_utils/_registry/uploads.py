# Private to the drc.registry collection: no compatibility promise for other collections.
"""The blob upload API: start (POST, or a cross-repository mount), monolithic PUT, chunked PATCH
following each Location, status GET to resume from the registry's Range, cancel DELETE.

``push_blob`` is the one call a copy makes: skip what is there, mount within one registry, else
upload from a source (blob_sources.py) hashed as it is read, in constant memory (one chunk).
"""

from __future__ import annotations

import time
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit, parse_qsl

from ansible_collections.drc.registry.plugins.module_utils._registry.auth import repository_scope
from ansible_collections.drc.registry.plugins.module_utils._registry.blob_sources import (
    RangeStream, SourceFailed, read_exact)
from ansible_collections.drc.registry.plugins.module_utils._registry.blobs import head_blob
from ansible_collections.drc.registry.plugins.module_utils._registry.digests import (
    DigestHasher, parse_decimal_header, validate_digest)
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import (
    DigestMismatch, RegistryError, redact_url)
from ansible_collections.drc.registry.plugins.module_utils._registry.transport import release

MIB = 1024 * 1024
# None: a blob goes in one streamed PATCH (as docker, containerd and skopeo send it); a size:
# PATCH pieces of at most that many bytes (for registries or proxies that limit request bodies).
DEFAULT_CHUNK_SIZE = None
# Blobs up to this size are read (and verified) first and sent in one PUT: one request less.
MONOLITHIC_MAX = 4 * MIB
MIN_CHUNK_SIZE = 64 * 1024
MAX_CHUNK_SIZE = 1024 * MIB
OCTET_STREAM = "application/octet-stream"
# Statuses after which asking the registry where the upload stands is worth it.
TEMPORARY_STATUSES = frozenset((408, 416, 429, 500, 502, 503, 504))
# Codes that mean the registry no longer knows the upload session.
LOST_UPLOAD_CODES = frozenset(("BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID"))


class UploadLost(RegistryError):
    """The registry forgot (or cancelled) the upload session: start a new one."""


def push_scopes(repository: str, mount_from: str | None = None) -> list:
    scopes = [repository_scope(repository, "pull,push")]
    if mount_from and mount_from != repository:
        scopes.append(repository_scope(mount_from, "pull"))
    return scopes


def _location(response, method: str) -> str:
    value = response.headers.get("Location")
    if not value:
        raise RegistryError("%s %s: the registry answered %d without a Location header" % (
            method, redact_url(response.url), response.status_code), method=method, url=response.url)
    return urljoin(response.url, value)


def with_query(url: str, **params) -> str:
    """Add parameters to an upload URL, keeping the ones the registry put there (its state)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def parse_range(value: str | None) -> int | None:
    """``Range: 0-1023`` (inclusive end) -> 1024 bytes received. ``0-0`` is read as nothing yet.

    (Distribution answers ``0-0`` for an empty upload; a registry that holds exactly one byte is
    then sent it again, which the digest check at the end catches.)
    """
    if not value:
        return None
    text = value.strip()
    if text.startswith("bytes="):
        text = text[len("bytes="):]
    start, sep, end = text.partition("-")
    first, last = parse_decimal_header(start), parse_decimal_header(end)
    if not sep or first is None or last is None or first != 0:
        return None
    return 0 if last == 0 else last + 1


def start_upload(connection, repository: str, mount: str | None = None,
                 mount_from: str | None = None) -> tuple:
    """POST /v2/<name>/blobs/uploads/ -> ("mounted", digest) or ("started", upload URL).

    With ``mount``/``mount_from`` the registry may link the blob from the other repository (201);
    a 202 means it opened an ordinary upload instead (no access to the source, another registry
    policy): the caller uploads after all.
    """
    path = "/v2/%s/blobs/uploads/" % repository
    if mount:
        path += "?" + urlencode({"mount": mount, "from": mount_from})
    attempt = 0
    while True:
        # A POST is not retried by the transport; starting an upload is safe to repeat (a session
        # left behind is purged by the registry), so temporary failures are retried here.
        try:
            response = connection.request("POST", path, push_scopes(repository, mount_from if mount else None),
                                          headers={"Content-Length": "0"}, ok=(201, 202),
                                          what="repository %s" % repository)
            break
        except RegistryError as exc:
            if not _temporary(exc) or attempt >= connection.retries:
                raise
            wait = connection.transport.policy.delay(attempt)
            attempt += 1
            connection.log("starting an upload to %s failed (%s); trying again in %.1fs"
                           % (repository, exc, wait))
            time.sleep(wait)
    release(response)
    if response.status_code == 201:
        if not mount:
            raise RegistryError("POST %s answered 201 Created to an upload that sent nothing"
                                % redact_url(response.url), method="POST", url=response.url)
        answered = response.headers.get("Docker-Content-Digest")
        if answered and answered != mount:
            raise DigestMismatch("the registry mounted %s when asked for %s" % (answered, mount))
        return "mounted", mount
    return "started", _location(response, "POST")


def upload_status(connection, repository: str, location: str) -> tuple:
    """GET on the upload URL: (bytes the registry holds, the upload URL to continue with)."""
    try:
        response = connection.request("GET", location, push_scopes(repository), ok=(200, 204),
                                      what="upload in %s" % repository)
    except RegistryError as exc:
        if exc.status == 404 or (exc.status == 400 and LOST_UPLOAD_CODES & set(exc.codes)):
            raise UploadLost("the registry no longer knows the upload to %s (%s)" % (repository, exc),
                             method="GET", url=location, status=exc.status, errors=exc.errors)
        raise
    release(response)
    received = parse_range(response.headers.get("Range"))
    if received is None:
        raise UploadLost("the registry reported no usable Range for the upload to %s" % repository)
    next_location = _location(response, "GET") if response.headers.get("Location") else location
    return received, next_location


def cancel_upload(connection, repository: str, location: str) -> None:
    """DELETE the upload session; best effort (the registry purges stale uploads anyway)."""
    try:
        release(connection.request("DELETE", location, push_scopes(repository),
                                   ok=(200, 202, 204, 404), what="upload in %s" % repository))
    except RegistryError as exc:
        connection.log("cancelling the upload to %s failed: %s" % (repository, exc))


def _check_created(response, repository: str, digest: str) -> None:
    answered = response.headers.get("Docker-Content-Digest")
    if answered and answered != digest:
        raise DigestMismatch("the registry stored blob %s in %s as %s" % (digest, repository, answered))


def put_monolithic(connection, repository: str, location: str, digest: str, data: bytes) -> None:
    """The whole blob in one PUT ?digest= (small blobs)."""
    response = connection.request("PUT", with_query(location, digest=digest), push_scopes(repository),
                                  headers={"Content-Type": OCTET_STREAM}, body=data, ok=(201, 204),
                                  what="upload of %s to %s" % (digest, repository))
    release(response)
    _check_created(response, repository, digest)


def patch_chunk(connection, repository: str, location: str, offset: int, data) -> tuple:
    """PATCH the bytes at ``offset``: (bytes the registry now reports, the next upload URL).

    ``data`` is bytes or a RangeStream (streamed with its length, never held in memory).
    """
    headers = {"Content-Type": OCTET_STREAM,
               "Content-Range": "%d-%d" % (offset, offset + len(data) - 1)}
    body = data if isinstance(data, RangeStream) else bytes(data)
    response = connection.request("PATCH", location, push_scopes(repository), headers=headers,
                                  body=body, ok=(202, 204),
                                  what="upload of a chunk to %s" % repository)
    release(response)
    received = parse_range(response.headers.get("Range"))
    next_location = _location(response, "PATCH")
    return (offset + len(data) if received is None else received), next_location


def complete_upload(connection, repository: str, location: str, digest: str) -> None:
    """The closing PUT ?digest= with no body."""
    response = connection.request("PUT", with_query(location, digest=digest), push_scopes(repository),
                                  headers={"Content-Type": OCTET_STREAM, "Content-Length": "0"},
                                  body=b"", ok=(201, 204),
                                  what="upload of %s to %s" % (digest, repository))
    release(response)
    _check_created(response, repository, digest)


def _temporary(exc: RegistryError) -> bool:
    if isinstance(exc, DigestMismatch):
        return False
    return exc.status is None or exc.status in TEMPORARY_STATUSES


class Upload:
    """One blob going to one repository: the state of a (possibly resumed) upload."""

    def __init__(self, connection, repository: str, digest: str, size: int, source,
                 chunk_size: int | None = DEFAULT_CHUNK_SIZE) -> None:
        self.connection = connection
        self.repository = repository
        self.digest = digest
        self.size = size
        self.source = source
        self.chunk_size = chunk_size
        self.bytes_sent = 0
        self.resumed = 0
        self.restarted = 0

    def _verify(self, hasher: DigestHasher) -> None:
        actual = hasher.digest()
        if hasher.size != self.size or actual != self.digest:
            raise DigestMismatch("%s hashes to %s over %d bytes, not %s over %d bytes: refusing to "
                                 "upload content that does not match its digest"
                                 % (self.source.what, actual, hasher.size, self.digest, self.size))

    def _check_source_ends(self, reader) -> None:
        if reader.read(1):
            raise DigestMismatch("%s is larger than its declared %d bytes" % (self.source.what, self.size))

    def send(self, location: str) -> None:
        """Send the blob into an open upload session: small blobs in one PUT, others streamed."""
        if self.size <= min(MONOLITHIC_MAX, self.chunk_size or MONOLITHIC_MAX):
            self._send_monolithic(location)
        else:
            self._send_streamed(location)

    def _send_monolithic(self, location: str) -> None:
        reader = self.source.open(0)
        try:
            data = read_exact(reader, self.size, self.source.what)
            self._check_source_ends(reader)
        finally:
            reader.close()
        hasher = DigestHasher.for_digest(self.digest)
        hasher.feed(0, data)
        self._verify(hasher)
        self.bytes_sent += len(data)
        self._finish(put_monolithic, location, data)

    def _finish(self, call, location: str, *rest) -> None:
        try:
            call(self.connection, self.repository, location, self.digest, *rest)
        except RegistryError as exc:
            # A closing PUT whose answer was lost may have been stored: the registry knows.
            if _temporary(exc) or exc.status == 404:
                if head_blob(self.connection, self.repository, self.digest) == self.size:
                    return
            raise

    def _chunk_end(self, start: int) -> int:
        return min(self.size, start + self.chunk_size) if self.chunk_size else self.size

    def _send_streamed(self, location: str) -> None:
        """PATCH the blob streamed from its source, in one request (or ``chunk_size`` pieces).

        The source is read and hashed ahead on a thread while the request sends; no piece is
        held in memory, so one that must be sent again (the registry reports less than was
        sent) is read again from the source, from the byte the registry reports.
        """
        connection = self.connection
        hasher = DigestHasher.for_digest(self.digest)
        reader = self.source.open(0)
        position = 0  # where the reader stands
        failures = 0
        start = 0
        try:
            while start < self.size:
                end = self._chunk_end(start)
                received = start
                rounds = 0
                while True:
                    rounds += 1
                    if rounds > max(connection.retries, 1) + 2:
                        raise RegistryError("the registry keeps reporting %d of the %d bytes of %s sent "
                                            "to %s; giving up" % (received, end, self.digest, self.repository))
                    if received < hasher.size:
                        # Sending again what was read (and hashed) ahead: hash it again as re-read,
                        # from the last checkpoint, so the digest checks the bytes sent now.
                        reader.close()
                        position = hasher.rewind(received)
                        reader = self.source.open(position)
                        hasher.feed(position, read_exact(reader, received - position, self.source.what))
                        position = received
                    if position != received:
                        reader.close()
                        reader = self.source.open(received)
                        position = received
                    stream = RangeStream(reader, received, end, hasher, self.source.what)
                    try:
                        reported, location = patch_chunk(connection, self.repository, location, received, stream)
                    except (RegistryError, SourceFailed) as exc:
                        stream.close()
                        position = stream.position
                        self.bytes_sent += stream.consumed  # what went on the wire, resent bytes again
                        failure = _source_failure(exc, self.source.what)
                        if failure is not None:
                            raise failure
                        if not _resumable(exc) or failures >= max(connection.retries, 1):
                            raise
                        failures += 1
                        connection.log("sending bytes %d-%d of %s to %s failed (%s); asking the registry "
                                       "where the upload stands" % (received, end - 1, self.digest,
                                                                    self.repository, exc))
                        reported, location = upload_status(connection, self.repository, location)
                        self.resumed += 1
                    else:
                        stream.close()
                        position = stream.position
                        self.bytes_sent += stream.consumed
                    if reported > hasher.size:
                        raise RegistryError("the registry reports %d bytes of %s received, more than "
                                            "the %d sent" % (reported, self.digest, hasher.size))
                    if reported == end:
                        break
                    if start <= reported < end:
                        connection.log("the registry holds %d bytes of %s; resuming from there"
                                       % (reported, self.digest))
                        received = reported
                        continue
                    if reported < start:
                        # The registry holds less than an earlier piece reported: send again from there.
                        connection.log("the registry holds %d bytes of %s; re-reading the source "
                                       "from there" % (reported, self.digest))
                        start = received = reported
                        end = self._chunk_end(start)
                        continue
                    raise RegistryError("the registry reports %d bytes of %s received, more than "
                                        "the %d sent" % (reported, self.digest, end))
                start = end
            if position != self.size:
                reader.close()
                reader = self.source.open(self.size)
                position = self.size
            self._check_source_ends(reader)
        finally:
            reader.close()
        self._verify(hasher)
        self._finish(complete_upload, location)


def _resumable(exc: RegistryError) -> bool:
    """A failed PATCH worth asking the registry about: temporary, or a token that expired while
    a streamed body (never re-sent as such) was on its way."""
    return _temporary(exc) or exc.status == 401


def _source_failure(exc: BaseException, what: str):
    """The error to raise when a send failed because of its source; None for the destination's."""
    if not isinstance(exc, SourceFailed):
        return None
    error = exc.error
    if isinstance(error, RegistryError):
        return error
    if isinstance(error, OSError):
        return RegistryError("cannot read %s: %s" % (what, error.strerror or error))
    return RegistryError("reading %s failed: %s" % (what, error))


def push_blob(connection, repository: str, digest: str, size: int, source,
              chunk_size: int | None = DEFAULT_CHUNK_SIZE, mount_from: str | None = None,
              skip_existing: bool = True) -> dict:
    """Make ``repository`` hold the blob: {"action": skipped|mounted|uploaded, "bytes": sent}.

    ``source`` is read only when the blob must really be uploaded. A session the registry forgets
    (a reset it answered by cancelling) is started again, a bounded number of times; any other
    failure cancels the session before it is raised.
    """
    validate_digest(digest)
    if skip_existing and head_blob(connection, repository, digest) is not None:
        return {"action": "skipped", "bytes": 0}
    location = None
    if mount_from and mount_from != repository:
        state, location = start_upload(connection, repository, mount=digest, mount_from=mount_from)
        if state == "mounted":
            return {"action": "mounted", "bytes": 0}
        connection.log("the registry did not mount %s from %s; uploading it" % (digest, mount_from))
    upload = Upload(connection, repository, digest, size, source, chunk_size)
    while True:
        if location is None:
            location = start_upload(connection, repository)[1]
        try:
            upload.send(location)
            return {"action": "uploaded", "bytes": upload.bytes_sent, "resumed": upload.resumed,
                    "restarted": upload.restarted}
        except UploadLost as exc:
            if upload.restarted >= max(connection.retries, 1):
                raise
            upload.restarted += 1
            connection.log("%s; starting the upload of %s again" % (exc, digest))
            location = None
        except BaseException:
            cancel_upload(connection, repository, location)
            raise
