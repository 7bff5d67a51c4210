"""FBNetV2 building blocks: straight-line, export-friendly nn.Modules."""

from search.blocks.ir import Head, InvertedResidual, Stem, build_layer
from search.blocks.layers import ConvBnAct, SqueezeExcite, make_act

__all__ = ["ConvBnAct", "Head", "InvertedResidual", "SqueezeExcite", "Stem", "build_layer", "make_act"]
