"""`jwtgate token decode | verify`: explain a token, never present an unverified one as valid."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer

from jwtgate import errors
from jwtgate.cli.common import (
    DatabaseUrl,
    DataDir,
    handles_errors,
    run_with_service,
    settings_for,
    when,
)
from jwtgate.jose.b64 import b64url_decode
from jwtgate.service import AuthService
from jwtgate.service.opaque import looks_like_refresh_token
from jwtgate.settings import Settings


def _read_token(argument: str) -> str:
    value = sys.stdin.readline() if argument == "-" else argument
    return value.strip()


def _unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """Header, claims and signature bytes, decoded WITHOUT verification (for display only)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise errors.MalformedToken(f"a compact JWS has 3 dot-separated parts, this has {len(parts)}")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2]) if parts[2] else b""
    except (ValueError, errors.MalformedToken) as exc:
        raise errors.MalformedToken("the token's parts are not base64url JSON") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise errors.MalformedToken("the header and the claims must be JSON objects")
    return header, claims, signature


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)


@handles_errors
def token_decode(
    token: Annotated[str, typer.Argument(help="The token, or - to read it from stdin.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Show a token's header and claims WITHOUT verifying it (use `token verify` for that)."""
    del data_dir, database_url  # accepted for uniformity; decoding needs no keys
    header, claims, signature = _unverified_parts(_read_token(token))
    typer.echo("UNVERIFIED header (not checked, do not trust):")
    typer.echo(_dump(header))
    typer.echo("UNVERIFIED claims (not checked, do not trust):")
    typer.echo(_dump(claims))
    for name in ("iat", "nbf", "exp"):
        if isinstance(claims.get(name), int | float) and not isinstance(claims.get(name), bool):
            typer.echo(f"  {name}: {when(float(claims[name]))}")
    if not signature or str(header.get("alg", "")).lower() == "none":
        typer.echo("WARNING: this token has NO signature: it is not valid and never will be.")
    else:
        typer.echo(f"signature: {len(signature)} bytes, NOT VERIFIED (run `jwtgate token verify`)")


def _explain(
    exc: errors.TokenError, claims: dict[str, Any] | None, settings: Settings, issuer: str | None
) -> str:
    """A sentence on why the token was refused, from the error and the (unverified) claims."""
    now = time.time()
    claims = claims or {}
    if isinstance(exc, errors.ExpiredToken) and isinstance(claims.get("exp"), int | float):
        ago = int(now - float(claims["exp"]))
        return f"it expired at {when(float(claims['exp']))}, {ago}s ago (leeway {settings.leeway}s)"
    if isinstance(exc, errors.NotYetValid):
        return "its nbf/iat lies in the future (check the clocks)"
    if isinstance(exc, errors.InvalidClaim) and exc.claim == "iss":
        return (
            f"it was issued by {claims.get('iss')!r}, expected {issuer or settings.issuer_url!r} "
            "(the issuer of this data; --issuer to expect another)"
        )
    if isinstance(exc, errors.InvalidClaim) and exc.claim == "aud":
        return f"its audience {claims.get('aud')!r} does not include {settings.audience!r}"
    if isinstance(exc, errors.UnknownKey):
        return "no key of this data has its kid: signed elsewhere, or the key was removed"
    if isinstance(exc, errors.BadSignature):
        return "the signature does not match: the token was altered or forged"
    if isinstance(exc, errors.UnsupportedAlgorithm):
        return "its alg is not the algorithm of the key (or is 'none')"
    if isinstance(exc, errors.RevokedToken):
        return "its session (or the token itself) was revoked"
    return exc.description


@handles_errors
def token_verify(
    token: Annotated[str, typer.Argument(help="The token, or - to read it from stdin.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    issuer: Annotated[
        str | None, typer.Option(metavar="URL", help="Expected iss.", show_default="the issuer of this data")
    ] = None,
) -> None:
    """Verify a token against the keys and denylist of this data; explain any rejection. Writes nothing."""
    settings = settings_for(data_dir, database_url, issuer=issuer)
    value = _read_token(token)
    if looks_like_refresh_token(value):
        typer.echo("NOT AN ACCESS TOKEN: this is a jwtgate refresh token (opaque, jgr_...), not a JWT.")
        typer.echo("  It is checked by the server when spent at /api/token/refresh; only its hash is stored.")
        typer.echo(
            "  `jwtgate sessions list` shows the sessions; revoke one with `jwtgate sessions revoke SID`."
        )
        raise typer.Exit(1)
    try:
        claims_seen: dict[str, Any] | None = _unverified_parts(value)[1]
    except errors.MalformedToken:
        claims_seen = None

    expected: list[str] = []

    async def verify(service: AuthService) -> dict[str, Any]:
        expected.append(service.policy.issuer)
        result: dict[str, Any] = await service.authenticate(value)
        return result

    try:
        claims = run_with_service(settings, verify, mode="read")
    except errors.TokenError as exc:
        typer.echo(f"REJECTED ({exc.code}): {exc.description}")
        typer.echo(f"  why: {_explain(exc, claims_seen, settings, expected[0] if expected else None)}")
        raise typer.Exit(1) from None
    typer.echo("VALID: signature, claims and revocation checked")
    typer.echo(_dump(claims))
