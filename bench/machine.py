"""What the figures were measured on: they mean little without the machine, the software and
how busy the machine already was (others' tests share its cores)."""
from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def wrk_version() -> str:
    try:
        done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "wrk (version unknown)"
    first = (done.stdout or done.stderr).strip().splitlines()
    return " ".join(first[0].split()[:2]) if first else "wrk"


def describe(database_version: str, generator: str) -> list[str]:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return [
        (f"machine: {os.cpu_count()} cores, {cpu_model()}, {platform.system()} {platform.release()}; "
         f"load average at start {load}"),
        (f"software: Python {platform.python_version()}, gunicorn {metadata.version('gunicorn')}, "
         f"Flask {metadata.version('flask')}, SQLAlchemy {metadata.version('sqlalchemy')}, {database_version}"),
        f"load generator: {wrk_version() if generator == 'wrk' else 'the Python generator (bench/pyload.py; wrk not found)'}",
    ]
