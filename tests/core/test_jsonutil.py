"""The orjson fast path of loads_object must agree with the strict stdlib parser on every input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jwtgate.errors import MalformedToken
from jwtgate.jose import jsonutil

CASES = [
    b'{"sub":"alice","exp":1700000000}',
    b'{"sub": "alice", "exp": 1700000000}',  # not canonical: strict path
    b'{"a":1,"a":2}',  # duplicate: orjson keeps the last, the round trip differs, strict path rejects
    b'{"a":{"b":1,"b":1}}',
    b'{"a":"\\ud800"}',
    b'{"a":"\\ud83d\\ude00"}',
    b'{"a":1e400}',
    b'{"a":NaN}',
    b'{"a":123456789012345678901234567890}',
    b'{"a":1.5,"b":[1,2,{"c":null}],"d":true}',
    b'{"caf\xc3\xa9":"\xe2\x82\xac"}',
    b'{"a":"\xff"}',
    b"[1,2]",
    b'"text"',
    b"\xef\xbb\xbf{}",
    b"{}",
    b"[" * 5000 + b"]" * 5000,
]


def outcome(parse: Any, data: bytes) -> Any:
    try:
        return ("ok", parse(data))
    except MalformedToken:
        return ("rejected", None)


@pytest.mark.parametrize("data", CASES)
def test_fast_path_agrees_with_strict_parser(data: bytes) -> None:
    assert outcome(jsonutil.loads_object, data) == outcome(jsonutil._loads_strict, data)


def test_duplicate_names_rejected_on_the_fast_path() -> None:
    with pytest.raises(MalformedToken):
        jsonutil.loads_object(b'{"sub":"alice","sub":"admin"}')


def test_without_orjson_the_strict_parser_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonutil, "_orjson", None)
    assert jsonutil.loads_object(b'{"sub":"alice"}') == {"sub": "alice"}
    with pytest.raises(MalformedToken):
        jsonutil.loads_object(b'{"sub":"alice","sub":"admin"}')


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6), st.booleans())
def test_fast_path_agrees_on_generated_objects(obj: dict[str, Any], compact: bool) -> None:
    separators = (",", ":") if compact else (", ", ": ")
    data = json.dumps(obj, separators=separators, ensure_ascii=False).encode("utf-8", "surrogatepass")
    assert outcome(jsonutil.loads_object, data) == outcome(jsonutil._loads_strict, data)
