"""Oversampled templates: every posterior draw of an event enters at weight 1/S.

A flow's posterior (``flow-posterior``, :mod:`nuanalysis.posterior`) gives S
neutrino solutions per event. Instead of one point per event, a histogram can
take all S at weight w/S (ν²-Flows talk, "oversampled templates";
arXiv:2307.02405): the template keeps the normalisation of the events, and its
shape is the posterior-averaged one.

The draws of one event are not independent events, so the sum of their
squared weights would understate the variance. An event i adds the vector
f_i = w_i (n_ib / S)_b to the bins (n_ib of its draws in bin b); events are
independent and Poisson-distributed in number, so the covariance of the
template is Σ_i f_i f_iᵀ — a full matrix, off-diagonal where an event's draws
straddle bins. With S = 1 (or all draws in one bin) it is the usual Σ w² on
the diagonal.
"""

from __future__ import annotations

import numpy as np

from nuanalysis.candidates import b_jet_candidates
from nuanalysis.errors import InputError
from nuanalysis.observables import mtt_ptt, pair_tops
from nuanalysis.padded import PaddedEvents
from nuanalysis.posterior import Posterior
from unfolding import Response


def event_fractions(bin_index: np.ndarray, n_bins: int, weight: np.ndarray) -> np.ndarray:
    """(n, n_bins) f_i: each event's weight spread over the bins of its S draws.

    ``bin_index`` (n, S) flat bin of each draw, -1 outside the binning (a miss).
    """
    bin_index = np.asarray(bin_index)
    if bin_index.ndim != 2:
        raise InputError(f"bin indices must be (n_events, n_draws), got {bin_index.shape}")
    n, n_draws = bin_index.shape
    fractions = np.zeros((n, n_bins))
    rows = np.repeat(np.arange(n), n_draws)
    inside = bin_index.ravel() >= 0
    np.add.at(fractions, (rows[inside], bin_index.ravel()[inside]), 1.0 / n_draws)
    return fractions * np.asarray(weight, dtype=np.float64)[:, None]


def draw_fractions(
    response: Response, coordinates: tuple[np.ndarray, ...], valid: np.ndarray, weight
) -> np.ndarray:
    """:func:`event_fractions` of draws given as one (n, S) array per axis of ``response``;
    ``valid`` (n,) False: the event is a miss."""
    n, n_draws = coordinates[0].shape
    flat = tuple(np.asarray(c, dtype=np.float64).ravel() for c in coordinates)
    index = response.flat_index(flat, np.repeat(np.asarray(valid, dtype=bool), n_draws))
    return event_fractions(index.reshape(n, n_draws), response.n_bins, weight)


def oversampled_template(fractions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The template Σ_i f_i and its covariance Σ_i f_i f_iᵀ (module docstring)."""
    return fractions.sum(axis=0), fractions.T @ fractions


def posterior_observables(
    events: PaddedEvents, posterior: Posterior
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(n, S) m_tt and pT_t of every draw (each paired by the top-mass χ² of
    :func:`nuanalysis.observables.top_mass_pairing`) and the (n,) events with two b candidates."""
    candidates, has_two = b_jet_candidates(events)
    n, n_draws = posterior.draws.shape[:2]

    def repeat(array: np.ndarray) -> np.ndarray:
        return np.repeat(array, n_draws, axis=0)

    top, antitop, _ = pair_tops(
        repeat(events.lepton_pos),
        repeat(events.lepton_neg),
        repeat(candidates),
        posterior.draws.reshape(n * n_draws, 2, 3),
    )
    mtt, ptt = mtt_ptt(top, antitop)
    return mtt.reshape(n, n_draws), ptt.reshape(n, n_draws), has_two


def fill_oversampled(
    response: Response,
    reco: tuple[np.ndarray, np.ndarray],
    truth: tuple[np.ndarray, np.ndarray],
    weight: np.ndarray,
    valid: np.ndarray,
) -> Response:
    """Fill ``response`` with every draw at weight w/S: ``reco`` (n, S) per axis, ``truth``
    (n,) per axis, ``valid`` (n,) (False: a miss for all draws)."""
    n_draws = reco[0].shape[1]
    flat_truth = tuple(np.repeat(t, n_draws) for t in truth)
    flat_reco = tuple(np.asarray(r).ravel() for r in reco)
    return response.fill(
        flat_reco,
        flat_truth,
        np.repeat(np.asarray(weight, dtype=np.float64) / n_draws, n_draws),
        reco_valid=np.repeat(valid, n_draws),
    )
