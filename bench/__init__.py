"""Benchmarks: drc.registry side by side with skopeo, python-dxf and curl on one registry."""
