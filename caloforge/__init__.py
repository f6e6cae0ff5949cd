"""caloforge: fast, validated calorimeter shower simulation for any detector.

Subpackages (dependencies point downwards):

* :mod:`caloforge.geometry`: materials, layered calorimeters, the catalogue, the scoring mesh;
* :mod:`caloforge.fullsim`: the Geant4 reference simulation;
* :mod:`caloforge.data`: the HDF5 shower file;
* :mod:`caloforge.models`: fast simulators (GFlash, tuned to a geometry);
* :mod:`caloforge.evaluation`: the validation suite and its HTML report (imports torch);
* :mod:`caloforge.export`: parameters and models for use inside Geant4.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("caloforge")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from caloforge import data, fullsim, geometry
from caloforge.data import read_showers, write_showers
from caloforge.errors import CaloforgeError
from caloforge.geometry import get_geometry, mesh_for

__all__ = [
    "CaloforgeError",
    "__version__",
    "data",
    "fullsim",
    "geometry",
    "get_geometry",
    "mesh_for",
    "read_showers",
    "write_showers",
]


def __dir__() -> list[str]:
    return list(__all__)
