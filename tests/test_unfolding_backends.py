"""The SVD backends' one interface, and the RooUnfold backend against test doubles of both
RooUnfold generations (tests/roounfold_double.py): no ROOT or RooUnfold needed.

The ROOT backends against the real ROOT (and RooUnfold where installed) are in
test_unfolding_root.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from roounfold_double import FakeROOT, install_library

import unfolding as U
from unfolding.backends import SVD_BACKENDS
from unfolding.root_backend import RootBackend
from unfolding.roounfold_backend import RooUnfoldBackend

EDGES = np.linspace(0.0, 4.0, 9)


@pytest.fixture(scope="module")
def case():
    """A response with 5 % fakes and an independent measured spectrum with fakes of its own."""
    rng = np.random.default_rng(31)

    def sample(n):
        truth = rng.gamma(2.0, 0.6, n)
        reco = truth * rng.normal(1.0, 0.2, n)
        return truth, reco, rng.random(n) < 0.6 + 0.3 * np.exp(-truth)

    truth, reco, ok = sample(100_000)
    response = U.Response(EDGES).fill(reco, truth, reco_valid=ok)
    response.fill_fake(rng.uniform(0.0, 4.0, 4000))
    _, reco_data, ok_data = sample(30_000)
    measured, w2 = response.spectrum(np.append(reco_data[ok_data], rng.uniform(0, 4, 1000)))
    return response, measured, w2


def roounfold(generation: str, tmp_path, installed: bool = True):
    """A RooUnfold backend on a double of ``generation``, and the double."""
    if installed:
        install_library(tmp_path)
    fake = FakeROOT(generation, tmp_path)
    return RooUnfoldBackend(root=lambda: fake), fake


def assert_agree(result, reference):
    np.testing.assert_allclose(result.unfolded, reference.unfolded, rtol=1e-6)
    np.testing.assert_allclose(result.uncertainty, reference.uncertainty, rtol=1e-6)


def test_backends_are_picked_by_name_and_share_one_interface():
    assert U.BACKENDS == ("auto", "roounfold", "root", "numpy")
    for name, backend in SVD_BACKENDS.items():
        assert isinstance(backend, U.SvdBackend) and backend.name == name
    assert U.get_backend("numpy") is SVD_BACKENDS["numpy"]
    with pytest.raises(U.UnfoldingError, match="unknown backend 'tunfold'"):
        U.get_backend("tunfold")


def test_bad_input_is_refused_alike_by_every_backend(tmp_path):
    backend, fake = roounfold("3.x", tmp_path)
    matrix, truth = np.eye(3) * 5, np.full(3, 10.0)
    for candidate in (SVD_BACKENDS["numpy"], backend):
        with pytest.raises(U.UnfoldingError, match="regularisation k must be an integer"):
            candidate.svd_unfold(np.ones(3), np.ones(3), matrix, truth, 4)
        with pytest.raises(U.UnfoldingError, match="MC truth bin 1 is empty"):
            candidate.svd_unfold(np.ones(3), np.ones(3), matrix, [10.0, 0.0, 10.0], 2)
    assert fake.gSystem.loaded == []  # refused before RooUnfold was touched


@pytest.mark.parametrize("generation", ["3.x", "2.x"])
def test_roounfold_generations_unfold_the_fake_subtracted_spectrum_as_numpy(
    case, generation, tmp_path, monkeypatch
):
    response, measured, w2 = case
    backend, fake = roounfold(generation, tmp_path)
    monkeypatch.setitem(SVD_BACKENDS, "roounfold", backend)
    result = U.unfold(response, measured, w2, k=4, backend="roounfold")
    numpy = U.unfold(response, measured, w2, k=4, backend="numpy")
    assert result.backend == "roounfold"
    assert_agree(result, numpy)
    # the fakes are 5 % of the spectrum: unfolding them would move every bin by far more
    assert not np.allclose(
        U.svd_unfold(measured, w2, response.matrix, response.truth, 4).unfolded,
        numpy.unfolded,
        rtol=0.01,
    )
    assert fake.autoloads == [] and len(fake.gSystem.loaded) == 1  # loaded once, explicitly


def test_roounfold_passes_a_full_measured_covariance(case, tmp_path):
    response, measured, w2 = case
    signal = U.subtract_fakes(response, measured)
    n = len(w2)
    covariance = 0.4 ** np.abs(np.subtract.outer(np.arange(n), np.arange(n))) * np.sqrt(
        np.outer(w2, w2)
    )
    backend, _ = roounfold("2.x", tmp_path)
    assert_agree(
        backend.svd_unfold(signal, covariance, response.matrix, response.truth, 5),
        U.svd_unfold(signal, covariance, response.matrix, response.truth, 5),
    )


def test_an_unknown_roounfold_interface_is_refused_by_name(case, tmp_path):
    response, measured, w2 = case
    backend, _ = roounfold("other", tmp_path)
    with pytest.raises(U.UnfoldingError, match=r"unsupported RooUnfold version.*Vunfold.*Vreco"):
        backend.svd_unfold(measured, w2, response.matrix, response.truth, 3)


def test_availability_checks_load_nothing(case, tmp_path):
    backend, fake = roounfold("3.x", tmp_path)
    root = RootBackend(root=lambda: fake)
    assert backend.available() and root.available()
    assert fake.gSystem.loaded == [] and fake.autoloads == []

    response, measured, w2 = case
    backend.svd_unfold(measured, w2, response.matrix, response.truth, 3)
    # from now on RooUnfold's TSVDUnfold shadows ROOT's in this process
    assert backend.available()
    assert "after RooUnfold was loaded" in root.unavailable_reason()
    with pytest.raises(U.UnfoldingError, match="fresh process"):
        root.svd_unfold(measured, w2, response.matrix, response.truth, 3)


def test_missing_roounfold_is_explained(tmp_path):
    backend, fake = roounfold("3.x", tmp_path, installed=False)
    assert not backend.available()
    reason = backend.unavailable_reason()
    assert "LD_LIBRARY_PATH" in reason and "ROOT_INCLUDE_PATH" in reason
    with pytest.raises(U.UnfoldingError, match="LD_LIBRARY_PATH"):
        backend.svd_unfold(np.ones(2), np.ones(2), np.eye(2) * 3, np.full(2, 4.0), 1)
    assert fake.gSystem.loaded == []


def test_auto_prefers_an_installed_roounfold(tmp_path, monkeypatch):
    backend, fake = roounfold("2.x", tmp_path)
    monkeypatch.setitem(SVD_BACKENDS, "roounfold", backend)
    assert U.resolve_backend("auto") == "roounfold"
    assert fake.gSystem.loaded == []
    missing, _ = roounfold("2.x", tmp_path / "nowhere", installed=False)
    monkeypatch.setitem(SVD_BACKENDS, "roounfold", missing)
    assert U.resolve_backend("auto") in ("root", "numpy")
    with pytest.raises(U.UnfoldingError, match="needs RooUnfold"):
        U.resolve_backend("roounfold")


def test_provenance_records_the_root_version_and_the_roounfold_library(tmp_path):
    backend, _ = roounfold("3.x", tmp_path)
    record = backend.provenance()
    assert record["backend"] == "roounfold" and record["root_version"] == "6.99/01"
    assert record["roounfold_library"] == str(tmp_path / "libRooUnfold.so")
    assert SVD_BACKENDS["numpy"].provenance() == {"backend": "numpy"}
