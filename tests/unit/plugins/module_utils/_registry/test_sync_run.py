"""How SyncRun orders its work, with the registry calls replaced by stand-ins (the requests
themselves are checked against the real test bed in tests/integration/test_sync.py)."""

from __future__ import annotations

import threading

from ansible_collections.drc.registry.plugins.module_utils._registry import sync
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError

DIGEST = "sha256:" + "a" * 64


class Side:
    """A connection as far as SyncRun itself goes (the calls that would use it are replaced)."""

    def __init__(self) -> None:
        self.prepared = threading.Event()
        self.prepared_scopes: list = []

    def hint_scopes(self, scopes: list) -> None:
        pass

    def prepare(self, scopes: list) -> None:
        self.prepared_scopes.append(scopes)
        self.prepared.set()


def test_tags_are_checked_while_other_repositories_are_still_listed(monkeypatch):
    """The second repository's tag list is answered only once a tag of the first one has been
    checked at the destination: a run that lists every repository before checking any tag would
    wait here (the destination's ping and token would wait for the last list)."""
    first_checked = threading.Event()

    def list_tags(connection, repository):
        if repository.endswith("/two") and not first_checked.wait(10):
            raise RegistryError("the first repository's tags were not checked while this one was listed")
        return ["t1", "t2"]

    def current_digest(connection, repository, tag):
        if repository.endswith("/one"):
            first_checked.set()
        return DIGEST

    monkeypatch.setattr(sync, "list_tags", list_tags)
    monkeypatch.setattr(sync, "manifest_digest", lambda connection, repository, tag: {"digest": DIGEST})
    monkeypatch.setattr(sync, "current_digest", current_digest)
    jobs = sync.plan_jobs("src.example", "dest.example/mirror", ["team/one", "team/two"])
    result = sync.SyncRun(jobs, Side(), Side(), None, concurrency=2).run()
    assert result["failed_images"] == []
    # the results keep the order of the repositories and their tags, whatever the order of work
    assert [(i["src"], i["action"]) for i in result["images"]] == [
        ("src.example/team/one:t1", sync.PRESENT), ("src.example/team/one:t2", sync.PRESENT),
        ("src.example/team/two:t1", sync.PRESENT), ("src.example/team/two:t2", sync.PRESENT)]


def test_a_listing_failure_is_recorded_and_the_other_repositories_go_on(monkeypatch):
    def list_tags(connection, repository):
        if repository.endswith("/one"):
            raise RegistryError("GET https://src.example/v2/team/one/tags/list failed: 404 Not Found", status=404)
        return ["t1"]

    monkeypatch.setattr(sync, "list_tags", list_tags)
    monkeypatch.setattr(sync, "manifest_digest", lambda connection, repository, tag: {"digest": DIGEST})
    monkeypatch.setattr(sync, "current_digest", lambda connection, repository, tag: DIGEST)
    jobs = sync.plan_jobs("src.example", "dest.example", ["team/one", "team/two"])
    result = sync.SyncRun(jobs, Side(), Side(), None, concurrency=1).run()
    assert [f["reference"] for f in result["failed_images"]] == ["src.example/team/one"]
    assert [i["src"] for i in result["images"]] == ["src.example/team/two:t1"]


def test_the_destination_is_prepared_while_the_source_is_listed(monkeypatch):
    """The destination's ping and token are asked at the start, alongside the source's lists (the
    only list here is answered once they are), not after the first tag is checked."""
    dest = Side()

    def list_tags(connection, repository):
        if not dest.prepared.wait(10):
            raise RegistryError("the destination was not prepared while the source was listed")
        return ["t1"]

    monkeypatch.setattr(sync, "list_tags", list_tags)
    monkeypatch.setattr(sync, "manifest_digest", lambda connection, repository, tag: {"digest": DIGEST})
    monkeypatch.setattr(sync, "current_digest", lambda connection, repository, tag: DIGEST)
    jobs = sync.plan_jobs("src.example", "dest.example/mirror", ["team/one"])
    result = sync.SyncRun(jobs, Side(), dest, None, concurrency=1).run()
    assert result["failed_images"] == [] and result["already_present"] == 1
    # one scope the tags will need there: its token comes with every hinted scope (one token per side)
    assert dest.prepared_scopes == [["repository:mirror/team/one:pull"]]
