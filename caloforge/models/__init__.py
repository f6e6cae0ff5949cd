"""Fast shower simulators: the GFlash parametrisation (and, later, the generative models)."""

from caloforge.models.gflash import GFlash, GFlashMedium, GFlashParameters, stock_parameters

__all__ = ["GFlash", "GFlashMedium", "GFlashParameters", "stock_parameters"]


def __dir__() -> list[str]:
    return list(__all__)
