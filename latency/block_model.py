"""A learned block-latency model for the layers a LUT has not measured (per context).

A search space has tens of thousands of candidate layers (``fbnetv2-f``: ~23 k); measuring every one
takes hours per runtime. Instead (:func:`learn_block_latency`):

1. measure a *designed* sample (:func:`design_sample`): every layer kind / kernel / SE / activation /
   stride, each at the corners and the middle of its channel x resolution grid, then random layers;
2. fit per-context predictors on features of the layer shape (:func:`features`: MACs, bytes moved,
   weights, channels, HxW, kernel, stride, SE, activation, kind) and keep the one with the lowest
   k-fold held-out RMSPE (:func:`fit_block_model`). The existing neighbour interpolation
   (:mod:`latency.interpolate`) competes too and is kept only if it wins;
3. *actively* measure the layers the model is least sure of (spread of a bootstrap ensemble) until the
   held-out error stops improving or the time budget is spent;
4. store the prediction of every unmeasured layer as a ``predicted`` entry (model version, relative
   uncertainty). ``LUT`` uses measured entries where present, predicted ones otherwise, and says how
   many of each.

Latencies are in the LUT's nominal units (drift-reference normalized), so the model never learns the
device's slow stretches.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from latency.interpolate import InterpolationError, interpolate_ms
from latency.keys import BlockKey, Context
from search.arch import Act, LayerKind

log = logging.getLogger(__name__)

FEATURE_VERSION = 1
MODELS = ("linear", "forest", "boosting", "interpolation")
_KINDS = (LayerKind.STEM, LayerKind.IR, LayerKind.HEAD)
_ACTS = tuple(Act)


def features(keys: Sequence[BlockKey]) -> np.ndarray:
    """One row per key: log and linear shape terms, and one-hot categories (see module docstring)."""
    rows = []
    for k in keys:
        la = k.to_layer()
        in_e = k.in_ch * k.in_hw * k.in_hw
        out_e = k.out_ch * la.out_hw * la.out_hw
        mid_e = k.mid_ch * (k.in_hw * k.in_hw + la.out_hw * la.out_hw) if k.kind is LayerKind.IR else 0
        moved = in_e + out_e + mid_e + la.params  # elements read or written once: activations + weights
        rows.append(
            [
                math.log1p(la.macs),
                math.log1p(la.params),
                math.log1p(moved),
                math.log1p(k.in_ch),
                math.log1p(k.mid_ch),
                math.log1p(k.out_ch),
                math.log1p(k.in_hw),
                math.log1p(la.out_hw),
                la.macs / 1e6,
                moved / 1e6,
                la.params / 1e6,
                float(k.kernel),
                float(k.stride),
                float(k.se),
                *[float(k.act is a) for a in _ACTS],
                *[float(k.kind is c) for c in _KINDS],
            ]
        )
    return np.asarray(rows, dtype=np.float64).reshape(len(keys), -1)


_LINEAR_COLS = slice(8, 11)  # MACs, moved, weights (millions)
_CAT_COLS = slice(11, None)


class _Linear:
    """Non-negative least squares on relative error over :func:`_linear_design` terms."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> _Linear:
        from sklearn.linear_model import LinearRegression

        self._cats = np.ptp(x[:, _CAT_COLS], axis=0) > 0
        self.m = LinearRegression(positive=True).fit(self._design(x), y, sample_weight=1.0 / np.square(y))
        return self

    def _design(self, x: np.ndarray) -> np.ndarray:
        lin, cats = x[:, _LINEAR_COLS], x[:, _CAT_COLS][:, self._cats]
        blocks = [lin, np.ones((len(x), 1))]
        for j in range(cats.shape[1]):
            blocks += [lin * cats[:, j : j + 1], cats[:, j : j + 1]]
        return np.hstack(blocks)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(self.m.predict(self._design(x)), 1e-6)


class _LogTarget:
    """A scikit-learn regressor fitted on log latency (relative errors weigh alike at every scale)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make

    def fit(self, x: np.ndarray, y: np.ndarray) -> _LogTarget:
        self.m = self.make().fit(x, np.log(y))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self.m.predict(x))


def _factory(name: str, seed: int) -> Callable[[], Any]:
    from sklearn.ensemble import ExtraTreesRegressor, GradientBoostingRegressor

    if name == "linear":
        return _Linear
    if name == "forest":
        return lambda: _LogTarget(
            lambda: ExtraTreesRegressor(100, min_samples_leaf=1, random_state=seed, n_jobs=1)
        )
    if name == "boosting":
        return lambda: _LogTarget(
            lambda: GradientBoostingRegressor(
                n_estimators=150, max_depth=3, learning_rate=0.1, subsample=0.8, random_state=seed
            )
        )
    raise ValueError(f"unknown block model {name!r}; choose from {', '.join(MODELS)}")


def _interp_predict(train: Mapping[BlockKey, float], keys: Sequence[BlockKey], ctx: Context) -> np.ndarray:
    out = []
    for k in keys:
        try:
            out.append(interpolate_ms(k, train, ctx))
        except InterpolationError:
            out.append(float("nan"))  # cannot predict it at all: scored as a 100% error
    return np.asarray(out)


def rmspe_pct(pred: np.ndarray, true: np.ndarray) -> float:
    rel = np.where(np.isfinite(pred), (pred - true) / true, 1.0)
    return float(100 * np.sqrt(np.mean(np.square(rel))))


@dataclass
class BlockModel:
    """The chosen predictor of one context, with its bootstrap ensemble for uncertainty."""

    name: str
    version: str
    heldout_rmspe_pct: float  # k-fold held-out RMSPE of the chosen model on the measured layers
    scores: dict[str, float]  # held-out RMSPE of every candidate
    n_train: int
    context: Context
    train: dict[BlockKey, float] = field(repr=False, default_factory=dict)
    members: list[Any] = field(repr=False, default_factory=list)

    def predict(self, keys: Sequence[BlockKey]) -> tuple[np.ndarray, np.ndarray]:
        """(latency in nominal ms, relative uncertainty = ensemble std / mean) for every key."""
        if not keys:
            return np.zeros(0), np.zeros(0)
        if self.name == "interpolation":
            return _interp_predict(self.train, keys, self.context), np.full(len(keys), np.nan)
        x = features(keys)
        preds = np.stack([m.predict(x) for m in self.members])
        mean = preds[0]  # member 0 is fitted on every measured layer; the others are bootstrap refits
        spread = preds[1:].std(axis=0) / mean if len(preds) > 2 else np.full(len(keys), np.nan)
        return mean, spread


def fit_block_model(
    entries: Mapping[BlockKey, float],
    context: Context,
    models: Sequence[str] = MODELS,
    folds: int = 5,
    ensemble: int = 6,
    seed: int = 0,
) -> BlockModel:
    """Score every candidate by ``folds``-fold held-out RMSPE on ``entries`` (measured, nominal ms), keep
    the best, refit it on all of them plus ``ensemble`` bootstrap refits (its uncertainty)."""
    keys = sorted(entries)
    if len(keys) < max(folds, 4):
        raise ValueError(f"a block model needs at least {max(folds, 4)} measured layers, got {len(keys)}")
    y = np.array([entries[k] for k in keys], dtype=np.float64)
    x = features(keys)
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(keys)) % folds
    scores: dict[str, float] = {}
    for name in models:
        pred = np.full(len(keys), np.nan)
        for f in range(folds):
            tr, te = fold != f, fold == f
            if name == "interpolation":
                train = {keys[i]: y[i] for i in np.flatnonzero(tr)}
                pred[te] = _interp_predict(train, [keys[i] for i in np.flatnonzero(te)], context)
            else:
                pred[te] = _factory(name, seed)().fit(x[tr], y[tr]).predict(x[te])
        scores[name] = rmspe_pct(pred, y)
    best = min(scores, key=lambda n: scores[n])
    members: list[Any] = []
    if best != "interpolation":
        members.append(_factory(best, seed)().fit(x, y))
        for b in range(ensemble):
            idx = rng.integers(0, len(keys), len(keys))
            members.append(_factory(best, seed + 1 + b)().fit(x[idx], y[idx]))
    digest = hashlib.sha256(repr((best, FEATURE_VERSION, keys, y.round(9).tolist())).encode()).hexdigest()[
        :10
    ]
    log.info(
        "block model for %s: %s (held-out RMSPE %s)",
        context.label(),
        best,
        ", ".join(f"{n} {s:.1f}%" for n, s in scores.items()),
    )
    return BlockModel(
        best,
        f"{best}-f{FEATURE_VERSION}-{digest}",
        scores[best],
        scores,
        len(keys),
        context,
        dict(zip(keys, y.tolist(), strict=True)),
        members,
    )


def design_sample(keys: Sequence[BlockKey], n: int, seed: int = 0) -> list[BlockKey]:
    """``n`` keys (deterministic for a seed): first, for every layer type (kind, kernel, SE, activation,
    stride), the smallest layer at its lowest resolution and the largest at its highest; then the other
    corners and the middle of each type's channel x resolution grid; then random keys."""
    groups: dict[tuple[object, ...], list[BlockKey]] = {}
    for k in keys:
        groups.setdefault((k.kind, k.kernel, k.se, k.act, k.stride), []).append(k)
    tiers: list[list[BlockKey]] = [[], [], []]
    for members in groups.values():
        res = sorted({k.in_hw for k in members})

        def at(r: int, members: list[BlockKey] = members) -> list[BlockKey]:
            return sorted(
                (k for k in members if k.in_hw == r), key=lambda k: (k.in_ch + k.mid_ch + k.out_ch, k)
            )

        lo, mid, hi = at(res[0]), at(res[len(res) // 2]), at(res[-1])
        tiers[0] += [lo[0], hi[-1]]
        tiers[1] += [lo[-1], hi[0]]
        tiers[2] += [lo[len(lo) // 2], mid[0], mid[len(mid) // 2], mid[-1], hi[len(hi) // 2]]
    chosen: dict[BlockKey, None] = {}
    for tier in tiers:
        for k in tier:
            if len(chosen) < n:
                chosen.setdefault(k, None)
    rest = [k for k in keys if k not in chosen]
    rng = np.random.default_rng(seed)
    for i in rng.permutation(len(rest))[: max(0, n - len(chosen))]:
        chosen.setdefault(rest[int(i)], None)
    return list(chosen)


def most_uncertain(model: BlockModel, keys: Sequence[BlockKey], n: int, seed: int = 0) -> list[BlockKey]:
    """The ``n`` keys with the largest relative ensemble spread (random when the model has none)."""
    if not keys or n <= 0:
        return []
    _, spread = model.predict(keys)
    if np.all(np.isnan(spread)):
        order = np.random.default_rng(seed).permutation(len(keys))
    else:
        order = np.argsort(-np.nan_to_num(spread, nan=0.0), kind="stable")
    return [keys[int(i)] for i in order[:n]]
