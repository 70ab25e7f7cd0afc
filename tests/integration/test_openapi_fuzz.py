"""Schemathesis against a real ``jwtgate serve``: every documented operation is fuzzed from /openapi.json and
every answer must be one the document declares (status code, content type, headers, body schema), never a
5xx, with authentication enforced where it is declared.

The run is bounded (``JWTGATE_FUZZ_EXAMPLES`` cases per operation, about two minutes in all). Requests
carry real credentials half of the time (a user's access token on the API routes, a confidential
client's Basic credentials at /oauth/*) so the success answers are checked too, and the other half go
without, so the refusals are. The one check left out is ``positive_data_acceptance``: a request can fit
the schema and still be refused by design (a well-formed but unsigned DPoP proof, an unknown refresh
token), which is what this server must do.
"""

from __future__ import annotations

import base64
import os
import re
import threading
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from jwtgate.server import create_app
from jwtgate.settings import load_settings
from processes import Fleet

pytestmark = pytest.mark.slow

USERNAME, PASSWORD = "mallory", "fuzzing is a long passphrase"
EXAMPLES = int(os.environ.get("JWTGATE_FUZZ_EXAMPLES", "400"))  # per operation: ~7,000 cases, ~2 min
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    missing_required_header,
    unsupported_method,
    allow_header_conformance,
    ignored_auth,
]
# A request that ends the fuzzer's own session when it succeeds: log in again before the next one.
_ENDS_SESSION = re.compile(r"^(POST /api/logout(/all)?|DELETE /api/sessions/.*|POST /api/password)$")


@dataclass
class FuzzedServer:
    base_url: str
    client_id: str
    client_secret: str
    _token: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)

    def access_token(self) -> str:
        with self._lock:
            if self._token is None:
                answer = httpx.post(
                    f"{self.base_url}/api/login",
                    json={"username": USERNAME, "password": PASSWORD},
                    timeout=30,
                )
                assert answer.status_code == 200, answer.text
                self._token = answer.json()["access_token"]
            return self._token

    def session_may_have_ended(self) -> None:
        with self._lock:
            self._token = None

    def credentials_for(self, case: schemathesis.Case) -> dict[str, str]:
        """Real credentials for every other case of an operation that takes them, none otherwise."""
        # Decided by the case's own data, so that hypothesis replays and shrinks a failure as it was.
        data = repr((case.path_parameters, case.query, case.headers, case.cookies, case.body))
        if zlib.crc32(data.encode()) % 2 or (case.headers and "Authorization" in case.headers):
            return {}
        if case.path.startswith("/oauth/"):
            pair = f"{self.client_id}:{self.client_secret}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        if case.operation.definition.raw.get("security"):
            return {"Authorization": f"Bearer {self.access_token()}"}
        return {}


@pytest.fixture(scope="module")
def fuzzed_server(module_fleet: Fleet) -> Iterator[FuzzedServer]:
    fleet = module_fleet
    data_dir: Path = fleet.tmp_path / "data"
    env = {
        "JWTGATE_REGISTRATION": "open",
        # The fuzzer logs in with wrong passwords thousands of times from one address; the limits are
        # tested elsewhere, here they would hide every other answer behind 429s.
        "JWTGATE_LOGIN_MAX_FAILURES_ACCOUNT": "1000",
        "JWTGATE_LOGIN_MAX_FAILURES_IP": "100000",
        "JWTGATE_LOGIN_MAX_FAILURES_UNTRUSTED": "10000",
    }
    folder = ["--data-dir", str(data_dir)]
    done = fleet.cli("init", "--user", USERNAME, "--password-stdin", *folder, env=env, stdin=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    done = fleet.cli(
        "client",
        "add",
        "fuzz-client",
        "--grant",
        "client_credentials",
        "--grant",
        "refresh_token",
        "--grant",
        "password",
        "--first-party",
        "--introspect",
        "--scope",
        "read",
        *folder,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    printed = dict(line.split(":", 1) for line in done.stdout.splitlines() if ":" in line)
    instance = fleet.start(env, data_dir=data_dir)
    client_id, secret = printed["client_id"].strip(), printed["client_secret"].strip()
    served = FuzzedServer(instance.base_url, client_id, secret)
    yield served
    _report(served.answers)


def _report(answers: Counter[tuple[str, int]]) -> None:
    """The cases run, per operation and status (shown with ``-s``; figures for the closing note)."""
    print(f"\nschemathesis: {sum(answers.values())} cases")
    for operation in sorted({operation for operation, _ in answers}):
        seen = sorted((status, n) for (op, status), n in answers.items() if op == operation)
        print(f"  {operation}: " + ", ".join(f"{status} x{n}" for status, n in seen))


def _documented_operations() -> list[tuple[str, str]]:
    """(method, path) of every operation the server documents, read from the app in process (the
    test compares it with what the running server serves)."""
    settings = load_settings(data_dir=Path("/nonexistent/unused"), registration="open")
    document = create_app(settings).openapi()
    return [(method.upper(), path) for path, item in document["paths"].items() for method in item]


OPERATIONS = _documented_operations()


@pytest.fixture(scope="module")
def api_schema(fuzzed_server: FuzzedServer) -> BaseSchema:
    loaded = schemathesis.openapi.from_url(f"{fuzzed_server.base_url}/openapi.json")
    served = sorted((op.method.upper(), op.path) for op in (r.ok() for r in loaded.get_all_operations()))
    assert served == sorted(OPERATIONS)
    return loaded


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_answer_is_documented(
    method: str, path: str, api_schema: BaseSchema, fuzzed_server: FuzzedServer
) -> None:
    operation = api_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
    )

    @given(case=cases)
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def fuzz(case: schemathesis.Case) -> None:
        headers = fuzzed_server.credentials_for(case)
        response = case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)
        fuzzed_server.answers[f"{method} {path}", response.status_code] += 1
        if response.status_code < 300 and _ENDS_SESSION.match(f"{method} {case.formatted_path}"):
            fuzzed_server.session_may_have_ended()

    fuzz()
