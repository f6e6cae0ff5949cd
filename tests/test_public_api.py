"""The public API of each subpackage, pinned: changing it is a deliberate act (and a test edit)."""

import caloforge
import caloforge.data
import caloforge.evaluation
import caloforge.export
import caloforge.fullsim
import caloforge.geometry
import caloforge.models


def test_top_level():
    assert dir(caloforge) == [
        "CaloforgeError", "__version__", "data", "fullsim", "geometry", "get_geometry", "mesh_for",
        "read_showers", "write_showers",
    ]  # fmt: skip


def test_geometry():
    assert dir(caloforge.geometry) == [
        "BinnedDeposits", "Calorimeter", "Layer", "MESH_CONFIGS", "Material", "ScoringMesh", "Stack",
        "bin_deposits", "catalogue_names", "direction_angles", "geometry_from_dict", "geometry_table",
        "get_geometry", "get_material", "load_geometry_file", "local_coordinates", "material_names", "mesh_for",
    ]  # fmt: skip


def test_data():
    assert dir(caloforge.data) == [
        "FORMAT_VERSION", "ShowerData", "ShowerMeta", "ShowerWriter", "part_path", "read_meta", "read_showers",
        "summarize_shower_file", "validate_shower_file", "write_showers",
    ]  # fmt: skip


def test_fullsim():
    assert dir(caloforge.fullsim) == [
        "DATA_VERSION", "EM_MODELS", "PARTICLES", "PhysicsConfig", "SamplingFraction", "SimulationOptions",
        "SimulationSettings",
        "cached_sampling_fractions", "calzone_geometry", "data_dir", "ensure_data", "sampling_fraction",
        "simulate", "simulate_to_file",
    ]  # fmt: skip


def test_evaluation():
    assert dir(caloforge.evaluation) == [
        "CALOCHALLENGE_THRESHOLD_MEV", "ClassifierResult", "DEFAULT_THRESHOLD_MEV", "FEATURE_NAMES",
        "LAYER_FEATURES", "MIN_PER_CLASS", "SCALAR_FEATURES", "calochallenge_vector", "calochallenge_vector_names",
        "cell_energies", "check_compatible", "classifier_two_sample_test", "compare_showers", "fpd",
        "fpd_batch_sizes", "frechet_distance", "high_level_features", "kpd", "noise_floor", "reference_bins", "roc_auc",
        "separation_power", "wasserstein",
    ]  # fmt: skip


def test_every_module_declares_all():
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(caloforge.__path__, "caloforge."):
        module = importlib.import_module(info.name)
        assert hasattr(module, "__all__"), info.name
        for name in module.__all__:
            assert hasattr(module, name), f"{info.name}.{name}"


def test_models():
    assert dir(caloforge.models) == ["GFlash", "GFlashMedium", "GFlashParameters", "stock_parameters"]


def test_export():
    assert dir(caloforge.export) == ["export_gflash_geant4", "geant4_medium"]


def test_diffusion_and_training():
    import caloforge.models.diffusion
    import caloforge.training

    assert dir(caloforge.models.diffusion) == [
        "ConsistencyStudent", "DiffusionConfig", "DiffusionModel", "EDMDenoiser", "ShowerTransform",
        "consistency_loss", "edm_sigmas", "sample_consistency", "sample_heun", "training_sigmas",
    ]  # fmt: skip
    assert dir(caloforge.training) == ["TrainSettings", "train_diffusion"]
