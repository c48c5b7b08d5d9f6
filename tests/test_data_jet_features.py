"""The 16 jet features: definitions, identities, NaN handling, and agreement between the
library's numpy implementation and FastJet + fjcontrib on simulated Pythia jets."""

from __future__ import annotations

import numpy as np
import pytest

from rasp.data.jet_features import (
    FEATURE_NAMES,
    JaggedJets,
    compute_jet_features,
    energy_correlators,
    jet_features_numpy,
    mmdt_groom,
    transverse_momentum,
)
from rasp.data.pythia import JetSimulationSettings, generate_jets, pythia_seed, simulate_jets

IDX = {name: i for i, name in enumerate(FEATURE_NAMES)}
RATIOS = [n for n in FEATURE_NAMES if n[:2] in ("c2", "d2", "m2", "n2")]


def p4_from(pt, y, phi, m=0.0):
    """Four-momenta (n, 4) from pT (GeV), rapidity, azimuth and mass (GeV)."""
    pt, y, phi = (np.atleast_1d(np.asarray(a, dtype=float)) for a in (pt, y, phi))
    mt = np.sqrt(pt**2 + m**2)
    return np.stack([pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y), mt * np.cosh(y)], 1)


@pytest.fixture(scope="module")
def simulated_jets() -> JaggedJets:
    """A handful of real simulated jets: 2-prong (W), 3-prong (top) and QCD (gluon)."""
    parts = []
    for cls, n in (("w", 4), ("t", 3), ("g", 3)):
        jets, meta = generate_jets(cls, n, seed=11, settings=JetSimulationSettings(events_per_batch=4))
        assert meta["n_jets"] == n
        parts += [jets.jet(i) for i in range(len(jets))]
    return JaggedJets.from_list(parts)


def test_numpy_and_fjcontrib_agree_on_simulated_jets(simulated_jets):
    a = compute_jet_features(simulated_jets, "fjcontrib")
    b = compute_jet_features(simulated_jets, "numpy")
    assert a.shape == b.shape == (len(simulated_jets), 16)
    assert np.isfinite(a).all()
    np.testing.assert_allclose(b, a, rtol=1e-8, atol=1e-12)
    # sanity: physical ranges
    assert (a[:, IDX["zlogz"]] < 0).all()
    assert (a[:, IDX["mass_mmdt"]] > 0).all()
    assert (a[:, IDX["multiplicity"]] >= 2).all()


def test_identities_on_the_groomed_jet(simulated_jets):
    for i in range(len(simulated_jets)):
        p4 = simulated_jets.jet(i)
        f = jet_features_numpy(p4)
        assert f[IDX["d2_a1_b1_mmdt"]] == pytest.approx(f[IDX["d2_b1_mmdt"]], rel=1e-12)
        groomed = p4[mmdt_groom(p4)]
        z = transverse_momentum(groomed) / transverse_momentum(groomed).sum()
        assert f[IDX["c1_b0_mmdt"]] == pytest.approx((1 - np.sum(z**2)) / 2, rel=1e-10)
        # grooming never adds particles
        assert len(groomed) <= f[IDX["multiplicity"]]


def test_energy_correlators_of_three_particles_by_hand():
    p4 = p4_from([100.0, 50.0, 25.0], [0.0, 0.3, -0.1], [0.0, 0.0, 0.4])
    pt = np.array([100.0, 50.0, 25.0])
    z = pt / pt.sum()
    r01, r02, r12 = 0.3, np.hypot(0.1, 0.4), np.hypot(0.4, 0.4)
    ecf = energy_correlators(p4)
    for b in (0, 1, 2):
        expect = z[0] * z[1] * r01**b + z[0] * z[2] * r02**b + z[1] * z[2] * r12**b
        assert ecf.e2[b] == pytest.approx(expect, rel=1e-12)
    angles = sorted([r01, r02, r12])
    for b in (1, 2):
        zzz = z.prod()
        assert ecf.e3[b] == pytest.approx(zzz * (r01 * r02 * r12) ** b, rel=1e-12)
        assert ecf.e3_1[b] == pytest.approx(zzz * angles[0] ** b, rel=1e-12)
        assert ecf.e3_2[b] == pytest.approx(zzz * (angles[0] * angles[1]) ** b, rel=1e-12)


def test_mmdt_removes_soft_wide_angle_radiation():
    # two hard prongs (z = 0.4 > 0.1) plus one soft particle far away (z ~ 0.01)
    p4 = p4_from([600.0, 400.0, 10.0], [0.0, 0.1, 0.6], [0.0, 0.05, -0.5])
    kept = mmdt_groom(p4)
    assert kept.tolist() == [0, 1]
    f = jet_features_numpy(p4)
    assert f[IDX["multiplicity"]] == 3
    hard = p4[:2].sum(0)
    m = np.sqrt(hard[3] ** 2 - np.sum(hard[:3] ** 2))
    assert f[IDX["mass_mmdt"]] == pytest.approx(m, rel=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "fjcontrib"])
def test_one_constituent_groomed_jets_give_nan_ratios(backend):
    single = p4_from([900.0], [0.2], [1.0], m=0.14)
    # a hard particle plus a soft one below the z cut: grooming leaves one constituent
    groomed_to_one = p4_from([950.0, 40.0], [0.0, 0.3], [0.0, 0.2])
    normal = p4_from([600.0, 400.0, 30.0], [0.0, 0.1, 0.05], [0.0, 0.1, -0.05])
    feats = compute_jet_features(JaggedJets.from_list([single, groomed_to_one, normal]), backend)
    for row in feats[:2]:
        assert np.isnan(row[[IDX[n] for n in RATIOS]]).all()
        for n in ("c1_b0_mmdt", "c1_b1_mmdt", "c1_b2_mmdt"):
            assert row[IDX[n]] == 0.0
        assert np.isfinite(row[IDX["zlogz"]]) and np.isfinite(row[IDX["mass_mmdt"]])
    assert feats[0, IDX["multiplicity"]] == 1 and feats[1, IDX["multiplicity"]] == 2
    assert feats[0, IDX["mass_mmdt"]] == pytest.approx(0.14, rel=1e-6)
    assert np.isfinite(feats[2]).all()


def test_unknown_backend_and_bad_input_are_rejected():
    jets = JaggedJets.from_list([p4_from([1.0], [0.0], [0.0])])
    with pytest.raises(ValueError, match="unknown jet feature backend"):
        compute_jet_features(jets, "root")
    with pytest.raises(ValueError, match="at least one constituent"):
        JaggedJets(np.zeros(1), np.zeros(1), np.zeros(1), np.ones(1), np.array([0, 0, 1]))


def test_simulation_is_reproducible_and_w_mass_peaks_near_80_gev():
    settings = JetSimulationSettings(events_per_batch=8)
    a = simulate_jets("w", 24, seed=5, settings=settings)
    b = simulate_jets("w", 24, seed=5, settings=settings)
    np.testing.assert_array_equal(a.features, b.features)
    assert a.meta == b.meta and a.meta["pythia_seed"] == pythia_seed(5)
    table = a.table()
    assert list(table.columns) == [*FEATURE_NAMES, "class"]
    assert set(table["class"]) == {"w"}
    median_mass = np.nanmedian(a.features[:, IDX["mass_mmdt"]])
    assert 60.0 < median_mass < 100.0, median_mass


def test_simulation_rejects_bad_settings():
    with pytest.raises(ValueError, match=r"unknown jet simulation keys \['pt_min'\]"):
        JetSimulationSettings.from_dict({"pt_min": 1})
    with pytest.raises(ValueError, match="feature_backend: 'root' is not one of"):
        JetSimulationSettings(feature_backend="root")
    with pytest.raises(ValueError, match="jets.pythia.wprime_mass_gev: 0 is less than or equal"):
        JetSimulationSettings(wprime_mass_gev=0)
    with pytest.raises(ValueError, match="pthat_min_gev < pthat_max_gev"):
        JetSimulationSettings(pthat_min_gev=1100)
    with pytest.raises(ValueError, match="unknown jet class"):
        simulate_jets("b", 1, seed=1)


def test_boson_production_settings():
    from rasp.data.pythia import pythia_settings

    wprime = pythia_settings("z", 3, JetSimulationSettings(wprime_mass_gev=2500))
    assert "NewGaugeBoson:ffbar2Wprime = on" in wprime and "34:m0 = 2500" in wprime
    assert not any(line.startswith("WeakDoubleBoson") for line in wprime)
    diboson = pythia_settings("z", 3, JetSimulationSettings(boson_production="diboson"))
    assert "WeakDoubleBoson:ffbar2gmZgmZ = on" in diboson
    assert pythia_settings("g", 3, JetSimulationSettings()) == pythia_settings(
        "g", 3, JetSimulationSettings(boson_production="diboson"))
    with pytest.raises(ValueError, match="boson_production"):
        JetSimulationSettings(boson_production="zprime")


def test_wprime_bosons_keep_their_mass_after_grooming():
    """The reason for the default: SM diboson W jets lose the softer quark to mMDT grooming
    far more often (mostly transverse bosons) than W jets from a W' decay."""
    low = {}
    for production in ("diboson", "wprime"):
        settings = JetSimulationSettings(boson_production=production, events_per_batch=25)
        mass = simulate_jets("w", 200, seed=21, settings=settings).features[:, IDX["mass_mmdt"]]
        low[production] = float(np.mean(mass < 40.0))
    assert low["diboson"] > 0.14 and low["wprime"] < 0.12, low
