"""Repositories for registry_sync's tests and benchmark: many tags of images sharing a base layer
(each tag its own top layer and created time), a multi-platform index, seeded with skopeo."""

from __future__ import annotations

import concurrent.futures
import gzip
import json
import os
import random

from tests.testbed.images import (LAYER_GZIP, OCI_CONFIG, OCI_MANIFEST, PLATFORMS, Layout, Seeder,
                                  _digest, _tar)

# repository -> [(tag, created)]; the created times do not follow the tag names' order.
SYNC_REPOSITORIES = {
    "versions": [("1.0.0", "2024-01-01T00:00:00Z"), ("1.2.0", "2024-02-01T00:00:00Z"),
                 ("1.2.5", "2024-03-01T00:00:00Z"), ("1.3.0-rc1", "2024-03-15T00:00:00Z"),
                 ("1.3.0", "2024-04-01T00:00:00Z"), ("v1.4", "2024-05-01T00:00:00Z"),
                 ("2.0.0", "2024-06-01T00:00:00Z"), ("2.1.0-rc1", "2024-07-01T00:00:00Z"),
                 ("latest", "2024-06-01T00:00:00Z")],
    "names": [("alpha", "2024-01-03T00:00:00Z"), ("beta", "2024-01-01T00:00:00Z"),
              ("gamma", "2024-01-02T10:00:00+02:00"), ("edge", "2024-01-04T00:00:00.5Z")],
}
MULTI_TAGS = ["1.0", "1.1"]


def layered_image(layout: Layout, base: bytes, label: str, created: str, platform=("linux", "amd64", None),
                  top_size: int = 64) -> dict:
    """An image of two layers: the shared ``base`` (gzip bytes) and a small top layer of its own."""
    top_raw = _tar({"%s.txt" % label: random.Random(label).randbytes(top_size)})
    top = layout.blob(gzip.compress(top_raw, compresslevel=1, mtime=0), LAYER_GZIP)
    base_desc = layout.blob(base, LAYER_GZIP)
    os_name, arch, variant = platform
    config = {"architecture": arch, "os": os_name, "created": created,
              "config": {"Labels": {"org.example.image": label}},
              "rootfs": {"type": "layers", "diff_ids": [_digest(gzip.decompress(base)), _digest(top_raw)]}}
    if variant:
        config["variant"] = variant
    config_desc = layout.blob(json.dumps(config, sort_keys=True).encode(), OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc,
                "layers": [base_desc, top]}
    desc = layout.blob(json.dumps(manifest, sort_keys=True).encode(), OCI_MANIFEST)
    desc["platform"] = {"os": os_name, "architecture": arch}
    if variant:
        desc["platform"]["variant"] = variant
    return desc


def base_layer(size: int, seed: int = 7) -> bytes:
    return gzip.compress(_tar({"base.bin": random.Random(seed).randbytes(size)}), compresslevel=1, mtime=0)


def build_sync_layout(path: str, base_size: int = 256 * 1024) -> Layout:
    """Layout tags ``<repository>/<tag>`` for SYNC_REPOSITORIES and ``multi/<tag>`` (indexes)."""
    layout = Layout(path)
    base = base_layer(base_size)
    for repository, tags in SYNC_REPOSITORIES.items():
        for tag, created in tags:
            layout.tag("%s-%s" % (repository, tag), layered_image(layout, base, "%s-%s" % (repository, tag), created))
    for tag in MULTI_TAGS:
        layout.tag("multi-" + tag, layout.index([
            layered_image(layout, base, "multi-%s-%s" % (tag, p[1]), "2024-01-01T00:00:00Z", p) for p in PLATFORMS]))
    layout.save()
    return layout


def seed_sync_repositories(layout: Layout, registry, prefix: str, creds: str | None = None,
                           repositories: list | None = None) -> None:
    """Copy the layout's images to ``prefix/<repository>:<tag>`` with skopeo, a few at once."""
    seeder = Seeder(layout.path, registry, creds)
    copies = []
    for repository, tags in SYNC_REPOSITORIES.items():
        if repositories is None or repository in repositories:
            copies += [("%s-%s" % (repository, tag), "%s/%s:%s" % (prefix, repository, tag)) for tag, _c in tags]
    if repositories is None or "multi" in repositories:
        copies += [("multi-" + tag, "%s/multi:%s" % (prefix, tag)) for tag in MULTI_TAGS]
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        for done in [pool.submit(seeder.copy, source, dest) for source, dest in copies]:
            done.result()


def bench_layout(path: str, repositories: int, tags: int, base_size: int, top_size: int) -> Layout:
    """``repositories`` × ``tags`` images sharing one base layer, tagged ``r<i>-t<j>``."""
    layout = Layout(path)
    base = base_layer(base_size, seed=11)
    for r in range(repositories):
        for t in range(tags):
            label = "r%d-t%d" % (r, t)
            layout.tag(label, layered_image(layout, base, label, "2024-01-%02dT00:00:00Z" % (t + 1),
                                            top_size=top_size))
    layout.save()
    return layout


def layout_files(path: str) -> list:
    return sorted(os.listdir(os.path.join(path, "blobs", "sha256")))
