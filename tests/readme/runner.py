"""Run README.md as a new user would: every block, in order, in one shell, in a fresh directory.

What the README shows is what runs. The runner changes addresses only (every
``127.0.0.1:PORT`` becomes a free port, ``:5432`` the test's PostgreSQL, the two
places that name the world outside: the pod's token path and GitHub's JWKS URL) and
stands in for what a laptop does not have (``kubectl``, a GitHub Actions job's
environment). Then:

- ``sh`` blocks run in one bash session (exports, files and background jobs carry over
  from section to section); a block is cut into steps at each ``# -> expected`` line,
  and the expected lines must appear, in order, in what the step printed (``…``
  matches anything). A failing command fails the test, unless the step expects an
  error line (``broker: ...``). ``make run`` and a lone ``broker serve`` are what a user
  runs in a second terminal: the runner starts them in the background (stopping the one
  before, as Ctrl-C would), waits for ``/readyz`` and checks the plain block after
  ``make run`` (the banner) against what it printed. ``make test`` is this very run.
- ``python`` blocks run with the session's python, in its directory; their ``# ->``
  comments are checked the same way.
- ``yaml`` blocks parse; a configuration file's issuers pass the broker's validation.
- ``text`` blocks are command synopses: each command exists and takes every flag shown.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import re
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from broker.cli import parser
from broker.core.issuers import issuer_from_config

EXPECT = "# -> "
FAILED = "__readme_failed__"


@dataclass(frozen=True)
class Block:
    """A fenced block of the README."""

    section: str
    lang: str
    text: str
    line: int

    @property
    def where(self) -> str:
        return f"README.md:{self.line} ({self.section})"


def blocks(text: str) -> list[Block]:
    """Every fenced block, with the heading it stands under."""
    found: list[Block] = []
    section = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#") and not line.startswith("#!"):
            section = line.lstrip("#").strip()
        elif line.startswith("```"):
            lang = line[3:].strip()
            body: list[str] = []
            i += 1
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            found.append(Block(section, lang, "\n".join(body) + "\n", i - len(body)))
        i += 1
    return found


@dataclass
class Step:
    """Commands, and the lines their output must show."""

    script: str
    expected: list[str] = field(default_factory=list)

    @property
    def expects_error(self) -> bool:
        return any(e.startswith(("broker: ", "broker-sidecar: ")) for e in self.expected)


def steps(text: str) -> list[Step]:
    """A block cut at each run of ``# ->`` lines."""
    out: list[Step] = []
    script: list[str] = []
    expected: list[str] = []
    for line in text.splitlines():
        if line.startswith(EXPECT):
            expected.append(line.removeprefix(EXPECT))
            continue
        if expected:
            out.append(Step("\n".join(script) + "\n", expected))
            script, expected = [], []
        script.append(line)
    out.append(Step("\n".join(script) + "\n", expected))
    return [s for s in out if s.script.strip() or s.expected]


def matches(expected: list[str], output: str) -> bool:
    """Each expected line equals a later output line than the one before it (``…``: anything)."""
    lines = output.splitlines()
    pos = 0
    for want in expected:
        pattern = re.compile(".*".join(re.escape(part) for part in want.split("…")))
        while pos < len(lines) and not pattern.fullmatch(lines[pos].rstrip()):
            pos += 1
        if pos == len(lines):
            return False
        pos += 1
    return True


class Shell:
    """One bash session in its own process group: what a user's terminal holds."""

    def __init__(self, cwd: Path, env: Mapping[str, str]) -> None:
        self.cwd = cwd
        self._count = 0
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=cwd, env=dict(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, bufsize=1, start_new_session=True,
        )  # fmt: skip
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.run(f"set -o pipefail; trap 'echo \"{FAILED} $? ${{BASH_COMMAND}}\"' ERR")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def run(self, script: str, timeout: float = 120) -> str:
        """Run ``script`` in the session (sourced from a file, standard input empty, so nothing
        it runs can read the session's own input); everything it printed, stdout and stderr."""
        marker = f"__readme_done_{uuid.uuid4().hex}__"
        self._count += 1
        path = self.cwd / f".readme-step-{self._count}.sh"
        path.write_text(script)
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"source {path.name} < /dev/null\necho {marker} >&2\n")
        self.proc.stdin.flush()
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                shown = "\n".join(out)
                raise AssertionError(f"still running after {timeout}s:\n{script}\n--- output\n{shown}") from None
            if line is None:
                raise AssertionError(f"the shell exited:\n{script}\n--- output\n" + "\n".join(out))
            if line == marker:
                return "\n".join(out)
            out.append(line)

    def close(self) -> None:
        from tests.e2e.harness import stop_group  # noqa: PLC0415 - the harness imports grpc stubs

        if self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        stop_group(self.proc)


class Readme:
    """Runs the blocks of one README in one fresh directory."""

    def __init__(self, text: str, cwd: Path, env: Mapping[str, str], *, http_listen: str) -> None:
        self.blocks = blocks(text)
        self.cwd = cwd
        self.shell = Shell(cwd, env)
        self.http_listen = http_listen
        self.serves = 0
        self.banner = ""

    def close(self) -> None:
        self.shell.run("[ -f .readme-fg.pid ] && kill $(cat .readme-fg.pid) 2>/dev/null; true", timeout=30)
        self.shell.close()

    def run_all(self) -> Iterator[Block]:
        """Run every block in order (yielding each once it ran, for the test's own checks)."""
        previous: Block | None = None
        for block in self.blocks:
            if block.lang == "sh":
                self._shell_block(block)
            elif block.lang == "python":
                self._python_block(block)
            elif block.lang == "yaml":
                _yaml_block(block)
            elif block.lang == "text":
                _synopsis_block(block)
            elif block.lang == "" and previous is not None and "make run" in previous.text:
                self._banner_block(block)
            else:
                raise AssertionError(f"{block.where}: a block the runner does not know how to run ({block.lang!r})")
            previous = block
            yield block

    # sh ----------------------------------------------------------------------------------
    def _shell_block(self, block: Block) -> None:
        for step in steps(block.text):
            script: list[str] = []
            for line in step.script.splitlines():
                command = line.split("#", 1)[0].strip()
                if command == "make test":
                    continue  # this very run
                if command in ("make run", "broker serve"):
                    self._step(block, Step("\n".join(script) + "\n"))
                    script = []
                    self._serve(block, ".venv/bin/broker serve" if command == "make run" else "broker serve")
                    continue
                script.append(line)
            self._step(block, Step("\n".join(script) + "\n", step.expected))

    def _step(self, block: Block, step: Step) -> None:
        if not step.script.strip() and not step.expected:
            return
        output = self.shell.run(step.script)
        shown = f"{block.where}\n--- ran\n{step.script}--- printed\n{output}"
        failed = [line for line in output.splitlines() if line.startswith(FAILED)]
        assert not failed or step.expects_error, f"a command failed: {failed[0]}\n{shown}"
        assert matches(step.expected, _visible(output)), f"expected, in order: {step.expected}\n{shown}"

    def _serve(self, block: Block, command: str) -> None:
        """A foreground daemon: stop the one before (Ctrl-C), start this one, wait until it is ready."""
        self.serves += 1
        log = f".readme-serve-{self.serves}.log"
        self.shell.run(
            "if [ -f .readme-fg.pid ]; then kill $(cat .readme-fg.pid); "
            "while kill -0 $(cat .readme-fg.pid) 2>/dev/null; do sleep 0.1; done; fi\n"
            f"{command} > {log} 2>&1 &\necho $! > .readme-fg.pid"
        )
        deadline = time.monotonic() + 60
        pid = int((self.cwd / ".readme-fg.pid").read_text())
        while time.monotonic() < deadline:
            if not Path(f"/proc/{pid}").exists():
                raise AssertionError(f"{block.where}: `{command}` exited:\n{(self.cwd / log).read_text()}")
            try:
                with urllib.request.urlopen(f"http://{self.http_listen}/readyz", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError(f"{block.where}: `{command}` not ready in 60s:\n{(self.cwd / log).read_text()}")
        if not self.banner:
            self.banner = (self.cwd / log).read_text()

    def _banner_block(self, block: Block) -> None:
        expected = [line for line in block.text.splitlines() if line.strip()]
        assert matches(expected, self.banner), f"{block.where}: the banner differs:\n{self.banner}"

    # python ------------------------------------------------------------------------------
    def _python_block(self, block: Block) -> None:
        path = self.cwd / f".readme-block-{block.line}.py"
        path.write_text(block.text)
        expected = [line.strip().removeprefix(EXPECT) for line in block.text.splitlines() if line.startswith(EXPECT)]
        self._step(block, Step(f"python {path.name}\n", expected))


def _visible(output: str) -> str:
    return "\n".join(line for line in output.splitlines() if not line.startswith(FAILED))


def _yaml_block(block: Block) -> None:
    document = yaml.safe_load(block.text)
    assert isinstance(document, dict), f"{block.where}: not a YAML mapping"
    for index, raw in enumerate(document.get("issuers", [])):
        issuer_from_config(raw, index)


def _synopsis_block(block: Block) -> None:
    """Each ``broker ...`` line names a command that exists and takes every ``--flag`` shown."""
    text = block.text.replace("\\\n", " ")
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "broker":
            continue
        command = []
        for word in words[1:]:
            if not re.fullmatch(r"[a-z][a-z-]*", word):
                break
            command.append(word)
        shown = io.StringIO()
        with contextlib.redirect_stdout(shown), contextlib.suppress(SystemExit):
            parser().parse_args([*command, "--help"])
        flags = set(re.findall(r"--[a-z][a-z-]*", line))
        missing = sorted(f for f in flags if f not in shown.getvalue())
        assert shown.getvalue().startswith("usage: broker"), f"{block.where}: `broker {' '.join(command)}` is unknown"
        assert not missing, f"{block.where}: `broker {' '.join(command)}` has no {', '.join(missing)}"


def substitute_addresses(text: str, ports: Mapping[int, int]) -> str:
    """Every ``127.0.0.1:PORT`` of ``ports`` moved to its new port."""
    return re.sub(r"127\.0\.0\.1:(\d+)", lambda m: f"127.0.0.1:{ports.get(int(m[1]), int(m[1]))}", text)


def readme_ports(text: str) -> set[int]:
    """The loopback ports the README names."""
    return {int(port) for port in re.findall(r"127\.0\.0\.1:(\d+)", text)}


def base_env(extra: Mapping[str, str]) -> dict[str, str]:
    """A new user's environment: nothing of the test run's own BROKER_*, BAO_*, VAULT_*, PG*."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BROKER_", "BAO_", "VAULT_", "PG", "VIRTUAL_ENV", "XDG_CONFIG_HOME"))
    }
    env.update(extra)
    return env
