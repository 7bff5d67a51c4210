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
    place_block,
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
    """``depth`` blocks; the first has ``stride``; width shared by the stage; ops = kernels x se x acts (+skip)."""

    widths: tuple[int, ...]
    depth: int
    stride: int
    expands: tuple[float, ...] = (1.0,)
    kernels: tuple[int, ...] = (3,)
    se: tuple[bool, ...] = (False,)
    acts: tuple[Act, ...] = (Act.RELU,)
    skip: bool = False

    def ops(self, first: bool) -> tuple[OpChoice, ...]:
        ops = tuple(OpChoice(k, s, a) for k, s, a in itertools.product(self.kernels, self.se, self.acts))
        return ops + ((SKIP,) if self.skip and not first else ())


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

    def candidates(self, space: SearchSpace) -> Iterator[tuple[tuple[int, ...], LayerShape]]:
        """Every joint choice (indices in ``variables`` order) with its LayerShape."""
        sizes = [len(space.variable(v).values) for v in self.variables]
        for idx in itertools.product(*(range(n) for n in sizes)):
            yield idx, self.shape(dict(zip(self.variables, idx, strict=True)))


@dataclass(frozen=True)
class SearchSpace:
    name: str
    resolutions: tuple[int, ...]
    stem: StemChoices
    stages: tuple[StageChoices, ...]
    head: HeadSpec = field(default_factory=HeadSpec)
    num_classes: int = 1000
    in_ch: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "resolutions", tuple(sorted(set(self.resolutions))))
        if not self.resolutions or not self.stages:
            raise SpaceError(f"space {self.name!r}: needs at least one resolution and one stage")
        for k, st in enumerate(self.stages):
            if not st.widths or st.depth < 1:
                raise SpaceError(f"space {self.name!r}, stage {k}: needs width choices and depth >= 1")
            prev = self.stem.widths if k == 0 else self.stages[k - 1].widths
            for c_in, e in itertools.product(prev + st.widths, st.expands):
                mid = BlockSpec(BlockType.IR, 8, expand=e).mid_channels(c_in)
                if len(st.expands) > 1 and mid == c_in:
                    raise SpaceError(
                        f"space {self.name!r}, stage {k}: expansion {e} of width {c_in} keeps the width "
                        "(no expansion conv in the child) while other choices expand; use expansions >= 2"
                    )
        self.max_arch()  # validates strides against the smallest resolution

    # -- variables -------------------------------------------------------------------------------
    def variables(self) -> tuple[Variable, ...]:
        out = [Variable("res", self.resolutions), Variable("stem.w", self.stem.widths)]
        for k, st in enumerate(self.stages):
            out.append(Variable(f"s{k}.w", st.widths))
            for j in range(st.depth):
                out.append(Variable(f"s{k}.b{j}.e", st.expands))
                out.append(Variable(f"s{k}.b{j}.op", st.ops(first=j == 0)))
        return tuple(out)

    def variable(self, name: str) -> Variable:
        for v in self.variables():
            if v.name == name:
                return v
        raise KeyError(name)

    @property
    def num_archs(self) -> int:
        """Distinct children (a skipped block's expansion does not count as a different child)."""
        n = len(self.resolutions) * len(self.stem.widths)
        for st in self.stages:
            n *= len(st.widths)
            for j in range(st.depth):
                ops = st.ops(first=j == 0)
                n_ir = sum(not o.skip for o in ops)
                n *= n_ir * len(st.expands) + (len(ops) - n_ir)
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
        prev_var, prev_widths, pos = "stem.w", stem.widths, 0
        for k, st in enumerate(self.stages):
            w_var = f"s{k}.w"
            for j in range(st.depth):
                name, e_var, op_var = f"s{k}.b{j}", f"s{k}.b{j}.e", f"s{k}.b{j}.op"
                in_var, in_widths = (prev_var, prev_widths) if j == 0 else (w_var, st.widths)
                ops, stride = st.ops(first=j == 0), st.stride if j == 0 else 1
                variables = ("res", in_var, e_var, op_var) + ((w_var,) if j == 0 else ())
                templates.append(
                    LayerTemplate(
                        name,
                        LayerKind.IR,
                        variables,
                        _block_shape_fn(
                            name,
                            in_var,
                            in_widths,
                            w_var,
                            st,
                            ops,
                            stride,
                            e_var,
                            op_var,
                            hw_by_res,
                            pos,
                            res,
                        ),
                    )
                )
                pos += 1
            prev_var, prev_widths = w_var, st.widths
        head, ncls = self.head, self.num_classes

        def head_shape(
            c: Mapping[str, int], _v: str = prev_var, _w: tuple[int, ...] = prev_widths
        ) -> LayerShape:
            hw = hw_by_res[res[c["res"]]][-1]
            return LayerShape(
                "head",
                LayerKind.HEAD,
                _w[c[_v]],
                head.conv_ch,
                ncls,
                hw,
                1,
                1,
                1,
                False,
                head.act,
                hidden_ch=head.hidden_ch,
            )

        templates.append(LayerTemplate("head", LayerKind.HEAD, ("res", prev_var), head_shape))
        return tuple(templates)

    def candidate_layers(self) -> Iterator[LayerShape]:
        """Every distinct placed layer the supernet's expected cost asks a CostModel about (first name wins)."""
        seen: set[LayerShape] = set()
        for t in self.layer_templates():
            for _, shape in t.candidates(self):
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
        stages, ch = [], stem.out_ch
        for k, st in enumerate(self.stages):
            w = st.widths[choices[f"s{k}.w"]]
            blocks = []
            for j in range(st.depth):
                op = st.ops(first=j == 0)[choices[f"s{k}.b{j}.op"]]
                if op.skip:
                    blocks.append(BlockSpec(BlockType.SKIP, w, 1, act=op.act))
                else:
                    blocks.append(
                        BlockSpec(
                            BlockType.IR,
                            w,
                            st.stride if j == 0 else 1,
                            op.kernel,
                            st.expands[choices[f"s{k}.b{j}.e"]],
                            op.se,
                            op.act,
                        )
                    )
            stages.append(tuple(blocks))
            ch = w
        del ch
        return ArchSpec(
            self.resolutions[choices["res"]], stem, tuple(stages), self.head, self.num_classes, self.in_ch
        )

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
            "stages": [
                {
                    "widths": list(s.widths),
                    "depth": s.depth,
                    "stride": s.stride,
                    "expands": list(s.expands),
                    "ops": [o.label for o in s.ops(first=False)],
                }
                for s in self.stages
            ],
        }


def _block_shape_fn(name, in_var, in_widths, w_var, st, ops, stride, e_var, op_var, hw_by_res, pos, res):
    def shape(c: Mapping[str, int]) -> LayerShape:
        c_in = in_widths[c[in_var]]
        c_out = st.widths[c[w_var]]
        op: OpChoice = ops[c[op_var]]
        hw = hw_by_res[res[c["res"]]][pos]
        if op.skip:
            b = BlockSpec(BlockType.SKIP, c_out, 1, act=op.act)
        else:
            b = BlockSpec(BlockType.IR, c_out, stride, op.kernel, st.expands[c[e_var]], op.se, op.act)
        return place_block(name, b, c_in, hw)

    return shape


def _steps(lo: int, hi: int, step: int) -> tuple[int, ...]:
    return tuple(range(lo, hi + 1, step))


def fbnetv2_f(num_classes: int = 1000) -> SearchSpace:
    """The FBNetV2-F-like ImageNet space: stage widths 12-16, 16-28, 16-40, 48-96, 72-128, 112-216."""
    R, H = Act.RELU, Act.HSWISH
    return SearchSpace(
        name="fbnetv2-f",
        resolutions=(128, 160, 192, 224),
        stem=StemChoices((16,), 3, 2, H),
        stages=(
            StageChoices(_steps(12, 16, 4), 1, 1, (1.0,), (3,), (False,), (R,)),
            StageChoices(_steps(16, 28, 4), 2, 2, (2.0, 4.0, 6.0), (3, 5), (False,), (R,), skip=True),
            StageChoices(_steps(16, 40, 8), 3, 2, (2.0, 4.0, 6.0), (3, 5), (False, True), (R, H), skip=True),
            StageChoices(_steps(48, 96, 8), 4, 2, (2.0, 4.0, 6.0), (3, 5), (False, True), (R, H), skip=True),
            StageChoices(_steps(72, 128, 8), 4, 1, (2.0, 4.0, 6.0), (3, 5), (False, True), (R, H), skip=True),
            StageChoices(
                _steps(112, 216, 8), 4, 2, (2.0, 4.0, 6.0), (3, 5), (False, True), (R, H), skip=True
            ),
        ),
        head=HeadSpec(conv_ch=1984, hidden_ch=0, act=H),
        num_classes=num_classes,
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
