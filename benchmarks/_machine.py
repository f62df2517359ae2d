"""The machine a benchmark ran on, printed with its figures."""
from __future__ import annotations

import os
import platform


def describe() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model or platform.processor() or 'unknown CPU'}, Python {platform.python_version()}"
