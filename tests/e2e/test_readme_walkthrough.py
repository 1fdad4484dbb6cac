"""The README, followed as a newcomer follows it: every command and curl example, in order, as written.

``make run`` serves in the background, as in its own terminal; every other ``sh`` block runs in one
shell, so what one block exports the next sees. The only liberties taken: ``make test`` (this suite
itself) is not run again, the outbox lives in a temporary folder rather than the checkout's ``var/``,
and the standalone relay, which runs until stopped, is stopped after a few seconds. The JSON and HTTP
answers the README shows are compared with what the service answered.
"""

import json
import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from tests.processes import wait_until_listening

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
RUNS_UNTIL_STOPPED = re.compile(r"^(\.venv/bin/eventgate relay)\b([^#\n]*)(#.*)?$", re.MULTILINE)
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks() -> list[tuple[str, str, bool]]:
    """Each fenced block: its language, its text, and whether only blank lines stand before it
    since the previous block (an answer shown right under its command)."""
    text = README.read_text()
    found, end = [], 0
    for match in BLOCK.finditer(text):
        found.append((match.group(1), match.group(2), not text[end : match.start()].strip()))
        end = match.end()
    return found


def shown_json(text: str) -> object:
    return json.loads(text)


def same_shape(shown: object, answered: object) -> bool:
    """Equal, except that ids (which differ each time) need only be strings of the same form."""
    if isinstance(shown, dict) and isinstance(answered, dict):
        return shown.keys() == answered.keys() and all(same_shape(shown[k], answered[k]) for k in shown)
    if isinstance(shown, list) and isinstance(answered, list):
        return len(shown) == len(answered) and all(map(same_shape, shown, answered))
    if isinstance(shown, str) and re.fullmatch(r"[0-9a-f]{8}-[0-9a-f-]{27}", shown):
        return isinstance(answered, str) and re.fullmatch(r"[0-9a-f]{8}-[0-9a-f-]{27}", answered) is not None
    return shown == answered


def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    every = blocks()
    first_language, first, _ = every[0]
    assert (first_language, [line.split("#")[0].strip() for line in first.splitlines()]) == (
        "sh",
        ["make run", "make test"],
    )
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("EVENTGATE_", "INNGEST_", "NEXTAUTH_", "AUTH_SECRET"))
    } | {"EVENTGATE_OUTBOX_PATH": str(tmp_path / "outbox.sqlite3")}
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 8000)) == 0:
            pytest.fail("port 8000, which the README's examples use, is taken by another program")
    server = subprocess.Popen(
        ["make", "run"],
        cwd=REPO,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_listening(8000, server, timeout=120)
        follow_the_rest(every[1:], environment, tmp_path)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


def follow_the_rest(rest: list[tuple[str, str, bool]], environment: dict[str, str], tmp_path: Path) -> None:
    """Run each ``sh`` block in one shell; hold the answer shown right after a block against its output."""
    script = ["set -euo pipefail"]
    shell_blocks = 0
    expected: dict[int, tuple[str, str]] = {}
    previous = ""
    for language, text, right_under in rest:
        if language == "sh":
            script.append(RUNS_UNTIL_STOPPED.sub(r"timeout -s TERM 3 \1\2 || [ $? -eq 124 ] \3", text))
            script.append(f"printf '\\n@@ block {shell_blocks} done @@\\n'")
            shell_blocks += 1
        elif language in {"json", "http"} and previous == "sh" and right_under:
            expected[shell_blocks - 1] = (language, text)
        previous = language
    (tmp_path / "walkthrough.sh").write_text("\n".join(script) + "\n")
    result = subprocess.run(
        ["bash", str(tmp_path / "walkthrough.sh")],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outputs = re.split(r"^@@ block \d+ done @@\n", result.stdout, flags=re.MULTILINE)
    assert len(outputs) == shell_blocks + 1
    for index, (language, shown) in expected.items():
        answered = outputs[index].strip()
        if language == "json":
            assert same_shape(shown_json(shown), json.loads(answered.splitlines()[-1])), (shown, answered)
        else:
            shown_head, _, shown_body = shown.partition("\n\n")
            head, _, body = answered.replace("\r\n", "\n").partition("\n\n")
            for line in shown_head.splitlines():
                assert line.lower() in head.lower().splitlines(), (line, head)
            assert same_shape(json.loads(shown_body), json.loads(body))
