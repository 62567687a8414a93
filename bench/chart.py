"""The benchmark chart: a plain SVG, written by hand (no plotting package), of ours against the
peers in one run.

One horizontal bar per figure: the ratio ours/peer on a logarithmic axis, drawn from 1 (as fast
as the peer) to the left when ours is faster and to the right when it is slower, with the
issue's target for that figure as a tick across the bar. Green: the target is met; red: missed.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

# The targets of the performance issue (ratios ours/peer; the start-up target is 0.15 s over ping).
TARGETS = {"resolve": 0.02, "fetch": 1.2, "startup_seconds": 0.15, "copy": 1.0}

WIDTH = 960
LABEL_WIDTH = 390
PLOT_LEFT = LABEL_WIDTH + 10
PLOT_RIGHT = WIDTH - 70
ROW = 24
HEADER = 28
TOP = 70


def bars(report: dict) -> list:
    """What the chart shows: one dict per bar (scenario, group, label, value, target, peer)."""
    out = []
    ping = ((report.get("startup") or {}).get("median_seconds") or {}).get("ansible.builtin.ping")
    resolve = report.get("resolve") or []
    if resolve:
        row = max(resolve, key=lambda r: r["references"])
        group = "Resolve %d references (lookup's own time)" % row["references"]
        out.append(dict(scenario="resolve", group=group, label="vs a skopeo inspect loop",
                        value=row["ratio_lookup_to_skopeo"], target=TARGETS["resolve"]))
        if "ratio_lookup_to_dxf" in row:
            out.append(dict(scenario="resolve", group=group, label="vs a python-dxf loop",
                            value=row["ratio_lookup_to_dxf"], target=None))
    fetches = list((report.get("fetch") or {}).values()) + list((report.get("fetch_plain") or {}).values())
    for fetch in fetches:
        seconds = fetch.get("median_seconds", {})
        module, curl = seconds.get("our module (ansible)"), seconds.get("curl -o (no hashing)")
        if module is None or not curl:
            continue
        what = "plain http" if fetch.get("kind") == "plain" else "TLS + token"
        group = "Fetch a %.0f MiB blob, verified (%s)" % (fetch["blob_bytes"] / 1048576.0, what)
        # The module's own start-up on a tiny blob from the same registry, else Ansible's ping.
        startup = fetch.get("module_startup_seconds", ping)
        if startup is not None:
            # The target is for a 1 GiB blob: smaller ones are shown without one.
            out.append(dict(scenario="fetch", group=group, label="module less start-up vs curl -o",
                            value=(module - startup) / curl,
                            target=TARGETS["fetch"] if fetch["blob_bytes"] >= 1 << 30 else None))
        for peer in ("skopeo copy to dir:", "curl | sha256sum"):
            if seconds.get(peer):
                out.append(dict(scenario="fetch", group=group, label="module less start-up vs %s" % peer,
                                value=(module - (startup or 0.0)) / seconds[peer], target=None))
    startup = report.get("startup") or {}
    if ping:
        module = startup["median_seconds"].get("drc.registry.registry_tags_info")
        if module:
            out.append(dict(scenario="startup", group="Module start-up", label="registry_tags_info vs ping",
                            value=module / ping, target=(ping + TARGETS["startup_seconds"]) / ping))
    for row in (report.get("copy") or {}).get("rows", []):
        group = "Copy, %s" % row["kind"]
        out.append(dict(scenario="copy", group=group, label="%s: module less start-up vs skopeo" % row["image"],
                        value=row["ratio_module_less_startup_to_skopeo"], target=TARGETS["copy"]))
        out.append(dict(scenario="copy", group=group, label="%s: our client vs skopeo" % row["image"],
                        value=row["ratio_client_to_skopeo"], target=None))
    sync = report.get("sync")
    if sync:  # bench/sync.py: registry_sync against skopeo sync --all
        group = "Sync %d repositories x %d tags into an empty registry" % (sync["repositories"], sync["tags"])
        requests = {name: sum(counts.values()) for name, counts in sync["requests"].items()}
        out.append(dict(scenario="sync", group=group, label="first sync, module incl. start-up vs skopeo",
                        value=sync["ratio_first_to_skopeo"], target=0.5))
        out.append(dict(scenario="sync", group=group, label="first sync, requests vs skopeo's",
                        value=requests["ours first"] / float(requests["skopeo first"]), target=1.0))
        out.append(dict(scenario="sync", group=group, label="nothing to do, module less start-up vs skopeo",
                        value=sync["ratio_again_less_startup_to_skopeo"], target=0.5))
    # A difference of two medians (ours less start-up) can come out at 0 or below on a busy
    # machine: such a bar is kept, drawn at the left end of the axis, its value written as it is.
    return [b for b in out if b["value"] is not None and math.isfinite(b["value"])]


def _axis(values: list) -> tuple:
    values = [v for v in values if v > 0]
    low = min([0.01] + [v / 1.3 for v in values])
    high = max([10.0] + [v * 1.3 for v in values])
    return math.floor(math.log10(low)), math.ceil(math.log10(high))


def svg(report: dict) -> str:
    items = bars(report)
    low, high = _axis([b["value"] for b in items] + [b["target"] for b in items if b["target"]])

    def x(value: float) -> float:
        share = (math.log10(max(value, 10.0 ** low)) - low) / float(high - low)
        return PLOT_LEFT + share * (PLOT_RIGHT - PLOT_LEFT)

    groups = []
    for item in items:
        if not groups or groups[-1][0] != item["group"]:
            groups.append((item["group"], []))
        groups[-1][1].append(item)
    height = TOP + sum(HEADER + ROW * len(members) for _g, members in groups) + 60
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif" font-size="12">' % (WIDTH, height, WIDTH, height),
           '<rect x="0" y="0" width="%d" height="%d" fill="white"/>' % (WIDTH, height),
           '<text x="10" y="22" font-size="15" font-weight="bold">%s</text>' % escape(
               "drc.registry against its peers, %s (%d repetitions, medians)"
               % (report.get("date", ""), report.get("reps", 0))),
           '<text x="10" y="42" fill="#444">%s</text>' % escape(
               "Ratio ours/peer, log scale: left of 1 = ours faster. Tick = the issue's target; "
               "green = met, red = missed, grey = no target."),
           ]
    # the axis: decades and 2/5 steps, with 1 in bold
    axis_bottom = height - 40
    for exponent in range(low, high + 1):
        for step in ((1, 2, 5) if high - low <= 3 else (1, 3)):
            value = step * 10 ** exponent
            if value > 10 ** high:
                continue
            position = x(value)
            strong = value == 1
            out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="%s"/>' % (
                position, TOP - 8, position, axis_bottom, "#333" if strong else "#ddd", "1.5" if strong else "1"))
            out.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#444">%s</text>' % (
                position, axis_bottom + 16, ("%g" % value) + "\u00d7"))
    y = TOP
    for group, members in groups:
        out.append('<text x="10" y="%d" font-weight="bold">%s</text>' % (y + 18, escape(group)))
        y += HEADER
        for item in members:
            value, target = item["value"], item["target"]
            colour = "#9e9e9e" if target is None else ("#2e7d32" if value <= target else "#c62828")
            if value <= 0:
                colour = "#bdbdbd"  # not a ratio one can plot: the subtraction is within the noise
            left, right = sorted((x(1.0), x(value)))
            title = "%s: %s = %.3g\u00d7%s" % (item["group"], item["label"], value,
                                               "" if target is None else " (target %.3g\u00d7)" % target)
            out.append('<text x="20" y="%d" fill="#222">%s</text>' % (y + 15, escape(item["label"])))
            out.append('<rect class="bar" data-scenario="%s" x="%.1f" y="%d" width="%.1f" height="%d" '
                       'fill="%s"><title>%s</title></rect>' % (item["scenario"], left, y + 4,
                                                               max(right - left, 1.0), ROW - 8, colour,
                                                               escape(title)))
            out.append('<text x="%.1f" y="%d" fill="#222">%s</text>' % (
                right + 4, y + 15, "%.3g\u00d7" % value + (" (at or below 0: noise)" if value <= 0 else "")))
            if target is not None:
                out.append('<line class="target" x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000" '
                           'stroke-width="3"/>' % (x(target), y + 1, x(target), y + ROW - 1))
            y += ROW
    out.append("</svg>")
    return "\n".join(out) + "\n"
