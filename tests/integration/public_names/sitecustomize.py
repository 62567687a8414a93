"""Test-only: a network where some host names are public and reach loopback (docs/testing.md).

The hosts.py rule ("a registry that is not internal may not send us to an internal address")
can only be seen when the registry is public, and every server of the tests listens on loopback.
A test puts this directory on PYTHONPATH and names hosts in environment variables:

- ``DRC_TEST_PUBLIC_NAMES``: comma-separated names that resolve to ``PUBLIC`` (an address of no
  private, loopback or documentation range); a connection to ``PUBLIC`` goes to 127.0.0.1, same port.
- ``DRC_TEST_INTERNAL_NAMES``: names that resolve to 127.0.0.1 (a DNS name of an internal service).
- ``DRC_TEST_MIXED_NAMES``: names that resolve to ``PUBLIC`` first, then 127.0.0.1 (a public
  server whose owner added a loopback record to its own name); the connection goes to the first.

Only resolution and the connect address change: every request is a real HTTP request to a real
server. It then loads the module-code cache hook it shadows (module_code_cache/sitecustomize.py).
"""

from __future__ import annotations

import importlib.util
import os
import socket

PUBLIC = "93.184.215.14"
_PUBLIC_NAMES = set(filter(None, os.environ.get("DRC_TEST_PUBLIC_NAMES", "").split(",")))
_INTERNAL_NAMES = set(filter(None, os.environ.get("DRC_TEST_INTERNAL_NAMES", "").split(",")))
_MIXED_NAMES = set(filter(None, os.environ.get("DRC_TEST_MIXED_NAMES", "").split(",")))
_getaddrinfo = socket.getaddrinfo
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _getaddrinfo_shim(host, port, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if name in _MIXED_NAMES:
        number = int(port) if port not in (None, "") else 0
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, number))
                for address in (PUBLIC, "127.0.0.1")]
    if name in _PUBLIC_NAMES or name in _INTERNAL_NAMES:
        address = PUBLIC if name in _PUBLIC_NAMES else "127.0.0.1"
        number = int(port) if port not in (None, "") else 0
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, number))]
    return _getaddrinfo(host, port, *args, **kwargs)


def _redirect(address):
    if isinstance(address, tuple) and address and address[0] == PUBLIC:
        return ("127.0.0.1",) + tuple(address[1:])
    return address


def _connect_shim(self, address):
    return _connect(self, _redirect(address))


def _connect_ex_shim(self, address):
    return _connect_ex(self, _redirect(address))


if _PUBLIC_NAMES or _INTERNAL_NAMES or _MIXED_NAMES:
    socket.getaddrinfo = _getaddrinfo_shim
    socket.socket.connect = _connect_shim
    socket.socket.connect_ex = _connect_ex_shim

_HOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "module_code_cache", "sitecustomize.py")
if os.path.exists(_HOOK):
    _spec = importlib.util.spec_from_file_location("_drc_module_code_cache", _HOOK)
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)
