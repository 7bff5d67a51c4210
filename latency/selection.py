"""Which stored LUT context a command means: one filter, one selection, one set of errors.

Every command that picks a LUT from a store (``lut predict``/``show``, ``deploy --lut``, ``search
run``) filters the stored contexts with a :class:`ContextFilter` - device, runtime (any name of
deploy's target registry: it selects that target's runtime *and* delegate, so ``executorch`` is
ExecuTorch/XNNPACK and ``executorch-coreml`` ExecuTorch/Core ML), dtype, threads; ``None`` matches
anything - and asks :func:`select_context` for exactly one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from deploy.types import Dtype, TargetSpec
from latency.keys import Context, context_target
from latency.store import LUTStore


class ContextSelectionError(LookupError):
    """No or several stored contexts match; the message lists the stored ones and the fix."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class NoMatchingContext(ContextSelectionError):
    pass


class AmbiguousContext(ContextSelectionError):
    pass


def parse_dtype(text: str) -> Dtype:
    """A LUT dtype from what users type (ValueError naming the choices)."""
    try:
        return Dtype(text.strip().lower())
    except ValueError:
        from deploy.registry import specs

        have = sorted({d.value for s in specs() for d in s.lut_dtypes})
        raise ValueError(f"unknown dtype {text!r}; choose {', '.join(have)}") from None


@dataclass(frozen=True)
class ContextFilter:
    """Stored contexts to consider; ``None`` fields match anything."""

    device: str | None = None
    runtime: str | None = None
    dtype: str | None = None
    threads: int | None = None
    _target: TargetSpec | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.runtime is not None:
            object.__setattr__(self, "_target", context_target(self.runtime))
        if self.dtype is not None:
            object.__setattr__(self, "dtype", parse_dtype(self.dtype).value)

    def matches(self, ctx: Context) -> bool:
        t = self._target
        return (
            (self.device is None or ctx.device_id == self.device)
            and (t is None or (ctx.runtime == t.runtime and ctx.delegate == t.delegate))
            and (self.dtype is None or ctx.dtype.value == self.dtype)
            and (self.threads is None or ctx.threads == self.threads)
        )

    def select(self, contexts: list[Context]) -> list[Context]:
        return [c for c in contexts if self.matches(c)]


def _stored(store: LUTStore) -> str:
    return "; ".join(c.label() for c in store.contexts()) or "none"


def select_contexts(store: LUTStore, flt: ContextFilter) -> list[Context]:
    """Every stored context ``flt`` matches (sorted)."""
    return flt.select(store.contexts())


def select_context(store: LUTStore | str | Path, flt: ContextFilter) -> tuple[LUTStore, Context]:
    """The one stored context ``flt`` matches (and the store), else a one-line error naming the
    stored contexts and the fix."""
    lut = store if isinstance(store, LUTStore) else LUTStore(store)
    found = select_contexts(lut, flt)
    if not found:
        raise NoMatchingContext(
            f"no LUT in {lut.root} for the given filters (stored contexts: {_stored(lut)}); "
            "run `phonenas lut collect` first"
        )
    if len(found) > 1:
        raise AmbiguousContext(
            "several LUT contexts match: "
            + "; ".join(c.label() for c in found)
            + "; narrow with --device/--runtime/--dtype/--threads"
        )
    return lut, found[0]


def select_per_device(store: LUTStore, flt: ContextFilter) -> dict[str, Context]:
    """One matching context per device (``--device all``); errors as :func:`select_context`."""
    found = select_contexts(store, flt)
    if not found:
        raise NoMatchingContext(
            f"no LUT in {store.root} for the given filters (stored contexts: {_stored(store)}); "
            "run `phonenas lut collect` first"
        )
    by_device: dict[str, list[Context]] = {}
    for c in found:
        by_device.setdefault(c.device_id, []).append(c)
    for dev, cs in by_device.items():
        if len(cs) > 1:
            raise AmbiguousContext(
                f"device {dev} has several matching LUT contexts ({'; '.join(c.label() for c in cs)});"
                " narrow with --dtype/--threads"
            )
    return {dev: cs[0] for dev, cs in sorted(by_device.items())}
