"""Boundary correction: what a layer pays only because it was timed on its own.

A layer timed alone pays one runtime invocation (``call_ms``) and moves its input and output across
the runtime boundary (layout conversion / copies, ``io_ms_per_melem`` per million elements). Inside
a whole model the invocation is paid once and inner tensors never cross the boundary, so::

    cost(layer) = measured(layer) - call_ms - io_ms_per_melem * (inner boundary elements) / 1e6
    latency(arch) = sum cost(layer) + call_ms

where the stem keeps its input and the head its output (the whole model moves those too). The two
coefficients are fitted per context by weighted least squares (relative error) on whole models
measured on the same runtime (:func:`fit_correction`), and stored next to the LUT with the data they
were fitted on. ``Correction.none()`` is the plain sum.

Optional cache-spill term (``fit_correction(..., weights=True)``): a layer timed alone keeps its
weights hot in cache; a whole model whose weights exceed what the caches keep streams the excess on
every inference. Measured on the host (ExecuTorch fp32, 64 px zoo models), the gap is ~0 for a 1.5 M
weight model and 0.07-0.1 ms per million weights above that, while blocks re-timed with an evicted L2
or L3 bracket it on both sides - so it is modelled as a hinge fitted on whole models:
``spill = weight_ms_per_mparam * max(0, model_mparams - free_mparams)``, shared among the layers by
their weights. The correction is per context, so int8 (a quarter of the bytes) gets its own knot.

At real scale (ExecuTorch fp32, 2-5 ms models of 2.5-10 M weights on a 32 MB L3) the gap has another
shape, a *cliff*: ~0 up to ~5 M weights, then ~0.07 ms per million of *all* the model's weights (a
cyclic sweep over more weights than the cache holds misses on nearly every weight, not only on the
excess). ``spill_shape="cliff"`` models that as ``weight_ms_per_mparam * model_mparams * ramp``, the
ramp rising from 0 at ``free_mparams`` to 1 at ``full_mparams`` (a step when they are equal). Which
shape a context gets is chosen by leave-one-out error on its calibration models
(:func:`select_correction`); either knot can only be placed between calibration models on both sides
of it, hence calibration models spread over the sizes users' models have.

Which weights spill is a choice too (``spill_cap_mparams``): a layer whose weights exceed the cache on
their own already streams them when timed alone, so its LUT entry holds that cost and only the layers
that fit alone pay more inside a model. Measured layer by layer (``benchmarks/inmodel_gap.py``,
ExecuTorch fp32, real scale, 16 MiB-L3 AMD VM): the 4-5 M-weight heads of ``fbnetv2-f`` children ran
0.01-0.09 ms per M weights slower inside their models than alone, the 1.7 M-weight heads of MnasNet,
MobileNetV2 and EfficientNet 0.13-0.21 - and a spill spread over all weights, fitted on the children,
put MnasNet-A1 10-18% low. :func:`select_fit` may therefore count the spill only on the layers of at
most one of :data:`SPILL_CAPS_MB` (bytes per layer: 4 per fp32 weight, 1 per int8), when that cuts the
calibration models' leave-one-out error by 10%; the spill's knots, its shares and the search's expected
weights then all count those layers only.

Optional squeeze-excitation term (``se_ms``, chosen by :func:`select_fit` on leave-one-out error): an SE
layer timed alone can save more inside a whole model than its call and I/O terms say (which part of the
runtime pays it was not isolated; the whole-model readings show it). Measured on the 2-core AMD VM
(16 MiB L3, a fresh-clone demo's ExecuTorch int8 LUT, 12 calibration models at 24-32 px): with call and
I/O terms only the space's children (no or one SE layer) came out 1-9% low and MobileNetV3-Small (8-9 SE
layers) 5-8% high, leave-one-out RMSPE 6.0%; with 2.8 us per SE layer 1.8%, and the demo's five scored
models moved from -4..+9% to -0.4..+2.5% (``benchmarks/demo_refit.py``). On the toy lut_accuracy runs
34-36 it was chosen for ExecuTorch fp32 and int8 and cut the validation models' RMSPE in all six; at real
scale (runs 31-33) it was never chosen (``benchmarks/fit_rescore.py``).

A whole-model measurement taken in a slow (or fast) stretch of the device pulls a least-squares fit of a
handful of models far off: in a fresh-clone demo on the 2-core VM one LiteRT calibration model of nine
read 33% off the others' fit, and the fit it dragged put the searched models 9-11% low.
:func:`select_correction` therefore leaves out, one at a time, the model whose residual lies furthest
from the others' (more than 3 robust standard deviations and 10%) and refits, at most a quarter of the
models; the correction keeps them as ``outliers`` and says so in its ``method``. A residual alone cannot
tell a bad reading from a sound one the spill shape cannot follow: another demo's rule set aside the two
LiteRT calibration models that place the cache cliff, and the cliff refitted without them put three
baselines 24-46% low. Given a way to time a suspect again (``reread``; :func:`latency.validate.validate`
gives one), only a model whose second reading does not reproduce its first is set aside.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import combinations
from pathlib import Path

import numpy as np

from latency.keys import Context
from search.arch import LayerKind, LayerShape


@dataclass(frozen=True)
class CalibrationModel:
    """A whole model measured for the fit: its arch string, the LUT entries of its layers and its latency."""

    arch: str
    whole_ms: float
    entries_ms: tuple[float, ...]
    inner_melems: float  # sum over layers of boundary elements (millions) per the rule above
    n_layers: int  # measured (non-skip) layers
    mparams: float = 0.0  # weights of the measured layers, millions
    layer_mparams: tuple[float, ...] = ()  # weights of each measured layer, millions (for a spill cap)
    n_se: int = 0  # measured layers with squeeze-excitation (for a per-SE-layer boundary cost)

    def spill_mparams(self, cap: float = 0.0) -> float:
        """Weights (millions) of the layers of at most ``cap`` million weights each (0: every layer):
        what a correction with that spill cap prices (see :attr:`Correction.spill_cap_mparams`)."""
        if cap <= 0 or not self.layer_mparams:
            return self.mparams
        return sum(w for w in self.layer_mparams if w <= cap)


@dataclass(frozen=True)
class Correction:
    call_ms: float = 0.0
    io_ms_per_melem: float = 0.0
    method: str = "none"
    weight_ms_per_mparam: float = 0.0  # cache spill: ms per million model weights above free_mparams
    models: tuple[CalibrationModel, ...] = field(default=(), compare=False)
    free_mparams: float = 0.0  # weights (millions) a whole model keeps cache-resident (the hinge's knot)
    spill_shape: str = "hinge"  # "hinge" (the excess spills) | "cliff" (all weights, past a ramp)
    full_mparams: float = 0.0  # cliff: weights (millions) from which every weight spills
    outliers: tuple[CalibrationModel, ...] = field(default=(), compare=False)  # measured, left out of the fit
    # the drift reference's typical level the fit's nominal units were taken against (LUT.from_store;
    # 0: not recorded - a correction saved before it was)
    ratio_center: float = 0.0
    # the cache spill counts only the weights of layers of at most this many million weights each (0: all)
    spill_cap_mparams: float = 0.0
    # what a squeeze-excitation layer pays alone beyond the call and I/O terms (ms per SE layer; 0: none)
    se_ms: float = 0.0

    @staticmethod
    def none() -> Correction:
        return Correction()

    def spill_weights(self, layer_mparams: float) -> float:
        """The weights (millions) of one layer that the cache spill prices: all of them, or none for a
        layer above the spill cap (its LUT entry already paid for streaming them; module docstring)."""
        cap = self.spill_cap_mparams
        return layer_mparams if cap <= 0 or layer_mparams <= cap else 0.0

    def layer_spill_mparams(self, layers: Iterable[LayerShape]) -> list[float]:
        """:meth:`spill_weights` of each layer (0 for a skip, which is not measured)."""
        return [0.0 if la.kind is LayerKind.SKIP else self.spill_weights(la.params / 1e6) for la in layers]

    def model_spill_mparams(self, layers: Iterable[LayerShape]) -> float:
        """The weights (millions) of a model's measured layers that the cache spill prices."""
        return sum(self.layer_spill_mparams(layers))

    def boundary_ms(self, layer: LayerShape) -> float:
        se = self.se_ms if has_se(layer) else 0.0
        return self.call_ms + self.io_ms_per_melem * inner_melems(layer) + se

    def spill_ms(self, model_mparams: float) -> float:
        """Cache-spill cost of a whole model with ``model_mparams`` million weights."""
        return self.weight_ms_per_mparam * spill_feature(
            self.spill_shape, model_mparams, self.free_mparams, self.full_mparams
        )

    def spill_ms_smooth(self, model_mparams):  # noqa: ANN001, ANN201 - a torch tensor in and out
        """:meth:`spill_ms` for a tensor, differentiable: the cliff's step (``free == full``) becomes a
        ramp over 5% of the knot so that the search's expected weights feel it; exact otherwise."""
        k, lo = self.weight_ms_per_mparam, self.free_mparams
        if self.spill_shape != "cliff":
            return k * (model_mparams - lo).clamp(min=0.0)
        width = max(self.full_mparams - lo, 0.05 * lo, 1e-6)
        return k * model_mparams * ((model_mparams - lo) / width).clamp(0.0, 1.0)

    def base_cost_ms(self, layer: LayerShape, measured_ms: float) -> float:
        """The layer's entry minus the boundary cost it paid alone (no cache-spill share)."""
        return max(measured_ms - self.boundary_ms(layer), 0.0)

    def layer_cost_ms(
        self, layer: LayerShape, measured_ms: float, model_mparams: float | None = None
    ) -> float:
        """The layer's share of a whole model: its entry minus the boundary cost, plus its share (by
        weights) of the model's cache spill (``model_mparams``: the model's weights the spill prices,
        :meth:`model_spill_mparams`; default: the layer's own)."""
        mine = self.spill_weights(layer.params / 1e6)
        total = mine if model_mparams is None else model_mparams
        spill = self.spill_ms(total) * (mine / total) if total > 0 else 0.0
        return self.base_cost_ms(layer, measured_ms) + spill

    def model_overhead_ms(self) -> float:
        return self.call_ms

    def on_cliff(self, mparams: float) -> str | None:
        """Why a model of ``mparams`` million weights gets an uncertain cache spill: it lies inside the
        cliff's ramp, between a calibration model that did not spill and one that spilled all its weights,
        where the share it pays is interpolated, not measured (None: outside the ramp, or no cliff)."""
        lo, hi = self.free_mparams, self.full_mparams
        if self.spill_shape != "cliff" or self.weight_ms_per_mparam <= 0 or not lo < mparams < hi:
            return None
        return (
            f"on the cache cliff: its {mparams:.3g} M weights lie between calibration models of {lo:.3g} M "
            f"(no spill) and {hi:.3g} M (all weights spill), so the {self.spill_ms(mparams):.3g} ms of spill "
            "it is given is interpolated, not measured; a model there can run anywhere between the two"
        )

    def outside_range(
        self, n_layers: int, entries_ms: float, margin: float = 0.25, mparams: float | None = None
    ) -> str | None:
        """Why a model of ``n_layers`` measured layers whose entries sum to ``entries_ms`` (nominal) and
        ``mparams`` million weights lies outside what this correction was fitted on (its calibration
        models' layer counts, entry sums and - when it has a cache-spill term - weights, widened by
        ``margin``), or None when it lies inside (or the correction was not fitted on models).
        The boundary cost is subtracted once per layer: applied to a model much longer or slower than the
        calibration models it extrapolates, and whole-model errors of 2-4x have been seen that way; the
        spill's knot says nothing about a model lighter than every calibration model."""
        if not self.models:
            return None
        ns = [m.n_layers for m in self.models]
        sums = [sum(m.entries_ms) for m in self.models]
        lo_n, hi_n = min(ns) * (1 - margin), max(ns) * (1 + margin)
        lo_s, hi_s = min(sums) * (1 - margin), max(sums) * (1 + margin)
        ws = [m.spill_mparams(self.spill_cap_mparams) for m in self.models]
        inside = lo_n <= n_layers <= hi_n and lo_s <= entries_ms <= hi_s
        size = mine = ""
        if mparams is not None and self.weight_ms_per_mparam > 0 and max(ws) > 0:
            inside = inside and min(ws) * (1 - margin) <= mparams <= max(ws) * (1 + margin)
            size, mine = f", {min(ws):.3g}-{max(ws):.3g} M weights", f", {mparams:.3g} M weights"
        if inside:
            return None
        return (
            f"outside the correction's calibration range ({len(self.models)} models of {min(ns)}-{max(ns)} "
            f"layers, entry sums {min(sums):.4g}-{max(sums):.4g} ms{size}; this one: {n_layers} layers, "
            f"{entries_ms:.4g} ms{mine}): the prediction extrapolates the boundary correction - calibrate on "
            "models like it (phonenas lut validate --zoo-calib NAMES) or compare with the plain sum"
        )

    # ---- persistence (next to the LUT parts; atomic)
    @staticmethod
    def path(root: str | Path, context: Context) -> Path:
        return Path(root) / "corrections" / f"{context.digest()}.json"

    def save(self, root: str | Path, context: Context) -> Path:
        path = self.path(root, context)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"context": context.as_row(), **asdict(self)}
        tmp = path.with_name(f".tmp-{uuid.uuid4().hex[:8]}-{path.name}")
        tmp.write_text(json.dumps(payload, indent=1))
        os.replace(tmp, path)
        return path

    @staticmethod
    def load(root: str | Path, context: Context) -> Correction | None:
        path = Correction.path(root, context)
        if not path.exists():
            return None
        try:
            d = json.loads(path.read_text())
            models, outliers = (
                tuple(
                    CalibrationModel(
                        m["arch"],
                        m["whole_ms"],
                        tuple(m["entries_ms"]),
                        m["inner_melems"],
                        m["n_layers"],
                        m.get("mparams", 0.0),
                        tuple(m.get("layer_mparams", ())),
                        int(m["n_se"]) if "n_se" in m else _se_layers_of(m["arch"]),
                    )
                    for m in d.get(part, ())
                )
                for part in ("models", "outliers")
            )
            return Correction(
                float(d["call_ms"]),
                float(d["io_ms_per_melem"]),
                str(d["method"]),
                float(d.get("weight_ms_per_mparam", 0.0)),
                models,
                float(d.get("free_mparams", 0.0)),
                str(d.get("spill_shape", "hinge")),
                float(d.get("full_mparams", 0.0)),
                outliers,
                float(d.get("ratio_center", 0.0)),
                float(d.get("spill_cap_mparams", 0.0)),
                float(d.get("se_ms", 0.0)),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(
                f"correction file {path} is damaged ({e}); delete it and re-run `phonenas lut validate`"
            ) from e


def _se_layers_of(arch: str) -> int:
    """The SE layers of a calibration model saved before they were recorded (0: not an arch string)."""
    from search.arch import decode_arch, profile_arch

    try:
        return sum(has_se(la) for la in profile_arch(decode_arch(arch)).layers)
    except ValueError:
        return 0


def has_se(layer: LayerShape) -> bool:
    """Whether ``layer`` is a measured block with squeeze-excitation (what the SE boundary term prices)."""
    return layer.kind is LayerKind.IR and layer.se


def inner_melems(layer: LayerShape) -> float:
    """Elements (millions) this layer moves across the runtime boundary only because it runs alone."""
    elems = 0
    if layer.kind is not LayerKind.STEM:
        elems += layer.in_ch * layer.in_hw * layer.in_hw
    if layer.kind is not LayerKind.HEAD:
        elems += layer.out_ch * layer.out_hw * layer.out_hw
    return elems / 1e6


SPILL_SHAPES = ("hinge", "cliff")
# per-layer weight sizes (MB: 1e6 bytes) :func:`select_fit` may cap the cache spill at (module docstring)
SPILL_CAPS_MB = (1.0, 2.0, 4.0, 6.0, 8.0, 12.0, 16.0)


def spill_feature(shape: str, mparams: float, free: float, full: float = 0.0) -> float:
    """The weights (millions) that spill, per shape (see the module docstring); times the fitted ms per
    million it is the cache-spill cost."""
    if shape == "hinge":
        return max(mparams - free, 0.0)
    if shape != "cliff":
        raise ValueError(f"unknown spill shape {shape!r}; choose from {SPILL_SHAPES}")
    if full <= free:
        return mparams if mparams > free else 0.0
    return mparams * min(max((mparams - free) / (full - free), 0.0), 1.0)


def calibration_model(
    arch: str, layers: Sequence[LayerShape], entries_ms: Sequence[float], whole_ms: float
) -> CalibrationModel:
    """Bundle a measured whole model with the LUT entries of its (non-skip) ``layers``."""
    measured = [la for la in layers if la.kind is not LayerKind.SKIP]
    if len(measured) != len(entries_ms):
        raise ValueError("one entry per non-skip layer is needed")
    return CalibrationModel(
        arch,
        float(whole_ms),
        tuple(map(float, entries_ms)),
        sum(inner_melems(la) for la in measured),
        len(measured),
        sum(la.params for la in measured) / 1e6,
        tuple(la.params / 1e6 for la in measured),
        sum(has_se(la) for la in measured),
    )


def fit_correction(
    models: Sequence[CalibrationModel],
    call_ms: float | None = None,
    weights: bool = False,
    shape: str = "hinge",
    cap: float = 0.0,
    se: bool = False,
) -> Correction:
    """Least squares on relative error:
    whole = sum(entries) - call*(n-1) - io*inner_melems [- se_ms*n_se] [+ spill].

    With ``call_ms`` (the measured call overhead) the call term is fixed, otherwise it is fitted too;
    ``weights`` adds the cache-spill term of ``shape`` (its knots searched at 0 and the calibration
    models' sizes), priced on the weights of the layers of at most ``cap`` million weights each (0:
    every layer); ``se`` a boundary cost per squeeze-excitation layer (module docstring). Coefficients are
    constrained to be >= 0 (every subset of terms is tried; negative solutions are rejected), so a term
    that does not help is left at 0.
    """
    if len(models) < (1 if call_ms is not None else 2):
        raise ValueError(
            "fitting a correction needs at least 2 whole-model measurements (1 with a known call_ms)"
        )
    w = 1.0 / np.array([m.whole_ms for m in models])
    gaps = np.array([m.n_layers - 1 for m in models], dtype=np.float64)
    y = np.array([sum(m.entries_ms) - m.whole_ms for m in models])
    if call_ms is not None:
        y = y - call_ms * gaps
    if shape not in SPILL_SHAPES:
        raise ValueError(f"unknown spill shape {shape!r}; choose from {SPILL_SHAPES}")
    spilled = [m.spill_mparams(cap) for m in models]
    sizes = sorted({0.0, *spilled})
    if not weights:
        knots = [(0.0, 0.0)]
    elif shape == "hinge":
        knots = [(lo, 0.0) for lo in sizes]
    else:
        # a step at one size and a ramp from it to the next size fit the models alike (none lies in
        # between); the ramp is tried first and so kept on a tie (ramp_ties_first)
        knots = ramp_ties_first(sizes)
    best: tuple[float, np.ndarray, tuple[float, float]] | None = None  # (error, coefficients, knots)
    for lo, hi in knots:
        cols = [] if call_ms is not None else [gaps]
        cols.append(np.array([m.inner_melems for m in models]))
        if se:
            cols.append(np.array([m.n_se for m in models], dtype=np.float64))
        if weights:
            cols.append(-np.array([spill_feature(shape, w, lo, hi) for w in spilled]))
        a = np.stack(cols, axis=1) * w[:, None]
        coef = _nnls(a, y * w)
        err = float(np.sum((a @ coef - y * w) ** 2))
        if best is None or err < best[0] - 1e-15:
            best = (err, coef, (lo, hi))
    assert best is not None
    _, coef, (knot, full) = best
    terms = list(coef)
    call = float(call_ms) if call_ms is not None else float(terms.pop(0))
    io = float(terms.pop(0))
    se_ms = float(terms.pop(0)) if se else 0.0
    k = float(terms.pop(0)) if weights else 0.0
    knot, full = (knot, full) if k > 0 else (0.0, 0.0)
    if not weights:
        spill = ""
    elif k <= 0:
        spill = " (no cache spill)"
    elif shape == "hinge":
        spill = f" and cache spill above {knot:.3g} M weights"
    else:
        spill = f" and cache spill of all weights past {knot:.3g}" + (f"-{full:.3g}" if full > knot else "")
        spill += " M weights (cliff)"
    if k > 0 and cap > 0:
        spill += f" counted on layers of <= {cap:.3g} M weights"
    method = (
        f"{'measured' if call_ms is not None else 'fitted'} call overhead + boundary cost"
        + (f" + {se_ms:.3g} ms per SE layer" if se_ms > 0 else "")
        + spill
        + f" fitted on {len(models)} whole models"
    )
    return Correction(
        call,
        io,
        method,
        k,
        tuple(models),
        knot,
        shape if k > 0 else "hinge",
        full,
        spill_cap_mparams=cap if k > 0 else 0.0,
        se_ms=se_ms,
    )


def ramp_ties_first(sizes: Sequence[float]) -> list[tuple[float, float]]:
    """The cliff's (free, full) knot pairs over the calibration models' ``sizes`` (ascending), each
    ``free`` with the next size as ``full`` first, so that :func:`fit_correction` keeps that ramp over the
    step at ``free`` that fits the models equally well: the cliff lies somewhere between the last model
    that did not spill and the first that did, and a model in between gets the share linear interpolation
    gives instead of all of it. Measured on the 2-core Intel VM (2 MiB L2, LiteRT fp32 at 32 px): with
    calibration models at 0.26 and 0.64 M weights the step at 0.26 put MobileNetV3-Small x0.5 (0.41 M) at
    +74% (0.063 ms for 0.036); refitted with the ramp, +13%."""
    pairs = []
    for i, lo in enumerate(sizes):
        nxt = list(sizes[i + 1 : i + 2])
        pairs += [(lo, hi) for hi in nxt] + [(lo, hi) for hi in sizes if hi >= lo and hi not in nxt]
    return pairs


def select_correction(
    models: Sequence[CalibrationModel],
    call_ms: float | None,
    weights: bool = False,
    max_outliers: float = 0.25,
    reread: Callable[[CalibrationModel], float | None] | None = None,
    bytes_per_weight: int = 4,
) -> Correction:
    """:func:`select_fit` on ``models``, leaving out outliers one at a time (at most ``max_outliers`` of
    the models, and never below 4 kept): while the model whose residual lies furthest from the median
    residual lies more than ``max(3 * 1.4826 * MAD, 10%)`` from it, it is set aside and the fit redone.
    A single whole-model measurement taken while the device ran slow otherwise drags the few-parameter
    fit for every model (module docstring). The models set aside are kept as ``outliers``.

    ``reread``: times a suspect model again and returns its latency in the same nominal units as
    ``whole_ms`` (None: could not). A residual says only that the fit and the reading disagree - the
    reading may be sound and the spill shape unable to follow it (a fresh-clone demo's LiteRT fit set aside
    the two MobileNetV3-Small widths that place the cache cliff, 0.64 and 1.2 M weights, and the cliff
    refitted without them put three baselines 24-46% low). So a suspect whose second reading lies nearer
    its first than what the other models' fit predicts for it is kept (and never suspected again); only a
    reading that does not reproduce is set aside. Both readings are named in ``method``.

    ``bytes_per_weight`` (4 for fp32, 1 for int8) turns the spill caps :func:`select_fit` tries
    (:data:`SPILL_CAPS_MB`, bytes per layer) into weights."""
    caps = tuple(mb / bytes_per_weight for mb in SPILL_CAPS_MB) if weights else ()
    kept = list(models)
    left: list[tuple[CalibrationModel, float, str]] = []  # (model, residual, its second reading said)
    confirmed: list[tuple[CalibrationModel, float, float]] = []  # (model, second reading, others' fit)
    sound: set[str] = set()
    fit = select_fit(kept, call_ms, weights, caps)
    while len(kept) > 4 and len(left) + 1 <= max_outliers * len(models):
        res = np.array([predict_whole(fit, m) / m.whole_ms - 1.0 for m in kept])
        med = float(np.median(res))
        spread = max(3 * 1.4826 * float(np.median(np.abs(res - med))), 0.10)
        far = np.abs(res - med)
        far[[m.arch in sound for m in kept]] = -1.0
        worst = int(np.argmax(far))
        if far[worst] <= spread:
            break
        suspect = kept[worst]
        rest = kept[:worst] + kept[worst + 1 :]
        without = select_fit(rest, call_ms, weights, caps)
        again = reread(suspect) if reread is not None else None
        others = predict_whole(without, suspect)
        if again is not None and abs(again - suspect.whole_ms) <= abs(again - others):
            sound.add(suspect.arch)
            confirmed.append((suspect, again, others))
            continue
        said = "" if again is None else f"; {again:.4g} ms read again, the others' fit {others:.4g}"
        left.append((suspect, float(res[worst]), said))
        kept, fit = rest, without
    notes = []
    if left:
        said = ", ".join(f"{m.arch} ({100 * r:+.0f}%{again})" for m, r, again in left)
        notes.append(f"left out {len(left)} outlier(s) of {len(models)}: {said}")
    if confirmed:
        said = ", ".join(
            f"{m.arch} ({m.whole_ms:.4g} then {again:.4g} ms, the others' fit {others:.4g})"
            for m, again, others in confirmed
        )
        notes.append(f"kept {len(confirmed)} whose second reading reproduced the first: {said}")
    if not notes:
        return fit
    return replace(
        fit,
        method=f"{fit.method}; " + "; ".join(notes),
        outliers=tuple(m for m, _, _ in left),
    )


def select_fit(
    models: Sequence[CalibrationModel],
    call_ms: float | None,
    weights: bool = False,
    caps: Sequence[float] = (),
) -> Correction:
    """The fit with the lowest leave-one-out error on the calibration models among: the measured call
    overhead fixed (the probe's invocation cost) or the per-block saving fitted too (for runtimes whose
    probe is not representative - e.g. LiteRT int8, where some blocks keep int8 I/O and others quantize
    inside the model), each with a hinge or a cliff cache spill (``weights``). The measured overhead and
    the hinge are the defaults: a candidate replaces the best so far only by cutting its error by 10%,
    tried in the order fixed/hinge, fixed/cliff, fitted/hinge, fitted/cliff. With fewer than 4 models, or
    no measured overhead, there is no choice of call term (and below 4 no choice of shape).

    The four are compared jointly, not one choice after the other: choosing the shape with the measured
    overhead and then the call term for that shape missed the pair that generalizes best. A toy-scale
    collection on the 2-core AMD VM (16 MiB L3, ExecuTorch fp32) had leave-one-out RMSPE 6.5% (fixed,
    hinge), 6.4% (fixed, cliff), 6.7% (fitted, hinge) and 4.5% (fitted, cliff): one after the other kept
    the fixed hinge, which put 6 of its 28 validation models 10-15% off (78.6% within 10%); the fitted
    cliff puts one there (96.4%; ``benchmarks/fit_rescore.py``, same stores, no new timing).

    ``caps`` (million weights per layer): with 4 or more models and a spill term, the cache spill may be
    counted only on the layers of at most one of these caps (module docstring). Each cap's error is the
    lowest leave-one-out error of its four candidates; the cap with the lowest replaces "every layer" only
    by cutting that error by 10%, and the call term and shape are then chosen under it as above.

    With 4 or more models whose SE layer counts differ, the four candidates are also tried with the
    per-SE-layer term (module docstring) under the chosen cap, after every candidate without it: it is
    kept only by cutting the best error so far by 10%."""
    shapes = SPILL_SHAPES if weights and len(models) >= 4 else ("hinge",)
    calls: tuple[float | None, ...] = (call_ms,) if call_ms is not None else (None,)
    if call_ms is not None and len(models) >= 4:
        calls = (call_ms, None)
    candidates = [(c, s) for c in calls for s in shapes]
    se_ok = len(models) >= 4 and len({m.n_se for m in models}) > 1
    if len(candidates) == 1 and not se_ok:
        return fit_correction(models, calls[0], weights, shapes[0])
    tried = (0.0, *caps) if weights else (0.0,)
    errors = {
        (c, cand): _loo_error(models, cand[0], weights, cand[1], c) for c in tried for cand in candidates
    }
    at = {c: min(errors[c, cand] for cand in candidates) for c in tried}
    cap, note = 0.0, ""
    if len(tried) > 1:
        lowest = min(tried[1:], key=lambda c: at[c])
        if at[lowest] < 0.9 * at[0.0]:
            cap = lowest
            note = (
                f" (spill cap: leave-one-out RMSPE {100 * at[cap]:.1f}% vs {100 * at[0.0]:.1f}% counting "
                "every layer)"
            )
    loo = {(*cand, False): errors[cap, cand] for cand in candidates}
    if se_ok:
        # the SE term under the chosen cap, after every candidate without it (so kept on a tie)
        for call, shape in candidates:
            loo[call, shape, True] = _loo_error(models, call, weights, shape, cap, se=True)
    order = list(loo)
    best = order[0]
    for cand in order[1:]:
        if loo[cand] < 0.9 * loo[best]:
            best = cand
    call, shape, se = best
    fit = fit_correction(models, call, weights, shape, cap, se)
    if fit.se_ms > 0:
        plain = min((c for c in order if not c[2]), key=lambda c: loo[c])
        note += f" (SE term: leave-one-out RMSPE {100 * loo[best]:.1f}% vs {100 * loo[plain]:.1f}% without)"
    if call is None and call_ms is not None:
        fixed = min((c for c in order if c[0] is not None and c[2] == se), key=lambda c: loo[c])
        note += (
            f" (leave-one-out RMSPE {100 * loo[best]:.1f}% vs {100 * loo[fixed]:.1f}% with the measured "
            f"call overhead {call_ms:.4f} ms)"
        )
    return replace(fit, method=fit.method + note) if note else fit


def _loo_error(
    models: Sequence[CalibrationModel],
    call_ms: float | None,
    weights: bool,
    shape: str = "hinge",
    cap: float = 0.0,
    se: bool = False,
) -> float:
    """Leave-one-out RMS relative error of :func:`fit_correction` on ``models``."""
    errs = []
    for i, held in enumerate(models):
        rest = [m for j, m in enumerate(models) if j != i]
        fit = fit_correction(rest, call_ms, weights, shape, cap, se)
        errs.append(predict_whole(fit, held) / held.whole_ms - 1.0)
    return float(np.sqrt(np.mean(np.square(errs))))


def predict_whole(c: Correction, m: CalibrationModel) -> float:
    """What ``c`` predicts for calibration model ``m`` (its entries, corrected, plus one invocation)."""
    return (
        sum(m.entries_ms)
        - c.call_ms * (m.n_layers - 1)
        - c.io_ms_per_melem * m.inner_melems
        - c.se_ms * m.n_se
        + c.spill_ms(m.spill_mparams(c.spill_cap_mparams))
    )


def _nnls(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative least squares for a handful of columns: the best of every column subset."""
    n = a.shape[1]
    best, best_err = np.zeros(n), float(np.sum(y**2))
    for size in range(n, 0, -1):
        for cols in combinations(range(n), size):
            sol, *_ = np.linalg.lstsq(a[:, cols], y, rcond=None)
            if np.any(sol < 0):
                continue
            coef = np.zeros(n)
            coef[list(cols)] = sol
            err = float(np.sum((a @ coef - y) ** 2))
            if err < best_err - 1e-15:
                best, best_err = coef, err
    return best
