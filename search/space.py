"""The FBNetV2 / DMaskingNAS search space: per-stage widths, per-layer ops and expansion, input resolution.

A :class:`SearchSpace` is a stem, stages and a fixed head. Its *choice variables* (each a categorical
the supernet learns Gumbel-softmax logits for) are

* ``res``        - the input resolution (one for the whole network),
* ``stem.w``     - the stem width,
* ``s<k>.w``     - the output width of stage ``k``, shared by all its blocks (so a residual inside a
  stage exists in the supernet exactly when it exists in the child),
* ``s<k>.b<j>.e``  - the expansion ratio of block ``j`` (hidden width ``make_divisible(e * c_in, 8)``),
* ``s<k>.b<j>.op`` - the op of block ``j``: kernel x SE x activation, or ``skip`` (identity).

Each placed layer depends on a few of these variables (its input width, expansion, output width, op and
the resolution); :meth:`SearchSpace.layer_templates` lists them and maps one joint choice to a
:class:`LayerShape`. The same enumeration feeds the LUT (:meth:`SearchSpace.candidate_layers`) and the
supernet's exact expected cost, so the two can never disagree.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import torch

from search.arch import (
    Act,
    ArchSpec,
    BlockSpec,
    BlockType,
    HeadSpec,
    LayerKind,
    LayerShape,
    StemSpec,
    encode_block,
    fb_divisible,
    make_divisible,
    place_block,
    profile_arch,
)


class SpaceError(ValueError):
    """An inconsistent search space; the message names the offending stage and the fix."""


@dataclass(frozen=True)
class OpChoice:
    """One op choice of a block: an inverted residual with (kernel, SE, act), or skip."""

    kernel: int = 3
    se: bool = False
    act: Act = Act.RELU
    skip: bool = False

    @property
    def label(self) -> str:
        if self.skip:
            return "skip"
        return f"k{self.kernel}{'_se' if self.se else ''}_{self.act.value}"


SKIP = OpChoice(skip=True)


@dataclass(frozen=True)
class StemChoices:
    widths: tuple[int, ...]
    kernel: int = 3
    stride: int = 2
    act: Act = Act.HSWISH


@dataclass(frozen=True)
class StageChoices:
    """``depth`` blocks; the first has ``stride``; ops = kernels x se x acts (+ skip after the first block).

    ``shared_width=True`` gives the stage ONE output-width variable ``s<k>.w`` for all its blocks (so a
    residual inside the stage exists in the supernet exactly when it exists in the child);
    ``shared_width=False`` gives every block its own ``s<k>.b<j>.w`` (FBNetV2 searches widths per block).
    A ``skip`` op is the identity when its block keeps the width and a 1x1 conv-BN-ReLU projection
    (``proj``, mobile-vision's width-changing skip) when it does not.
    """

    widths: tuple[int, ...]
    depth: int
    stride: int
    expands: tuple[float, ...] = (1.0,)
    kernels: tuple[int, ...] = (3,)
    se: tuple[bool, ...] = (False,)
    acts: tuple[Act, ...] = (Act.RELU,)
    skip: bool = False
    shared_width: bool = True

    def ops(self, first: bool) -> tuple[OpChoice, ...]:
        ops = tuple(OpChoice(k, s, a) for k, s, a in itertools.product(self.kernels, self.se, self.acts))
        return ops + ((SKIP,) if self.skip and not first else ())

    def width_var(self, k: int, j: int) -> str:
        return f"s{k}.w" if self.shared_width else f"s{k}.b{j}.w"


@dataclass(frozen=True)
class Variable:
    """A categorical choice the supernet learns: ``name`` and its values (ints, floats or OpChoices)."""

    name: str
    values: tuple


@dataclass(frozen=True)
class LayerTemplate:
    """A placed layer of the supernet: which variables its shape depends on, and the shape of one choice."""

    name: str
    kind: LayerKind
    variables: tuple[str, ...]
    shape: Callable[[Mapping[str, int]], LayerShape] = field(compare=False)
    # templates with equal signatures have the same candidate shapes (e.g. blocks 1.. of a stage)
    signature: tuple | None = field(default=None, compare=False)

    def candidates(self, space: SearchSpace) -> Iterator[tuple[tuple[int, ...], LayerShape]]:
        """Every joint choice (indices in ``variables`` order) with its LayerShape."""
        sizes = [len(space.variable(v).values) for v in self.variables]
        for idx in itertools.product(*(range(n) for n in sizes)):
            yield idx, self.shape(dict(zip(self.variables, idx, strict=True)))


_CANDIDATES: dict[object, tuple] = {}  # per-space enumerations (spaces are frozen; a few kept)


MidRule = Literal["make_divisible", "mobile_cv"]


@dataclass(frozen=True)
class SearchSpace:
    """Stem, stages and head choices. ``mid_rule`` rounds hidden widths ``c_in * e`` to multiples of 8:
    ``make_divisible`` (torchvision) or ``mobile_cv`` (FBNetV2's own rule, so its published models are
    members). ``head_hidden`` (non-empty) makes the head's hidden width a choice variable ``head.h``.
    ``notes`` say where a preset deviates from the paper and why."""

    name: str
    resolutions: tuple[int, ...]
    stem: StemChoices
    stages: tuple[StageChoices, ...]
    head: HeadSpec = field(default_factory=HeadSpec)
    num_classes: int = 1000
    in_ch: int = 3
    mid_rule: MidRule = "make_divisible"
    head_hidden: tuple[int, ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "resolutions", tuple(sorted(set(self.resolutions))))
        if not self.resolutions or not self.stages:
            raise SpaceError(f"space {self.name!r}: needs at least one resolution and one stage")
        if self.mid_rule not in ("make_divisible", "mobile_cv"):
            raise SpaceError(f"space {self.name!r}: mid_rule must be 'make_divisible' or 'mobile_cv'")
        for k, st in enumerate(self.stages):
            if not st.widths or st.depth < 1:
                raise SpaceError(f"space {self.name!r}, stage {k}: needs width choices and depth >= 1")
            prev = self.stem.widths if k == 0 else self.stages[k - 1].widths
            keeps = {self.mid(c_in, e) == c_in for c_in, e in itertools.product(prev + st.widths, st.expands)}
            if len(keeps) > 1:
                raise SpaceError(
                    f"space {self.name!r}, stage {k}: some expansion of {st.expands} keeps an input width "
                    "(no expansion conv in that child) while others expand; use expansions that all "
                    "expand (>= 2 is safe) or only 1"
                )
        self.max_arch()  # validates strides against the smallest resolution

    def mid(self, c_in: int, e: float) -> int:
        """Hidden width of an inverted residual with expansion ``e`` fed ``c_in`` channels."""
        if e == 1.0:
            return c_in
        if self.mid_rule == "mobile_cv":
            return fb_divisible(c_in * e)
        return make_divisible(c_in * e, 8)

    def _ir(self, c_in: int, c_out: int, stride: int, op: OpChoice, e: float) -> BlockSpec:
        mid = self.mid(c_in, e)
        pin = None if mid == BlockSpec(BlockType.IR, 8, expand=e).mid_channels(c_in) else mid
        return BlockSpec(BlockType.IR, c_out, stride, op.kernel, e, op.se, op.act, mid_ch=pin)

    @staticmethod
    def _skip(c_in: int, c_out: int) -> BlockSpec:
        if c_in == c_out:
            return BlockSpec(BlockType.SKIP, c_out, 1)
        return BlockSpec(BlockType.PROJ, c_out, 1, act=Act.RELU)

    # -- variables -------------------------------------------------------------------------------
    def variables(self) -> tuple[Variable, ...]:
        out = [Variable("res", self.resolutions), Variable("stem.w", self.stem.widths)]
        for k, st in enumerate(self.stages):
            if st.shared_width:
                out.append(Variable(f"s{k}.w", st.widths))
            for j in range(st.depth):
                if not st.shared_width:
                    out.append(Variable(st.width_var(k, j), st.widths))
                out.append(Variable(f"s{k}.b{j}.e", st.expands))
                out.append(Variable(f"s{k}.b{j}.op", st.ops(first=j == 0)))
        if self.head_hidden:
            out.append(Variable("head.h", self.head_hidden))
        return tuple(out)

    def variable(self, name: str) -> Variable:
        for v in self.variables():
            if v.name == name:
                return v
        raise KeyError(name)

    def width_vars(self) -> dict[str, tuple[int, ...]]:
        """Every width variable (stem, stage or block) with its channel choices."""
        out = {"stem.w": self.stem.widths}
        for k, st in enumerate(self.stages):
            for j in range(st.depth):
                out[st.width_var(k, j)] = st.widths
        return out

    def block_vars(self) -> list[tuple[str, str, str, int, int]]:
        """``(name, in width var, out width var, stage, block)`` of every block in order."""
        out, prev = [], "stem.w"
        for k, st in enumerate(self.stages):
            for j in range(st.depth):
                w = st.width_var(k, j)
                out.append((f"s{k}.b{j}", prev, w, k, j))
                prev = w
        return out

    @property
    def last_width_var(self) -> str:
        return self.block_vars()[-1][2]

    @property
    def num_archs(self) -> int:
        """Children (a skipped block's expansion is not counted; a skip is an identity or a projection)."""
        n = len(self.resolutions) * len(self.stem.widths) * max(1, len(self.head_hidden))
        for st in self.stages:
            if st.shared_width:
                n *= len(st.widths)
            per_w = 1 if st.shared_width else len(st.widths)
            for j in range(st.depth):
                ops = st.ops(first=j == 0)
                n_ir = sum(not o.skip for o in ops)
                n *= per_w * (n_ir * len(st.expands) + (len(ops) - n_ir))
        return n

    # -- spatial sizes ---------------------------------------------------------------------------
    def _hw_after(self, res: int) -> list[int]:
        """Input size of every block (in order) at input resolution ``res``, then the head's."""
        hw = -(-res // self.stem.stride)
        out = []
        for st in self.stages:
            for j in range(st.depth):
                out.append(hw)
                if j == 0:
                    hw = -(-hw // st.stride)
        return out + [hw]

    # -- layers ----------------------------------------------------------------------------------
    def layer_templates(self) -> tuple[LayerTemplate, ...]:
        """Stem, every block and the head, each with the variables its shape depends on."""
        res = self.resolutions
        hw_by_res = {r: self._hw_after(r) for r in res}
        stem = self.stem
        wv = self.width_vars()

        def stem_shape(c: Mapping[str, int]) -> LayerShape:
            r, w = res[c["res"]], stem.widths[c["stem.w"]]
            return LayerShape(
                "stem",
                LayerKind.STEM,
                self.in_ch,
                w,
                w,
                r,
                -(-r // stem.stride),
                stem.kernel,
                stem.stride,
                False,
                stem.act,
            )

        templates = [LayerTemplate("stem", LayerKind.STEM, ("res", "stem.w"), stem_shape)]
        for pos, (name, in_var, out_var, k, j) in enumerate(self.block_vars()):
            st = self.stages[k]
            variables = ("res", in_var, f"{name}.e", f"{name}.op") + ((out_var,) if out_var != in_var else ())
            signature = (
                wv[in_var],
                st.widths,
                in_var == out_var,
                st.ops(j == 0),
                st.expands,
                st.stride if j == 0 else 1,
                tuple(hw_by_res[r][pos] for r in res),
            )
            templates.append(
                LayerTemplate(
                    name,
                    LayerKind.IR,
                    variables,
                    self._block_shape_fn(name, in_var, wv[in_var], out_var, st, j, hw_by_res, pos),
                    signature,
                )
            )
        head, ncls, last = self.head, self.num_classes, self.last_width_var
        hidden = self.head_hidden

        def head_shape(c: Mapping[str, int]) -> LayerShape:
            hw = hw_by_res[res[c["res"]]][-1]
            h = hidden[c["head.h"]] if hidden else head.hidden_ch
            return LayerShape(
                "head",
                LayerKind.HEAD,
                wv[last][c[last]],
                head.conv_ch,
                ncls,
                hw,
                1,
                1,
                1,
                False,
                head.act,
                hidden_ch=h,
            )

        head_vars = ("res", last) + (("head.h",) if hidden else ())
        templates.append(LayerTemplate("head", LayerKind.HEAD, head_vars, head_shape))
        return tuple(templates)

    def _block_shape_fn(self, name, in_var, in_widths, out_var, st, j, hw_by_res, pos):
        ops, stride, res = st.ops(first=j == 0), st.stride if j == 0 else 1, self.resolutions

        def shape(c: Mapping[str, int]) -> LayerShape:
            c_in, c_out = in_widths[c[in_var]], st.widths[c[out_var]]
            op: OpChoice = ops[c[f"{name}.op"]]
            hw = hw_by_res[res[c["res"]]][pos]
            b = (
                self._skip(c_in, c_out)
                if op.skip
                else self._ir(c_in, c_out, stride, op, st.expands[c[f"{name}.e"]])
            )
            return place_block(name, b, c_in, hw)

        return shape

    def template_candidates(self) -> tuple[tuple[tuple[tuple[int, ...], LayerShape], ...], ...]:
        """``layer_templates()``' candidates, computed once per space (blocks with equal signatures share
        one enumeration and carry the first such block's name)."""
        key = (self, self.notes)
        if key not in _CANDIDATES:
            by_sig: dict[tuple, tuple[tuple[tuple[int, ...], LayerShape], ...]] = {}
            out = []
            for t in self.layer_templates():
                if t.signature is None:
                    out.append(tuple(t.candidates(self)))
                    continue
                if t.signature not in by_sig:
                    by_sig[t.signature] = tuple(t.candidates(self))
                out.append(by_sig[t.signature])
            if len(_CANDIDATES) > 16:
                _CANDIDATES.clear()
            _CANDIDATES[key] = tuple(out)
        return _CANDIDATES[key]

    def cost_index(self) -> tuple[tuple[LayerShape, ...], tuple[torch.Tensor, ...]]:
        """Distinct candidate shapes (first name wins) and, per template, the flat (row-major over its
        variables) index of every joint choice into them: what the expected-cost tables are built from."""
        key = ("index", self, self.notes)
        if key not in _CANDIDATES:
            unique: dict[tuple, int] = {}
            shapes: list[LayerShape] = []
            index: list[torch.Tensor] = []
            by_id: dict[int, torch.Tensor] = {}
            for cands in self.template_candidates():
                if id(cands) not in by_id:
                    rows = []
                    for _, sh in cands:
                        k = _shape_key(sh)
                        if k not in unique:
                            unique[k] = len(shapes)
                            shapes.append(sh)
                        rows.append(unique[k])
                    by_id[id(cands)] = torch.tensor(rows, dtype=torch.long)
                index.append(by_id[id(cands)])
            _CANDIDATES[key] = (tuple(shapes), tuple(index))  # type: ignore[assignment]
        return _CANDIDATES[key]  # type: ignore[return-value]

    def candidate_layers(self) -> Iterator[LayerShape]:
        """Every distinct placed layer the supernet's expected cost asks a CostModel about (first name
        wins)."""
        seen: set[LayerShape] = set()
        for cands in self.template_candidates():
            for _, shape in cands:
                key = replace(shape, name="")
                if key not in seen:
                    seen.add(key)
                    yield shape

    # -- children --------------------------------------------------------------------------------
    def arch_from_choices(self, choices: Mapping[str, int]) -> ArchSpec:
        """The child selected by one index per variable (a plain ArchSpec: no masks, no choices)."""
        stem = StemSpec(
            self.stem.widths[choices["stem.w"]], self.stem.kernel, self.stem.stride, self.stem.act
        )
        wv = self.width_vars()
        stages: list[list[BlockSpec]] = [[] for _ in self.stages]
        ch = stem.out_ch
        for name, _, out_var, k, j in self.block_vars():
            st = self.stages[k]
            w = wv[out_var][choices[out_var]]
            op = st.ops(first=j == 0)[choices[f"{name}.op"]]
            if op.skip:
                stages[k].append(self._skip(ch, w))
            else:
                stride = st.stride if j == 0 else 1
                stages[k].append(self._ir(ch, w, stride, op, st.expands[choices[f"{name}.e"]]))
            ch = w
        head = self.head
        if self.head_hidden:
            head = replace(head, hidden_ch=self.head_hidden[choices["head.h"]])
        return ArchSpec(
            self.resolutions[choices["res"]],
            stem,
            tuple(tuple(s) for s in stages),
            head,
            self.num_classes,
            self.in_ch,
        )

    def match(self, arch: ArchSpec) -> tuple[dict[str, int] | None, str]:
        """``(choices, "")`` selecting ``arch`` (same layers), or ``(None, reason)`` naming the first
        mismatch.

        A stage of ``arch`` may have fewer blocks than the space: the missing trailing blocks are skips.
        """
        c: dict[str, int] = {}

        def idx(values: tuple, value, what: str) -> int:
            if value not in values:
                raise _NoMatch(f"{what} {value} is not a choice ({', '.join(map(str, values))})")
            return values.index(value)

        try:
            c["res"] = idx(self.resolutions, arch.input_hw, "resolution")
            s = arch.stem
            if (s.kernel, s.stride, s.act) != (self.stem.kernel, self.stem.stride, self.stem.act):
                raise _NoMatch(f"stem k{s.kernel} s{s.stride} {s.act.value} differs from the space's")
            c["stem.w"] = idx(self.stem.widths, s.out_ch, "stem width")
            if len(arch.stages) != len(self.stages):
                raise _NoMatch(f"{len(arch.stages)} stages, the space has {len(self.stages)}")
            ch = s.out_ch
            for k, (st, blocks) in enumerate(zip(self.stages, arch.stages, strict=True)):
                if len(blocks) > st.depth:
                    raise _NoMatch(f"stage {k} has {len(blocks)} blocks, the space at most {st.depth}")
                padded = list(blocks) + [BlockSpec(BlockType.SKIP, blocks[-1].out_ch)] * (
                    st.depth - len(blocks)
                )
                for j, b in enumerate(padded):
                    where = f"block s{k}.b{j} ({encode_block(b)})"
                    ops = st.ops(first=j == 0)
                    wvar = st.width_var(k, j)
                    wi = idx(st.widths, b.out_ch, f"{where}: width")
                    if c.setdefault(wvar, wi) != wi:
                        raise _NoMatch(f"{where}: width {b.out_ch} differs from its stage's shared width")
                    if b.type in (BlockType.SKIP, BlockType.PROJ):
                        if SKIP not in ops:
                            raise _NoMatch(f"{where}: no skip choice here")
                        if b.type is BlockType.PROJ and (b.stride != 1 or b.act is not Act.RELU):
                            raise _NoMatch(f"{where}: a projection here is stride 1 with relu")
                        c[f"s{k}.b{j}.op"], c[f"s{k}.b{j}.e"] = ops.index(SKIP), 0
                    else:
                        if b.stride != (st.stride if j == 0 else 1):
                            raise _NoMatch(f"{where}: stride {b.stride} differs from the space's")
                        c[f"s{k}.b{j}.op"] = idx(ops, OpChoice(b.kernel, b.se, b.act), f"{where}: op")
                        mids = [self.mid(ch, e) for e in st.expands]
                        mid = b.mid_channels(ch)
                        if mid not in mids:
                            raise _NoMatch(f"{where}: hidden width {mid} is no expansion choice's ({mids})")
                        c[f"s{k}.b{j}.e"] = mids.index(mid)
                    ch = b.out_ch
            h = arch.head
            if (h.conv_ch, h.act) != (self.head.conv_ch, self.head.act):
                raise _NoMatch(f"head conv {h.conv_ch} {h.act.value} differs from the space's")
            if self.head_hidden:
                c["head.h"] = idx(self.head_hidden, h.hidden_ch, "head hidden width")
            elif h.hidden_ch != self.head.hidden_ch:
                raise _NoMatch(
                    f"head hidden width {h.hidden_ch} differs from the space's {self.head.hidden_ch}"
                )
            if (arch.num_classes, arch.in_ch) != (self.num_classes, self.in_ch):
                raise _NoMatch(
                    f"{arch.num_classes} classes / {arch.in_ch} input channels differ from the space's"
                )
        except _NoMatch as e:
            return None, str(e)
        for (
            v
        ) in self.variables():  # variables no block constrained (e.g. a shared width of an all-skip stage)
            c.setdefault(v.name, 0)

        def layers(a: ArchSpec) -> list[LayerShape]:  # identity skips compute nothing: padding adds them
            return [la for la in profile_arch(a).layers if la.kind is not LayerKind.SKIP]

        if layers(self.arch_from_choices(c)) != layers(arch):
            return None, "the matched child's layers differ from the arch's"  # pragma: no cover - guard
        return c, ""

    def contains(self, arch: ArchSpec) -> bool:
        """Whether ``arch`` is a child of this space (same layers: widths, hidden widths, ops, resolution)."""
        return self.match(arch)[0] is not None

    def sample_choices(self, generator: torch.Generator) -> dict[str, int]:
        return {
            v.name: int(torch.randint(len(v.values), (1,), generator=generator)) for v in self.variables()
        }

    def sample_arch(self, generator: torch.Generator) -> ArchSpec:
        """A uniformly random child (each variable uniform), reproducible from ``generator``."""
        return self.arch_from_choices(self.sample_choices(generator))

    def max_choices(self) -> dict[str, int]:
        out = {}
        for v in self.variables():
            if v.name.endswith(".op"):
                # the most expensive op: largest kernel, SE on, hard-swish; never skip
                key = [
                    (o.kernel, o.se, o.act is Act.HSWISH) if not o.skip else (-1, False, False)
                    for o in v.values
                ]
                out[v.name] = max(range(len(key)), key=key.__getitem__)
            else:
                out[v.name] = max(range(len(v.values)), key=v.values.__getitem__)
        return out

    def max_arch(self) -> ArchSpec:
        """The largest child: widest everything, largest kernel/expansion, SE, highest resolution."""
        try:
            return self.arch_from_choices(self.max_choices())
        except ValueError as e:
            raise SpaceError(f"space {self.name!r}: {e}") from None

    def with_num_classes(self, num_classes: int, in_ch: int | None = None) -> SearchSpace:
        return replace(self, num_classes=num_classes, in_ch=self.in_ch if in_ch is None else in_ch)

    def summary(self) -> dict[str, object]:
        n_layers = sum(1 for _ in self.candidate_layers())
        return {
            "name": self.name,
            "resolutions": list(self.resolutions),
            "num_archs": self.num_archs,
            "log10_num_archs": round(math.log10(self.num_archs), 2),
            "num_variables": len(self.variables()),
            "num_candidate_layers": n_layers,
            "mid_rule": self.mid_rule,
            "head_hidden": list(self.head_hidden) or [self.head.hidden_ch],
            "stages": [
                {
                    "widths": list(s.widths),
                    "width_per": "stage" if s.shared_width else "block",
                    "depth": s.depth,
                    "stride": s.stride,
                    "expands": list(s.expands),
                    "ops": [o.label for o in s.ops(first=False)],
                }
                for s in self.stages
            ],
            "notes": list(self.notes),
        }


def _shape_key(s: LayerShape) -> tuple:
    return (
        s.kind,
        s.in_ch,
        s.mid_ch,
        s.out_ch,
        s.in_hw,
        s.out_hw,
        s.kernel,
        s.stride,
        s.se,
        s.act,
        s.hidden_ch,
    )


class _NoMatch(Exception):
    pass


def _steps(lo: int, hi: int, step: int) -> tuple[int, ...]:
    return tuple(range(lo, hi + 1, step))


_FBNETV2_NOTES = (
    "Evidence: the published FBNetV2 F1-F4 (mobile-vision fbnet_modeldef_cls_fbnetv2.py); all four are "
    "members (`phonenas search space --space fbnetv2-f --contains fbnetv2_f4`).",
    "Widths are searched per block inside each stage's range (F4 goes 64,64,64,104,104,104,112 in one "
    "stage; F1-F3 go 32 -> 24); each range is the span of the F1-F4 widths in that stage in steps of 8 "
    "(the published models are the evidence), not a transcription of the paper's supernet ranges.",
    "Expansions per stage are the ratios F1-F4 use there (1.77-6.88, rounded to hidden widths with "
    "mobile_cv's rule), not a channel-granular hidden-width search: a per-channel hidden search would "
    "multiply the candidate LUT layers by ~10-60 per block.",
    "Depths are F4's (1,3,4,7,4 = 19 blocks); shallower models skip blocks. A skip that changes the width "
    "is mobile-vision's 1x1 conv-BN-ReLU projection (`proj`).",
    "Every stage allows k3/k5 and ReLU/hard-swish (F4 uses hard-swish in stages 0-1, F1-F3 ReLU); SE is "
    "off in stages 0-1 (no F-model uses it there) and a choice elsewhere.",
    "Stem widths {8,16} and head hidden widths {1600,1984} are those of F1-F4; the head conv is 6x224.",
    "Not in the space: the L1/L2 models (wider stage 2, more blocks) and mobile_cv's SE reduce activation "
    "(ours is ReLU in every SE, hard-swish in theirs for _hs blocks: no MAC/param difference).",
)


def fbnetv2_f(num_classes: int = 1000) -> SearchSpace:
    """The FBNetV2-F ImageNet space: per-block widths, F4's depths, the F-models' ops and expansions."""
    R, H = Act.RELU, Act.HSWISH
    both, k35 = (R, H), (3, 5)
    return SearchSpace(
        name="fbnetv2-f",
        resolutions=(128, 160, 192, 224),
        stem=StemChoices((8, 16), 3, 2, H),
        stages=(
            StageChoices((8, 16), 1, 1, (1.0,), k35, (False,), both, shared_width=False),
            StageChoices(
                (16, 24, 32),
                3,
                2,
                (1.7912, 4.7912, 5.4566),
                k35,
                (False,),
                both,
                skip=True,
                shared_width=False,
            ),
            StageChoices(
                (24, 32, 40),
                4,
                2,
                (3.5379, 4.5379, 5.3501),
                k35,
                (False, True),
                both,
                skip=True,
                shared_width=False,
            ),
            StageChoices(
                _steps(56, 112, 8),
                7,
                2,
                (1.7712, 2.1212, 2.507, 3.7712, 4.1212, 4.507, 5.0333, 5.1246, 5.7133),
                k35,
                (False, True),
                both,
                skip=True,
                shared_width=False,
            ),
            StageChoices(
                _steps(144, 224, 8),
                4,
                2,
                (2.84, 4.5685, 4.8754, 5.5685, 5.84, 6.8754),
                k35,
                (False, True),
                both,
                skip=True,
                shared_width=False,
            ),
        ),
        head=HeadSpec(conv_ch=1344, hidden_ch=1984, act=H),
        num_classes=num_classes,
        mid_rule="mobile_cv",
        head_hidden=(1600, 1984),
        notes=_FBNETV2_NOTES,
    )


def digits_space(num_classes: int = 10, in_ch: int = 3) -> SearchSpace:
    """A small space for 32x32 inputs (bundled digits): 118 candidate layers over 2 resolutions."""
    R, H = Act.RELU, Act.HSWISH
    return SearchSpace(
        name="digits",
        resolutions=(24, 32),
        stem=StemChoices((16,), 3, 2, H),
        stages=(
            StageChoices((16, 24), 1, 2, (3.0,), (3, 5), (False,), (R,)),
            StageChoices((24, 32), 2, 2, (3.0, 6.0), (3, 5), (False,), (R,), skip=True),
            StageChoices((32, 48), 2, 2, (3.0, 6.0), (3,), (False, True), (H,), skip=True),
        ),
        head=HeadSpec(conv_ch=96, hidden_ch=0, act=H),
        num_classes=num_classes,
        in_ch=in_ch,
    )


PRESETS: dict[str, Callable[..., SearchSpace]] = {"fbnetv2-f": fbnetv2_f, "digits": digits_space}


def get_space(name: str, num_classes: int | None = None, in_ch: int | None = None) -> SearchSpace:
    """A named preset (``digits``, ``fbnetv2-f``), optionally re-headed for ``num_classes`` / ``in_ch``."""
    if name not in PRESETS:
        raise SpaceError(f"unknown search space {name!r}; choose one of {', '.join(PRESETS)}")
    space = PRESETS[name]()
    if num_classes is not None or in_ch is not None:
        space = space.with_num_classes(num_classes or space.num_classes, in_ch)
    return space
