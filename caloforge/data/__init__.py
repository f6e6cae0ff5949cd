"""Shower data: the HDF5 shower file (read, write, append, validate, summarise)."""

from caloforge.data.showerfile import (
    FORMAT_VERSION,
    ShowerData,
    ShowerMeta,
    ShowerWriter,
    part_path,
    read_meta,
    read_showers,
    summarize_shower_file,
    validate_shower_file,
    write_showers,
)

__all__ = [
    "FORMAT_VERSION",
    "ShowerData",
    "ShowerMeta",
    "ShowerWriter",
    "part_path",
    "read_meta",
    "read_showers",
    "summarize_shower_file",
    "validate_shower_file",
    "write_showers",
]


def __dir__() -> list[str]:
    return list(__all__)
