"""Geant4 route comparison: geant4_pybind (full Python bindings) against caloforge's calzone backend.

Same setup on both sides: par04-siw (90 x [1.4 mm G4_W + 0.3 mm G4_Si active], R_in = 800 mm, length
2000 mm, nested cylinders, innermost vacuum, world G4_Galactic), e- of 10 GeV from (799.999, 0, 0) mm
along +x, production cut 0.7 mm, caloforge's stand-in Geant4 data (``ensure_data()``) for both.

Each backend runs in its own worker process, driven over a pipe, so that one driver can interleave
them (batches of a few showers, alternating order, several rounds: machine load hits all equally).
Timings are CPU time (``time.process_time``) of the simulating worker.

Workers:

* ``calzone``: ``caloforge.fullsim.backend.Geant4Session`` exactly as caloforge uses it. "scored" is
  ``run_showers`` (detailed deposits of the Si layers, binned into the ds2 mesh); "bare" is the same
  session with ``sim.sample_deposits = None`` and ``session._run``. Its "standard" physics is
  G4DecayPhysics + G4EmStandardPhysics + G4EmExtraPhysics (calzone's ``PhysicsImpl::Configure``).
* ``pybind``: geant4_pybind (run with its own interpreter, ``--pybind-python``), a serial
  G4RunManager, a G4VModularPhysicsList with the STOCK constructors: ``opt0`` = G4EmStandardPhysics
  alone (the literal setup), ``calzone-like`` = G4DecayPhysics + G4EmStandardPhysics +
  G4EmExtraPhysics (what calzone "standard" registers). "bare": no user action active; "scored": a
  pure-Python G4VSensitiveDetector on the Si logical volumes that appends (x, y, z, edep) of each
  step (mid-point of pre/post step points, as caloforge bins calzone's line deposits) to a list; at
  the end of the batch the lists become numpy arrays and are binned with caloforge's
  ``bin_deposits`` into the same mesh (the same post-processing as ``run_showers``). Bare and scored
  share one process: the SD is switched with ``G4SDManager.Activate`` (an inactive SD is skipped in
  C++, no Python call). The sampling-fraction run adds a second Python SD (sum only) on the W layers.

Usage::

    .venv/bin/python benchmarks/backend_comparison.py --pybind-python /tmp/pybind-venv/bin/python
    (--quick: a few showers, seconds)

Writes ``benchmarks/results/backend_comparison.json`` (``backend_comparison_quick.json``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
GEOMETRY = "par04-siw"
ENERGY_MEV = 10_000.0
START_OFFSET_MM = 1e-3  # as Geant4Session._particles: 1 um in front of the inner face
CUT_MM = 0.7


# --------------------------------------------------------------------------------------------------
# worker side (no caloforge import at module level: the pybind interpreter has no caloforge deps)


class _Channel:
    """JSON lines to the driver on a private copy of fd 1; Geant4/Python stdout go to a log file."""

    def __init__(self, log_path: str) -> None:
        self.out = os.fdopen(os.dup(1), "w", buffering=1)
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        sys.stdout.flush()
        os.dup2(fd, 1)
        os.dup2(fd, 2) if os.environ.get("CF_BC_STDERR_TO_LOG") else None
        os.close(fd)

    def send(self, obj: dict[str, Any]) -> None:
        self.out.write(json.dumps(obj) + "\n")
        self.out.flush()


def _caloforge_layout() -> tuple[Any, Any, list[tuple[str, bool, float]]]:
    from caloforge.fullsim.backend import merged_layers
    from caloforge.geometry import get_geometry, mesh_for

    geometry = get_geometry(GEOMETRY)
    return geometry, mesh_for(geometry), merged_layers(geometry)


class PybindWorker:
    """geant4_pybind: geometry, stock physics list, Python SDs; runs batches on request."""

    def __init__(self, physics: str, data_dir: str, caloforge_site: str) -> None:
        t0 = time.process_time()
        # the data: every data-set variable, before the import (geant4_pybind checks them at import)
        # caloforge (for its layout, mesh and binning) from the project's venv, appended: the pybind
        # venv's own packages (geant4_pybind, numpy) come first
        sys.path.insert(0, str(REPO))
        sys.path.append(caloforge_site)
        from caloforge.fullsim.g4data import configure_environment

        configure_environment(data_dir)
        t1 = time.process_time()
        import geant4_pybind as g4

        t2 = time.process_time()
        self.g4 = g4
        import numpy as np

        self.np = np
        from caloforge.geometry.mesh import bin_deposits

        self.bin_deposits = bin_deposits
        self.geometry, self.mesh, layers = _caloforge_layout()
        t3 = time.process_time()
        self._keep: list[Any] = []  # Python references to every Geant4 object handed over
        self.rm = g4.G4RunManagerFactory.CreateRunManager(g4.G4RunManagerType.Serial)
        ui = g4.G4UImanager.GetUIpointer()
        for cmd in ("/control/verbose 0", "/run/verbose 0", "/event/verbose 0", "/tracking/verbose 0"):
            ui.ApplyCommand(cmd)
        self.si_lvs, self.w_lvs = [], []
        self.rm.SetUserInitialization(self._detector(layers))
        self.rm.SetUserInitialization(self._physics_list(physics))
        self.rm.SetUserInitialization(self._actions())
        ui.ApplyCommand("/process/em/verbose 0")
        ui.ApplyCommand("/process/had/verbose 0")
        self.rm.Initialize()
        self._sensitive()
        t4 = time.process_time()
        self.startup = {
            "configure_env_cpu_s": t1 - t0,
            "import_geant4_cpu_s": t2 - t1,
            "caloforge_layout_import_cpu_s": t3 - t2,
            "construct_initialize_cpu_s": t4 - t3,
        }

    # geometry ------------------------------------------------------------------------------------
    def _detector(self, layers: list[tuple[str, bool, float]]) -> Any:
        g4, keep, worker = self.g4, self._keep, self
        mm = g4.mm
        half_z = 0.5 * self.geometry.length_mm * mm
        inner_r = self.geometry.inner_radius_mm * mm
        outer_r = self.geometry.outer_radius_mm * mm
        names = {"W": "G4_W", "Si": "G4_Si"}

        class Detector(g4.G4VUserDetectorConstruction):
            def Construct(self) -> Any:
                nist = g4.G4NistManager.Instance()
                vacuum = nist.FindOrBuildMaterial("G4_Galactic")
                side = outer_r + 100.0 * mm  # as calzone_geometry: 10 cm margins
                world_s = g4.G4Box("World", side, side, half_z + 100.0 * mm)
                world_lv = g4.G4LogicalVolume(world_s, vacuum, "World")
                world_pv = g4.G4PVPlacement(None, g4.G4ThreeVector(), world_lv, "World", None, False, 0)
                keep.extend([world_s, world_lv, world_pv])
                mother = world_lv
                # outside-in: each full cylinder is the mother of the next inner one
                for i in reversed(range(len(layers))):
                    material, active, radius = layers[i]
                    mat = nist.FindOrBuildMaterial(names[material])
                    s = g4.G4Tubs(f"L{i}", 0.0, radius * mm, half_z, 0.0, 2.0 * math.pi)
                    lv = g4.G4LogicalVolume(s, mat, f"L{i}")
                    pv = g4.G4PVPlacement(None, g4.G4ThreeVector(), lv, f"L{i}", mother, False, 0)
                    keep.extend([s, lv, pv])
                    (worker.si_lvs if active else worker.w_lvs).append(lv)
                    mother = lv
                s = g4.G4Tubs("Inner", 0.0, inner_r, half_z, 0.0, 2.0 * math.pi)
                lv = g4.G4LogicalVolume(s, vacuum, "Inner")
                pv = g4.G4PVPlacement(None, g4.G4ThreeVector(), lv, "Inner", mother, False, 0)
                keep.extend([s, lv, pv])
                return world_pv

        det = Detector()
        keep.append(det)
        return det

    # physics -------------------------------------------------------------------------------------
    def _physics_list(self, physics: str) -> Any:
        g4 = self.g4

        class PhysicsList(g4.G4VModularPhysicsList):
            def __init__(self) -> None:
                super().__init__()
                self.SetVerboseLevel(0)
                if physics == "calzone-like":
                    self.RegisterPhysics(g4.G4DecayPhysics())
                self.RegisterPhysics(g4.G4EmStandardPhysics())
                if physics == "calzone-like":
                    self.RegisterPhysics(g4.G4EmExtraPhysics())
                self.SetDefaultCutValue(CUT_MM * g4.mm)

        pl = PhysicsList()
        self._keep.append(pl)
        return pl

    # gun -----------------------------------------------------------------------------------------
    def _actions(self) -> Any:
        g4, keep = self.g4, self._keep
        x0 = (self.geometry.inner_radius_mm - START_OFFSET_MM) * g4.mm
        self.gun_energy = [ENERGY_MEV]

        energy = self.gun_energy

        class Primary(g4.G4VUserPrimaryGeneratorAction):
            def __init__(self) -> None:
                super().__init__()
                self.gun = g4.G4ParticleGun(1)
                self.gun.SetParticleDefinition(g4.G4ParticleTable.GetParticleTable().FindParticle("e-"))
                self.gun.SetParticlePosition(g4.G4ThreeVector(x0, 0.0, 0.0))
                self.gun.SetParticleMomentumDirection(g4.G4ThreeVector(1.0, 0.0, 0.0))

            def GeneratePrimaries(self, event: Any) -> None:
                self.gun.SetParticleEnergy(energy[0] * g4.MeV)
                self.gun.GeneratePrimaryVertex(event)

        class Actions(g4.G4VUserActionInitialization):
            def Build(self) -> None:  # the generator must be created after the physics list
                p = Primary()
                keep.append(p)
                self.SetUserAction(p)

        a = Actions()
        keep.append(a)
        return a

    # scoring -------------------------------------------------------------------------------------
    def _sensitive(self) -> None:
        g4, np = self.g4, self.np

        class SiScorer(g4.G4VSensitiveDetector):
            """Cheapest pure-Python image scorer found: flat list of x, y, z, edep per step."""

            def __init__(self, name: str) -> None:
                super().__init__(name)
                self.events: list[Any] = []
                self.buf: list[float] = []

            def Initialize(self, hce: Any) -> None:
                self.buf = []

            def ProcessHits(self, step: Any, history: Any) -> bool:
                edep = step.GetTotalEnergyDeposit()
                if edep > 0.0:
                    a = step.GetPreStepPoint().GetPosition()
                    b = step.GetPostStepPoint().GetPosition()
                    self.buf.extend((0.5 * (a.x + b.x), 0.5 * (a.y + b.y), 0.5 * (a.z + b.z), edep))
                return True

            def EndOfEvent(self, hce: Any) -> None:
                self.events.append(np.array(self.buf, dtype=np.float64).reshape(-1, 4))

        class SumScorer(g4.G4VSensitiveDetector):
            def __init__(self, name: str) -> None:
                super().__init__(name)
                self.events: list[float] = []
                self.total = 0.0

            def Initialize(self, hce: Any) -> None:
                self.total = 0.0

            def ProcessHits(self, step: Any, history: Any) -> bool:
                self.total += step.GetTotalEnergyDeposit()
                return True

            def EndOfEvent(self, hce: Any) -> None:
                self.events.append(self.total)

        sdm = g4.G4SDManager.GetSDMpointer()
        self.si_sd, self.w_sd = SiScorer("SiScorer"), SumScorer("WScorer")
        for sd, lvs in ((self.si_sd, self.si_lvs), (self.w_sd, self.w_lvs)):
            sdm.AddNewDetector(sd)
            for lv in lvs:
                lv.SetSensitiveDetector(sd)
        self._keep.extend([self.si_sd, self.w_sd])
        self._activate(si=False, w=False)

    def _activate(self, *, si: bool, w: bool) -> None:
        sdm = self.g4.G4SDManager.GetSDMpointer()
        sdm.Activate("SiScorer", si)
        sdm.Activate("WScorer", w)

    def _beam_on(self, n: int, seed: int) -> None:
        self.g4.HepRandom.setTheSeed(int(seed))
        self.rm.BeamOn(int(n))

    # requests ------------------------------------------------------------------------------------
    def run(self, mode: str, n: int, seed: int) -> dict[str, Any]:
        np = self.np
        self.si_sd.events, self.w_sd.events = [], []
        self._activate(si=mode in {"scored", "sf"}, w=mode == "sf")
        c0 = time.process_time()
        self._beam_on(n, seed)
        out: dict[str, Any] = {}
        if mode == "scored":
            events = self.si_sd.events
            dep = np.concatenate(events) if events else np.zeros((0, 4))
            ev = np.repeat(np.arange(len(events)), [len(e) for e in events])
            entry = np.array([self.geometry.inner_radius_mm, 0.0, 0.0])
            binned = self.bin_deposits(
                self.mesh, dep[:, :3], dep[:, 3], entry=entry, direction=np.array([1.0, 0.0, 0.0]), event=ev, n_events=n
            )
            out["e_active"] = [float(c.sum() + o) for c, o in zip(binned.cells, binned.outside, strict=True)]
            out["n_deposits"] = len(dep)
        cpu = time.process_time() - c0
        if mode == "sf":
            out["e_active"] = [float(e[:, 3].sum()) for e in self.si_sd.events]
            out["e_passive"] = list(self.w_sd.events)
        out["cpu_s"] = cpu
        self._activate(si=False, w=False)
        return out


class CalzoneWorker:
    """caloforge's Geant4Session (calzone), as caloforge runs it."""

    def __init__(self, data_dir: str, record: str) -> None:
        t0 = time.process_time()
        from caloforge.fullsim.g4data import configure_environment

        configure_environment(data_dir)
        t1 = time.process_time()
        import calzone  # noqa: F401

        t2 = time.process_time()
        import numpy as np

        from caloforge.fullsim.backend import Geant4Session, PhysicsConfig

        self.np = np
        self.geometry, self.mesh, _ = _caloforge_layout()
        t3 = time.process_time()
        self.session = Geant4Session(self.geometry, self.mesh, PhysicsConfig(cut_mm=CUT_MM), record=record)
        t4 = time.process_time()
        self.startup = {
            "configure_env_cpu_s": t1 - t0,
            "import_geant4_cpu_s": t2 - t1,
            "caloforge_layout_import_cpu_s": t3 - t2,
            "construct_initialize_cpu_s": t4 - t3,
            "note": "calzone builds Geant4 (geometry, physics) lazily at the first run",
        }

    def _gun(self, n: int) -> tuple[Any, Any, Any]:
        np = self.np
        return np.full(n, ENERGY_MEV), np.full(n, math.pi / 2), np.zeros(n)

    def run(self, mode: str, n: int, seed: int) -> dict[str, Any]:
        s = self.session
        out: dict[str, Any] = {}
        if mode == "scored":
            c0 = time.process_time()
            binned = s.run_showers("e-", *self._gun(n), seed)
            cpu = time.process_time() - c0
            out["e_active"] = [float(c.sum() + o) for c, o in zip(binned.cells, binned.outside, strict=True)]
        elif mode == "bare":
            sim, keep = s.sim, s.sim.sample_deposits
            sim.sample_deposits = None
            try:
                c0 = time.process_time()
                sim.random = s._calzone.Random(int(seed))
                particles, _, _ = s._particles("e-", *self._gun(n))
                s._run(particles)
                cpu = time.process_time() - c0
            finally:
                sim.sample_deposits = keep
        elif mode == "sf":
            c0 = time.process_time()
            active, passive = s.run_totals("e-", *self._gun(n), seed)
            cpu = time.process_time() - c0
            out["e_active"], out["e_passive"] = active.tolist(), passive.tolist()
        else:
            raise ValueError(mode)
        out["cpu_s"] = cpu
        return out


def worker_main(args: argparse.Namespace) -> None:
    chan = _Channel(args.log)
    try:
        if args.worker == "pybind":
            w: Any = PybindWorker(args.physics, args.data_dir, args.caloforge_site)
        else:
            w = CalzoneWorker(args.data_dir, args.record)
        # first event: one 10 GeV shower, scored (physics tables are built here)
        c0 = time.process_time()
        first = w.run("sf" if args.record == "all" else "scored", 1, 1)
        w.startup["first_event_cpu_s"] = time.process_time() - c0
        w.startup["process_cpu_s_at_first_event_end"] = time.process_time()
        w.startup["first_event_e_active_mev"] = first["e_active"][0]
        chan.send({"ready": True, "startup": w.startup})
    except BaseException as exc:  # report, then die
        chan.send({"ready": False, "error": f"{type(exc).__name__}: {exc}"})
        raise
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("cmd") == "quit":
            break
        try:
            t0 = time.perf_counter()
            out = w.run(req["mode"], req["n"], req["seed"])
            out["wall_s"] = time.perf_counter() - t0
            chan.send(out)
        except Exception as exc:
            chan.send({"error": f"{type(exc).__name__}: {exc}"})


# --------------------------------------------------------------------------------------------------
# driver


class Worker:
    def __init__(self, label: str, python: str, argv: list[str], log: Path) -> None:
        self.label = label
        t0 = time.perf_counter()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [python, str(Path(__file__).resolve()), *argv, "--log", str(log)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(REPO),
        )
        msg = self._read()
        if not msg.get("ready"):
            raise RuntimeError(f"{label}: worker failed: {msg.get('error')} (log: {log})")
        self.startup = msg["startup"]
        self.startup["wall_s_spawn_to_first_event_end"] = time.perf_counter() - t0

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            rc = self.proc.wait()
            return {"ready": False, "error": f"worker exited with status {rc}"}
        return json.loads(line)

    def run(self, mode: str, n: int, seed: int) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"mode": mode, "n": n, "seed": seed}) + "\n")
        self.proc.stdin.flush()
        out = self._read()
        if "error" in out:
            raise RuntimeError(f"{self.label} {mode}: {out['error']}")
        return out

    def close(self) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.proc.stdin.flush()
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        self.proc.wait(timeout=60)


def site_size_mb(python: str, dists: list[str]) -> dict[str, Any]:
    """Installed size (MB) of the files of each distribution, from its RECORD, in that interpreter."""
    code = (
        "import json,sys,importlib.metadata as m\n"
        "out={}\n"
        "for d in sys.argv[1:]:\n"
        "  try:\n"
        "    dist=m.distribution(d)\n"
        "  except m.PackageNotFoundError:\n"
        "    out[d]=None; continue\n"
        "  tot=0\n"
        "  for f in dist.files or []:\n"
        "    p=f.locate()\n"
        "    try: tot+=p.stat().st_size\n"
        "    except OSError: pass\n"
        "  out[d]={'version':dist.version,'installed_mb':round(tot/2**20,1)}\n"
        "print(json.dumps(out))\n"
    )
    res = subprocess.run([python, "-c", code, *dists], capture_output=True, text=True, check=True)
    return json.loads(res.stdout)


def stats(values: list[float]) -> dict[str, float]:
    import numpy as np

    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else math.nan, "n": len(v)}


def sampling_fraction(active: list[float], passive: list[float]) -> dict[str, float]:
    import numpy as np

    a, p = np.asarray(active), np.asarray(passive)
    per = a / (a + p)
    return {
        "sf_ratio_of_sums": float(a.sum() / (a + p).sum()),
        "sf_mean_per_shower": float(per.mean()),
        "sf_error_of_mean": float(per.std(ddof=1) / math.sqrt(len(per))),
        "per_shower_rms": float(per.std(ddof=1)),
        "e_active_mean_mev": float(a.mean()),
        "e_total_mean_mev": float((a + p).mean()),
        "showers": len(per),
    }


def driver_main(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(HERE))
    from _common import Recorder, environment, log

    from caloforge.fullsim.g4data import configure_environment, ensure_data

    data_dir = str(ensure_data())
    configure_environment(data_dir)
    rounds, batch, sf_n = (2, 2, 4) if args.quick else (args.rounds, args.batch, args.sf_showers)
    logs = Path(args.log_dir)
    logs.mkdir(parents=True, exist_ok=True)
    common = ["--data-dir", data_dir, "--caloforge-site", sysconfig.get_paths()["purelib"]]
    specs: dict[str, tuple[str, list[str]]] = {
        "calzone": (sys.executable, ["--worker", "calzone", *common]),
        "pybind_opt0": (args.pybind_python, ["--worker", "pybind", "--physics", "opt0", *common]),
        "pybind_calzone_like": (args.pybind_python, ["--worker", "pybind", "--physics", "calzone-like", *common]),
    }
    settings = {
        "quick": args.quick,
        "geometry": GEOMETRY,
        "particle": "e-",
        "energy_mev": ENERGY_MEV,
        "gun": "(799.999, 0, 0) mm along +x",
        "cut_mm": CUT_MM,
        "rounds": rounds,
        "showers_per_batch": batch,
        "sf_showers": sf_n,
        "data": data_dir + " (caloforge stand-in Geant4 data, both backends)",
        "timing": "CPU time (time.process_time) of the simulating worker process",
        "interleaving": "each round: every backend x {bare, scored}, one batch each, backend order rotated per round",
        "physics": {
            "calzone": "calzone 'standard' = G4DecayPhysics + G4EmStandardPhysics + G4EmExtraPhysics, cut 0.7 mm",
            "pybind_opt0": "stock G4EmStandardPhysics only (G4VModularPhysicsList), cut 0.7 mm",
            "pybind_calzone_like": "stock G4DecayPhysics + G4EmStandardPhysics + G4EmExtraPhysics, cut 0.7 mm",
        },
        "scoring": {
            "calzone_scored": "Geant4Session.run_showers: calzone 'detailed' deposits of Si layers (numpy tables) "
            "+ caloforge bin_deposits into the ds2 mesh",
            "calzone_bare": "same session, sim.sample_deposits = None, session._run",
            "pybind_scored": "Python G4VSensitiveDetector on the 90 Si LVs: list.extend((x, y, z, edep)) per step "
            "with edep > 0 (pre/post mid-point); per event np.array; per batch caloforge bin_deposits into ds2",
            "pybind_bare": "same process, SDs deactivated (G4SDManager.Activate(name, False)): no Python per step",
        },
    }
    rec = Recorder("backend_comparison", settings)
    workers: dict[str, Worker] = {}
    for label, (python, argv) in specs.items():
        log(f"starting {label}")
        workers[label] = Worker(label, python, argv, logs / f"{label}.log")
        log(f"  {label}: startup {workers[label].startup}")
    results: dict[str, dict[str, list[Any]]] = {
        k: {"bare_cpu": [], "scored_cpu": [], "e_active": [], "bare_wall": [], "scored_wall": []} for k in workers
    }
    labels = list(workers)
    for r in range(rounds):
        order = labels[r % len(labels) :] + labels[: r % len(labels)]
        seed = 1000 + r
        for label in order:
            modes = ("bare", "scored") if r % 2 == 0 else ("scored", "bare")
            for mode in modes:
                out = workers[label].run(mode, batch, seed)
                results[label][f"{mode}_cpu"].append(out["cpu_s"])
                results[label][f"{mode}_wall"].append(out["wall_s"])
                if mode == "scored":
                    results[label]["e_active"].extend(out["e_active"])
        log(f"round {r + 1}/{rounds} done, load {os.getloadavg()[0]:.2f}")
    for w in workers.values():
        w.close()
    # sampling fraction: W deposits too (calzone: record='all' session; pybind: + sum SD on W)
    log("sampling fraction runs")
    sf_workers = {
        "calzone": Worker(
            "calzone_sf", sys.executable, [*specs["calzone"][1], "--record", "all"], logs / "calzone_sf.log"
        ),
        "pybind_opt0": Worker("pybind_opt0_sf", *specs["pybind_opt0"], logs / "pybind_opt0_sf.log"),
        "pybind_calzone_like": Worker(
            "pybind_calzone_like_sf", *specs["pybind_calzone_like"], logs / "pybind_calzone_like_sf.log"
        ),
    }
    sf_raw: dict[str, dict[str, list[float]]] = {k: {"a": [], "p": [], "cpu": []} for k in sf_workers}
    sf_batch = max(1, min(10, sf_n))
    for i in range(0, sf_n, sf_batch):
        for label, w in sf_workers.items():
            out = w.run("sf", min(sf_batch, sf_n - i), 50_000 + i)
            sf_raw[label]["a"].extend(out["e_active"])
            sf_raw[label]["p"].extend(out["e_passive"])
            sf_raw[label]["cpu"].append(out["cpu_s"])
    for w in sf_workers.values():
        w.close()

    figures: dict[str, Any] = {"backends": {}}
    n_showers = rounds * batch
    for label in labels:
        res = results[label]
        bare = 1e3 * sum(res["bare_cpu"]) / n_showers
        scored = 1e3 * sum(res["scored_cpu"]) / n_showers
        sf = sampling_fraction(sf_raw[label]["a"], sf_raw[label]["p"])
        figures["backends"][label] = {
            "startup": workers[label].startup,
            "showers_per_mode": n_showers,
            "bare_cpu_ms_per_shower": bare,
            "scored_cpu_ms_per_shower": scored,
            "ratio_scored_over_bare": scored / bare,
            "bare_cpu_ms_per_batch": [1e3 * x for x in res["bare_cpu"]],
            "scored_cpu_ms_per_batch": [1e3 * x for x in res["scored_cpu"]],
            "bare_wall_over_cpu": sum(res["bare_wall"]) / sum(res["bare_cpu"]),
            "e_active_scored_mev": stats(res["e_active"]),
            "sampling_fraction": sf,
            "sf_run_cpu_ms_per_shower": 1e3 * sum(sf_raw[label]["cpu"]) / sf_n,
        }
    cz = figures["backends"]["calzone"]
    for label in labels:
        b = figures["backends"][label]
        b["bare_vs_calzone_bare"] = b["bare_cpu_ms_per_shower"] / cz["bare_cpu_ms_per_shower"]
        b["scored_vs_calzone_scored"] = b["scored_cpu_ms_per_shower"] / cz["scored_cpu_ms_per_shower"]
    figures["wheels"] = {
        "calzone_venv": site_size_mb(sys.executable, ["calzone"]),
        "pybind_venv": site_size_mb(args.pybind_python, ["geant4_pybind", "numpy"]),
    }
    pyenv = subprocess.run(
        [args.pybind_python, "-c", "import platform,numpy;print(platform.python_version(),numpy.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    figures["pybind_interpreter"] = {"python": pyenv[0], "numpy": pyenv[1], "executable": args.pybind_python}
    figures["environment_driver"] = environment()
    banners = {
        ln.split("Name:", 1)[1].strip()
        for f in logs.glob("pybind*.log")
        for ln in f.read_text().splitlines()
        if "Geant4 version Name:" in ln
    }
    figures["geant4_of_pybind"] = sorted(banners)
    figures["geant4_of_calzone"] = figures["environment_driver"]["geant4"]
    figures.update(NOTES)
    print_table(figures)
    if args.quick:
        log("--quick: nothing written")
        return
    path = rec.write(figures)
    log(f"wrote {path}")


NOTES: dict[str, Any] = {
    "data_files_opened": {
        "how": "strace -f -e trace=openat, one 10 GeV shower, files under the stand-in data folder",
        "calzone_standard": "G4EMLOW8.8/epics2017 x16, G4EMLOW8.8/brem_SB x3, G4PARTICLEXS4.2/gamma x94, "
        "G4ENSDFSTATE3.0/ENSDFSTATE.dat",
        "pybind_opt0": "G4EMLOW8.8/epics2017 x16, G4EMLOW8.8/brem_SB x3, G4ENSDFSTATE3.0/ENSDFSTATE.dat",
        "pybind_calzone_like": "same as calzone_standard",
    },
    "capabilities": {
        "calzone": "EM constructors standard/option1-4/livermore/penelope/dna (always + G4DecayPhysics + "
        "G4EmExtraPhysics), optional FTFP_BERT/QGSP_* hadronics; geometry as a dict; deposits recorded in C++ and "
        "returned as numpy tables (no Python per step); seeding calzone.Random(seed) per run; one Geant4 per process "
        "(caloforge runs worker processes); no custom SD/stepping/scoring API beyond its samplers",
        "geant4_pybind": "the whole Geant4 11.4.p01 user API from Python: any stock constructor or reference "
        "list, custom G4VSensitiveDetector / user actions / G4MultiFunctionalDetector, /score/ meshes; per-step work "
        "in Python unless a C++ helper is compiled or ctypes is used; HepRandom.setTheSeed per run; one serial run "
        "manager per process (MT gives nothing under the GIL)",
    },
    "pitfalls": [
        "calzone 'standard' is not bare G4EmStandardPhysics: it adds G4DecayPhysics + G4EmExtraPhysics "
        "(gamma-nuclear, reads 94 G4PARTICLEXS gamma files); PhysicsConfig.describe() says only emstandard_opt0",
        "geant4_pybind: set GEANT4_DATA_DIR and the per-data-set variables before the import (else input() prompt)",
        "geant4_pybind constructors take no arguments (G4EmStandardPhysics(0) is a TypeError)",
        "geant4_pybind: G4UImanager.ApplyCommand returns None, command errors are silent",
        "geant4_pybind: keep Python references to every solid/LV/PV/SD/action handed to Geant4",
        "start-up of both workers is dominated by importing caloforge (~0.7-1.0 s CPU), not by Geant4",
    ],
}


def print_table(fig: dict[str, Any]) -> None:
    print(
        f"{'backend':22s} {'bare ms':>8s} {'scored ms':>9s} {'sc/bare':>7s} {'vs cz bare':>10s} "
        f"{'vs cz sc':>8s} {'SF':>8s} {'+-':>7s} {'first-ev s':>10s} {'to 1st ev s':>11s}"
    )
    for label, b in fig["backends"].items():
        s = b["sampling_fraction"]
        print(
            f"{label:22s} {b['bare_cpu_ms_per_shower']:8.1f} {b['scored_cpu_ms_per_shower']:9.1f} "
            f"{b['ratio_scored_over_bare']:7.2f} {b['bare_vs_calzone_bare']:10.2f} "
            f"{b['scored_vs_calzone_scored']:8.2f} "
            f"{s['sf_mean_per_shower']:8.5f} {s['sf_error_of_mean']:7.5f} {b['startup']['first_event_cpu_s']:10.2f} "
            f"{b['startup']['process_cpu_s_at_first_event_end']:11.2f}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", choices=["pybind", "calzone"], default=None, help=argparse.SUPPRESS)
    p.add_argument("--physics", choices=["opt0", "calzone-like"], default="opt0", help=argparse.SUPPRESS)
    p.add_argument("--record", choices=["active", "all"], default="active", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", default=None, help=argparse.SUPPRESS)
    p.add_argument("--log", default="/dev/null", help=argparse.SUPPRESS)
    p.add_argument("--caloforge-site", default=sysconfig.get_paths()["purelib"], help=argparse.SUPPRESS)
    p.add_argument("--pybind-python", default="/tmp/pybind-venv/bin/python", help="interpreter with geant4_pybind")
    p.add_argument("--rounds", type=int, default=6, help="interleaved rounds (default 6)")
    p.add_argument("--batch", type=int, default=5, help="showers per batch (default 5)")
    p.add_argument("--sf-showers", type=int, default=100, help="showers for the sampling fraction (default 100)")
    p.add_argument("--log-dir", default="/tmp/backend_comparison_logs", help="Geant4 output of the workers")
    p.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    args = p.parse_args()
    if args.worker:
        worker_main(args)
    else:
        driver_main(args)


if __name__ == "__main__":
    main()
