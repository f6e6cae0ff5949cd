"""``caloforge evaluate``: metrics.json, the self-contained HTML report, and its command line."""

import base64
import json
import shutil
import subprocess
from dataclasses import replace
from html.parser import HTMLParser

import numpy as np
import pytest

from caloforge.cli import main
from caloforge.data import write_showers
from caloforge.evaluation.evaluate import evaluate_files
from caloforge.evaluation.report import rank_candidates
from caloforge.fullsim import simulate

N = 400
QUICK = {"epochs": 5, "hidden": 32}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Two Geant4 samples with varying angles, a 5 %-scaled copy of one, and a photon sample."""
    folder = tmp_path_factory.mktemp("evaluate")
    options = {"n": N, "energy_gev": (1.0, 4.0), "theta": (1.2, 1.9), "workers": 2, "chunk_size": 100}
    ref = simulate("par04-pbwo4", seed=11, **options)
    other = simulate("par04-pbwo4", seed=12, **options)
    paths = {
        "ref": write_showers(folder / "ref.h5", ref),
        "g4": write_showers(folder / "g4.h5", other),
        "scaled": write_showers(folder / "scaled.h5", replace(other, showers=other.showers * np.float32(1.05))),
        "photons": write_showers(folder / "photons.h5", replace(other, meta=replace(other.meta, particle="gamma"))),
    }
    return folder, paths


@pytest.fixture(scope="module")
def evaluated(files):
    folder, paths = files
    out = folder / "report"
    metrics = evaluate_files(paths["ref"], [paths["g4"], paths["scaled"]], out, classifier_options=QUICK, seed=5)
    return out, metrics


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.headings: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs).get("src", ""))
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data)
            self._in_h2 = False


def test_metrics_file_records_every_figure_and_its_provenance(evaluated, files):
    out, metrics = evaluated
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk["candidates"].keys() == {"g4", "scaled"}
    assert on_disk["reference"]["file"] == str(files[1]["ref"])
    assert on_disk["reference"]["seed"] == 11 and on_disk["candidates"]["g4"]["seed"] == 12
    assert on_disk["reference"]["showers"] == N and on_disk["seed"] == 5
    assert {"numpy", "torch", "caloforge", "matplotlib"} <= on_disk["run"]["versions"].keys()
    g4 = on_disk["candidates"]["g4"]
    assert {"fpd", "fpd_noise_floor", "kpd", "kpd_noise_floor", "classifier_low", "classifier_high"} <= g4.keys()
    assert len(g4["per_theta_bin"]) == 3 and len(g4["per_energy_bin"]) == 4  # the angles vary here
    assert sum(row["n_reference"] for row in g4["per_theta_bin"]) == N
    assert on_disk["run"]["wall_s"] >= on_disk["run"]["compare_s"] > 0
    assert metrics["candidates"]["g4"]["fpd"] == on_disk["candidates"]["g4"]["fpd"]


def test_scaled_candidate_has_the_larger_response_separation(evaluated):
    _, metrics = evaluated
    sp = {n: metrics["candidates"][n]["histograms"]["esum_over_einc"]["separation_power"] for n in ("g4", "scaled")}
    assert sp["scaled"] > 5 * sp["g4"]


def _entry(sp_esum, sp_layer, auc_low=None, auc_high=None):
    entry = {"histograms": {"esum_over_einc": {"separation_power": sp_esum},
                            "e_layer": {"separation_power_median": sp_layer}}}  # fmt: skip
    if auc_low is not None:
        entry |= {"classifier_low": {"auc": auc_low}, "classifier_high": {"auc": auc_high}}
    return entry


def test_ranking_sums_ranks_so_one_lucky_figure_does_not_win():
    metrics = {"candidates": {
        "lucky": _entry(0.20, 0.10, auc_low=0.50, auc_high=0.70),  # a weak cell classifier, bad elsewhere
        "good": _entry(0.01, 0.02, auc_low=0.55, auc_high=0.52),
        "middle": _entry(0.05, 0.04, auc_low=0.53, auc_high=0.60),
    }}  # fmt: skip
    assert rank_candidates(metrics) == ["good", "middle", "lucky"]
    no_classifier = {"candidates": {"b": _entry(0.02, 0.03), "a": _entry(0.01, 0.05)}}
    assert rank_candidates(no_classifier) == ["a", "b"]  # tie in rank sum: the response decides
    assert rank_candidates({"candidates": {}}) == []


def test_report_is_self_contained_with_every_image_embedded(evaluated):
    out, _ = evaluated
    page = (out / "report.html").read_text()
    parser = _Images()
    parser.feed(page)
    assert len(parser.sources) >= 7 + 2 + 1 + 1 + 2  # shapes, profiles, layer powers, images, slices
    for src in parser.sources:
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 2000
    assert "Slices in polar angle" in parser.headings and "Summary" in parser.headings
    assert "http://" not in page and "https://" not in page  # nothing fetched from outside
    assert "scaled" in page and "g4" in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_report_renders_in_a_headless_browser(evaluated, tmp_path):
    out, _ = evaluated
    shot = tmp_path / "report.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1300,2000"]  # fmt: skip
    run = subprocess.run(["chromium", *flags, f"--screenshot={shot}", (out / "report.html").as_uri()],
                         capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 50_000  # a page, not a blank


def test_cli_writes_the_report_and_refuses_another_particle(files, capsys):
    folder, paths = files
    out = folder / "cli"
    args = ["evaluate", str(paths["ref"]), str(paths["g4"]), "-o", str(out), "--no-classifier", "--no-distances"]
    assert main(args) == 0
    assert (out / "report.html").stat().st_size > 10_000 and (out / "metrics.json").exists()
    capsys.readouterr()
    bad = ["evaluate", str(paths["ref"]), str(paths["photons"]), "-o", str(folder / "bad"), "--no-classifier"]
    assert main(bad) == 1
    err = capsys.readouterr().err.strip()
    assert err == "error: photons: particle 'gamma' differs from the reference's 'e-' (pass force to compare anyway)"
    assert not (folder / "bad").exists()  # stopped before any work
    assert main([*bad, "--force", "--no-distances"]) == 0


def test_cli_names_and_missing_files(files, capsys):
    folder, paths = files
    out = folder / "named"
    assert main(["evaluate", str(paths["ref"]), str(paths["g4"]), "-o", str(out), "--name", "second G4",
                 "--no-classifier", "--no-distances"]) == 0  # fmt: skip
    assert "second G4" in json.loads((out / "metrics.json").read_text())["candidates"]
    capsys.readouterr()
    assert main(["evaluate", str(paths["ref"]), str(folder / "nothing.h5"), "-o", str(out)]) == 1
    assert "nothing.h5" in capsys.readouterr().err
    assert main(["evaluate", str(paths["ref"]), str(paths["g4"]), "-o", str(out), "--name", "a", "--name", "b"]) == 1
    assert "one distinct name per candidate" in capsys.readouterr().err
