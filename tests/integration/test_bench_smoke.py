"""`make bench-quick` as a smoke test of the benchmark harness: it runs end to end and reports every
figure for every peer. Nothing here is about speed."""

from __future__ import annotations

import json
import math
from xml.etree import ElementTree

from bench.run import main


def test_quick_benchmark_reports_every_figure(tmp_path):
    assert main(["--quick", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "quick.json").read_text())
    assert [row["references"] for row in report["resolve"]] == [1, 5]
    for row in report["resolve"]:
        assert set(row["median_seconds"]) == {"lookup in ansible-playbook", "playbook without the lookup",
                                              "our client, in-process", "skopeo inspect per reference",
                                              "python-dxf per reference"}
        assert all(v > 0 for v in row["median_seconds"].values())
        for name, counts in row["requests"].items():
            if name == "playbook without the lookup":
                assert counts == {"registry": 0, "token": 0}
            else:
                assert counts["registry"] >= row["references"], (name, counts)
        assert not math.isnan(row["ratio_lookup_to_skopeo"])
    fetch = report["fetch"]["8m"]
    ours = {"our module (ansible)", "module start-up (tiny blob)", "our client, in-process", "curl -o (no hashing)",
            "curl | sha256sum", "skopeo copy to dir:"}
    assert set(fetch["peak_rss_mib"]) == ours | {"python-dxf pull_blob"}
    assert set(report["fetch_plain"]["8m"]["peak_rss_mib"]) == ours  # python-dxf refuses plain http
    for fetch in (report["fetch"]["8m"], report["fetch_plain"]["8m"]):
        assert all(v > 0 for v in fetch["peak_rss_mib"].values())
        assert not math.isnan(fetch["ratio_module_less_startup_to_curl_o"]) and fetch["ratio_inprocess_to_curl_o"] > 0
    assert report["startup"]["median_seconds"]["ansible.builtin.ping"] > 0
    text = (tmp_path / "quick.md").read_text()
    assert "| our module (ansible) |" in text and "(module − start-up) / curl -o" in text
    assert "| 8 MiB | plain |" in text and "| 8 MiB | tls |" in text
    copies = report["copy"]
    assert [(row["kind"], row["image"]) for row in copies["rows"]] == [
        (kind, image) for kind in ("registry to registry", "registry to oci:", "oci: to registry")
        for image in ("multi", "8m")]
    for row in copies["rows"]:
        assert set(row["median_seconds"]) == {"our module (ansible)", "our client (python process)", "skopeo copy --all"}
        assert all(v > 0 for v in row["median_seconds"].values())
        for tool, counts in row["requests"].items():
            # every tool really copied: the destination registry got uploads, or the source was read
            side = "source" if row["kind"] == "registry to oci:" else "dest"
            assert counts[side] > 0, (row["kind"], row["image"], tool, counts)
        assert row["digest"].startswith("sha256:") and row["bytes"] > 0
        assert not math.isnan(row["ratio_module_less_startup_to_skopeo"])
    assert "| registry to registry | multi |" in (tmp_path / "quick.md").read_text()
    extract = report["extract"]
    assert set(extract["peak_rss_mib"]) == {"our module (ansible)", "module start-up (tiny file)",
                                            "skopeo copy to oci:", "umoci unpack (from the layout)"}
    assert all(v > 0 for v in extract["median_seconds"].values()) and extract["layer_bytes"] > 8 * 1024 * 1024
    assert "## Extract: one file out of a 8 MiB layer" in (tmp_path / "quick.md").read_text()
    # the chart: an SVG with a bar for each scenario of the report, each copy row twice
    svg = ElementTree.parse(str(tmp_path / "quick.svg")).getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    scenarios = [rect.get("data-scenario") for rect in svg.iter("{http://www.w3.org/2000/svg}rect")
                 if rect.get("class") == "bar"]
    assert set(scenarios) == {"resolve", "fetch", "startup", "copy"}
    assert scenarios.count("copy") == 2 * len(copies["rows"])
    # a fetch bar against each peer that hashes too, on both registry kinds
    assert scenarios.count("fetch") >= 3 * (len(report["fetch"]) + len(report["fetch_plain"]))


def test_verify_benchmark_counts_what_verification_adds(tmp_path):
    """bench.verify end to end: the verified digests are the plain ones, and a signed image costs
    exactly the four reads docs/signatures.md names (referrers API, tag list, .sig, payload)."""
    from bench.verify import main as verify_main
    assert verify_main(["--reps", "1", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "verify.json").read_text())
    singles = [row for row in report["rows"] if row["terms"] == 1]
    assert {row["images"] for row in singles} == {"signed-docker", "signed-image", "signed-index", "two-signatures"}
    for row in report["rows"]:
        assert row["plain"]["digests"] == row["verified"]["digests"]
        assert row["plain"]["seconds"] > 0 and row["verified"]["seconds"] > 0
    for row in singles:
        assert [v - p for p, v in zip(row["plain"]["requests"], row["verified"]["requests"])] == [4], row
    assert "| all 4 as one batch | 4 |" in (tmp_path / "verify.md").read_text()
