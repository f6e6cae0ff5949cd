"""The exceptions caloforge raises on bad input: one line for the user, a builtin base for Python."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "CaloforgeError",
    "InvalidGeometry",
    "InvalidShowerFile",
    "SimulationError",
    "UnknownGeometry",
    "UnknownMaterial",
    "suggest",
]


class CaloforgeError(Exception):
    """Base class of every error caloforge reports to a user; the CLI prints it as one line."""


class UnknownGeometry(CaloforgeError, KeyError):
    """A geometry name that is not in the catalogue and not a readable file."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class UnknownMaterial(CaloforgeError, KeyError):
    """A material name that is neither a built-in compound nor a chemical element."""

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidGeometry(CaloforgeError, ValueError):
    """A geometry description that breaks a rule; the message names the entry (``stacks[1].layers[0]``)."""


class InvalidShowerFile(CaloforgeError, ValueError):
    """A shower file that cannot be read or breaks the format; the message names file and dataset."""


class SimulationError(CaloforgeError, RuntimeError):
    """Full simulation could not run (backend missing, Geant4 fatal error, bad run options)."""


def suggest(name: str, choices: Iterable[str]) -> str:
    """Return "; did you mean 'x'?" for the closest choices, or "" when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
