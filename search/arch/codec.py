"""Reversible compact strings and versioned JSON for :class:`ArchSpec`.

Block grammar (in the spirit of timm's ``_efficientnet_builder``), tokens joined by ``_``::

    ir_k5_e6_c40_s2_se_hs      inverted residual, 5x5 depthwise, expansion 6, 40 out channels,
                               stride 2, squeeze-excite, hard-swish
    ir_k3_e4_m56_c24_s1_relu   ... with an exact hidden width of 56 (overrides the expansion rule)
    skip_c40                   identity layer (stride 1, in == out)
    proj_c80_relu              1x1 conv-BN-act projection to 80 channels (stride 1; ``_s2`` for 2)

    k<int> kernel | e<num> expansion ratio | m<int> hidden width | c<int> out channels |
    s<int> stride | se squeeze-excite | relu / hs activation (default relu)

Arch grammar: sections joined by ``:``, stages by ``|``, blocks of a stage by ``,``::

    r224:stem_k3_c16_s2_hs:ir_k3_e1_c16_s2_se_relu|ir_k3_e4.5_c24_s2,ir_k3_e3.67_c24_s1:head_c576_h1024_hs:n1000

    r<int>[c<int>] input resolution [and input channels, default 3]
    stem_k<k>_c<ch>_s<s>_<act>
    head[_c<conv ch>][_h<hidden ch>]_<act>
    n<int> number of classes

Strings live only at the edges (CLI, logs, file names): parse them at once with :func:`decode_arch`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from search.arch.spec import Act, ArchError, ArchSpec, BlockSpec, BlockType, HeadSpec, StemSpec

SCHEMA_VERSION = 1

_TOKEN = re.compile(r"^(k|e|m|c|s|h|r|n)(\d+(?:\.\d+)?)$")


def _fmt_num(x: float) -> str:
    if float(x).is_integer():
        return str(int(x))
    short = f"{x:g}"
    return short if float(short) == x else repr(float(x))


def encode_block(b: BlockSpec) -> str:
    if b.type is BlockType.SKIP:
        return f"skip_c{b.out_ch}"
    if b.type is BlockType.PROJ:
        return f"proj_c{b.out_ch}" + (f"_s{b.stride}" if b.stride != 1 else "") + f"_{b.act.value}"
    parts = ["ir", f"k{b.kernel}", f"e{_fmt_num(b.expand)}"]
    if b.mid_ch is not None:
        parts.append(f"m{b.mid_ch}")
    parts += [f"c{b.out_ch}", f"s{b.stride}"]
    if b.se:
        parts.append("se")
    parts.append(b.act.value)
    return "_".join(parts)


def _fields(text: str, allowed: str, what: str) -> tuple[dict[str, float], set[str]]:
    nums: dict[str, float] = {}
    flags: set[str] = set()
    for tok in text.split("_")[1:]:
        m = _TOKEN.match(tok)
        if m and m.group(1) in allowed:
            if m.group(1) in nums:
                raise ArchError(f"{what} {text!r}: token {m.group(1)!r} given twice")
            nums[m.group(1)] = float(m.group(2))
        elif tok in ("se", "relu", "hs"):
            flags.add(tok)
        else:
            raise ArchError(f"{what} {text!r}: unknown token {tok!r} (see search.arch.codec for the grammar)")
    if {"relu", "hs"} <= flags:
        raise ArchError(f"{what} {text!r}: give one activation, relu or hs")
    return nums, flags


def _int(nums: dict[str, float], key: str, text: str, default: int | None = None) -> int:
    if key not in nums:
        if default is None:
            raise ArchError(f"{text!r}: missing '{key}<int>' token")
        return default
    v = nums[key]
    if not v.is_integer():
        raise ArchError(f"{text!r}: '{key}' needs an integer, got {v}")
    return int(v)


def decode_block(text: str) -> BlockSpec:
    text = text.strip()
    kind = text.split("_", 1)[0]
    if kind == "skip":
        nums, flags = _fields(text, "c", "block")
        return BlockSpec(BlockType.SKIP, out_ch=_int(nums, "c", text))
    if kind == "proj":
        nums, flags = _fields(text, "cs", "block")
        return BlockSpec(
            BlockType.PROJ,
            out_ch=_int(nums, "c", text),
            stride=_int(nums, "s", text, 1),
            act=Act.HSWISH if "hs" in flags else Act.RELU,
        )
    if kind != "ir":
        raise ArchError(f"block {text!r}: unknown block type {kind!r}; expected 'ir', 'proj' or 'skip'")
    nums, flags = _fields(text, "kemcs", "block")
    return BlockSpec(
        BlockType.IR,
        out_ch=_int(nums, "c", text),
        stride=_int(nums, "s", text, 1),
        kernel=_int(nums, "k", text, 3),
        expand=nums.get("e", 1.0),
        se="se" in flags,
        act=Act.HSWISH if "hs" in flags else Act.RELU,
        mid_ch=_int(nums, "m", text) if "m" in nums else None,
    )


def encode_arch(a: ArchSpec) -> str:
    res = f"r{a.input_hw}" + (f"c{a.in_ch}" if a.in_ch != 3 else "")
    stem = f"stem_k{a.stem.kernel}_c{a.stem.out_ch}_s{a.stem.stride}_{a.stem.act.value}"
    stages = "|".join(",".join(encode_block(b) for b in stage) for stage in a.stages)
    head = "head" + (f"_c{a.head.conv_ch}" if a.head.conv_ch else "")
    head += (f"_h{a.head.hidden_ch}" if a.head.hidden_ch else "") + f"_{a.head.act.value}"
    return ":".join([res, stem, stages, head, f"n{a.num_classes}"])


def decode_arch(text: str) -> ArchSpec:
    parts = text.strip().split(":")
    if len(parts) != 5:
        raise ArchError(
            "arch string needs 5 ':'-separated sections "
            f"(r<res>:stem_...:blocks:head_...:n<classes>), got {len(parts)}"
        )
    res, stem, stages, head, ncls = parts
    m = re.fullmatch(r"r(\d+)(?:c(\d+))?", res)
    if not m:
        raise ArchError(f"resolution section {res!r} must look like 'r224' (or 'r32c1' for 1 input channel)")
    if not stem.startswith("stem"):
        raise ArchError(f"stem section {stem!r} must start with 'stem_'")
    snums, sflags = _fields(stem, "kcs", "stem")
    stem_spec = StemSpec(
        out_ch=_int(snums, "c", stem),
        kernel=_int(snums, "k", stem, 3),
        stride=_int(snums, "s", stem, 2),
        act=Act.RELU if "relu" in sflags else Act.HSWISH,
    )
    if not head.startswith("head"):
        raise ArchError(f"head section {head!r} must start with 'head'")
    hnums, hflags = _fields(head, "ch", "head")
    head_spec = HeadSpec(
        conv_ch=_int(hnums, "c", head, 0),
        hidden_ch=_int(hnums, "h", head, 0),
        act=Act.RELU if "relu" in hflags else Act.HSWISH,
    )
    nm = re.fullmatch(r"n(\d+)", ncls)
    if not nm:
        raise ArchError(f"classes section {ncls!r} must look like 'n1000'")
    stage_specs = tuple(
        tuple(decode_block(b) for b in stage.split(",") if b.strip()) for stage in stages.split("|")
    )
    return ArchSpec(
        input_hw=int(m.group(1)),
        stem=stem_spec,
        stages=stage_specs,
        head=head_spec,
        num_classes=int(nm.group(1)),
        in_ch=int(m.group(2)) if m.group(2) else 3,
    )


def arch_to_dict(a: ArchSpec) -> dict[str, Any]:
    def block(b: BlockSpec) -> dict[str, Any]:
        d: dict[str, Any] = {"type": b.type.value, "out_ch": b.out_ch, "stride": b.stride}
        if b.type is BlockType.IR:
            d.update(kernel=b.kernel, expand=b.expand, se=b.se, act=b.act.value)
            if b.mid_ch is not None:
                d["mid_ch"] = b.mid_ch
        elif b.type is BlockType.PROJ:
            d["act"] = b.act.value
        return d

    return {
        "schema_version": SCHEMA_VERSION,
        "arch": encode_arch(a),
        "input_hw": a.input_hw,
        "in_ch": a.in_ch,
        "num_classes": a.num_classes,
        "stem": {
            "out_ch": a.stem.out_ch,
            "kernel": a.stem.kernel,
            "stride": a.stem.stride,
            "act": a.stem.act.value,
        },
        "stages": [[block(b) for b in stage] for stage in a.stages],
        "head": {"conv_ch": a.head.conv_ch, "hidden_ch": a.head.hidden_ch, "act": a.head.act.value},
    }


def arch_from_dict(d: Any) -> ArchSpec:
    if not isinstance(d, dict):
        raise ArchError(f"arch JSON must be an object, got {type(d).__name__}")
    version = d.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ArchError(
            f"arch JSON schema_version {version!r} is not supported (this PhoneNAS reads {SCHEMA_VERSION}); "
            "re-export the arch with this version"
        )
    try:
        stages = tuple(
            tuple(
                BlockSpec(
                    type=b["type"],
                    out_ch=b["out_ch"],
                    stride=b.get("stride", 1),
                    kernel=b.get("kernel", 3),
                    expand=b.get("expand", 1.0),
                    se=bool(b.get("se", False)),
                    act=b.get("act", "relu"),
                    mid_ch=b.get("mid_ch"),
                )
                for b in stage
            )
            for stage in d["stages"]
        )
        return ArchSpec(
            input_hw=d["input_hw"],
            stem=StemSpec(**d["stem"]),
            stages=stages,
            head=HeadSpec(**d.get("head", {})),
            num_classes=d.get("num_classes", 1000),
            in_ch=d.get("in_ch", 3),
        )
    except KeyError as e:
        raise ArchError(f"arch JSON is missing the field {e.args[0]!r}") from None
    except TypeError as e:
        raise ArchError(f"arch JSON has a malformed entry: {e}") from None


def arch_to_json(a: ArchSpec, indent: int | None = 2) -> str:
    return json.dumps(arch_to_dict(a), indent=indent)


def arch_from_json(text: str) -> ArchSpec:
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise ArchError(
            f"arch JSON is not valid JSON ({e.msg} at line {e.lineno} col {e.colno}); is the file truncated?"
        ) from None
    return arch_from_dict(d)
