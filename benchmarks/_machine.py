"""One line about the machine and the versions, printed at the top of every benchmark."""

import os
import platform
from importlib import metadata

DISTRIBUTIONS = ("keras", "tensorflow-cpu", "tensorflow", "PyYAML", "pydantic", "networkx", "numpy")


def describe() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = []
    for dist in DISTRIBUTIONS:
        try:
            versions.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    return f"CPU: {cpu}, {os.cpu_count()} cores; Python {platform.python_version()}; " + ", ".join(
        versions
    )
