"""Faults the chaos suite injects into the worker (docs/reliability.md, R4). Off unless the
environment names them, and honoured only against the local AWS stand-in:

- `AULA_FAULT_CRASH_JOB_TYPES=report,...`: the worker process that receives a message of one of
  these types SIGKILLs itself before it claims the job, on every delivery. That is a crash loop
  (out of memory decoding the message, a segfault in a library the type loads): sqsd sees a
  dropped connection each time, and SQS dead-letters the message after MaxRetries.
- `AULA_FAULT_UNKNOWN_JOB_TYPES=activity_fanout,...`: the worker answers as a release that does
  not know these types yet (422 "unknown job type"), like an older worker during a rolling deploy.

Names must be declared job types (a typo would otherwise inject nothing, silently). The faults
apply only while `AWS_ENDPOINT_URL` is set, as devstack and `make chaos` set it for moto: a
deployed worker talks to real AWS without it, so a stray variable there only logs a warning.
"""
from __future__ import annotations

import logging
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from core.jobs.types import JOB_TYPES

log = logging.getLogger(__name__)
CRASH = "AULA_FAULT_CRASH_JOB_TYPES"
UNKNOWN = "AULA_FAULT_UNKNOWN_JOB_TYPES"
LOCAL_ONLY = "AWS_ENDPOINT_URL"


@dataclass(frozen=True)
class Faults:
    crash: frozenset[str] = frozenset()
    unknown: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Faults:
        """The faults `environ` names; ValueError naming the variable for an undeclared type."""
        named = {variable: _names(environ, variable) for variable in (CRASH, UNKNOWN)}
        for variable, names in named.items():
            undeclared = sorted(names - set(JOB_TYPES))
            if undeclared:
                raise ValueError(f"{variable}: not declared job types: {', '.join(undeclared)}")
        if not any(named.values()):
            return cls()
        if not environ.get(LOCAL_ONLY, "").strip():
            log.warning("%s/%s ignored: faults are injected only against a local AWS stand-in (%s unset)",
                        CRASH, UNKNOWN, LOCAL_ONLY)
            return cls()
        return cls(frozenset(named[CRASH]), frozenset(named[UNKNOWN]))

    @property
    def active(self) -> bool:
        return bool(self.crash or self.unknown)

    def handler_for(self, job_type: str, handlers: Mapping[str, Any]) -> Any:
        """The handler of `job_type` as this worker sees it: None for a type it is to pretend
        not to know; no return at all for a type whose delivery is to kill the process."""
        if job_type in self.crash:
            log.error("fault injection (%s): killing worker process %d before the claim", CRASH, os.getpid())
            for handler in logging.getLogger().handlers:
                handler.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        if job_type in self.unknown:
            log.warning("fault injection (%s): acting as a worker that does not know %r", UNKNOWN, job_type)
            return None
        return handlers.get(job_type)


def _names(environ: Mapping[str, str], variable: str) -> set[str]:
    return {name.strip() for name in environ.get(variable, "").split(",") if name.strip()}


@lru_cache(maxsize=4)
def _parsed(crash: str, unknown: str, local: str) -> Faults:
    return Faults.from_env({CRASH: crash, UNKNOWN: unknown, LOCAL_ONLY: local})


def configured() -> Faults:
    """The faults of this process's environment (read per message, parsed once per value)."""
    return _parsed(os.environ.get(CRASH, ""), os.environ.get(UNKNOWN, ""), os.environ.get(LOCAL_ONLY, ""))


def handler_for(job_type: str, handlers: Mapping[str, Any]) -> Any:
    return configured().handler_for(job_type, handlers)
