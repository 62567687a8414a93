"""python-dxf as a peer: ``digest`` resolves references one by one (a fresh DXF object, so a fresh
session and token, per reference, as one dxf command per reference would); ``fetch`` pulls a blob."""

from __future__ import annotations

import json
import sys
import time

from dxf import DXF


def _auth(username: str, password: str):
    def auth(dxf, response):
        dxf.authenticate(username, password, response=response)
    return auth


def main() -> int:
    command, payload = sys.argv[1], json.loads(sys.argv[2])
    auth = _auth(payload["username"], payload["password"])
    started = time.perf_counter()
    if command == "digest":
        digests = []
        for reference in payload["references"]:
            repository, tag = reference.rsplit(":", 1)
            client = DXF(payload["host"], repository, auth, tlsverify=payload["ca"])
            digests.append(client.head_manifest_and_response(tag)[0])
        result = digests
    else:
        client = DXF(payload["host"], payload["repository"], auth, tlsverify=payload["ca"])
        size = 0
        with open(payload["dest"], "wb") as out:
            for chunk in client.pull_blob(payload["digest"], chunk_size=1024 * 1024):
                out.write(chunk)
                size += len(chunk)
        result = size
    print(json.dumps({"seconds": time.perf_counter() - started, "result": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
