"""Training loops, checkpoints and resume for the generative models."""

from caloforge.training.diffusion import TrainSettings, train_diffusion

__all__ = ["TrainSettings", "train_diffusion"]


def __dir__() -> list[str]:
    return list(__all__)
