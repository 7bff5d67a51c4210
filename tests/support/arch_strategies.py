"""Hypothesis strategies for valid ``ArchSpec`` s and ``BlockSpec`` s (codec and build property tests)."""

from hypothesis import strategies as st

from search.arch import Act, ArchSpec, BlockSpec, BlockType, HeadSpec, StemSpec

ACTS = st.sampled_from(list(Act))


@st.composite
def blocks(draw, in_ch: int, hw: int) -> BlockSpec:
    if draw(st.booleans()) and draw(st.integers(0, 4)) == 0:
        return BlockSpec(BlockType.SKIP, out_ch=in_ch)
    return BlockSpec(
        BlockType.IR,
        out_ch=draw(st.integers(1, 48)),
        stride=draw(st.sampled_from((1, 2) if hw >= 2 else (1,))),
        kernel=draw(st.sampled_from((1, 3, 5, 7))),
        expand=draw(
            st.one_of(
                st.integers(1, 8).map(float),
                st.floats(1.0, 8.0, allow_nan=False, allow_infinity=False),
            )
        ),
        se=draw(st.booleans()),
        act=draw(ACTS),
        mid_ch=draw(st.one_of(st.none(), st.integers(1, 96))),
    )


@st.composite
def archs(draw, max_hw: int = 256) -> ArchSpec:
    input_hw = draw(st.integers(8, max_hw))
    stem = StemSpec(
        out_ch=draw(st.integers(1, 32)),
        kernel=draw(st.sampled_from((1, 3, 5, 7))),
        stride=draw(st.sampled_from((1, 2))),
        act=draw(ACTS),
    )
    ch, hw = stem.out_ch, -(-input_hw // stem.stride)
    stages = []
    for _ in range(draw(st.integers(1, 4))):
        stage = []
        for _ in range(draw(st.integers(1, 3))):
            b = draw(blocks(ch, hw))
            stage.append(b)
            ch, hw = b.out_ch, -(-hw // b.stride)
        stages.append(tuple(stage))
    head = HeadSpec(conv_ch=draw(st.integers(0, 64)), hidden_ch=draw(st.integers(0, 64)), act=draw(ACTS))
    return ArchSpec(
        input_hw=input_hw,
        stem=stem,
        stages=tuple(stages),
        head=head,
        num_classes=draw(st.integers(1, 1000)),
        in_ch=draw(st.integers(1, 4)),
    )
