"""The documentation site (`make docs`) seen in a real browser: headless Chromium renders the
collection's index page, takes a screenshot of it, and the rendered page must link every module,
lookup, filter and role that the collection's tree holds, each to a page of its own.

What is expected is read from the collection itself (plugins/modules, plugins/lookup, the filters
that plugins/filter exports, roles/), so plugins and roles added later are covered without an edit.
"""

from __future__ import annotations

import glob
import importlib
import os
import shutil
import subprocess
import tempfile
import zlib
from html.parser import HTMLParser

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SITE = os.path.join(ROOT, "build", "docs", "build", "html")
INDEX = os.path.join(SITE, "index.html")
SCREENSHOT = os.path.join(ROOT, "build", "docs", "index.png")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def _plugin_files(kind_dir: str) -> list[str]:
    names = []
    for path in glob.glob(os.path.join(ROOT, "plugins", kind_dir, "*.py")):
        name = os.path.splitext(os.path.basename(path))[0]
        if not name.startswith("_"):
            names.append(name)
    return sorted(names)


def _filters() -> list[str]:
    """Every filter the collection exports: what FilterModule.filters() of each file returns."""
    names = []
    for module_name in _plugin_files("filter"):
        plugin = importlib.import_module("ansible_collections.drc.registry.plugins.filter." + module_name)
        names.extend(plugin.FilterModule().filters())
    return sorted(names)


def _roles() -> list[str]:
    roles = os.path.join(ROOT, "roles")
    if not os.path.isdir(roles):
        return []
    return sorted(name for name in os.listdir(roles) if os.path.isdir(os.path.join(roles, name)))


def expected_pages() -> list[tuple[str, str]]:
    """(name, kind) of everything the site must list, from the collection's own tree."""
    pages = [(name, "module") for name in _plugin_files("modules")]
    pages += [(name, "lookup") for name in _plugin_files("lookup")]
    pages += [(name, "filter") for name in _filters()]
    pages += [(name, "role") for name in _roles()]
    return pages


class _Links(HTMLParser):
    """(href without fragment, text) of every link in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = []

    def handle_data(self, data):
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links.append((self._href.split("#")[0], " ".join("".join(self._text).split())))
            self._href = None


def _png_pixels(image: bytes) -> bytes:
    """The decompressed image data of a PNG (filter bytes included; enough to tell blank from not)."""
    data, offset = b"", 8
    while offset < len(image):
        length = int.from_bytes(image[offset:offset + 4], "big")
        if image[offset + 4:offset + 8] == b"IDAT":
            data += image[offset + 8:offset + 8 + length]
        offset += 12 + length
    return zlib.decompress(data)


def _chromium(*args: str) -> subprocess.CompletedProcess:
    browser = shutil.which("chromium")
    assert browser, "Debian's chromium is not installed (make debian-deps installs it)"
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([browser, *CHROMIUM_FLAGS, "--user-data-dir=" + profile, *args],
                              capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def rendered() -> str:
    assert os.path.isfile(INDEX), "no documentation site at %s: run `make docs`" % INDEX
    done = _chromium("--dump-dom", "file://" + INDEX)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_collection_has_what_the_site_must_list():
    kinds = {kind for unused_name, kind in expected_pages()}
    # Guards the scan itself: an empty scan would make the next test pass on an empty page.
    assert {"module", "lookup", "filter"} <= kinds


@pytest.mark.parametrize("name, kind", expected_pages(), ids=str)
def test_index_page_links_a_page_for(rendered, name, kind):
    parser = _Links()
    parser.feed(rendered)
    page = "%s_%s.html" % (name, kind)
    texts = [text for href, text in parser.links if href == page]
    assert texts, "the rendered index page has no link to %s (%s %s)" % (page, kind, name)
    assert "%s %s" % (name, kind) in texts, texts
    assert os.path.isfile(os.path.join(SITE, page)), page
    with open(os.path.join(SITE, page), encoding="utf-8") as handle:
        assert "drc.registry.%s" % name in handle.read()


def test_screenshot_of_the_index_page(rendered):
    if os.path.exists(SCREENSHOT):
        os.unlink(SCREENSHOT)
    done = _chromium("--screenshot=" + SCREENSHOT, "--window-size=1280,1600", "file://" + INDEX)
    assert done.returncode == 0, done.stderr
    with open(SCREENSHOT, "rb") as handle:
        image = handle.read()
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(image[16:20], "big"), int.from_bytes(image[20:24], "big")
    assert (width, height) == (1280, 1600)
    # Something was drawn: the pixels of a blank page would be one colour.
    assert len(set(_png_pixels(image))) > 16
    assert "drc.registry" in rendered and "Plugin Index" in rendered
