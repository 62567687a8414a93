# Private to the drc.registry collection: no compatibility promise for other collections.
"""JSON from outside (a registry, a token service, a layout, an archive, a file): one parser.

``json.loads`` fails on hostile input with more than ValueError: ``[`` nested 100000 deep raises
RecursionError, which no ``except ValueError`` catches. ``parse_json`` turns every failure into
``NotJSON`` (a ValueError), so a caller's ``except ValueError`` names the source it was reading.
It also refuses what parses but nests deeper than any format we read (``MAX_DEPTH``), so that no
later walk of the value (ours or Ansible's) recurses without end.
"""

from __future__ import annotations

import json

# OCI manifests, configs, indexes, tag lists and token answers nest fewer than ten levels.
MAX_DEPTH = 64


class NotJSON(ValueError):
    """Input that is not JSON (or not UTF-8), or nests deeper than MAX_DEPTH."""


def _depth_problem(value) -> str | None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return "it nests more than %d levels deep" % MAX_DEPTH
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return None


def parse_json(raw, **options):
    """The value of ``raw`` (UTF-8 bytes, or text); NotJSON says why it is not usable JSON."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
        value = json.loads(text, **options)
    except RecursionError:
        raise NotJSON("it nests too deep to read")
    except UnicodeDecodeError:  # its text would show a byte (of a key file, say): not shown
        raise NotJSON("it is not UTF-8 text")
    except json.JSONDecodeError as exc:  # says where, never what
        raise NotJSON(str(exc))
    except ValueError as exc:
        if exc.__class__ is not ValueError:  # exactly ValueError, not a subclass
            raise  # a hook's own error (signatures' duplicate keys): the caller's to handle
        raise NotJSON(str(exc)[:200])  # an integer of more than 4300 digits
    if isinstance(value, (dict, list)):
        problem = _depth_problem(value)
        if problem is not None:
            raise NotJSON(problem)
    return value
