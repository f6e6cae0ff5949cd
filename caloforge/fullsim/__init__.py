"""Reference full simulation: Geant4 (calzone) showers for any caloforge geometry, on the scoring mesh.

Geant4 runs in worker processes with physics data from :mod:`caloforge.fullsim.g4data` (the
official data sets when ``CALOFORGE_G4DATA`` points at them, else a stand-in built locally).
"""

from caloforge.fullsim.backend import EM_MODELS, PARTICLES, PhysicsConfig, calzone_geometry
from caloforge.fullsim.calibration import SamplingFraction, cached_sampling_fractions, sampling_fraction
from caloforge.fullsim.g4data import DATA_VERSION, data_dir, ensure_data
from caloforge.fullsim.simulation import SimulationOptions, SimulationSettings, simulate, simulate_to_file

__all__ = [
    "DATA_VERSION",
    "EM_MODELS",
    "PARTICLES",
    "PhysicsConfig",
    "SamplingFraction",
    "SimulationOptions",
    "SimulationSettings",
    "cached_sampling_fractions",
    "calzone_geometry",
    "data_dir",
    "ensure_data",
    "sampling_fraction",
    "simulate",
    "simulate_to_file",
]


def __dir__() -> list[str]:
    return list(__all__)
