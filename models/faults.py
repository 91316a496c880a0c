"""Crash points for the fault tests: with MAILBOX_CRASH_AT=<name> in its environment, the process
kills itself (SIGKILL: no cleanup, no rollback, no flush) when it reaches that point. Nothing sets
the variable in service; the tests use it to stop a real bot at exactly the worst moment."""

from __future__ import annotations

import os
import signal

CRASH_ENV = "MAILBOX_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
