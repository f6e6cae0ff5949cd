"""The ``caloforge`` command: thin shells over library functions (parse, call, print).

Heavy libraries (torch, Geant4, onnxruntime) are imported inside the commands that need them, so
``caloforge --help`` and ``--version`` stay fast. Every :class:`~caloforge.errors.CaloforgeError`
ends as one line on stderr with exit code 1; usage errors exit with 2.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from caloforge import __version__
from caloforge.errors import CaloforgeError

__all__ = ["app", "main"]

app = typer.Typer(
    name="caloforge",
    help="Fast calorimeter shower simulation for any detector: simulate, fit, generate, validate, export.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
if not console.is_terminal:  # pipes and CI get full-width tables instead of 80 columns
    console = Console(width=160)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"caloforge {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Fast calorimeter shower simulation for any detector."""


@app.command()
def geometries(
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")] = False,
    mesh: Annotated[str, typer.Option(help="Mesh configuration for the cell sizes (ds2 or ds3).")] = "ds2",
) -> None:
    """List the built-in calorimeters with their X0, Moliere radius, sampling fraction and mesh cells."""
    from caloforge.fullsim import cached_sampling_fractions
    from caloforge.geometry import geometry_table

    rows = geometry_table(mesh_config=mesh, measured=cached_sampling_fractions())
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"caloforge geometries (mesh {mesh})")
    columns = [
        ("name", "name", "{}"),
        ("layers", "layers", "{}"),
        ("depth mm", "depth_mm", "{:.1f}"),
        ("depth X0", "depth_x0", "{:.1f}"),
        ("X0 eff mm", "x0_mm", "{:.3f}"),
        ("R_M eff mm", "rm_mm", "{:.3f}"),
        ("SF est.", "sampling_fraction_estimate", "{:.4f}"),
        ("SF sim.", "sampling_fraction_measured", "{:.4f}"),
        ("cell dz mm", "cell_dz_mm", "{:.3f}"),
        ("cell dr mm", "cell_dr_mm", "{:.3f}"),
    ]
    for title, _, _ in columns:
        table.add_column(title, justify="left" if title == "name" else "right", no_wrap=title == "name")
    for row in rows:
        table.add_row(*("-" if row[key] is None else fmt.format(row[key]) for _, key, fmt in columns))
    console.print(table)
    console.print(
        "SF est.: minimum-ionising estimate; SF sim.: measured by caloforge's Geant4 simulation (blank until measured)."
    )


@app.command()
def inspect(
    file: Annotated[Path, typer.Argument(help="Shower file (.h5).")],
    geometry: Annotated[
        str | None, typer.Option("-g", "--geometry", help="Geometry of a plain CaloChallenge file.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check a shower file and print a summary: N, energies, mesh, geometry, generator, mean E_sum/E_inc."""
    from caloforge.data import summarize_shower_file, validate_shower_file

    validate_shower_file(file, geometry=geometry)
    summary = summarize_shower_file(file, geometry=geometry)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    table = Table(title=str(file), show_header=False)
    for key, value in summary.items():
        table.add_row(key, f"{value:.5g}" if isinstance(value, float) else str(value))
    console.print(table)


def _parse_range(text: str | None, what: str, *, angle: bool = False) -> tuple[float, float] | None:
    """'a:b' or 'a' -> (a, b); angles accept a 'deg' suffix (default radians)."""
    if text is None:
        return None

    def number(t: str) -> float:
        t = t.strip()
        scale = 1.0
        if angle and t.endswith("deg"):
            t, scale = t[:-3], math.pi / 180
        try:
            return float(t) * scale
        except ValueError:
            msg = f"{what}: cannot read '{text}' (expected a number or a range a:b)"
            raise CaloforgeError(msg) from None

    parts = text.split(":")
    if len(parts) > 2:
        msg = f"{what}: cannot read '{text}' (expected a number or a range a:b)"
        raise CaloforgeError(msg)
    lo = number(parts[0])
    return (lo, number(parts[1]) if len(parts) == 2 else lo)


@app.command()
def simulate(
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Output shower file (.h5).")] = None,
    geometry: Annotated[str, typer.Option("-g", "--geometry", help="Catalogue name or geometry file.")] = "par04-siw",
    particle: Annotated[str, typer.Option("-p", "--particle", help="e-, e+ or gamma (pi- with official data).")] = "e-",
    energy: Annotated[str, typer.Option("-E", "--energy", help="GeV: 'a:b' log-uniform, or one value.")] = "1:100",
    theta: Annotated[str | None, typer.Option(help="Polar angle, rad (or '90deg'): 'a:b' uniform or fixed.")] = None,
    phi: Annotated[str | None, typer.Option(help="Azimuth, rad (or 'deg'): 'a:b' uniform or fixed.")] = None,
    n: Annotated[int, typer.Option("-n", help="Number of showers.")] = 1000,
    workers: Annotated[int, typer.Option("-j", "--workers", help="Worker processes.")] = 1,
    seed: Annotated[int, typer.Option(help="Random seed; same seed = same showers, any -j.")] = 0,
    physics: Annotated[str, typer.Option(help="Geant4 EM constructor: standard (option 0), option1-4.")] = "standard",
    cut: Annotated[float, typer.Option(help="Production cut, mm.")] = 0.7,
    mesh: Annotated[str, typer.Option(help="Mesh configuration: ds2 (45x16x9) or ds3 (45x50x18).")] = "ds2",
    resume: Annotated[bool, typer.Option(help="Continue an interrupted or shorter file.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
    force: Annotated[bool, typer.Option(help="Allow energies above 1 TeV.")] = False,
    setup_only: Annotated[bool, typer.Option("--setup-only", help="Only build the Geant4 data and exit.")] = False,
    g4data: Annotated[
        str | None, typer.Option(help="Folder of official Geant4 data sets (else CALOFORGE_G4DATA or stand-in).")
    ] = None,
) -> None:
    """Simulate reference showers with Geant4 into a shower file (appended in chunks, resumable)."""
    from caloforge.fullsim import ensure_data, simulate_to_file

    if setup_only:
        folder = ensure_data(official=g4data, progress=True)
        typer.echo(f"Geant4 data ready in {folder}")
        return
    if output is None:
        msg = "missing output file: -o FILE.h5"
        raise CaloforgeError(msg)
    energy_range = _parse_range(energy, "energy")
    path = simulate_to_file(
        output,
        geometry,
        n=n,
        particle=particle,
        energy_gev=energy_range,
        theta=_parse_range(theta, "theta", angle=True),
        phi=_parse_range(phi, "phi", angle=True),
        seed=seed,
        workers=workers,
        em_model=physics,
        cut_mm=cut,
        mesh_config=mesh,
        force=force,
        resume=resume,
        overwrite=overwrite,
        data_dir=g4data,
        progress=True,
    )
    typer.echo(f"wrote {path}")


def _stage_printer() -> Callable[[str], None]:
    """A progress callback that prints each stage with the seconds since it was made."""
    start = time.perf_counter()

    def say(line: str) -> None:
        console.print(f"[dim]{time.perf_counter() - start:7.1f} s[/dim]  {line}", highlight=False)

    return say


@app.command()
def train(
    model: Annotated[str, typer.Argument(help="Model family: gflash or diffusion.")],
    data: Annotated[list[Path], typer.Option("-d", "--data", help="Training shower file (repeat for more).")],
    output_dir: Annotated[Path, typer.Option("-o", "--output-dir", help="Run folder.")],
    geometry: Annotated[
        str | None, typer.Option("-g", "--geometry", help="GFlash: geometry to tune for (default: the files').")
    ] = None,
    validation: Annotated[Path | None, typer.Option(help="Diffusion: held-out shower file for validation.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of everything random in the run.")] = 0,
    max_time: Annotated[float | None, typer.Option("--max-time", help="Wall-time budget, seconds.")] = None,
    resume: Annotated[bool, typer.Option(help="Diffusion: continue the run in the output folder.")] = False,
    steps: Annotated[int, typer.Option(help="Diffusion: optimiser steps.")] = 20_000,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Diffusion: showers per step.")] = 128,
    lr: Annotated[float, typer.Option(help="Diffusion: peak learning rate.")] = 3e-4,
    validate_every: Annotated[
        int, typer.Option("--validate-every", help="Diffusion: steps between validations.")
    ] = 1000,
    validation_showers: Annotated[
        int, typer.Option("--validation-showers", help="Diffusion: held-out showers per validation.")
    ] = 2000,
    dim: Annotated[int | None, typer.Option(help="Diffusion: transformer width.")] = None,
    depth: Annotated[int | None, typer.Option(help="Diffusion: transformer blocks.")] = None,
    heads: Annotated[int | None, typer.Option(help="Diffusion: attention heads.")] = None,
    patch: Annotated[str | None, typer.Option(help="Diffusion: cells per token, 'layers,angles,radii'.")] = None,
    hit_cells: Annotated[
        bool, typer.Option("--hit-cells", help="Diffusion: a hit channel beside each cell's energy (format 7).")
    ] = False,
    device: Annotated[str | None, typer.Option(help="Diffusion: cpu or cuda (default: cuda when present).")] = None,
    teacher: Annotated[
        Path | None, typer.Option(help="Diffusion: distil this trained run into a 1-4-step generator.")
    ] = None,
    init: Annotated[
        Path | None, typer.Option(help="Diffusion: start from this trained run's weights where shapes match.")
    ] = None,
) -> None:
    """Fit a fast simulator: GFlash (every parameter, for your geometry) or the diffusion model."""
    if model == "gflash":
        from caloforge.models.gflash_tune import train_gflash

        path, report = train_gflash(data, output_dir, geometry=geometry, seed=seed,
                                    max_seconds=540.0 if max_time is None else max_time,
                                    progress=_stage_printer())  # fmt: skip
        table = Table(title=f"GFlash tuned on {report['reference_showers']} showers in {report['seconds']:.0f} s "
                            "(separation power, 2000 showers)")  # fmt: skip
        for column in ("figure", "before direct step", "tuned"):
            table.add_column(column, justify="left" if column == "figure" else "right")
        for key, before in report.get("direct", {}).get("terms_before", {}).items():
            table.add_row(key, f"{before:.4f}", f"{report['direct']['terms_after'][key]:.4f}")
        console.print(table)
        typer.echo(f"wrote {path}")
        return
    if model != "diffusion":
        msg = f"unknown model family '{model}' to train (available: gflash, diffusion)"
        raise CaloforgeError(msg)
    from caloforge.training import TrainSettings, train_diffusion

    overrides: dict[str, object] = {k: v for k, v in (("dim", dim), ("depth", depth), ("heads", heads)) if v}
    if hit_cells:
        overrides["hit_cells"] = True
    if patch:
        try:
            overrides["patch"] = [int(p) for p in patch.split(",")]
        except ValueError:
            msg = f"--patch: expected three integers 'layers,angles,radii', got '{patch}'"
            raise CaloforgeError(msg) from None
    settings = TrainSettings(steps=steps, batch_size=batch_size, lr=lr, validate_every=validate_every,
                             validation_showers=validation_showers, max_seconds=max_time, seed=seed,
                             device=device)  # fmt: skip

    def report(row: dict[str, object]) -> None:
        console.print("  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
                      highlight=False)  # fmt: skip

    path = train_diffusion(data, output_dir, validation=validation, settings=settings, config=overrides,
                           resume=resume, teacher=teacher, init=init, progress=report)  # fmt: skip
    typer.echo(f"run in {path}")


@app.command()
def generate(
    model: Annotated[str, typer.Argument(help="A run folder of `caloforge train`, or a family name (gflash = stock).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output shower file (.h5).")],
    geometry: Annotated[
        str | None, typer.Option("-g", "--geometry", help="Catalogue name or geometry file (stock models).")
    ] = None,
    particle: Annotated[str, typer.Option("-p", "--particle", help="e-, e+ or gamma.")] = "e-",
    energy: Annotated[str, typer.Option("-E", "--energy", help="GeV: 'a:b' log-uniform, or one value.")] = "1:100",
    theta: Annotated[str | None, typer.Option(help="Polar angle, rad (or 'deg'): 'a:b' uniform or fixed.")] = None,
    phi: Annotated[str | None, typer.Option(help="Azimuth, rad (or 'deg'): 'a:b' uniform or fixed.")] = None,
    n: Annotated[int, typer.Option("-n", help="Number of showers.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed = same showers.")] = 0,
    steps: Annotated[int | None, typer.Option(help="Diffusion: sampling steps (default: the model's).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
) -> None:
    """Generate showers with a fast simulator into a shower file (written in chunks, with progress)."""
    from caloforge.geometry import load_geometry_file
    from caloforge.models.generate import generate_to_file, load_model

    geom = load_geometry_file(geometry) if geometry and Path(geometry).is_file() else geometry
    fast = load_model(model, geom, particle=particle)
    path = generate_to_file(fast, output, n=n, energy_gev=_parse_range(energy, "energy"),
                            theta=_parse_range(theta, "theta", angle=True), phi=_parse_range(phi, "phi", angle=True),
                            seed=seed, overwrite=overwrite, progress=True,
                            **({"steps": steps} if steps else {}))  # fmt: skip
    typer.echo(f"wrote {path}")


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="Run folder of `caloforge train`.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    fmt: Annotated[str, typer.Option("--format", help="gflash-geant4 (a Geant4 GFlash tuning class).")] = (
        "gflash-geant4"
    ),
) -> None:
    """Export a trained model for use inside Geant4."""
    if fmt != "gflash-geant4":
        msg = f"unknown export format '{fmt}' (available: gflash-geant4)"
        raise CaloforgeError(msg)
    from caloforge.export import export_gflash_geant4
    from caloforge.models import GFlash

    typer.echo(f"wrote {export_gflash_geant4(GFlash.load(run_dir), output)}")


@app.command()
def evaluate(
    reference: Annotated[Path, typer.Argument(help="Reference shower file (usually Geant4).")],
    candidates: Annotated[list[Path], typer.Argument(help="One or more candidate shower files.")],
    output_dir: Annotated[Path, typer.Option("-o", "--output-dir", help="Folder for metrics.json and report.html.")],
    name: Annotated[
        list[str] | None, typer.Option("--name", help="Display name of each candidate, in order (repeat).")
    ] = None,
    threshold_kev: Annotated[float, typer.Option("--threshold-kev", help="Cell readout threshold, keV.")] = 15.15,
    classifier: Annotated[bool, typer.Option(help="Run the classifier two-sample tests (the slow part).")] = True,
    distances: Annotated[bool, typer.Option(help="Compute FPD and KPD.")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the classifier splits and the FPD/KPD draws.")] = 0,
    max_showers: Annotated[int | None, typer.Option("--max-showers", help="Use the first N showers of each.")] = None,
    force: Annotated[bool, typer.Option(help="Compare even when geometry or particle differ.")] = False,
) -> None:
    """Validate candidates against a reference: every CaloChallenge metric, metrics.json and report.html."""
    from caloforge.evaluation.evaluate import evaluate_files
    from caloforge.evaluation.report import rank_candidates

    metrics = evaluate_files(reference, candidates, output_dir, names=name, threshold_mev=threshold_kev * 1e-3,
                             classifier=classifier, distances=distances, seed=seed, force=force,
                             max_showers=max_showers, progress=_stage_printer())  # fmt: skip
    table = Table(title=f"candidates against {reference.name} ({metrics['reference']['showers']} showers)")
    for column in ("rank", "candidate", "showers", "AUC cells", "AUC high-level", "SP E_sum/E_inc", "FPD (floor)"):
        table.add_column(column, justify="left" if column == "candidate" else "right")
    for rank, label in enumerate(rank_candidates(metrics), 1):
        e = metrics["candidates"][label]
        auc = {k: f"{e[k]['auc']:.3f} ± {e[k]['auc_error']:.3f}" if k in e else "-"
               for k in ("classifier_low", "classifier_high")}  # fmt: skip
        fpd = f"{e['fpd']['value']:.4f} ({e['fpd_noise_floor']['value']:.4f})" if "fpd" in e else "-"
        sp = f"{e['histograms']['esum_over_einc']['separation_power']:.4f}"
        table.add_row(str(rank), label, str(e["showers"]), auc["classifier_low"], auc["classifier_high"], sp, fpd)
    console.print(table)
    typer.echo(f"wrote {output_dir / 'metrics.json'} and {output_dir / 'report.html'}")


@app.command()
def demo(
    output_dir: Annotated[Path, typer.Option("-o", "--output-dir", help="Where the demo writes its files.")] = Path(
        "caloforge-demo"
    ),
    n: Annotated[int, typer.Option("-n", help="Showers to simulate (a quarter is held out for validation).")] = 800,
    workers: Annotated[int, typer.Option("-j", "--workers", help="Worker processes.")] = 2,
) -> None:
    """Run the end-to-end path on built-in defaults: Geant4 showers, GFlash tuned to them, validation report."""
    from caloforge.demo import run_demo

    run_demo(output_dir, n=n, workers=workers, console=console)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script: run the command and turn caloforge errors into one line."""
    try:
        app(args=argv, prog_name="caloforge")
    except CaloforgeError as err:
        typer.echo(f"error: {err}", err=True)
        return 1
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except SystemExit as exit_:  # raised by typer at the end of every command
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
