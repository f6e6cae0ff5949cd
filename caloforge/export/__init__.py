"""Export fast simulators for use inside Geant4."""

from caloforge.export.gflash_geant4 import export_gflash_geant4, geant4_medium

__all__ = ["export_gflash_geant4", "geant4_medium"]


def __dir__() -> list[str]:
    return list(__all__)
