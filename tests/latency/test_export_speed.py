"""Export speed-ups of LUT artifacts keep the artifacts: the CIA-op memo is exact and byte-neutral."""

from __future__ import annotations

import pytest

from latency import export as E
from latency.keys import BlockKey
from search.arch import Act, LayerKind


def _original():
    import torch._export.utils as utils

    fn = utils._collect_all_valid_cia_ops
    return getattr(fn, "_phonenas_original", fn)


def test_memo_gives_torchs_answer_and_follows_new_registrations() -> None:
    import torch
    import torch._export.utils as utils
    import torch.export.exported_program as ep

    assert E.install_decomposition_memo()
    assert E.install_decomposition_memo()  # idempotent: wraps once
    memo = ep._collect_all_valid_cia_ops
    assert getattr(memo, "_phonenas_memo", False) and utils._collect_all_valid_cia_ops is memo
    assert not getattr(getattr(memo, "_phonenas_original"), "_phonenas_memo", False)  # noqa: B009
    first = memo()
    assert first == _original()()
    first.clear()  # a caller modifying its copy does not touch the memo
    assert memo() == _original()()

    # a custom op with a CompositeImplicitAutograd kernel registered afterwards is seen, as torch sees it
    lib = torch.library.Library("phonenas_memo_test", "DEF")
    lib.define("twice(Tensor x) -> Tensor")
    lib.impl("twice", lambda x: x * 2, "CompositeImplicitAutograd")
    try:
        after = memo()
        assert after == _original()()
        assert torch.ops.phonenas_memo_test.twice.default in after
    finally:
        lib._destroy()


@pytest.mark.parametrize("runtime", ["executorch", "litert"])
def test_artifact_is_byte_identical_with_and_without_the_memo(tmp_path, runtime, monkeypatch) -> None:
    import torch._export.utils as utils
    import torch.export.decomp_utils as du
    import torch.export.exported_program as ep

    key = BlockKey(LayerKind.IR, 3, 8, 16, 8, 8, 1, False, Act.RELU)
    suffix = ".pte" if runtime == "executorch" else ".tflite"
    E.install_decomposition_memo()
    with_memo = E.export_entry(key, runtime, "fp32", tmp_path / f"memo{suffix}").read_bytes()
    orig = _original()
    monkeypatch.setattr(E, "install_decomposition_memo", lambda: False)
    for mod in (utils, ep, du):
        monkeypatch.setattr(mod, "_collect_all_valid_cia_ops", orig)
    plain = E.export_entry(key, runtime, "fp32", tmp_path / f"plain{suffix}").read_bytes()
    assert with_memo == plain
