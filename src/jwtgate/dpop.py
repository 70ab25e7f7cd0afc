"""DPoP proofs (RFC 9449): create them (clients), verify them strictly (servers and guards), and issue
stateless server nonces (:mod:`jwtgate.dpop_nonces`, re-exported here).

A proof is a compact JWS with ``typ: dpop+jwt``, an asymmetric ``alg`` and the signer's public key in the
header ``jwk``; its claims bind it to one request (``htm``, ``htu``), one moment (``iat``), one use (``jti``),
optionally a server nonce (``nonce``) and an access token (``ath``). Pure: no I/O, time comes in as ``now``
or an injected clock. Replay of a ``jti`` is checked by the caller with a
:class:`~jwtgate.dpop_replay.ProofReplayCache` (an async port), see :func:`~jwtgate.dpop_replay.accept_once`.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from jwtgate.dpop_nonces import ExactNonce, NonceChecker, NonceSource
from jwtgate.errors import ConfigError, InvalidDPoPProof, JwtgateError
from jwtgate.jose.b64 import b64url_encode, decode_checked
from jwtgate.jose.jsonutil import dumps_compact, loads_object
from jwtgate.jose.jwa import ALGORITHMS
from jwtgate.jose.jwk import Key, key_from_jwk
from jwtgate.jose.jws import match_compact

__all__ = [
    "DEFAULT_ALGORITHMS",
    "DPOP_TYPE",
    "DPoPPolicy",
    "DPoPVerifier",
    "NonceChecker",
    "NonceSource",
    "ProofSigner",
    "VerifiedProof",
    "access_token_hash",
    "create_proof",
    "normalize_htu",
    "proof_from_headers",
    "public_key_from_jwk",
]

DPOP_TYPE = "dpop+jwt"
#: Asymmetric only: HMAC would need a secret the server does not hold, and ``none`` proves nothing.
DEFAULT_ALGORITHMS = ("ES256", "ES384", "EdDSA", "RS256", "PS256")
_HEADER_MEMBERS = frozenset({"typ", "alg", "jwk"})
#: Public members per key type (RFC 7518 section 6, RFC 8037); with them only metadata that carries no key.
_PUBLIC_MEMBERS = {"EC": ("crv", "x", "y"), "OKP": ("crv", "x"), "RSA": ("n", "e")}
_JWK_METADATA = frozenset({"kty", "alg", "kid", "use", "key_ops", "ext"})
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_MAX_CLAIM_TEXT = 2048
_MAX_JTI = 256


def access_token_hash(access_token: str) -> str:
    """``ath``: base64url of the SHA-256 of the access token's ASCII bytes (RFC 9449 section 4.2)."""
    return b64url_encode(hashlib.sha256(access_token.encode("ascii")).digest())


def proof_from_headers(values: Sequence[str]) -> str | None:
    """The one ``DPoP`` header value of a request, None when there is none. Two headers, or one that an
    intermediary joined from several (a comma), are refused: RFC 9449 section 4.3 allows exactly one."""
    if not values:
        return None
    if len(values) != 1 or "," in values[0]:
        raise InvalidDPoPProof("a request may carry only one DPoP proof")
    return values[0].strip()


# -- htu normalisation ------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
#: What RFC 3986 allows in a path besides percent escapes (pchar and "/"); anything else is not a URI.
_PATH_CHARS = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*").fullmatch
#: A registered name or IPv4 address (already lower-cased by urlsplit), or an IPv6 address without zone.
_HOST = re.compile(r"[a-z0-9\-._~!$&'()*+,;=]+|[0-9a-f:.]+").fullmatch


def _normalize_escape(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, on an absolute path."""
    output: list[str] = []
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                output.append("")
        elif segment == "..":
            if output:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(segment)
    return "/" + "/".join(output)


def normalize_htu(url: str) -> str:
    """The form in which RFC 9449 section 4.3 compares ``htu``: query and fragment dropped, then the
    syntax-based (case, percent-encoding, dot segments) and scheme-based (default port, empty path)
    normalisations of RFC 3986 section 6.2.2 and 6.2.3. Raises InvalidDPoPProof for anything that is not
    an absolute http(s) URI without user information."""
    if type(url) is not str or not url or len(url) > _MAX_CLAIM_TEXT or not url.isascii():
        raise InvalidDPoPProof("htu is not an absolute http(s) URI")
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise InvalidDPoPProof("htu is not an absolute http(s) URI") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        raise InvalidDPoPProof("htu is not an absolute http(s) URI without user information")
    if _HOST(host) is None or not _PATH_CHARS(parts.path) or "%" in _PERCENT.sub("", parts.path):
        raise InvalidDPoPProof("htu holds characters a URI cannot")
    authority = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        authority += f":{port}"
    path = _remove_dot_segments(_PERCENT.sub(_normalize_escape, parts.path or "/"))
    return f"{scheme}://{authority}{path}"


# -- creating proofs -------------------------------------------------------------------------------


def _public_jwk(key: Key) -> dict[str, Any]:
    exported = key.public_key().to_jwk()
    return {"kty": exported["kty"], **{name: exported[name] for name in _PUBLIC_MEMBERS[exported["kty"]]}}


class ProofSigner:
    """Signs DPoP proofs with one private key; the header (with the public ``jwk``) is built once."""

    __slots__ = ("_header", "jkt", "key")

    def __init__(self, key: Key) -> None:
        if not isinstance(key, Key) or key.kty not in _PUBLIC_MEMBERS:
            raise ConfigError("a DPoP key must be an asymmetric jwtgate Key (EC, OKP or RSA)")
        if not key.can_sign:
            raise ConfigError("a DPoP key must be a private key that can sign")
        self.key = key
        self.jkt = key.thumbprint()
        header = {"typ": DPOP_TYPE, "alg": key.alg, "jwk": _public_jwk(key)}
        self._header = b64url_encode(dumps_compact(header))

    def __repr__(self) -> str:
        return f"ProofSigner(alg={self.key.alg!r}, jkt={self.jkt!r})"

    def proof(
        self,
        method: str,
        url: str,
        *,
        now: float,
        nonce: str | None = None,
        access_token: str | None = None,
        jti: str | None = None,
    ) -> str:
        """A proof for one request: ``htu`` is ``url`` without query and fragment."""
        if type(method) is not str or not method:
            raise ConfigError("method must be a non-empty string")
        parts = urlsplit(str(url))
        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16) if jti is None else jti,
            "htm": method,
            "htu": f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path or '/'}",
            "iat": int(now),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if access_token is not None:
            claims["ath"] = access_token_hash(access_token)
        signing_input = self._header + "." + b64url_encode(dumps_compact(claims))
        return signing_input + "." + b64url_encode(self.key.sign(signing_input.encode("ascii")))


def create_proof(
    key: Key,
    method: str,
    url: str,
    *,
    now: float,
    nonce: str | None = None,
    access_token: str | None = None,
    jti: str | None = None,
) -> str:
    """One DPoP proof signed with ``key`` (a client that sends many keeps a :class:`ProofSigner`)."""
    return ProofSigner(key).proof(method, url, now=now, nonce=nonce, access_token=access_token, jti=jti)


# -- verifying proofs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DPoPPolicy:
    """What a verifier accepts. ``max_age``: how old ``iat`` may be; ``leeway``: how far in the future
    (clock skew); ``require_nonce``: :meth:`DPoPVerifier.verify` refuses to run without a nonce checker."""

    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    max_size: int = 4096
    max_header_size: int = 2048
    max_age: int = 120
    leeway: int = 30
    require_nonce: bool = False
    cache_size: int = 256
    _allowed: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        algorithms = tuple(self.algorithms)
        if not algorithms:
            raise ConfigError("at least one DPoP algorithm is required")
        for alg in algorithms:
            if alg not in ALGORITHMS or ALGORITHMS[alg].kty == "oct":
                raise ConfigError(f"{alg!r} is not an asymmetric JWS algorithm; DPoP needs one")
        for name, low, high in (
            ("max_size", 512, 65536),
            ("max_header_size", 256, 16384),
            ("max_age", 1, 3600),
            ("leeway", 0, 300),
            ("cache_size", 0, 100_000),
        ):
            value = getattr(self, name)
            if type(value) is not int or not low <= value <= high:
                raise ConfigError(f"DPoP {name} must be an integer from {low} to {high}")
        if type(self.require_nonce) is not bool:
            raise ConfigError("require_nonce must be a bool")
        object.__setattr__(self, "algorithms", algorithms)
        object.__setattr__(self, "_allowed", frozenset(algorithms))


@dataclass(frozen=True, slots=True)
class VerifiedProof:
    """A proof that passed every check. ``jkt`` is the RFC 7638 thumbprint of its key (``cnf.jkt``);
    ``expires_at`` is when the verifier stops accepting it, so when a replay cache may forget it."""

    jkt: str
    jti: str
    iat: float
    htm: str
    htu: str
    key: Key
    expires_at: float
    nonce: str | None = None

    @property
    def replay_key(self) -> str:
        """What a replay cache stores: ``jti`` is unique per key, and fixed-length whatever it holds."""
        digest = hashlib.sha256(f"{self.jkt}.{self.jti}".encode()).digest()
        return b64url_encode(digest)


class DPoPVerifier:
    """Checks DPoP proofs as RFC 9449 section 4.3 asks. :meth:`verify` returns a :class:`VerifiedProof`
    or raises InvalidDPoPProof (or UseDPoPNonce); it never returns a bool. Replay is the caller's next
    step (:func:`jwtgate.dpop_replay.accept_once`)."""

    def __init__(self, policy: DPoPPolicy | None = None) -> None:
        if policy is not None and not isinstance(policy, DPoPPolicy):
            raise ConfigError("DPoPVerifier needs a DPoPPolicy")
        self.policy = policy or DPoPPolicy()
        # header segment -> (key, jkt): one client sends the same header (its key) on every request.
        self._headers: dict[str, tuple[Key, str]] = {}
        # URI -> normalised form: a server sees the same few URIs (and clients send the same htu) again.
        self._uris: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"DPoPVerifier({self.policy!r})"

    def verify(
        self,
        proof: str,
        *,
        method: str,
        url: str,
        now: float,
        access_token: str | None = None,
        jkt: str | None = None,
        nonce: str | NonceChecker | None = None,
    ) -> VerifiedProof:
        """Verify ``proof`` for a request ``method url`` at time ``now``.

        ``access_token``: the token sent with the proof (a resource request): ``ath`` must be its hash.
        ``jkt``: the thumbprint the access token is bound to (its ``cnf.jkt``, or the session's): the
        proof must be signed by that key.
        ``nonce``: the nonce the server expects (a string) or a :class:`NonceChecker` such as
        :class:`NonceSource`; a proof without it raises UseDPoPNonce carrying a fresh one.
        """
        policy = self.policy
        if policy.require_nonce and nonce is None:
            raise ConfigError("this DPoP policy requires a nonce checker")
        if type(proof) is not str or len(proof) > policy.max_size:
            raise InvalidDPoPProof("the DPoP proof is not a string or is too large")
        if match_compact(proof) is None:
            raise InvalidDPoPProof("the DPoP proof is not a compact JWS")
        head, payload, signature = proof.split(".")
        entry = self._headers.get(head)
        if entry is None:
            entry = self._header_key(head)
        key, proof_jkt = entry
        if jkt is not None and not hmac.compare_digest(proof_jkt.encode(), str(jkt).encode()):
            raise InvalidDPoPProof("the DPoP proof is signed by another key than the token is bound to")
        try:
            key.verify(proof[: len(head) + len(payload) + 1].encode("ascii"), decode_checked(signature))
            claims = loads_object(decode_checked(payload))
        except JwtgateError as err:
            raise InvalidDPoPProof(f"the DPoP proof's signature or payload is invalid ({err.code})") from err
        checked = self._check_claims(claims, method=method, url=url, now=now, access_token=access_token)
        if nonce is not None:
            checker = ExactNonce(nonce) if isinstance(nonce, str) else nonce
            checker.check(claims.get("nonce"))
        return VerifiedProof(
            jkt=proof_jkt,
            jti=checked["jti"],
            iat=checked["iat"],
            htm=checked["htm"],
            htu=checked["htu"],
            key=key,
            expires_at=checked["iat"] + policy.max_age + policy.leeway,
            nonce=claims.get("nonce") if type(claims.get("nonce")) is str else None,
        )

    def _header_key(self, segment: str) -> tuple[Key, str]:
        if len(segment) > self.policy.max_header_size:
            raise InvalidDPoPProof("the DPoP proof header is too large")
        try:
            header = loads_object(decode_checked(segment))
        except JwtgateError as err:
            raise InvalidDPoPProof("the DPoP proof header is not a JSON object") from err
        if header.get("typ") != DPOP_TYPE:
            raise InvalidDPoPProof("the DPoP proof's typ must be dpop+jwt")
        alg = header.get("alg")
        if type(alg) is not str or alg not in self.policy._allowed:
            raise InvalidDPoPProof("the DPoP proof's alg is not an accepted asymmetric algorithm")
        extra = header.keys() - _HEADER_MEMBERS
        if extra:
            raise InvalidDPoPProof(f"DPoP header member(s) not accepted: {', '.join(sorted(extra))}")
        key = public_key_from_jwk(header.get("jwk"), alg)
        entry = (key, key.thumbprint())
        if self.policy.cache_size:
            if len(self._headers) >= self.policy.cache_size:
                self._headers.clear()  # simpler than LRU, and a burst of new keys costs one re-parse each
            self._headers[segment] = entry
        return entry

    def _normalized(self, uri: str) -> str:
        known = self._uris.get(uri)
        if known is None:
            known = normalize_htu(uri)  # raises for anything that is not an http(s) URI: never cached
            if self.policy.cache_size:
                if len(self._uris) >= self.policy.cache_size:
                    self._uris.clear()
                self._uris[uri] = known
        return known

    def _check_claims(
        self, claims: Mapping[str, Any], *, method: str, url: str, now: float, access_token: str | None
    ) -> dict[str, Any]:
        jti, htm, htu = claims.get("jti"), claims.get("htm"), claims.get("htu")
        iat: Any = claims.get("iat")
        if type(jti) is not str or not 0 < len(jti) <= _MAX_JTI:
            raise InvalidDPoPProof("the DPoP proof needs a jti of 1 to 256 characters")
        if type(htm) is not str or type(htu) is not str:
            raise InvalidDPoPProof("the DPoP proof needs htm and htu strings")
        if type(iat) not in (int, float) or not math.isfinite(iat):
            raise InvalidDPoPProof("the DPoP proof needs a numeric iat")
        if not now - self.policy.max_age - self.policy.leeway <= iat <= now + self.policy.leeway:
            raise InvalidDPoPProof("the DPoP proof's iat is outside the accepted window")
        if not hmac.compare_digest(htm.encode(), method.encode()):
            raise InvalidDPoPProof("the DPoP proof is for another HTTP method")
        if self._normalized(htu) != self._normalized(url):
            raise InvalidDPoPProof("the DPoP proof is for another URI")
        if access_token is not None:
            ath = claims.get("ath")
            if type(ath) is not str or not hmac.compare_digest(
                ath.encode(), access_token_hash(access_token).encode()
            ):
                raise InvalidDPoPProof("the DPoP proof's ath does not match the access token")
        return {"jti": jti, "htm": htm, "htu": htu, "iat": iat}


def public_key_from_jwk(jwk: object, alg: str) -> Key:
    """The public key a proof header carries, for ``alg``. Refused: anything but a JSON object of a
    supported public key in canonical form, a private member, or an ``alg`` that does not fit the key."""
    if type(jwk) is not dict:
        raise InvalidDPoPProof("the DPoP proof header needs a jwk object")
    if _PRIVATE_MEMBERS.intersection(jwk):
        raise InvalidDPoPProof("the DPoP proof's jwk holds private key material")
    kty = jwk.get("kty")
    public = _PUBLIC_MEMBERS.get(kty) if type(kty) is str else None
    if public is None:
        raise InvalidDPoPProof("the DPoP proof's jwk has no supported kty")
    extra = jwk.keys() - _JWK_METADATA - set(public)
    if extra:
        raise InvalidDPoPProof(f"DPoP jwk member(s) not accepted: {', '.join(sorted(extra))}")
    try:
        key = key_from_jwk({name: value for name, value in jwk.items() if name != "ext"}, alg)
    except JwtgateError as err:
        raise InvalidDPoPProof("the DPoP proof's jwk does not fit its alg or is invalid") from err
    exported = key.to_jwk()
    # Only the canonical encoding (no leading zeros, fixed-length coordinates): then the thumbprint is
    # the one every other implementation computes from the members as sent.
    if any(exported[name] != jwk[name] for name in public):
        raise InvalidDPoPProof("the DPoP proof's jwk is not in canonical form")
    return key
