"""Search: FBNetV2 blocks, dense builder, zoo, search space, masked supernet and the search loop."""
