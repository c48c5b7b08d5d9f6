"""The 16 high-level jet features of the hls4ml LHC jet dataset (OpenML 42468).

Definitions (Coleman et al. 2018; Duarte et al. 2018), all computed from the jet
constituents' four-momenta (px, py, pz, E in GeV):

- ``zlogz`` = sum_i (E_i / E_J) ln(E_i / E_J) over the constituents of the *ungroomed*
  jet (dimensionless, <= 0), E_J = sum_i E_i.
- ``multiplicity``: number of constituents of the *ungroomed* jet.
- Everything else is computed on the mMDT-groomed jet: the constituents are reclustered
  with Cambridge/Aachen and declustered from the top, following the harder branch, until
  a splitting passes z = min(pT1, pT2) / (pT1 + pT2) > z_cut (SoftDrop with beta = 0,
  z_cut = 0.1). ``mass_mmdt`` is the groomed jet's invariant mass in GeV.
- Energy-correlation functions use momentum fractions z_i = pT_i / sum_j pT_j and angles
  R_ij = sqrt(dy^2 + dphi^2) (rapidity y, azimuth phi; FastJet's convention):
  e2(b) = sum_{i<j} z_i z_j R_ij^b,
  e3(b) = sum_{i<j<k} z_i z_j z_k (R_ij R_ik R_jk)^b,
  ve3(b) = the same sum keeping only the v smallest of the three angles (v = 1, 2).
  Then C1 = e2, C2 = e3 / e2^2, D2 = e3 / e2^3, D2^(alpha=1, beta) = e3(1) / e2(b)^(3/b),
  M2 = 1e3 / e2, N2 = 2e3 / e2^2 (all dimensionless).

A groomed jet with a single constituent has e2 = e3 = 0, so every ratio is 0/0: those
features are NaN (returned explicitly, never silently replaced here; see
:func:`rasp.data.prepare.prepare_jets` for the policy applied downstream).

Two independent implementations are provided and cross-checked in the tests:
:func:`jet_features_numpy` (this module's own C/A clustering, grooming and ECFs in numpy)
and :func:`jet_features_fjcontrib` (FastJet + fjcontrib SoftDrop and
EnergyCorrelatorGeneralized through the ``fastjet`` Python package).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FEATURE_NAMES: tuple[str, ...] = (
    "zlogz",
    "c1_b0_mmdt",
    "c1_b1_mmdt",
    "c1_b2_mmdt",
    "c2_b1_mmdt",
    "c2_b2_mmdt",
    "d2_b1_mmdt",
    "d2_b2_mmdt",
    "d2_a1_b1_mmdt",
    "d2_a1_b2_mmdt",
    "m2_b1_mmdt",
    "m2_b2_mmdt",
    "n2_b1_mmdt",
    "n2_b2_mmdt",
    "mass_mmdt",
    "multiplicity",
)
"""Feature columns in the order of the OpenML table."""

JET_CLASSES: tuple[str, ...] = ("g", "q", "t", "w", "z")
"""Class names; alphabetical order = label index (g=0, q=1, t=2, w=3, z=4)."""

FEATURE_UNITS: dict[str, str] = {"mass_mmdt": "GeV"}
"""Units of the features that have one (all others are dimensionless)."""

MMDT_Z_CUT = 0.1
"""mMDT / SoftDrop(beta=0) symmetry cut of the dataset."""

BACKENDS = ("fjcontrib", "numpy")


@dataclass
class JaggedJets:
    """Constituents of many jets as flat arrays plus offsets.

    ``px``, ``py``, ``pz``, ``e`` are float64 arrays in GeV; the constituents of jet ``i``
    are ``offsets[i]:offsets[i + 1]``.
    """

    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray
    offsets: np.ndarray

    def __post_init__(self) -> None:
        self.px, self.py, self.pz, self.e = (
            np.ascontiguousarray(a, dtype=np.float64) for a in (self.px, self.py, self.pz, self.e)
        )
        self.offsets = np.ascontiguousarray(self.offsets, dtype=np.int64)
        n = len(self.px)
        if not (len(self.py) == len(self.pz) == len(self.e) == n):
            raise ValueError("px, py, pz and e must have the same length")
        if self.offsets.ndim != 1 or self.offsets[0] != 0 or self.offsets[-1] != n:
            raise ValueError("offsets must start at 0 and end at the number of constituents")
        if np.any(np.diff(self.offsets) < 1):
            raise ValueError("every jet needs at least one constituent")

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def from_list(cls, jets: list[np.ndarray]) -> JaggedJets:
        """Build from a list of (n_i, 4) arrays of (px, py, pz, E) in GeV."""
        if not jets:
            raise ValueError("no jets given")
        p4 = np.concatenate([np.asarray(j, dtype=np.float64).reshape(-1, 4) for j in jets])
        offsets = np.concatenate([[0], np.cumsum([len(j) for j in jets])])
        return cls(p4[:, 0], p4[:, 1], p4[:, 2], p4[:, 3], offsets)

    def jet(self, i: int) -> np.ndarray:
        """Constituents of jet ``i`` as an (n, 4) array of (px, py, pz, E) in GeV."""
        s = slice(self.offsets[i], self.offsets[i + 1])
        return np.stack([self.px[s], self.py[s], self.pz[s], self.e[s]], axis=1)

    def to_awkward(self):
        """The jets as an awkward ``var * Momentum4D`` array (one list per jet)."""
        import awkward as ak

        content = ak.contents.RecordArray(
            [ak.contents.NumpyArray(a) for a in (self.px, self.py, self.pz, self.e)],
            ["px", "py", "pz", "E"],
            parameters={"__record__": "Momentum4D"},
        )
        layout = ak.contents.ListOffsetArray(ak.index.Index64(self.offsets), content)
        return ak.Array(layout)


# ---------------------------------------------------------------------------------------
# kinematics


def rapidity(p4: np.ndarray) -> np.ndarray:
    """Rapidity y = 0.5 ln((E + pz) / (E - pz)) of (n, 4) four-momenta."""
    e, pz = p4[..., 3], p4[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return 0.5 * np.log((e + pz) / (e - pz))


def azimuth(p4: np.ndarray) -> np.ndarray:
    """Azimuth phi in [0, 2 pi) of (n, 4) four-momenta (FastJet's range)."""
    phi = np.arctan2(p4[..., 1], p4[..., 0])
    return np.where(phi < 0, phi + 2 * np.pi, phi)


def transverse_momentum(p4: np.ndarray) -> np.ndarray:
    """pT = sqrt(px^2 + py^2) in GeV."""
    return np.hypot(p4[..., 0], p4[..., 1])


def invariant_mass(p4: np.ndarray) -> float:
    """Invariant mass in GeV of the sum of (n, 4) four-momenta (0 if space-like by rounding)."""
    s = p4.sum(axis=0)
    m2 = s[3] ** 2 - s[0] ** 2 - s[1] ** 2 - s[2] ** 2
    return float(np.sqrt(max(m2, 0.0)))


def _delta_r2(y1, phi1, y2, phi2):
    dphi = np.abs(phi1 - phi2)
    dphi = np.where(dphi > np.pi, 2 * np.pi - dphi, dphi)
    return (y1 - y2) ** 2 + dphi**2


# ---------------------------------------------------------------------------------------
# numpy implementation: C/A clustering, mMDT grooming, energy correlators


def cambridge_aachen_tree(p4: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cluster all constituents into one jet with Cambridge/Aachen (E-scheme).

    Repeatedly merges the pair with the smallest dR^2 = dy^2 + dphi^2 until one
    pseudojet is left. Returns ``(nodes, children)``: ``nodes`` is a (2n - 1, 4) array of
    four-momenta (the n constituents first, then the merged pseudojets in merge order;
    the last row is the whole jet), ``children`` a (2n - 1, 2) int array of the two
    merged node indices (-1 for constituents).
    """
    p4 = np.asarray(p4, dtype=np.float64)
    n = len(p4)
    nodes = np.zeros((2 * n - 1, 4))
    nodes[:n] = p4
    children = np.full((2 * n - 1, 2), -1, dtype=np.int64)
    if n == 1:
        return nodes, children
    slot_node = np.arange(n)
    alive = np.ones(n, dtype=bool)
    y = rapidity(p4)
    phi = azimuth(p4)
    dist = _delta_r2(y[:, None], phi[:, None], y[None, :], phi[None, :])
    np.fill_diagonal(dist, np.inf)
    for step in range(n - 1):
        i, j = divmod(int(np.argmin(dist)), n)
        new = n + step
        nodes[new] = nodes[slot_node[i]] + nodes[slot_node[j]]
        children[new] = (slot_node[i], slot_node[j])
        slot_node[i] = new
        y[i] = rapidity(nodes[new])
        phi[i] = azimuth(nodes[new])
        alive[j] = False
        dist[j, :] = np.inf
        dist[:, j] = np.inf
        row = np.where(alive, _delta_r2(y, phi, y[i], phi[i]), np.inf)
        row[i] = np.inf
        dist[i, :] = row
        dist[:, i] = row
    return nodes, children


def _leaves(children: np.ndarray, node: int) -> list[int]:
    stack, out = [node], []
    while stack:
        k = stack.pop()
        a, b = children[k]
        if a < 0:
            out.append(k)
        else:
            stack.extend((a, b))
    return sorted(out)


def mmdt_groom(p4: np.ndarray, z_cut: float = MMDT_Z_CUT) -> np.ndarray:
    """Indices of the constituents kept by mMDT (SoftDrop beta = 0) grooming.

    Reclusters with C/A and walks down from the full jet: at each splitting into j1, j2
    stop if min(pT1, pT2) / (pT1 + pT2) > ``z_cut``, otherwise continue with the branch
    of larger pT. Reaching a single constituent returns that constituent alone.
    """
    nodes, children = cambridge_aachen_tree(p4)
    node = len(nodes) - 1
    while children[node, 0] >= 0:
        a, b = children[node]
        pta, ptb = transverse_momentum(nodes[a]), transverse_momentum(nodes[b])
        if min(pta, ptb) / (pta + ptb) > z_cut:
            break
        node = a if pta >= ptb else b
    return np.asarray(_leaves(children, node), dtype=np.int64)


@dataclass(frozen=True)
class EnergyCorrelators:
    """Normalised (generalised) energy-correlation functions (dimensionless) of one jet
    (floats) or of many jets (arrays, the fjcontrib backend).

    ``e2[b]``, ``e3[b]``, ``e3_1[b]`` (one smallest angle), ``e3_2[b]`` (two smallest
    angles) for angular exponent b in (0, 1, 2) for e2 and (1, 2) for the e3 family.
    """

    e2: dict[int, float]
    e3: dict[int, float]
    e3_1: dict[int, float]
    e3_2: dict[int, float]


def energy_correlators(p4: np.ndarray, chunk_triplets: int = 2_000_000) -> EnergyCorrelators:
    """Energy-correlation functions of constituents ``p4`` ((n, 4), GeV), pT_R measure.

    Triplet sums are evaluated in chunks of at most about ``chunk_triplets`` triplets to
    bound memory.
    """
    p4 = np.asarray(p4, dtype=np.float64)
    n = len(p4)
    pt = transverse_momentum(p4)
    z = pt / pt.sum()
    y, phi = rapidity(p4), azimuth(p4)
    r = np.sqrt(_delta_r2(y[:, None], phi[:, None], y[None, :], phi[None, :]))
    iu, ju = np.triu_indices(n, k=1)
    zz = z[iu] * z[ju]
    rij = r[iu, ju]
    e2 = {b: float(np.sum(zz * rij**b)) for b in (0, 1, 2)}
    e3 = dict.fromkeys((1, 2), 0.0)
    e3_1 = dict.fromkeys((1, 2), 0.0)
    e3_2 = dict.fromkeys((1, 2), 0.0)
    # every i, then the pairs (j, k) with i < j < k: the triplet (i, j, k)
    for i in range(n - 2):
        j, k = np.triu_indices(n - i - 1, k=1)
        j, k = j + i + 1, k + i + 1
        for start in range(0, len(j), chunk_triplets):
            jj, kk = j[start : start + chunk_triplets], k[start : start + chunk_triplets]
            w = z[i] * z[jj] * z[kk]
            ang = np.sort(np.stack([r[i, jj], r[i, kk], r[jj, kk]], axis=1), axis=1)
            for b in (1, 2):
                ab = ang**b
                e3[b] += float(np.sum(w * ab[:, 0] * ab[:, 1] * ab[:, 2]))
                e3_1[b] += float(np.sum(w * ab[:, 0]))
                e3_2[b] += float(np.sum(w * ab[:, 0] * ab[:, 1]))
    return EnergyCorrelators(e2=e2, e3=e3, e3_1=e3_1, e3_2=e3_2)


def _assemble(zlz, ecf: EnergyCorrelators, mass, multiplicity, div) -> list:
    """The 16 features (order :data:`FEATURE_NAMES`) from groomed-jet ECFs; floats or
    arrays of many jets. ``div`` returns NaN for a zero denominator (one-constituent
    groomed jet)."""
    e2, e3, e31, e32 = ecf.e2, ecf.e3, ecf.e3_1, ecf.e3_2
    return [
        zlz, e2[0], e2[1], e2[2],  # zlogz, C1 (b = 0, 1, 2)
        div(e3[1], e2[1] ** 2), div(e3[2], e2[2] ** 2),  # C2
        div(e3[1], e2[1] ** 3), div(e3[2], e2[2] ** 3),  # D2
        div(e3[1], e2[1] ** 3), div(e3[1], e2[2] ** 1.5),  # D2^(alpha=1)
        div(e31[1], e2[1]), div(e31[2], e2[2]),  # M2
        div(e32[1], e2[1] ** 2), div(e32[2], e2[2] ** 2),  # N2
        mass, multiplicity,
    ]


def zlogz(p4: np.ndarray) -> float:
    """sum_i (E_i / E_J) ln(E_i / E_J) over constituents ``p4`` ((n, 4), GeV)."""
    e = np.asarray(p4, dtype=np.float64)[:, 3]
    frac = e / e.sum()
    frac = frac[frac > 0]
    return float(np.sum(frac * np.log(frac)))


def jet_features_numpy(p4: np.ndarray, z_cut: float = MMDT_Z_CUT) -> np.ndarray:
    """The 16 features of one jet from its constituents ((n, 4) px, py, pz, E in GeV)."""
    p4 = np.asarray(p4, dtype=np.float64)
    if p4.ndim != 2 or p4.shape[1] != 4 or len(p4) == 0:
        raise ValueError(f"expected an (n >= 1, 4) array of four-momenta, got shape {p4.shape}")
    groomed = p4[mmdt_groom(p4, z_cut)]
    vals = _assemble(zlogz(p4), energy_correlators(groomed), invariant_mass(groomed),
                     float(len(p4)), _div)
    return np.asarray(vals, dtype=np.float64)


# ---------------------------------------------------------------------------------------
# FastJet + fjcontrib implementation


_CA_RADIUS = 10.0
"""C/A radius used to recluster a jet into one pseudojet; larger than any dR in a jet so
that ``exclusive_jets(1)`` merges every constituent (beam distance never wins)."""


def _fj_ecf(cluster_sequence, npoint: int, beta: float, angles: int) -> np.ndarray:
    return np.asarray(
        cluster_sequence.exclusive_jets_energy_correlator(
            njets=1, beta=beta, npoint=npoint, angles=angles, func="generalized"
        ),
        dtype=np.float64,
    )


def jet_features_fjcontrib(jets: JaggedJets, z_cut: float = MMDT_Z_CUT) -> np.ndarray:
    """The 16 features of many jets with FastJet + fjcontrib; shape (n_jets, 16).

    Each jet's constituents are reclustered with C/A into one jet, groomed with
    ``contrib::SoftDrop(beta=0, z_cut)``, reclustered again and passed to
    ``contrib::EnergyCorrelatorGeneralized`` (pT_R measure). D2^(alpha=1) is built from
    generalised ECFs (``func="generalized_d2"`` crashes in fastjet 3.5.2.0).
    """
    import awkward as ak
    import fastjet

    ca = fastjet.JetDefinition(fastjet.cambridge_algorithm, _CA_RADIUS)
    ungroomed = jets.to_awkward()
    cs = fastjet.ClusterSequence(ungroomed, ca)
    groomed = cs.exclusive_jets_softdrop_grooming(
        njets=1, beta=0.0, symmetry_cut=z_cut, symmetry_measure="scalar_z", R0=0.8
    )
    gc = groomed.constituents
    counts = np.asarray(ak.num(gc, axis=1), dtype=np.int64)
    if np.any(counts < 1):
        raise RuntimeError("fjcontrib SoftDrop returned a jet without constituents")
    g = JaggedJets(*(np.asarray(ak.flatten(getattr(gc, k))) for k in ("px", "py", "pz", "E")),
                   np.concatenate([[0], np.cumsum(counts)]))
    gcs = fastjet.ClusterSequence(g.to_awkward(), ca)
    ecf = EnergyCorrelators(
        e2={b: _fj_ecf(gcs, 2, b, -1) for b in (0, 1, 2)},
        e3={b: _fj_ecf(gcs, 3, b, -1) for b in (1, 2)},
        e3_1={b: _fj_ecf(gcs, 3, b, 1) for b in (1, 2)},
        e3_2={b: _fj_ecf(gcs, 3, b, 2) for b in (1, 2)},
    )
    mass = np.asarray(groomed.msoftdrop, dtype=np.float64)
    # zlogz and multiplicity on the ungroomed jets
    e = jets.e
    e_jet = np.add.reduceat(e, jets.offsets[:-1])
    frac = e / np.repeat(e_jet, np.diff(jets.offsets))
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(frac > 0, frac * np.log(np.where(frac > 0, frac, 1.0)), 0.0)
        zlz = np.add.reduceat(terms, jets.offsets[:-1])
        multiplicity = np.diff(jets.offsets).astype(np.float64)
        return np.stack(_assemble(zlz, ecf, mass, multiplicity, _div), axis=1)


def _div(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray:
    """``num / den`` (floats or arrays), NaN where ``den`` is 0."""
    return np.divide(num, den, out=np.full(np.shape(num), np.nan), where=np.asarray(den) != 0)


def compute_jet_features(
    jets: JaggedJets, backend: str = "fjcontrib", z_cut: float = MMDT_Z_CUT
) -> np.ndarray:
    """The 16 features (order :data:`FEATURE_NAMES`) of many jets; shape (n_jets, 16).

    ``backend`` is ``fjcontrib`` (FastJet C++, fast) or ``numpy`` (this module's own
    implementation, a few ms per jet).
    """
    if backend == "fjcontrib":
        return jet_features_fjcontrib(jets, z_cut)
    if backend == "numpy":
        if len(jets) == 0:
            return np.zeros((0, len(FEATURE_NAMES)))
        return np.stack([jet_features_numpy(jets.jet(i), z_cut) for i in range(len(jets))])
    raise ValueError(f"unknown jet feature backend {backend!r}; expected one of {BACKENDS}")
