"""The one architecture spec (stdlib only): typed dataclasses, string/JSON codec, shape propagation."""

from search.arch.codec import (
    SCHEMA_VERSION,
    arch_from_dict,
    arch_from_json,
    arch_to_dict,
    arch_to_json,
    decode_arch,
    decode_block,
    encode_arch,
    encode_block,
)
from search.arch.shapes import ArchProfile, LayerKind, LayerShape, place_block, profile_arch
from search.arch.spec import (
    Act,
    ArchError,
    ArchSpec,
    BlockSpec,
    BlockType,
    HeadSpec,
    StemSpec,
    fb_divisible,
    make_divisible,
)

__all__ = [
    "SCHEMA_VERSION",
    "Act",
    "ArchError",
    "ArchProfile",
    "ArchSpec",
    "BlockSpec",
    "BlockType",
    "HeadSpec",
    "LayerKind",
    "LayerShape",
    "StemSpec",
    "arch_from_dict",
    "arch_from_json",
    "arch_to_dict",
    "arch_to_json",
    "decode_arch",
    "decode_block",
    "encode_arch",
    "encode_block",
    "fb_divisible",
    "make_divisible",
    "place_block",
    "profile_arch",
]
