"""The diffusion model's parts: the invertible transform, the transformer, EDM, the sampler, generation."""

import itertools
import math

import numpy as np
import pytest
import torch

from caloforge.errors import CaloforgeError
from caloforge.geometry import get_geometry, mesh_for
from caloforge.models import GFlash
from caloforge.models.diffusion import DiffusionConfig, EDMDenoiser, ShowerTransform, edm_sigmas, sample_heun

TINY = DiffusionConfig(patch=(5, 4, 3), dim=32, depth=1, heads=2)


WIDTH = 6480 + 405 + 45 + 1  # cells, ring fractions, layer fractions, E_sum / E
WIDTHS = {9: WIDTH, 0: 6480 + 45 + 1}  # with ring fractions, and the format-2 layout without


def _sparse_showers(rng, n=50):
    return rng.exponential(5.0, size=(n, 6480)).astype(np.float32) * (rng.random((n, 6480)) < 0.3)


LAYOUTS = [(9, True, True), (9, True, False), (9, False, False), (0, False, False)]  # formats 5, 4, 3 and 2


@pytest.mark.parametrize(("rings", "absolute", "moments"), LAYOUTS)
def test_transform_round_trip_is_exact_to_float_precision(rng, rings, absolute, moments):
    showers = _sparse_showers(rng)
    showers[0, :144] = 0  # an empty first layer
    showers[1, 144 + 4 :: 9][:16] = 0  # an empty ring (r = 4 of layer 1)
    showers[(showers > 0) & (showers < 1e-3)] = 1e-3  # nothing near the floor of absolute cells (1e-4 of ~0.5 MeV)
    energies = rng.uniform(1e3, 1e5, 50)
    transform = ShowerTransform.fit(showers, energies, 45, rings=rings, absolute_cells=absolute,
                                    energy_moments=moments)  # fmt: skip
    assert (transform.cell_scale > 0) == absolute and (transform.log_energies is not None) == moments
    z = transform.forward(torch.as_tensor(showers), torch.as_tensor(energies))
    assert z.shape == (50, WIDTHS[rings]) and z.dtype == torch.float32 and transform.n_cells == 6480
    # format 5 divides by a spread that varies with energy: centred to a few per cent, not exactly
    assert abs(float(z.mean())) < (0.03 if moments else 1e-3) and float(z.std()) == pytest.approx(1, rel=0.05)
    back = transform.inverse(z, torch.as_tensor(energies)).numpy()
    # a ring fraction y comes back from ln(y + ring_eps) in float32, to ~1e-7 (y + ring_eps) absolute: a cell of
    # a nearly empty ring is exact to that share of its layer's energy rather than to a share of its own
    layer = showers.astype(np.float64).reshape(50, 45, -1).sum(-1, keepdims=True)
    slack = np.broadcast_to(1e-6 * transform.ring_eps * layer, (50, 45, 144)).reshape(50, -1) if rings else 0.0
    assert np.all(np.abs(back - showers) <= 2e-5 * showers + slack)
    assert np.all(back[showers == 0] == 0)  # empty cells come back exactly empty


@pytest.mark.parametrize(("rings", "absolute", "moments"), LAYOUTS)
def test_inverse_deposits_exactly_the_generated_esum_and_caps_every_channel(rng, rings, absolute, moments):
    showers = _sparse_showers(rng)
    energies = rng.uniform(1e3, 1e5, 50)
    transform = ShowerTransform.fit(showers, energies, 45, rings=rings, absolute_cells=absolute,
                                    energy_moments=moments)  # fmt: skip
    width = WIDTHS[rings]
    z = torch.randn(20, width, generator=torch.Generator().manual_seed(0)) * 3  # an imperfect model's output
    e = torch.full((20,), 1e4)
    x = transform.inverse(z, e).numpy().astype(np.float64)
    mean, std = transform.moments(e)
    v = z.double() * std + mean
    u = (torch.exp(torch.minimum(v[:, -1], transform.v_max[-1].double())) - transform.eps).numpy()
    np.testing.assert_allclose(x.sum(1), 1e4 * u, rtol=1e-5)  # E_sum is the model's one channel, exactly
    assert np.all(x >= 0) and np.all(x.sum(1) <= 1e4 * (showers.sum(1) / energies).max() * (1 + 1e-5))
    layers = x.reshape(20, 45, 144).sum(2)
    assert np.all(layers.sum(1) > 0)
    huge = transform.inverse(torch.full((1, width), 1e3), torch.tensor([1e4]))[0].numpy()
    assert np.isfinite(huge).all() and huge.sum() <= 1e4 * (showers.sum(1) / energies).max() * (1 + 1e-5)
    empty_cells = transform.inverse(torch.cat([torch.full((1, 6480), -1e3), torch.zeros(1, width - 6480)], 1), e[:1])
    mean_u = float(torch.exp(mean[..., -1].reshape(-1)[0])) - transform.eps
    assert float(empty_cells.sum()) == pytest.approx(1e4 * mean_u, rel=1e-4)  # all-empty layers keep their energy


def test_transform_state_round_trips_and_older_states_keep_their_offsets(rng):
    showers, energies = _sparse_showers(rng, 10), rng.uniform(1e3, 1e5, 10)
    transform = ShowerTransform.fit(showers, energies, 45, rings=9, absolute_cells=True, energy_moments=True)
    again = ShowerTransform.from_state(transform.state(), transform.eps)
    assert (again.rings, again.ring_eps, again.layers) == (9, transform.ring_eps, 45)
    assert (again.cell_scale, again.cell_floor) == (transform.cell_scale, transform.cell_floor)
    assert all(torch.equal(getattr(again, k), getattr(transform, k)) for k in ("mean", "std", "v_max", "log_energies"))
    assert transform.mean.shape == transform.std.shape == (16, WIDTH)
    global_ = {k: v for k, v in transform.state().items() if k != "transform.log_energies"}
    global_ |= {"transform.mean": transform.mean[0], "transform.std": transform.std[0]}
    assert ShowerTransform.from_state(global_, 1e-7).log_energies is None  # formats 2-4: one standardisation
    shares = {k: v for k, v in global_.items() if k != "transform.cell_scale"}
    assert ShowerTransform.from_state(shares, 1e-7).cell_scale == 0  # formats 2-3: cells as shares
    older = {k: v for k, v in shares.items() if k != "transform.ring_eps"}
    assert ShowerTransform.from_state(older, 1e-7).ring_eps == 1e-7  # written before ring_eps: it used eps
    no_rings = {k: v for k, v in older.items() if k != "transform.rings"}
    assert ShowerTransform.from_state(no_rings, 1e-7).rings == 0  # format 2


def test_errors_in_the_cells_cannot_move_energy_between_rings(rng):
    """The radial profile is the model's own channels: noise on the cells only redistributes in angle."""
    showers = _sparse_showers(rng, 20)
    energies = rng.uniform(1e3, 1e5, 20)
    transform = ShowerTransform.fit(showers, energies, 45, rings=9)
    z = transform.forward(torch.as_tensor(showers), torch.as_tensor(energies))
    z[:, :6480] += 2 * torch.randn(20, 6480, generator=torch.Generator().manual_seed(1))
    back = transform.inverse(z, torch.as_tensor(energies)).numpy().reshape(20, 45, 16, 9).astype(np.float64)
    rings = showers.reshape(20, 45, 16, 9).astype(np.float64).sum(2)
    np.testing.assert_allclose(back.sum(2), rings, rtol=2e-5, atol=1e-6 * rings.max())
    assert not np.allclose(back, showers.reshape(back.shape), rtol=0.1)  # the cells themselves did change


def test_absolute_cells_put_the_mip_gap_at_one_place_and_zero_the_noise_around_empty(rng):
    """Format 4: a cell of one scale unit has the same value at any shower energy; noise near empty is empty."""
    showers = _sparse_showers(rng, 40)
    showers[showers > 0] += 0.5  # every cell far above the floor (1e-4 of the scale)
    energies = rng.uniform(1e3, 1e5, 40)
    transform = ShowerTransform.fit(showers, energies, 45, rings=9, absolute_cells=True)
    assert transform.cell_scale == pytest.approx(np.quantile(showers[showers > 0], 0.1))
    assert transform.cell_floor == 1e-4
    one_unit = np.zeros((2, 6480), np.float32)
    one_unit[:, 0], one_unit[:, 1] = transform.cell_scale, 50.0  # the same cell at 1 GeV and at 100 GeV
    v = transform.factorise(torch.as_tensor(one_unit), torch.tensor([1e3, 1e5]), 45, transform.eps, 9,
                            transform.ring_eps, transform.cell_scale)  # fmt: skip
    assert float(v[0, 0]) == float(v[1, 0]) == pytest.approx(math.log(1 + 1e-4), abs=1e-6)
    z = transform.forward(torch.as_tensor(showers), torch.as_tensor(energies))
    empty = showers == 0
    v_cells = z[:, :6480].double() * transform.std[:6480].double() + transform.mean[:6480].double()
    v_cells[torch.as_tensor(empty)] += 0.6  # noise on the empty cells: below ln 2 above empty, so below the floor
    z[:, :6480] = ((v_cells - transform.mean[:6480].double()) / transform.std[:6480].double()).float()
    back = transform.inverse(z, torch.as_tensor(energies)).numpy()
    assert np.all(back[empty] == 0)
    np.testing.assert_allclose(back, showers, rtol=2e-5)


def test_energy_moments_scale_each_channel_to_its_spread_at_that_energy(rng):
    """Format 5: a response that fluctuates less at high energy (as a calorimeter's does) gets unit spread at
    every energy; one standardisation for all energies would squeeze the high-energy spread to a sliver."""
    n = 4000
    energies = np.exp(rng.uniform(np.log(1e3), np.log(1e5), n))
    showers = _sparse_showers(rng, n)
    showers *= (0.5 * (1 + rng.normal(0, 0.2 / np.sqrt(energies / 1e3))) / showers.sum(1))[:, None] * energies[:, None]
    low, high = energies < 3e3, energies > 3e4
    spreads = {}
    for moments in (False, True):
        transform = ShowerTransform.fit(showers, energies, 45, rings=9, absolute_cells=True, energy_moments=moments)
        u = transform.forward(torch.as_tensor(showers), torch.as_tensor(energies))[:, -1].numpy()
        spreads[moments] = (u[low].std(), u[high].std(), abs(u[high].mean()))
    assert spreads[False][1] < 0.3 * spreads[False][0]  # the sliver (the spread of E_sum / E falls as 1 / sqrt(E))
    assert spreads[True][0] == pytest.approx(1, rel=0.1) and spreads[True][1] == pytest.approx(1, rel=0.1)
    assert spreads[True][2] < 0.1  # centred at every energy
    tables = transform.moments(torch.tensor([1e3, 1e5, 1e7]))  # beyond the training range: its end values
    assert torch.equal(tables[0][1], tables[0][2]) and torch.equal(tables[1][1], tables[1][2])


def test_energy_moments_follow_a_spread_that_falls_steeply_with_energy(rng):
    """Format 5: the core of a shower's radial profile fluctuates 16 times less at 100 GeV than at 1 GeV in
    par04-siw; its z must still have unit spread in every energy bin (a polynomial fit of the variance with
    a floor at a quarter of the overall spread gave 1.2 at 3-10 GeV and 0.3 above 30 GeV there)."""
    n = 6000
    energies = np.exp(rng.uniform(np.log(1e3), np.log(1e5), n))
    showers = _sparse_showers(rng, n)
    spread = 0.3 * (energies / 1e3) ** -0.6
    showers *= (0.5 * np.exp(rng.normal(0, spread)) / showers.sum(1))[:, None] * energies[:, None]
    transform = ShowerTransform.fit(showers, energies, 45, rings=9, absolute_cells=True, energy_moments=True)
    u = transform.forward(torch.as_tensor(showers), torch.as_tensor(energies))[:, -1].numpy()
    edges = np.geomspace(1e3, 1e5, 5)
    for lo, hi in itertools.pairwise(edges):
        in_bin = (energies >= lo) & (energies < hi)
        assert u[in_bin].std() == pytest.approx(1, rel=0.15), (lo, hi)
        assert abs(u[in_bin].mean()) < 0.15


def _hit_transform(rng, n=50):
    showers = _sparse_showers(rng, n)
    showers[0, :144] = 0  # an empty first layer
    showers[(showers > 0) & (showers < 1e-3)] = 1e-3
    energies = rng.uniform(1e3, 1e5, n)
    return showers, energies, ShowerTransform.fit(showers, energies, 45, rings=9, absolute_cells=True,
                                                  energy_moments=True, hits=True)  # fmt: skip


def test_hit_channels_round_trip_exactly_and_stay_plus_or_minus_one(rng):
    """Format 7: a hit and an energy channel per cell; the hits are the sign of a deposit, unstandardised."""
    showers, energies, transform = _hit_transform(rng)
    z = transform.forward(torch.as_tensor(showers), torch.as_tensor(energies))
    assert z.shape == (50, 2 * 6480 + 405 + 45 + 1) and transform.n_cells == 6480
    np.testing.assert_array_equal(z[:, 6480:12960].numpy(), np.where(showers > 0, 1.0, -1.0))
    back = transform.inverse(z, torch.as_tensor(energies)).numpy()
    layer = showers.astype(np.float64).reshape(50, 45, -1).sum(-1, keepdims=True)
    slack = np.broadcast_to(1e-6 * transform.ring_eps * layer, (50, 45, 144)).reshape(50, -1)
    assert np.all(np.abs(back - showers) <= 2e-5 * showers + slack)
    assert np.all(back[showers == 0] == 0)
    again = ShowerTransform.from_state(transform.state(), transform.eps)
    assert again.hits and torch.equal(again.mean, transform.mean)
    with pytest.raises(CaloforgeError, match=r"hit channels .* need the cells in absolute units"):
        ShowerTransform.fit(showers, energies, 45, rings=9, hits=True)


def test_hit_channels_decide_which_cells_share_their_ring(rng):
    showers, energies, transform = _hit_transform(rng, 20)
    e = torch.as_tensor(energies)
    z = transform.forward(torch.as_tensor(showers), e)
    cells = showers.reshape(20, 45, 16, 9).astype(np.float64)
    hits = z[:, 6480:12960].reshape(20, 45, 16, 9)
    hit = np.argwhere(cells[1, 20] > 0)  # hit cells of layer 20 in shower 1
    (a, r), (b, r2) = hit[0], next(h for h in hit if h[1] == hit[0][1] and h[0] != hit[0][0])
    hits[1, 20, a, r] = -0.1  # the model says: not hit
    dead = int(np.argmax(cells[2, 30].sum(0) > 0))  # a ring of shower 2 that holds energy: no hit left in it
    hits[2, 30, :, dead] = -1.0
    hits[2, 30, 5, dead] = -0.5  # ... its best candidate
    back = transform.inverse(z, e).numpy().reshape(20, 45, 16, 9).astype(np.float64)
    assert back[1, 20, a, r] == 0 and back[1, 20, b, r2] > cells[1, 20, b, r2]  # its energy stays in the ring
    np.testing.assert_allclose(back.sum(2), cells.sum(2), rtol=2e-5, atol=1e-6 * cells.max())
    assert back[2, 30, 5, dead] == pytest.approx(cells[2, 30, :, dead].sum(), rel=1e-5)


def test_patches_cover_the_mesh_once_and_the_network_starts_as_identity():
    denoiser = EDMDenoiser(TINY)
    x = torch.randn(3, WIDTH)
    backbone = denoiser.backbone
    assert torch.equal(backbone._unpatchify(backbone._patchify(x[:, :6480])), x[:, :6480])
    assert TINY.tokens == 9 * 4 * 3 + 9 + 1 and TINY.width == WIDTH
    sigma = torch.full((3,), 0.5)
    cond, geometry = torch.zeros(3, 5), torch.zeros(3, dtype=torch.long)
    c_skip = TINY.sigma_data**2 / (0.25 + TINY.sigma_data**2)
    torch.testing.assert_close(denoiser(x, sigma, cond, geometry), c_skip * x)  # zero-initialised output
    hits = DiffusionConfig(patch=(5, 4, 3), dim=32, depth=1, heads=2, hit_cells=True)  # format 7
    assert hits.width == WIDTH + 6480 and [g.stop - g.start for g in hits.groups] == [6480, 6480, 405, 45, 1]
    backbone = EDMDenoiser(hits).backbone
    x = torch.randn(3, hits.width)
    tokens = backbone._patchify(x[:, :12960])
    assert tokens.shape == (3, 108, 120) and torch.equal(backbone._unpatchify(tokens), x[:, :12960])
    torch.testing.assert_close(tokens[..., :60], backbone._patchify(x[:, :6480]))  # energies first, then hits
    assert backbone(x, sigma.log() / 4, cond, geometry).shape == x.shape
    with pytest.raises(CaloforgeError, match=r"hit_cells .* needs absolute_cells"):
        DiffusionConfig(hit_cells=True, absolute_cells=False)


def test_edm_schedule_and_scalings():
    sigmas = edm_sigmas(5, 0.002, 80.0, 7.0)
    assert (
        len(sigmas) == 6 and sigmas[-1] == 0 and sigmas[0] == pytest.approx(80) and sigmas[-2] == pytest.approx(0.002)
    )
    assert torch.all(sigmas[1:] < sigmas[:-1])
    c_skip, c_out, c_in, c_noise = EDMDenoiser(TINY).scalings(torch.tensor([1.0]))
    s = TINY.sigma_data
    assert float(c_skip) == pytest.approx(s**2 / (1 + s**2)) and float(c_noise) == 0.0
    assert float(c_out) == pytest.approx(s / math.sqrt(1 + s**2)) and float(c_in) == pytest.approx(
        1 / math.sqrt(1 + s**2)
    )


def test_a_tiny_model_overfits_a_handful_of_showers():
    calo = get_geometry("par04-siw")
    energies = np.geomspace(2e3, 5e4, 8)
    showers = GFlash.stock(calo, mesh_for(calo)).sample(energies, seed=1)
    transform = ShowerTransform.fit(showers, energies, 45, rings=9)
    x = transform.forward(torch.as_tensor(showers), torch.as_tensor(energies))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        denoiser = EDMDenoiser(DiffusionConfig(patch=(5, 4, 3), dim=64, depth=2, heads=2))
    g = torch.Generator().manual_seed(1)
    cond, geometry = torch.randn(8, 5, generator=g), torch.zeros(8, dtype=torch.long)
    noise, sigma = torch.randn(8, WIDTH, generator=g), torch.ones(8)  # one fixed noisy batch to memorise

    def loss() -> torch.Tensor:
        return denoiser.loss(x, noise, sigma, cond, geometry)

    before = float(loss().detach())
    optimizer = torch.optim.Adam(denoiser.parameters(), lr=3e-3)
    for _ in range(200):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    assert float(loss().detach()) < before / 10


def test_heun_sampler_is_exact_for_a_known_denoiser():
    # data = a single point mu: D(x; sigma) = mu exactly, so the ODE ends at mu from any start
    mu = torch.linspace(-1, 1, 6480)[None]
    x = sample_heun(lambda x, s, c, g: mu.expand_as(x), torch.randn(4, 6480) * 80, edm_sigmas(8),
                    cond=torch.zeros(4, 5), geometry=torch.zeros(4, dtype=torch.long))  # fmt: skip
    torch.testing.assert_close(x, mu.expand(4, -1))


def test_config_rejects_bad_settings():
    with pytest.raises(CaloforgeError, match="patch size 4 does not divide the 45 layers"):
        DiffusionConfig(patch=(4, 2, 3))
    with pytest.raises(CaloforgeError, match=r"unknown setting 'dimm' \(did you mean 'dim'\?\)"):
        DiffusionConfig.from_dict({"dimm": 3})
    assert DiffusionConfig.from_dict(TINY.to_dict()) == TINY


def test_consistency_student_starts_at_its_boundary_and_learns():
    from caloforge.models.diffusion.distill import ConsistencyStudent, consistency_loss, sample_consistency

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        teacher = EDMDenoiser(TINY)
    student = ConsistencyStudent.from_teacher(teacher)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(6, WIDTH, generator=g)
    cond, geometry = torch.zeros(6, 5), torch.zeros(6, dtype=torch.long)
    lo = torch.full((6,), TINY.sigma_min)
    torch.testing.assert_close(student(x, lo, cond, geometry), x)  # f(x, sigma_min) = x exactly
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        loss = consistency_loss(student, teacher, x, cond, geometry, generator=torch.Generator().manual_seed(3))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    for sigmas in (torch.tensor([80.0]), torch.tensor([80.0, 2.0, 0.5])):  # 1 and 3 steps
        out = sample_consistency(student, torch.randn(6, WIDTH, generator=g), sigmas, cond=cond, geometry=geometry,
                                 generator=g)  # fmt: skip
        assert out.shape == (6, WIDTH) and torch.isfinite(out).all()
