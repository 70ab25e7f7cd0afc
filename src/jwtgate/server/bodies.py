"""Strict request body readers: JSON into a pydantic model, and urlencoded forms.

They replace FastAPI's body parsing so that every bad input gets a 4xx in the one error shape and
nothing of the input is echoed: wrong content type -> 415, non-UTF-8 or malformed -> 400, schema
violations (missing, unknown or mistyped fields) -> 422 naming the fields only.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import Request
from pydantic import BaseModel, ValidationError

from jwtgate.server.problems import ApiError

__all__ = ["json_body_openapi", "read_form", "read_json"]

ModelT = TypeVar("ModelT", bound=BaseModel)

_JSON_TYPES = ("application/json",)
_FORM_TYPE = "application/x-www-form-urlencoded"


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ApiError(400, "invalid_request", "duplicate member in JSON object")
        result[key] = value
    return result


def _reject_constant(_: str) -> Any:
    raise ApiError(400, "invalid_request", "NaN and Infinity are not JSON")


async def _text_body(request: Request) -> str:
    raw = await request.body()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_request", "the request body is not UTF-8") from None


async def read_json(request: Request, model: type[ModelT]) -> ModelT:
    """Parse the body as a JSON object and validate it against ``model`` (``extra="forbid"``)."""
    if _media_type(request) not in _JSON_TYPES:
        raise ApiError(415, "invalid_request", "the request body must be application/json")
    text = await _text_body(request)
    try:
        document = json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        # ValueError covers JSONDecodeError and integers beyond Python's digit limit.
        raise ApiError(400, "invalid_request", "the request body is not valid JSON") from None
    if not isinstance(document, dict):
        raise ApiError(422, "invalid_request", "the request body must be a JSON object")
    try:
        return model.model_validate(document)
    except ValidationError as err:
        raise ApiError(422, "invalid_request", _describe(err)) from None


async def read_form(request: Request, known: frozenset[str]) -> dict[str, str]:
    """Parse an urlencoded form into its ``known`` parameters. Others are ignored (RFC 6749 section
    3.2: "the authorization server MUST ignore unrecognized request parameters"); any parameter sent
    more than once is refused (RFC 6749 section 3.2: "MUST NOT be included more than once")."""
    if _media_type(request) != _FORM_TYPE:
        raise ApiError(415, "invalid_request", f"the request body must be {_FORM_TYPE}")
    text = await _text_body(request)
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_request", "the form body is malformed") from None
    form: dict[str, str] = {}
    seen: set[str] = set()
    for key, value in pairs:
        if key in seen:
            name = key if key in known else "a parameter"
            raise ApiError(400, "invalid_request", f"{name!s} repeated")
        seen.add(key)
        if key in known:
            form[key] = value
    return form


def _describe(err: ValidationError) -> str:
    parts = []
    for item in err.errors(include_input=False, include_url=False)[:10]:
        location = ".".join(str(part) for part in item["loc"]) or "body"
        parts.append(f"{location[:60]}: {item['msg']}")
    return "; ".join(parts)


def json_body_openapi(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring ``model`` as the JSON request body of a route."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


def form_body_openapi(properties: dict[str, str], required: tuple[str, ...]) -> dict[str, Any]:
    """``openapi_extra`` declaring an urlencoded form with string ``properties``."""
    schema = {
        "type": "object",
        "properties": {name: {"type": "string", "description": text} for name, text in properties.items()},
        "required": list(required),
        # RFC 6749 section 3.2: other parameters are ignored (each at most once, as a string).
        "additionalProperties": {"type": "string"},
    }
    return {"requestBody": {"required": True, "content": {_FORM_TYPE: {"schema": schema}}}}
