"""`make bench-quick` as a smoke test of the benchmark harness: it runs end to end and reports every
figure for every peer. Nothing here is about speed."""

from __future__ import annotations

import json
import math

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
