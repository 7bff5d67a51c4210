"""Every target declared in deploy/targets/ (parametrized over the registry, as timm does over its models)."""

import subprocess
import sys
import textwrap

import pytest

from deploy import Dtype, registry
from deploy.pipeline import dtypes_for
from deploy.types import DeployError, TargetSpec
from deploy.verify import ArtifactCheck, add_speed_warnings

SPECS = registry.specs()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_declaration_is_consistent(spec: TargetSpec) -> None:
    target = registry.get_target(spec.name)
    assert target.spec is spec and target.name == spec.name and target.runtime == spec.runtime
    assert target.suffix == spec.suffix and target.dtypes == spec.dtypes and target.layout == spec.layout
    assert spec.base_dtype in spec.dtypes
    assert dtypes_for(target, ()) == [spec.base_dtype]
    assert set(spec.lut_dtypes.values()) <= spec.dtypes
    for name in spec.names:
        assert registry.resolve(name) is spec
        assert registry.resolve(f" {name.upper()} ") is spec  # what users type, case-insensitive
        assert name in registry.choices()


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_lut_identity(spec: TargetSpec) -> None:
    """A measurable target is the LUT target of its runtime + delegate; others point to the one that is."""
    from latency.keys import Context

    if spec.measurable:
        assert registry.lut_target(spec.name) is spec
        assert registry.lut_target(spec.runtime, spec.delegate) is spec
        for lut_dtype in spec.lut_dtypes:
            ctx = Context("host", spec.name, "v", lut_dtype.value, 1)
            assert (ctx.runtime, ctx.delegate, ctx.dtype) == (spec.runtime, spec.delegate, lut_dtype)
            assert ctx.target is spec
    else:
        with pytest.raises(DeployError, match="not measured for LUTs"):
            registry.lut_target(spec.name)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_known_slow_facts_reach_the_speed_warning(spec: TargetSpec) -> None:
    for dtype, why in spec.known_slow.items():
        checks = [
            ArtifactCheck(spec.name, Dtype.FP32, "pass", latency_ms=0.1),
            ArtifactCheck(spec.name, dtype, "pass", latency_ms=0.3),
        ]
        add_speed_warnings(checks)
        assert why in checks[1].warnings[0] and "3.0x SLOWER" in checks[1].warnings[0]


def test_every_runtime_name_resolves_to_a_target_of_that_runtime() -> None:
    for runtime in registry.runtime_names():
        assert registry.resolve(runtime).runtime == runtime


def test_names_users_already_type() -> None:
    assert registry.resolve("litert").name == "tflite"
    assert registry.resolve("onnxruntime").name == "onnx"
    assert registry.resolve("executorch").delegate == "xnnpack"
    assert registry.resolve("executorch-coreml").delegate == "coreml"
    assert registry.default_targets() == ("executorch", "coreml", "tflite", "onnx")


def test_listing_the_registry_imports_no_toolchain() -> None:
    code = (
        "import sys; from deploy import registry; registry.specs(); registry.choices(); "
        "import phonenas.cli.main; "
        "print([m for m in ('torch', 'executorch', 'coremltools', 'litert_torch', 'onnxruntime') "
        "if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_duplicate_names_are_refused() -> None:
    a = registry.resolve("onnx")
    twin = TargetSpec(
        "onnx2", "x", "onnxruntime", "cpu2", ".onnx", frozenset({Dtype.FP32}), aliases=("onnx",)
    )
    with pytest.raises(DeployError, match="declared by both onnx and onnx2"):
        registry.check_unique([a, twin])
    same_lut = TargetSpec(
        "onnx3",
        "x",
        "onnxruntime",
        "cpu",
        ".onnx",
        frozenset({Dtype.FP32}),
        lut_dtypes={Dtype.FP32: Dtype.FP32},
    )
    with pytest.raises(DeployError, match="both LUT targets of onnxruntime/cpu"):
        registry.check_unique([a, same_lut])


def test_bad_declarations_are_refused() -> None:
    with pytest.raises(ValueError, match="base dtype"):
        TargetSpec("x", "x", "rt", "cpu", ".x", frozenset({Dtype.INT8}))
    with pytest.raises(ValueError, match="LUT dtypes map"):
        TargetSpec("x", "x", "rt", "cpu", ".x", frozenset({Dtype.FP32}), lut_dtypes={Dtype.INT8: Dtype.INT8})
    with pytest.raises(ValueError, match="suffix"):
        TargetSpec("x", "x", "rt", "cpu", "x", frozenset({Dtype.FP32}))


NEW_TARGET = textwrap.dedent('''
    """A runtime added by one file (test fixture)."""
    from pathlib import Path

    from deploy.types import ArtifactInfo, DeclaredTarget, Dtype, TargetSpec

    SPEC = TargetSpec(
        name="tvm", title="Apache TVM (test)", runtime="tvm", delegate="llvm", suffix=".so",
        dtypes=frozenset({Dtype.FP32, Dtype.INT8}), lut_dtypes={Dtype.FP32: Dtype.FP32},
        known_slow={Dtype.INT8: "no int8 schedules tuned"}, aliases=("apache-tvm",), order=70,
    )


    class Tvm(DeclaredTarget):
        def export(self, model, example, dtype, out_path, calib=None):
            Path(out_path).write_text("tvm")
            return Path(out_path)

        def load(self, path, threads=1):
            raise NotImplementedError

        def inspect(self, path):
            return ArtifactInfo(ops={})

        def runtime_version(self):
            return "tvm 0.0"


    TARGET = Tvm(SPEC)
''')


def test_adding_a_runtime_is_adding_one_file(tmp_path, monkeypatch) -> None:
    """Drop one file into deploy/targets: names, CLI help, LUT contexts and caches pick it up."""
    import deploy.targets
    from latency.export import ArtifactCache
    from latency.keys import BlockKey, Context, context_target

    (tmp_path / "tvm.py").write_text(NEW_TARGET)
    monkeypatch.setattr(deploy.targets, "__path__", [*deploy.targets.__path__, str(tmp_path)])
    registry._targets.cache_clear()
    try:
        assert registry.target_names()[-1] == "tvm" and registry.resolve("apache-tvm").name == "tvm"
        assert "tvm (apache-tvm)" in registry.choices(measurable_only=True)
        assert "tvm" in registry.runtime_names() and "tvm" in registry.default_targets()
        ctx = Context("host", "tvm", "tvm 0.0", "fp32", 1)
        assert (ctx.runtime, ctx.delegate) == ("tvm", "llvm")
        key = BlockKey("ir", 3, 8, 24, 8, 8, 1, False, "relu")
        path = ArtifactCache(tmp_path / "art", ("t",)).path_for(key, "tvm", "fp32")
        assert path.suffix == ".so" and path.parent.name == "tvm-fp32"
        checks = [
            ArtifactCheck("tvm", Dtype.FP32, "pass", latency_ms=1.0),
            ArtifactCheck("tvm", Dtype.INT8, "pass", latency_ms=2.0),
        ]
        add_speed_warnings(checks)
        assert "no int8 schedules tuned" in checks[1].warnings[0]
    finally:
        monkeypatch.undo()
        registry._targets.cache_clear()
        context_target.cache_clear()
    assert "tvm" not in registry.target_names()
    with pytest.raises(ValueError, match="unknown deploy target 'tvm'"):
        Context("host", "tvm", "tvm 0.0", "fp32", 1)
