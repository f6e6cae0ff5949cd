"""Shared by the benchmark scripts: the machine and software a result was measured on, written as JSON.

Usage::

    from _common import Recorder
    rec = Recorder("fullsim_speed", settings={"showers": 10})
    ...
    rec.write({"ms_per_shower": 12.3})   # -> benchmarks/results/fullsim_speed.json
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import socket
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"
# calzone wheels bundle one Geant4 release each
_GEANT4_OF_CALZONE = {"1.2.2": "11.4.0"}


def evaluation_folder(name: str) -> str:
    """The results folder of diffusion_evaluation.py's report for results NAME.json (the default's historic name)."""
    return "diffusion" if name == "diffusion_evaluation" else name


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_version(name: str) -> str | None:
    """Installed version of a distribution, or None."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages, or None where the OS has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def environment() -> dict[str, Any]:
    """Host, CPU and software versions."""
    calzone = package_version("calzone")
    return {
        "hostname": socket.gethostname(),
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": package_version("numpy"),
        "torch": package_version("torch"),
        "calzone": calzone,
        "geant4": _GEANT4_OF_CALZONE.get(calzone or "", f"unknown (calzone {calzone})"),
        "caloforge": package_version("caloforge"),
    }


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf become None, numpy scalars and tuples become plain Python."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalar or 0-d array
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Recorder:
    """Notes the start conditions of a benchmark; :meth:`write` adds the figures and saves the JSON."""

    def __init__(self, name: str, settings: dict[str, Any]) -> None:
        self.name = name
        self.settings = settings
        self.started = datetime.datetime.now(datetime.UTC)
        self.load_start = load_average()

    def write(self, figures: dict[str, Any]) -> Path:
        """Save ``results/NAME.json`` and return its path."""
        record = {
            "benchmark": self.name,
            "date_utc": self.started.isoformat(timespec="seconds"),
            "duration_s": round((datetime.datetime.now(datetime.UTC) - self.started).total_seconds(), 1),
            **environment(),
            "load_average_start": self.load_start,
            "load_average_end": load_average(),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "settings": self.settings,
            "figures": figures,
        }
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{self.name}.json"
        path.write_text(json.dumps(_clean(record), indent=1) + "\n")
        return path


def log(message: str) -> None:
    """Progress line on stderr (stdout may carry Geant4's own output)."""
    print(message, file=sys.stderr, flush=True)
