"""The numpy SVD backend against ROOT's TSVDUnfold (values, X_τ covariance, d_i, singular values).

Skipped only where ``import ROOT`` fails. RooUnfold is tested only where the
user's ROOT can load it, in a process of its own (RooUnfold redefines
TSVDUnfold); its two interfaces are tested with doubles in
test_unfolding_backends.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import unfolding as U

ROOT = pytest.importorskip("ROOT")
pytestmark = pytest.mark.root

EDGES = np.linspace(0.0, 4.0, 11)
TSVD = U.SVD_BACKENDS["root"]


@pytest.fixture(scope="module")
def smeared_case():
    """A non-trivial response: 25 % smearing, efficiency 0.55–0.85, 4 % fakes; independent data."""
    rng = np.random.default_rng(2024)

    def sample(n):
        truth = rng.gamma(2.0, 0.6, n)
        reco = truth * rng.normal(1.0, 0.25, n) + rng.normal(0.0, 0.1, n)
        ok = rng.random(n) < 0.55 + 0.3 * np.exp(-truth)
        return truth, reco, ok

    truth, reco, ok = sample(150_000)
    response = U.Response(EDGES).fill(reco, truth, reco_valid=ok)
    response.fill_fake(rng.uniform(0.0, 4.0, 5000))
    _, reco_d, ok_d = sample(40_000)
    measured, w2 = response.spectrum(np.append(reco_d[ok_d], rng.uniform(0, 4, 1300)))
    return response, U.subtract_fakes(response, measured), w2


def assert_same(numpy_result, root_result):
    np.testing.assert_allclose(numpy_result.unfolded, root_result.unfolded, rtol=1e-6)
    scale = np.abs(root_result.covariance).max()
    np.testing.assert_allclose(
        numpy_result.covariance, root_result.covariance, rtol=1e-6, atol=1e-9 * scale
    )
    np.testing.assert_allclose(
        np.diag(numpy_result.covariance), np.diag(root_result.covariance), rtol=1e-6
    )
    for key in ("d", "singular_values"):
        np.testing.assert_allclose(
            numpy_result.diagnostics[key], root_result.diagnostics[key], rtol=1e-6
        )
    inverse = root_result.diagnostics["inverse_covariance"]
    np.testing.assert_allclose(
        numpy_result.diagnostics["inverse_covariance"],
        inverse,
        rtol=1e-6,
        atol=1e-9 * np.abs(inverse).max(),
    )


@pytest.mark.parametrize("k", [2, 3, 5, 7, 10])
def test_numpy_matches_tsvdunfold_with_poisson_errors(smeared_case, k):
    response, signal, w2 = smeared_case
    numpy_result = U.svd_unfold(signal, w2, response.matrix, response.truth, k)
    root_result = TSVD.svd_unfold(signal, w2, response.matrix, response.truth, k)
    assert root_result.backend == "root" and numpy_result.backend == "numpy"
    assert_same(numpy_result, root_result)
    assert numpy_result.diagnostics["tau"] == pytest.approx(
        root_result.diagnostics["tau"], rel=1e-6
    )


@pytest.mark.parametrize("k", [3, 6])
def test_numpy_matches_tsvdunfold_with_a_full_covariance(smeared_case, k):
    response, signal, w2 = smeared_case
    n = len(w2)
    correlation = 0.3 ** np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    covariance = correlation * np.sqrt(np.outer(w2, w2))
    assert_same(
        U.svd_unfold(signal, covariance, response.matrix, response.truth, k),
        TSVD.svd_unfold(signal, covariance, response.matrix, response.truth, k),
    )


def test_unfold_dispatches_to_root_and_agrees_with_numpy_with_fakes(smeared_case):
    """Through unfold(): the same fake-subtracted spectrum reaches both backends."""
    response, _, _ = smeared_case
    measured = response.reco * 0.3
    assert U.resolve_backend("auto") in ("root", "roounfold")
    via_root = U.unfold(response, measured, k=4, backend="root")
    via_numpy = U.unfold(response, measured, k=4, backend="numpy")
    assert via_root.backend == "root"
    np.testing.assert_allclose(via_numpy.unfolded, via_root.unfolded, rtol=1e-6)
    np.testing.assert_allclose(via_numpy.uncertainty, via_root.uncertainty, rtol=1e-6)


def test_response_converts_to_root_histograms(smeared_case):
    response, _, _ = smeared_case
    histograms = response.to_root("conversion")
    matrix = histograms["response"]
    n = response.n_bins
    assert matrix.GetNbinsX() == n and matrix.GetNbinsY() == n
    i, j = 3, 4  # reco bin on x, truth bin on y
    assert matrix.GetBinContent(i + 1, j + 1) == response.matrix[i, j]
    assert histograms["truth"].Integral() == pytest.approx(response.truth.sum())
    assert histograms["fakes"].Integral() == pytest.approx(response.fakes.sum())
    assert histograms["measured"].GetBinError(2) == pytest.approx(np.sqrt(response.reco_w2[1]))


def test_tsvdunfold_toy_covariance_agrees_with_its_analytic_xtau(smeared_case):
    """ROOT's own toys (GetUnfoldCovMatrix) confirm the analytic X_τ our numpy code reproduces."""
    response, signal, w2 = smeared_case
    ROOT.gErrorIgnoreLevel = ROOT.kWarning
    n = len(w2)

    def th1(name, values, errors):
        h = ROOT.TH1D(name, name, n, 0, n)
        for b in range(n):
            h.SetBinContent(b + 1, values[b])
            h.SetBinError(b + 1, errors[b])
        return h

    bdat = th1("toy_bdat", signal, np.sqrt(w2))
    xini = th1("toy_xini", response.truth, np.zeros(n))
    bini = th1("toy_bini", response.matrix.sum(axis=1), np.zeros(n))
    adet = ROOT.TH2D("toy_adet", "", n, 0, n, n, 0, n)
    cov = ROOT.TH2D("toy_cov", "", n, 0, n, n, 0, n)
    for a in range(n):
        cov.SetBinContent(a + 1, a + 1, w2[a])
        for b in range(n):
            adet.SetBinContent(a + 1, b + 1, response.matrix[a, b])
    tsvd = ROOT.TSVDUnfold(bdat, bini, xini, adet)
    tsvd.Unfold(5)
    toys = tsvd.GetUnfoldCovMatrix(cov, 300)
    toy_sigma = np.sqrt([toys.GetBinContent(b + 1, b + 1) for b in range(n)])
    ours = U.svd_unfold(signal, w2, response.matrix, response.truth, 5)
    np.testing.assert_allclose(toy_sigma, ours.uncertainty, rtol=0.15)


def run_python(script: str, payload: str = "", **env) -> dict:
    """The JSON printed last by ``script`` run in a fresh interpreter with ``env`` added."""
    run = subprocess.run(
        [sys.executable, "-c", script],
        input=payload,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


ROOUNFOLD_SCRIPT = """
import json, sys
import numpy as np
import unfolding as U
data = json.load(sys.stdin)
response = U.Response(data["edges"])
response.matrix = np.array(data["matrix"]); response.matrix_w2 = response.matrix.copy()
response.truth = np.array(data["truth"]); response.truth_w2 = response.truth.copy()
response.reco = np.array(data["reco"]); response.reco_w2 = response.reco.copy()
result = U.unfold(response, np.array(data["measured"]), k=data["k"], backend="roounfold")
print(json.dumps({"unfolded": result.unfolded.tolist(), "uncertainty": result.uncertainty.tolist(),
                  "backend": result.backend}))
"""


def test_roounfold_backend_matches_numpy_in_its_own_process(smeared_case):
    """RooUnfoldSvd (where the user's ROOT has RooUnfold) unfolds as our numpy code does."""
    probe = "import json, unfolding as U; print(json.dumps(U.get_backend('auto').name))"
    if run_python(probe) != "roounfold":
        pytest.skip("RooUnfold is not available to this ROOT")
    response, _, _ = smeared_case
    assert response.fakes.sum() > 0
    measured = np.round(response.reco * 0.3)
    payload = {
        "edges": EDGES.tolist(),
        "matrix": response.matrix.tolist(),
        "truth": response.truth.tolist(),
        "reco": response.reco.tolist(),
        "measured": measured.tolist(),
        "k": 5,
    }
    roounfold = run_python(ROOUNFOLD_SCRIPT, json.dumps(payload))
    assert roounfold["backend"] == "roounfold"
    ours = U.unfold(response, measured, k=5, backend="numpy")
    np.testing.assert_allclose(roounfold["unfolded"], ours.unfolded, rtol=1e-6)
    np.testing.assert_allclose(roounfold["uncertainty"], ours.uncertainty, rtol=1e-6)


AVAILABILITY_SCRIPT = """
import json
import numpy as np
import unfolding as U
from unfolding.pyroot import root_module
from unfolding.roounfold_backend import roounfold_loaded
ROOT = root_module()
checks = {"roounfold": U.SVD_BACKENDS["roounfold"].available(),
          "root": U.SVD_BACKENDS["root"].available(), "auto": U.resolve_backend("auto")}
checks["loaded_after_checks"] = roounfold_loaded(ROOT)
response = U.Response([0, 1, 2]).fill([0.5, 1.5, 1.5], [0.5, 1.5, 0.5], [9, 7, 2])
for backend in ("root", "numpy"):
    checks[backend + "_unfolded"] = list(U.unfold(response, [8, 6], k=2, backend=backend).unfolded)
try:
    U.unfold(U.Response([0, 1, 2]).fill([0.5, 1.5], [0.5, 1.5]), [1, 1], k=1, backend="roounfold")
except U.UnfoldingError as error:
    checks["roounfold_error"] = str(error)
checks["loaded_after_roounfold"] = roounfold_loaded(ROOT)
print(json.dumps(checks))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="builds a Linux shared library")
def test_availability_check_loads_nothing_through_the_rootmap(tmp_path):
    """A stand-in libRooUnfold with a rootmap, as a RooUnfold build installs it on LD_LIBRARY_PATH:
    PyROOT would autoload it on ``hasattr(ROOT, "RooUnfoldSvd")``; our checks must not."""
    compiler = shutil.which("c++") or shutil.which("g++")
    if compiler is None:
        pytest.skip("no C++ compiler to build a stand-in libRooUnfold")
    source = tmp_path / "stand_in.cxx"
    source.write_text('extern "C" int nuanalysis_stand_in() { return 0; }\n')
    library = tmp_path / "libRooUnfold.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    (tmp_path / "libRooUnfold.rootmap").write_text(
        "[ libRooUnfold.so ]\nclass RooUnfoldSvd\nclass RooUnfoldResponse\n"
    )
    path = f"{tmp_path}:{os.environ.get('LD_LIBRARY_PATH', '')}"
    autoload = (
        "import ROOT, json; hasattr(ROOT, 'RooUnfoldSvd'); "
        "print(json.dumps(ROOT.gSystem.GetLibraries()))"
    )
    assert str(library) in run_python(autoload, LD_LIBRARY_PATH=path)  # the premise
    checks = run_python(AVAILABILITY_SCRIPT, LD_LIBRARY_PATH=path)
    assert checks["roounfold"] and checks["root"] and checks["auto"] == "roounfold"
    assert not checks["loaded_after_checks"]
    np.testing.assert_allclose(checks["root_unfolded"], checks["numpy_unfolded"], rtol=1e-6)
    # the stand-in has no RooUnfold classes: loaded explicitly, then refused clearly
    assert "knows no RooUnfoldSvd" in checks["roounfold_error"]
    assert checks["loaded_after_roounfold"]
