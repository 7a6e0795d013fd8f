"""The facts a throughput figure means nothing without: cores, CPU, load, versions."""

from __future__ import annotations

import os
import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import confluent_kafka


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def facts(kafka_version: str) -> dict[str, str]:
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu_model(),
        "memory": memory_gib(),
        "python": platform.python_version(),
        "kafka broker": kafka_version,
        "confluent-kafka / librdkafka": (
            f"{_version('confluent-kafka')} / {confluent_kafka.libversion()[0]}"
        ),
        "fastavro / pydantic": f"{_version('fastavro')} / {_version('pydantic')}",
        "faust-streaming / aiokafka": f"{_version('faust-streaming')} / {_version('aiokafka')}",
        "load average (1 5 15 min)": load_average(),
    }
