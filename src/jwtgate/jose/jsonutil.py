"""Strict JSON for JOSE: UTF-8 only, a JSON object at the top, no duplicate member names (RFC 7515 section 5.2
lets parsers reject them, and two parsers disagreeing on which one wins is an attack), finite numbers only,
and no lone surrogates (``"\\ud800"`` escapes text that no UTF-8 encoder can write back; I-JSON, RFC 7493
section 2.1, forbids them).

Speed: when ``orjson`` is installed, a payload is parsed by it first and accepted only if serializing the
result gives back exactly the input bytes. Such input is canonical JSON of a single object (orjson's output
has no duplicate names, no NaN, no lone surrogates, valid UTF-8), so the strict rules hold by construction;
anything else (other spacing, escapes, number forms, big integers) goes through the strict stdlib parser.
Correctness never depends on orjson: only speed does."""

from __future__ import annotations

import json
import math
import re
from types import ModuleType
from typing import Any

from jwtgate.errors import MalformedToken

__all__ = ["dumps_compact", "loads_object"]

_orjson: ModuleType | None
try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is a dependency; the stdlib path is the fallback
    _orjson = None


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise MalformedToken("duplicate member name in JSON")
    return obj


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise MalformedToken("non-finite number in JSON")
    return value


def _reject_constant(name: str) -> Any:
    raise MalformedToken(f"{name} is not JSON")


#: A \\uD800-\\uDFFF escape somewhere in the text: only then is the decoded object checked for lone surrogates
#: (properly paired escapes decode to one code point and pass).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]").search

_DECODER = json.JSONDecoder(
    object_pairs_hook=_object_without_duplicates,
    parse_float=_finite_float,
    parse_constant=_reject_constant,
)


def loads_object(data: bytes) -> dict[str, Any]:
    """Parse ``data`` as one strict UTF-8 JSON object or raise MalformedToken."""
    if _orjson is not None:
        try:
            fast = _orjson.loads(data)
        except ValueError:
            pass  # the strict parser below decides, and explains
        else:
            if type(fast) is dict and _orjson.dumps(fast) == data:
                return fast
    return _loads_strict(data)


def _loads_strict(data: bytes) -> dict[str, Any]:
    try:
        text = data.decode("utf-8")
        obj = _DECODER.decode(text)
        if "\\u" in text and _SURROGATE_ESCAPE(text) is not None:
            # Re-encoding fails exactly when a string (name or value) holds a lone surrogate.
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError) as err:
        raise MalformedToken("invalid JSON") from err
    if type(obj) is not dict:
        raise MalformedToken("JSON value is not an object")
    return obj


def dumps_compact(obj: Any) -> bytes:
    """Serialize to compact UTF-8 JSON (no spaces), as used in JOSE segments."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
