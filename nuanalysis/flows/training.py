"""The training loop of ν-Flows and ν-FF (paper §3.2).

Adam with default β, batch 256, a cosine schedule that cycles the learning
rate from zero to its maximum and back every ``cycle_epochs`` epochs, gradient
clipping at an L2 norm of 5, 10 % of the sample held out for validation, early
stopping with a patience, and the best-validation weights kept. After every
epoch the whole state (weights, optimiser, schedule, history, best weights)
goes to a checkpoint file, so an interrupted training resumes where it stopped.

Dilepton models can also be trained with charge-conjugation augmentation: in
every batch, a random half of the events is replaced by its charge conjugate
(ℓ⁺ ↔ ℓ⁻ with ν ↔ ν̄: the lepton charges flip and the two neutrino targets swap),
a symmetry of tt̄ → bℓ⁺ν b̄ℓ⁻ν̄ up to the b / b̄ jets, which the features do not
tell apart. It is a training option; the model itself is unchanged.

References: M. Leigh, J. A. Raine, K. Zoch and T. Golling, "ν-Flows: Conditional neutrino
regression", SciPost Phys. 14, 159 (2023), https://arxiv.org/abs/2207.00664 ("the paper").
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from nuanalysis.errors import InputError, ModelError
from nuanalysis.flows.encoder import EventModel
from nuanalysis.flows.features import (
    LEPTON_FEATURES,
    TARGET_FEATURES,
    EventFeatures,
    event_features,
    neutrino_targets,
)
from nuanalysis.flows.model_io import load_plain_data
from nuanalysis.flows.presets import Training
from nuanalysis.outputs import atomic_file
from nuanalysis.padded import PaddedEvents
from nuanalysis.progress import progress_bar


@dataclass
class TrainingResult:
    """What a training run did (stored in the model file's metadata)."""

    epochs: int
    best_epoch: int
    best_valid_loss: float
    n_train: int
    n_valid: int
    seconds: float
    stopped_early: bool
    history: list[dict[str, float]] = field(default_factory=list)

    def summary(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "history"}


def training_arrays(events: PaddedEvents) -> tuple[EventFeatures, np.ndarray]:
    """Table 1 features and (px, py, η) targets of simulated events."""
    if events.truth_nu is None:
        raise InputError("training needs the truth_nu_* branches, which this input lacks")
    targets = neutrino_targets(events.truth_nu)
    if not np.isfinite(targets).all():
        bad = np.flatnonzero(~np.isfinite(targets).all(axis=1))
        raise InputError(f"non-finite truth neutrinos in {len(bad)} events, first at {bad[0]}")
    return event_features(events), targets


def charge_conjugate(
    features: EventFeatures, targets: torch.Tensor, flip: torch.Tensor
) -> tuple[EventFeatures, torch.Tensor]:
    """Dilepton torch batch with the events where ``flip`` (B,) is True charge-conjugated.

    Lepton momenta stay (the leptons keep their pT order), their charges change
    sign, and ν (from W⁺) and ν̄ (from W⁻) swap: the new ν is the old ν̄.
    """
    charge = LEPTON_FEATURES["dilepton"].index("charge")
    leptons = features.leptons.clone()
    leptons[..., charge] = torch.where(flip[:, None], -leptons[..., charge], leptons[..., charge])
    n = len(TARGET_FEATURES)
    swapped = torch.cat([targets[:, n:], targets[:, :n]], dim=1)
    conjugated = EventFeatures(
        features.met, leptons, features.jets, features.jet_mask, features.misc
    )
    return conjugated, torch.where(flip[:, None], swapped, targets)


def cosine_cycle(step: int, steps_per_cycle: int) -> float:
    """Learning-rate factor: 0 → 1 → 0 over each cycle (§3.2: 0 → 5·10⁻⁴ → 0 every 2 epochs)."""
    phase = (step % steps_per_cycle) / steps_per_cycle
    return 0.5 * (1.0 - math.cos(2.0 * math.pi * phase))


def split_indices(
    n: int, validation_fraction: float, seed: int, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled train and hold-out indices.

    With ``groups`` (one label per event, e.g. the Pythia event of each re-smeared
    copy), whole groups go to one side, so that the hold-out shares no group with
    the training events; it then holds about ``validation_fraction`` of them.
    """
    if n < 2:
        raise InputError(f"need at least 2 events to train, got {n}")
    n_valid = min(max(1, round(validation_fraction * n)), n - 1)
    rng = np.random.default_rng(seed)
    if groups is None or len(np.unique(groups)) < 2:
        order = rng.permutation(n)
        return np.sort(order[n_valid:]), np.sort(order[:n_valid])
    labels, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    shuffled = rng.permutation(len(labels))
    n_groups = int(np.searchsorted(np.cumsum(counts[shuffled]), n_valid) + 1)
    held = np.zeros(len(labels), dtype=bool)
    held[shuffled[: min(n_groups, len(labels) - 1)]] = True
    valid = held[inverse]
    return np.flatnonzero(~valid), np.flatnonzero(valid)


def _mean_loss(model: EventModel, features: EventFeatures, targets: torch.Tensor, batch: int):
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(targets), batch):
            part = slice(start, start + batch)
            loss = model.loss(features.select(part), targets[part])
            total += float(loss) * len(targets[part])
            count += len(targets[part])
    return total / count


CHECKPOINT_KEYS = (
    "config",
    "model",
    "optimiser",
    "scheduler",
    "history",
    "best",
    "bad_epochs",
    "epoch",
    "seconds",
    "data",
)


def data_identity(
    features: EventFeatures,
    targets: np.ndarray,
    seed: int,
    groups: np.ndarray | None = None,
    sources: Sequence[str] = (),
) -> dict:
    """What a resumed training must see again to continue the same fit: the input files
    (``sources``), the number of events, the seed of the hold-out split and a SHA-256
    digest of the features, targets and ``groups`` (the events themselves)."""
    digest = hashlib.sha256()
    arrays = [getattr(features, part.name) for part in dataclasses.fields(features)] + [targets]
    for array in arrays + ([] if groups is None else [groups]):
        digest.update(np.ascontiguousarray(array).tobytes())
    return {
        "inputs": [str(source) for source in sources],
        "n_events": len(targets),
        "seed": seed,
        "digest": digest.hexdigest(),
    }


def check_same_data(checkpoint: Path, saved: dict, now: dict) -> None:
    """Refuse to resume ``checkpoint`` (trained on ``saved``) on other data (``now``), naming
    the first difference: its epochs and best weights were judged on another hold-out set."""
    if saved["inputs"] != now["inputs"]:
        difference = (
            f"was trained on {', '.join(saved['inputs']) or '?'}, "
            f"this call reads {', '.join(now['inputs']) or '?'}"
        )
    elif saved["n_events"] != now["n_events"]:
        difference = (
            f"was trained on {saved['n_events']} events, this call reads {now['n_events']} "
            "(another --max-events?)"
        )
    elif saved["seed"] != now["seed"]:
        difference = f"was split with --seed {saved['seed']}, this call uses --seed {now['seed']}"
    elif saved["digest"] != now["digest"]:
        difference = "was trained on other events than the input files hold now"
    else:
        return
    raise ModelError(
        f"cannot resume: checkpoint {checkpoint} {difference}; resume with the same data, or "
        "train without --resume"
    )


def read_checkpoint(checkpoint: Path) -> dict:
    """The training state of ``checkpoint``; a clear ModelError if it is missing, damaged or
    holds anything but tensors and plain data (it is loaded like a model file, running no code:
    :func:`~nuanalysis.flows.model_io.load_plain_data`)."""
    if not checkpoint.is_file():
        raise ModelError(f"cannot resume: checkpoint {checkpoint} does not exist")
    try:
        state = load_plain_data(checkpoint, "training checkpoint")
    except ModelError as error:
        raise ModelError(
            f"cannot resume: {error}; or delete it and train without --resume"
        ) from None
    missing = [key for key in CHECKPOINT_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise ModelError(
            f"cannot resume: {checkpoint} is not a training checkpoint of this nuanalysis "
            f"(no {', '.join(missing)}); delete it and train without --resume"
        )
    return state


def train(
    model: EventModel,
    features: EventFeatures,
    targets: np.ndarray,
    settings: Training,
    checkpoint: str | Path,
    resume: bool = False,
    epochs: int | None = None,
    max_seconds: float | None = None,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    fit_scalers: bool = True,
    charge_conjugation: bool = False,
    groups: np.ndarray | None = None,
    sources: Sequence[str] = (),
) -> TrainingResult:
    """Train ``model`` in place on numpy ``features``/``targets``; returns what happened.

    Scalers are fitted on the training split (not the hold-out), unless
    ``fit_scalers`` is False (fine-tuning a trained model keeps its own). ``checkpoint``
    is rewritten after each epoch; with ``resume=True`` training continues from
    it. ``epochs`` overrides the preset's maximum; ``max_seconds`` stops this
    call after the epoch that exceeds the time budget (a later resume goes on).
    The best-validation weights are loaded into ``model`` at the end.
    ``charge_conjugation`` (dilepton only) augments every batch (module docstring).
    ``groups`` keeps related events (re-smeared copies) on one side of the hold-out split.
    ``sources`` names the input files; a resume on other files, events or seed is refused
    (:func:`check_same_data`).
    """
    if charge_conjugation and model.channel != "dilepton":
        raise ModelError("charge-conjugation augmentation needs a dilepton model")
    checkpoint = Path(checkpoint)
    max_epochs = int(epochs if epochs is not None else settings.epochs)
    train_index, valid_index = split_indices(
        len(targets), settings.validation_fraction, seed, groups
    )
    data = data_identity(features, targets, seed, groups, sources)
    state = None
    if resume:
        state = read_checkpoint(checkpoint)
        if state["config"] != model.config():
            raise ModelError(f"checkpoint {checkpoint} belongs to a differently configured model")
        check_same_data(checkpoint, state["data"], data)
        model.load_state_dict(state["model"])
    elif fit_scalers:
        model.fit_scalers(features.select(train_index), targets[train_index])
    model.to(device)

    train_features = features.select(train_index).to_torch(device)
    valid_features = features.select(valid_index).to_torch(device)
    train_targets = torch.as_tensor(targets[train_index], dtype=torch.float32, device=device)
    valid_targets = torch.as_tensor(targets[valid_index], dtype=torch.float32, device=device)
    batch = settings.batch_size
    steps_per_epoch = math.ceil(len(train_index) / batch)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    steps_per_cycle = max(1, int(settings.cycle_epochs * steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: cosine_cycle(step, steps_per_cycle)
    )
    history: list[dict[str, float]] = []
    best = {"loss": math.inf, "epoch": -1, "weights": copy.deepcopy(model.state_dict())}
    bad_epochs, start_epoch, seconds, session = 0, 0, 0.0, 0.0
    if state is not None:
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        history, best, bad_epochs = state["history"], state["best"], state["bad_epochs"]
        start_epoch, seconds = state["epoch"] + 1, state["seconds"]

    bar = progress_bar(
        iterable=range(start_epoch, max_epochs),
        disable=not progress,
        unit="epoch",
        initial=start_epoch,
        total=max_epochs,
    )
    for epoch in bar:
        if bad_epochs >= settings.patience or (max_seconds is not None and session > max_seconds):
            break
        started = time.perf_counter()
        model.train()
        generator = torch.Generator().manual_seed(seed * 100003 + epoch)
        order = torch.randperm(len(train_targets), generator=generator).to(device)
        total, count = 0.0, 0
        for start in range(0, len(order), batch):
            index = order[start : start + batch]
            batch_features, batch_targets = train_features.select(index), train_targets[index]
            if charge_conjugation:
                flip = torch.rand(len(index), generator=generator).to(device) < 0.5
                batch_features, batch_targets = charge_conjugate(
                    batch_features, batch_targets, flip
                )
            loss = model.loss(batch_features, batch_targets)
            if not torch.isfinite(loss):
                raise ModelError(f"training diverged: non-finite loss at epoch {epoch}")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.clip_norm)
            optimiser.step()
            scheduler.step()
            total += loss.item() * len(index)
            count += len(index)
        model.eval()
        valid_loss = _mean_loss(model, valid_features, valid_targets, 4 * batch)
        session += time.perf_counter() - started
        seconds += time.perf_counter() - started
        history.append({"epoch": epoch, "train_loss": total / count, "valid_loss": valid_loss})
        if valid_loss < best["loss"]:
            best = {
                "loss": valid_loss,
                "epoch": epoch,
                "weights": copy.deepcopy(model.state_dict()),
            }
            bad_epochs = 0
        else:
            bad_epochs += 1
        bar.set_postfix(
            train=f"{total / count:.4f}", valid=f"{valid_loss:.4f}", best=f"{best['loss']:.4f}"
        )
        with atomic_file(checkpoint) as partial:
            torch.save(
                {
                    "config": model.config(),
                    "model": model.state_dict(),
                    "optimiser": optimiser.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "history": history,
                    "best": best,
                    "bad_epochs": bad_epochs,
                    "epoch": epoch,
                    "seconds": seconds,
                    "data": data,
                },
                partial,
            )
    bar.close()
    model.load_state_dict(best["weights"])
    model.eval()
    return TrainingResult(
        epochs=len(history),
        best_epoch=best["epoch"],
        best_valid_loss=best["loss"],
        n_train=len(train_index),
        n_valid=len(valid_index),
        seconds=seconds,
        stopped_early=bad_epochs >= settings.patience,
        history=history,
    )
