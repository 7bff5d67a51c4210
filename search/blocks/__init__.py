"""FBNetV2 building blocks: straight-line, export-friendly nn.Modules."""

from search.blocks.ir import Head, InvertedResidual, Projection, Stem, build_layer
from search.blocks.layers import ConvBnAct, SqueezeExcite, make_act

__all__ = [
    "ConvBnAct",
    "Head",
    "InvertedResidual",
    "Projection",
    "SqueezeExcite",
    "Stem",
    "build_layer",
    "make_act",
]
