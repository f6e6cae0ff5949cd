"""Geant4 through calzone: the layered calorimeter as nested cylinders, a particle gun, mesh scoring.

This module imports calzone (Geant4) only inside :class:`Geant4Session`, and is meant to run in a
worker process: a Geant4 fatal error aborts the interpreter that hosts it (see ``runner.py``).

Geometry: each layer is a full cylinder that is the mother of the next inner one, innermost a vacuum
cylinder of the inner radius (one daughter per volume: Geant4 navigates such a stack about twice as
fast as the same layers as sibling tubes). Only active layers record deposits; their step mid-points
(line deposits) and local deposits (points) are binned into the mesh in one vectorised pass.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from caloforge.errors import SimulationError
from caloforge.geometry.layout import Calorimeter
from caloforge.geometry.materials import get_material
from caloforge.geometry.mesh import BinnedDeposits, ScoringMesh, bin_deposits

__all__ = [
    "EM_MODELS",
    "PARTICLES",
    "Geant4Session",
    "PhysicsConfig",
    "calzone_geometry",
    "entry_points",
    "merged_layers",
]

# caloforge particle name -> calzone/Geant4 particle name
PARTICLES = {"e-": "e-", "e+": "e+", "gamma": "gamma", "pi-": "pi-"}
# Geant4 EM constructors calzone offers; "standard" = G4EmStandardPhysics (option 0)
EM_MODELS = ("standard", "option1", "option2", "option3", "option4")
_CM = 10.0  # mm per cm (calzone's length unit is the cm)
_WORLD_MARGIN_CM = 10.0


@dataclass(frozen=True)
class PhysicsConfig:
    """Geant4 physics of a run: EM constructor, production cut, optional hadronic list."""

    em_model: str = "standard"
    cut_mm: float = 0.7
    hadronic: str | None = None

    def describe(self) -> str:
        """Label for file metadata, e.g. ``emstandard_opt0+emextra+decay cut=0.7mm``.

        calzone registers G4DecayPhysics and G4EmExtraPhysics (gamma- and electro-nuclear) next to the
        chosen EM constructor (measured: it reads the G4PARTICLEXS gamma files that option 0 alone
        never opens), so the label names all three.
        """
        em = "emstandard_opt0" if self.em_model == "standard" else f"emstandard_opt{self.em_model[-1]}"
        had = f"+{self.hadronic}" if self.hadronic else ""
        return f"{em}+emextra+decay{had} cut={self.cut_mm:g}mm"


def _calzone_material(name: str, materials: dict[str, Any]) -> str:
    """The Geant4 NIST name of a material, or define it in calzone's material table from caloforge's."""
    m = get_material(name)
    if m.geant4_name:
        return m.geant4_name
    g4name = "Cf" + "".join(ch for ch in name.title() if ch.isalnum())
    state = "gas" if m.state == "gas" else ("liquid" if m.state == "liquid" else "solid")
    materials.setdefault("mixtures", {})[g4name] = {
        "density": m.density_g_cm3,
        "state": state,
        "composition": dict(m.mass_fractions),
    }
    return g4name


def merged_layers(geometry: Calorimeter) -> list[tuple[str, bool, float]]:
    """(material, active, outer radius mm) of each Geant4 volume: runs of identical layers merged."""
    volumes: list[tuple[str, bool, float]] = []
    radius = geometry.inner_radius_mm
    for layer in geometry.layers:
        radius += layer.thickness_mm
        if volumes and volumes[-1][:2] == (layer.material, layer.active):
            volumes[-1] = (layer.material, layer.active, radius)
        else:
            volumes.append((layer.material, layer.active, radius))
    return volumes


def calzone_geometry(geometry: Calorimeter, *, record: str = "active") -> dict[str, Any]:
    """The calzone description of a layered barrel, in cm, layers nested outside-in.

    Args:
        geometry: the calorimeter.
        record: which layers record deposits: "active" (read-out layers) or "all".

    Returns:
        A dict with a "World" volume and, where needed, a "materials" table. Consecutive layers of
        the same material and read-out are one volume (a PbWO4 stack of 24 crystals is one 24 cm
        cylinder: the same physics with fewer boundaries to step through); volume ``L{i}`` is the
        ``i``-th of :func:`merged_layers`, innermost first.
    """
    if record not in {"active", "all"}:
        msg = f"record must be 'active' or 'all', got {record!r}"
        raise SimulationError(msg)
    materials: dict[str, Any] = {}
    length_cm = geometry.length_mm / _CM
    inner: dict[str, Any] = {
        "material": "G4_Galactic",
        "cylinder": {"length": length_cm, "radius": geometry.inner_radius_mm / _CM},
    }
    volume: dict[str, Any] = {}
    volumes = merged_layers(geometry)
    for i, (material, active, radius) in enumerate(volumes):
        volume = {
            "material": _calzone_material(material, materials),
            "cylinder": {"length": length_cm, "radius": radius / _CM},
            ("Inner" if i == 0 else f"L{i - 1}"): inner,
        }
        if active or record == "all":
            volume["role"] = "record_deposits"
        inner = volume
    side = 2 * (geometry.outer_radius_mm / _CM + _WORLD_MARGIN_CM)
    world = {
        "material": "G4_Galactic",
        "box": [side, side, length_cm + 2 * _WORLD_MARGIN_CM],
        f"L{len(volumes) - 1}": volume,
    }
    out: dict[str, Any] = {"World": world}
    if materials:
        out["materials"] = materials
    return out


def entry_points(geometry: Calorimeter, theta: NDArray[np.float64], phi: NDArray[np.float64]) -> NDArray[np.float64]:
    """Where a particle from the origin along (theta, phi) crosses the front face (inner radius), mm."""
    d = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], axis=-1)
    scale = geometry.inner_radius_mm / np.maximum(np.sin(theta), 1e-9)
    return d * scale[..., None]


class Geant4Session:
    """One Geant4 setup (geometry, physics, mesh) that runs batches of showers.

    Args:
        geometry: the calorimeter to build.
        mesh: the scoring mesh.
        physics: EM constructor and production cut.
        record: "active" for showers (detailed deposits in read-out layers) or "all" for calibration
            (per-event energy in every layer).

    Raises:
        SimulationError: ``GEANT4_DATA_DIR`` not set (call ``g4data.configure_environment`` before the
            first session: calzone reads it on import), calzone missing, or an unknown EM model.
    """

    def __init__(
        self,
        geometry: Calorimeter,
        mesh: ScoringMesh,
        physics: PhysicsConfig,
        *,
        record: str = "active",
    ) -> None:
        if "GEANT4_DATA_DIR" not in os.environ:
            msg = "GEANT4_DATA_DIR is not set: call caloforge.fullsim.g4data.configure_environment first"
            raise SimulationError(msg)
        try:
            import calzone
        except ImportError:
            msg = "Geant4 backend not installed: pip install calzone==1.2.2"
            raise SimulationError(msg) from None
        if physics.em_model not in EM_MODELS:
            msg = f"unknown EM physics '{physics.em_model}' (known: {', '.join(EM_MODELS)})"
            raise SimulationError(msg)
        self._calzone = calzone
        self.geometry, self.mesh, self.physics, self.record = geometry, mesh, physics, record
        self._active = {i for i, (_, active, _) in enumerate(merged_layers(geometry)) if active}
        self.sim = calzone.Simulation(calzone_geometry(geometry, record=record))
        self.sim.physics = calzone.Physics(
            physics.em_model, default_cut=physics.cut_mm / _CM, had_model=physics.hadronic
        )
        self.sim.sample_deposits = "detailed" if record == "active" else "brief"
        self.sim.sample_particles = False
        self.sim.secondaries = True

    def _particles(
        self, particle: str, energies_mev: NDArray[np.float64], theta: NDArray[np.float64], phi: NDArray[np.float64]
    ) -> tuple[Any, NDArray[np.float64], NDArray[np.float64]]:
        entries = entry_points(self.geometry, theta, phi)
        directions = entries / np.linalg.norm(entries, axis=-1, keepdims=True)
        start = entries - 1e-3 * directions  # 1 um in front of the face, in the vacuum
        p = self._calzone.particles(
            len(energies_mev), pid=PARTICLES[particle], energy=energies_mev, position=start / _CM, direction=directions
        )
        return p, entries, directions

    def warm_up(self) -> None:
        """Simulate one 1 MeV electron so that Geant4 builds (or fails to build) its physics tables."""
        self.sim.random = self._calzone.Random(1)
        self._run(self._particles("e-", np.array([1.0]), np.array([np.pi / 2]), np.array([0.0]))[0])

    def _run(self, particles: Any) -> dict[str, Any]:
        """Run Geant4; calzone returns the deposits alone when nothing else is sampled."""
        out = self.sim.run(particles)
        deposits = getattr(out, "deposits", out)
        return deposits if deposits is not None else {}

    def _shoot(
        self, particle: str, energies_mev: NDArray, theta: NDArray, phi: NDArray, seed: int
    ) -> tuple[dict[str, Any], NDArray[np.float64], NDArray[np.float64]]:
        """Seed Geant4, fire one batch; deposits by volume, entry points (mm) and directions."""
        self.sim.random = self._calzone.Random(int(seed))
        particles, entries, directions = self._particles(particle, energies_mev, theta, phi)
        return self._run(particles), entries, directions

    def run_showers(
        self,
        particle: str,
        energies_mev: NDArray[np.float64],
        theta: NDArray[np.float64],
        phi: NDArray[np.float64],
        seed: int,
    ) -> BinnedDeposits:
        """Simulate one batch and bin the visible energy (MeV, not calibrated) into the mesh."""
        deposits, entries, directions = self._shoot(particle, energies_mev, theta, phi, seed)
        positions, values, events = [], [], []
        for table in deposits.values():
            line, point = table.line, table.point
            if len(line):
                positions.append(0.5 * (line["start"] + line["end"]))
                values.append(line["value"])
                events.append(line["event"])
            if len(point):
                positions.append(point["position"])
                values.append(point["value"])
                events.append(point["event"])
        n = len(energies_mev)
        if not values:
            return BinnedDeposits(np.zeros((n, *self.mesh.shape)), np.zeros(n))
        return bin_deposits(
            self.mesh,
            np.concatenate(positions) * _CM,
            np.concatenate(values),
            entry=entries,
            direction=directions,
            event=np.concatenate(events).astype(np.int64),
            n_events=n,
        )

    def run_totals(
        self,
        particle: str,
        energies_mev: NDArray[np.float64],
        theta: NDArray[np.float64],
        phi: NDArray[np.float64],
        seed: int,
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Per-event energy deposited in active and in passive layers (MeV), for calibration."""
        if self.record != "all":
            msg = "run_totals needs a session built with record='all'"
            raise SimulationError(msg)
        deposits, _, _ = self._shoot(particle, energies_mev, theta, phi, seed)
        n = len(energies_mev)
        active, passive = np.zeros(n), np.zeros(n)
        for path, table in deposits.items():
            index = int(path.rsplit(".", 1)[-1].removeprefix("L")) if ".L" in path else -1
            target = active if index in self._active else passive
            np.add.at(target, table["event"].astype(np.int64), table["value"])
        return active, passive
