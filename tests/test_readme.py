"""Every shell example of README.md and examples/README.md, run in order as a newcomer would.

Each file is one bash session (its variables carry from block to block) in the repository's folder,
on a fresh data folder (JWTGATE_DATA_DIR in a temporary directory) and free ports instead of 8000, 9000
and 9001. Servers start in the background where the text starts them: `./scripts/serve` and the
example APIs (their own terminal in the text), and `... serve ... &`; the session waits until they
answer. `./scripts/test` is this suite: it is checked to exist, not run. A `curl` whose comment
promises a status (`# 401`) must answer it. A failing command fails the test, naming the command, with
the session's output and the servers' logs.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from processes import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(?:sh|bash|shell)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SERVER = re.compile(r"(^\./scripts/serve\b)|(\bjwtgate serve\b)|(\buvicorn\b)|(\bflask\b.*\brun\b)")
PORTS = ("8000", "9000", "9001")


def shell_blocks(markdown: str) -> list[str]:
    return [match.group(1) for match in FENCE.finditer(markdown)]


def logical_lines(block: str) -> list[str]:
    """Lines with their backslash continuations joined back (as bash reads them)."""
    lines: list[str] = []
    pending = ""
    for line in block.splitlines():
        if line.endswith("\\"):
            pending += line + "\n"
            continue
        lines.append(pending + line)
        pending = ""
    if pending:
        lines.append(pending)
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def without_comment(line: str) -> str:
    return re.sub(r"\s+#\s.*$", "", line).rstrip()


def session_script(markdown: str, ports: dict[str, str], logs: Path) -> str:
    """The bash session of one markdown file: its commands, servers put in the background."""
    out = [
        "set -eEuo pipefail",
        "trap 'echo \"README COMMAND FAILED (exit $?): $BASH_COMMAND\" >&2' ERR",
        "trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT",
        "wait_for() {  # PORT PID: until the server answers, failing if it dies first",
        "  for _ in $(seq 600); do",
        '    kill -0 "$2" 2>/dev/null || { echo "server on port $1 exited" >&2; return 1; }',
        '    curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0',
        "    sleep 0.2",
        "  done",
        '  echo "server on port $1 did not answer" >&2; return 1',
        "}",
    ]
    servers = 0
    for block in shell_blocks(markdown):
        for line in logical_lines(block):
            for documented, actual in ports.items():
                line = re.sub(rf"\b{documented}\b", actual, line)
            command = without_comment(line)
            if re.match(r"^\./scripts/test\b", command):
                out.append("test -x ./scripts/test  # this suite itself: not run from inside it")
                continue
            status = re.search(r"\s#\s*(\d{3})\b", line)
            if status is not None and re.search(r"\bcurl\b", command) and "|" not in command:
                # "curl ... # 401": the text promises a status; check it (curl exits 0 on a 401).
                probe = f"$({command} -s -o /dev/null -w '%{{http_code}}')"
                out.append(f'test "{probe}" = {status.group(1)}  # {line}')
                continue
            if not SERVER.search(command):
                out.append(line)
                continue
            servers += 1
            command = command.removesuffix("&").rstrip()
            if command == "./scripts/serve":
                command += f" --port {ports['8000']}"
            port = re.search(r"--port\s+(\d+)", command)
            assert port is not None, f"a server line without --port: {line}"
            log = logs / f"server-{servers}.log"
            out.append(f"{command} >{shlex.quote(str(log))} 2>&1 &")
            out.append(f"wait_for {port.group(1)} $!")
    return "\n".join(out) + "\n"


def run_markdown(path: Path, tmp_path: Path) -> None:
    for tool in ("curl", "jq"):
        if shutil.which(tool) is None:
            if os.environ.get("JWTGATE_REQUIRE_SERVICES") == "1":  # CI installs them: never skip there
                pytest.fail(f"the README's examples need {tool}")
            pytest.skip(f"the README's examples need {tool}")
    logs = tmp_path / "logs"
    logs.mkdir()
    ports = {documented: str(free_port()) for documented in PORTS}
    script = session_script(path.read_text("utf-8"), ports, logs)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGATE_")}
    env.update(
        JWTGATE_DATA_DIR=str(tmp_path / "data"),  # fresh, instead of the repository's .jwtgate
        TMPDIR=str(tmp_path),  # mktemp -d in the examples lands here, and goes with it
        PYTHONUNBUFFERED="1",
    )
    with subprocess.Popen(
        ["bash", "-c", script],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as session:
        try:
            output, _ = session.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            os.killpg(session.pid, signal.SIGKILL)  # the session this test started, and its servers
            output, _ = session.communicate()
            output += "\n(timed out after 300 s)"
    if session.returncode != 0:
        server_logs = "\n".join(f"--- {log.name}\n{log.read_text()}" for log in sorted(logs.iterdir()))
        pytest.fail(
            f"{path.name}: a shell example failed\n--- script\n{script}--- output\n{output}\n{server_logs}"
        )


def test_readme_starts_with_the_two_setup_commands() -> None:
    first = logical_lines(shell_blocks((ROOT / "README.md").read_text("utf-8"))[0])
    assert [without_comment(line) for line in first] == ["./scripts/serve", "./scripts/test"]


def test_every_shell_example_of_the_readme_runs(tmp_path: Path) -> None:
    run_markdown(ROOT / "README.md", tmp_path)


def test_every_shell_example_of_the_examples_readme_runs(tmp_path: Path) -> None:
    run_markdown(ROOT / "examples" / "README.md", tmp_path)


def test_a_failing_example_fails_the_session(tmp_path: Path) -> None:
    """The harness itself: a command that fails is reported, not swallowed."""
    markdown = "```sh\necho before\nfalse\necho after\n```\n"
    fake = tmp_path / "FAKE.md"
    fake.write_text(markdown)
    with pytest.raises(pytest.fail.Exception, match=r"README COMMAND FAILED \(exit 1\): false"):
        run_markdown(fake, tmp_path)


def test_a_promised_status_is_checked(tmp_path: Path) -> None:
    """The harness itself: `curl ... # 200` that does not answer 200 fails the session."""
    fake = tmp_path / "FAKE.md"
    fake.write_text("```sh\ncurl -s http://127.0.0.1:1/nothing   # 200\n```\n")
    with pytest.raises(pytest.fail.Exception, match="README COMMAND FAILED"):
        run_markdown(fake, tmp_path)
