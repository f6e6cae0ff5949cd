"""The flagship generative model: a transformer diffusion model (EDM) over the shower mesh."""

from caloforge.models.diffusion.config import DiffusionConfig
from caloforge.models.diffusion.denoiser import EDMDenoiser, sample_heun
from caloforge.models.diffusion.distill import ConsistencyStudent, consistency_loss, sample_consistency
from caloforge.models.diffusion.model import DiffusionModel
from caloforge.models.diffusion.preprocessing import ShowerTransform
from caloforge.models.diffusion.schedule import edm_sigmas, training_sigmas

__all__ = ["ConsistencyStudent", "DiffusionConfig", "DiffusionModel", "EDMDenoiser", "ShowerTransform",
           "consistency_loss", "edm_sigmas", "sample_consistency", "sample_heun", "training_sigmas"]  # fmt: skip


def __dir__() -> list[str]:
    return list(__all__)
