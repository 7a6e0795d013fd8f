"""A stage that runs in a process of its own (the Faust floor, the quix-streams peer).

A peer's event loop, signal handlers, logging and pinned libraries stay out of the run:
the child is started with the run, so it imports the same tree and schemas as the run
while others edit it, waits for ``go`` on its stdin, folds, and prints one
``BENCH-RESULT {json}`` line on stdout. Its progress lines (stderr, starting with its
``tag``) are relayed; anything else it says is kept for the report if it gives no result.

Standard library only: the quix-streams child imports this module in its own virtualenv.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

DONE = ("Completed", "Fulfilled")
"""Where journey 1 leaves every order."""

RESULT_MARK = "BENCH-RESULT "
"""The child prints its JSON result after this, on stdout."""


def result_line(outcome: dict[str, Any]) -> str:
    return RESULT_MARK + json.dumps(outcome)


def parse_result(line: str) -> dict[str, Any] | None:
    """The outcome on ``line``, found after any terminal escapes the child wrote before it."""
    at = line.find(RESULT_MARK)
    if at < 0:
        return None
    found: dict[str, Any] = json.loads(line[at + len(RESULT_MARK) :])
    return found


class ChildStage:
    """One child process: started at once, told to go by ``run``, ended by ``close``."""

    def __init__(
        self,
        command: Sequence[str],
        cwd: Path,
        tag: str,
        say: Callable[[str], None],
        env: dict[str, str] | None = None,
    ) -> None:
        self.tag, self._say = tag, say
        self.chatter: deque[str] = deque(maxlen=40)
        self.proc = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._relayer = threading.Thread(target=self._relay, name=f"{tag}-stderr", daemon=True)
        self._relayer.start()

    def _relay(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if line.startswith(f"[{self.tag}]"):
                self._say(line.rstrip())
            else:
                self.chatter.append(line.rstrip())

    def run(self, timeout: float) -> dict[str, Any] | None:
        """Say go, wait for the result line (None if the child died without one) and its exit."""
        proc = self.proc
        assert proc.stdin is not None and proc.stdout is not None
        outcome: dict[str, Any] | None = None
        try:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        except BrokenPipeError:
            pass  # it died while waiting: no result, its output says why
        for line in proc.stdout:
            outcome = parse_result(line)
            if outcome is not None:
                break
        self._wait(60 if outcome is not None else timeout + 120)
        self._relayer.join(5)
        return outcome

    def _wait(self, timeout: float) -> None:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._say(f"{self.tag}: pid {self.proc.pid} did not exit; killing it")
            self.proc.kill()
            self.proc.wait()

    def close(self) -> None:
        """Make sure the child is gone: EOF on its stdin ends a waiting one."""
        if self.proc.poll() is not None:
            return
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        self._wait(30)


def components_of(args: Any) -> Any:
    """The components a child builds from its run's options (``--bootstrap``, ``--prefix``,
    ``--partitions``, ``--datadir``, ``--schemas-dir``): the same in every peer."""
    from streams.bootstrap import bootstrap
    from streams.settings import Settings

    return bootstrap(
        Settings(
            bootstrap_servers=args.bootstrap,
            topic_prefix=args.prefix,
            partitions=args.partitions,
            state_dir=args.datadir,
            schemas_dir=args.schemas_dir,
        )
    )
