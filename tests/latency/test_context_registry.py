"""LUT contexts record runtime + delegate from deploy's registry; old stores migrate; one context
selection."""

import hashlib
import json

import pandas as pd
import pytest

from latency.correction import Correction
from latency.export import ArtifactCache, deploy_dtype
from latency.keys import BlockKey, Context, Runtime, keys_from_archs
from latency.lut import LUT
from latency.selection import AmbiguousContext, ContextFilter, NoMatchingContext, select_context
from latency.store import SCHEMA_VERSION, LUTStore, LUTStoreError, migrate_v1_to_v2
from latency.summary import slowest_entries, summarize_store
from latency.target_latency import predict_targets
from tests.support.lut_fakes import fake_row, small_arch

XNN = Context("host", "executorch", "1.5.1", "int8", 1)
CML = Context("host", "executorch-coreml", "1.5.1", "int8", 1)


def test_executorch_delegates_are_different_contexts() -> None:
    assert (XNN.runtime, XNN.delegate) == ("executorch", "xnnpack")
    assert (CML.runtime, CML.delegate) == ("executorch", "coreml")
    assert XNN != CML and XNN.digest() != CML.digest()
    assert Context("host", "executorch", "1.5.1", "int8", 1, "", "coreml") == CML
    assert "executorch/coreml" in CML.label() and "executorch/xnnpack" in XNN.label()
    key = BlockKey("ir", 3, 8, 24, 8, 8, 1, False, "relu")
    cache = ArtifactCache("art", ("t",))
    assert cache.path_for(key, "executorch", "int8") != cache.path_for(key, "executorch-coreml", "int8")


def test_names_users_type_resolve_to_one_runtime_name() -> None:
    assert Runtime("litert") == Runtime("tflite") == "litert" and Runtime("onnx").value == "onnxruntime"
    assert Context("host", "onnx", "v", "fp32", 1).runtime == "onnxruntime"
    assert Context("host", "litert", "v", "fp32", 1) == Context("host", "tflite", "v", "fp32", 1)
    with pytest.raises(ValueError, match="unknown deploy target 'tensorrt'"):
        Context("host", "tensorrt", "v", "fp32", 1)
    with pytest.raises(ValueError, match=r"executorch LUTs are measured in fp32 or int8, not fp16"):
        Context("host", "executorch", "v", "fp16", 1)
    with pytest.raises(ValueError, match="has no LUT target with delegate 'vulkan'"):
        Context("host", "executorch", "v", "fp32", 1, "", "vulkan")
    assert str(deploy_dtype("coreml", "int8")) == "int8w"  # the Core ML LUT times int8 weights


def _v1_part(root, rows: list[dict], name: str = "part-00000000000000000001-1-v1.parquet") -> None:
    """Rows as schema 1 wrote them: no delegate column, ONNX rows with runtime 'onnx'."""
    df = pd.DataFrame(rows).drop(columns=["delegate"])
    df["runtime"] = df["runtime"].replace({"onnxruntime": "onnx"})
    df["schema_version"] = 1
    root.mkdir(parents=True, exist_ok=True)
    df.to_parquet(root / name, index=False)


def test_v1_store_migrates_with_the_delegate_its_runtime_implied(tmp_path) -> None:
    keys = keys_from_archs([small_arch()])
    onnx = Context("host", "onnx", "onnxruntime 1.20", "fp32", 1)
    root = tmp_path / "lut"
    _v1_part(root, [fake_row(XNN, k, 1.0) for k in keys] + [fake_row(onnx, keys[0], 2.0)])
    # a correction fitted under schema 1: named by the digest of the v1 context (as v1's Context.digest)
    v1_ctx = {f: v for f, v in XNN.as_row().items() if f != "delegate"}
    v1_digest = hashlib.sha256(repr(tuple(v1_ctx.values())).encode()).hexdigest()[:16]
    assert Correction.path(root, XNN).name != f"{v1_digest}.json"
    (root / "corrections").mkdir()
    payload = {
        "context": v1_ctx,
        "call_ms": 0.01,
        "io_ms_per_melem": 0.2,
        "method": "fitted on 2",
        "models": [],
    }
    (root / "corrections" / f"{v1_digest}.json").write_text(json.dumps(payload))

    store = LUTStore(root)
    df = store.frame()
    assert set(df["schema_version"]) == {SCHEMA_VERSION}
    assert set(zip(df["runtime"], df["delegate"], strict=True)) == {
        ("executorch", "xnnpack"),
        ("onnxruntime", "cpu"),
    }
    assert store.contexts() == sorted([XNN, onnx])
    assert store.has(XNN, keys[0]) and not store.has(CML, keys[0])
    assert Correction.load(root, XNN) == Correction(0.01, 0.2, "fitted on 2")  # found under its v2 name
    assert (root / "corrections" / f"{v1_digest}.json").exists()  # the old file stays
    lut = LUT.from_store(store, XNN)
    assert len(lut) == len(keys) and lut.correction.method == "fitted on 2"
    # new rows append next to the migrated ones; compaction rewrites everything in the current schema
    store.append([fake_row(CML, keys[0], 3.0)])
    store.compact()
    (part,) = store.parts()
    assert set(pd.read_parquet(part)["schema_version"]) == {SCHEMA_VERSION}
    assert len(LUTStore(root).frame()) == len(keys) + 2


def test_unknown_or_newer_schema_is_a_clear_error(tmp_path) -> None:
    row = fake_row(XNN, keys_from_archs([small_arch()])[0], 1.0)
    df = pd.DataFrame([row]).drop(columns=["delegate"])
    df["runtime"], df["schema_version"] = "tensorrt", 1
    with pytest.raises(LUTStoreError, match="unknown runtime"):
        migrate_v1_to_v2(df)
    newer = pd.DataFrame([row])
    newer["schema_version"] = SCHEMA_VERSION + 1
    tmp_path.mkdir(exist_ok=True)
    newer.to_parquet(tmp_path / "part-1.parquet", index=False)
    with pytest.raises(LUTStoreError, match="upgrade PhoneNAS"):
        LUTStore(tmp_path).frame()


def _store(tmp_path, contexts, ms=lambda k: 0.01 * (k.in_ch + k.out_ch), drop=()) -> LUTStore:
    store = LUTStore(tmp_path / "lut")
    keys = keys_from_archs([small_arch()])
    for ctx in contexts:
        store.append([fake_row(ctx, k, ms(k)) for k in keys if k not in drop])
        store.append([fake_row(ctx, keys[0], 0.005, entry="overhead")])
    return store


def test_one_context_selection(tmp_path) -> None:
    pixel = Context("pixel8", "executorch", "1.5.1", "int8", 1)
    store = _store(tmp_path, [XNN, CML, pixel])
    assert select_context(store, ContextFilter("host", "executorch"))[1] == XNN
    assert select_context(store, ContextFilter("host", "executorch-coreml"))[1] == CML
    assert ContextFilter(runtime="executorch").select(store.contexts()) == sorted([XNN, pixel])
    assert ContextFilter(dtype="INT8", threads=1).select(store.contexts()) == store.contexts()
    with pytest.raises(AmbiguousContext, match="several LUT contexts match: .*narrow with --device"):
        select_context(store, ContextFilter(runtime="executorch"))
    with pytest.raises(NoMatchingContext, match=r"no LUT in .* \(stored contexts: host executorch/"):
        select_context(store, ContextFilter(runtime="litert"))
    with pytest.raises(ValueError, match="unknown dtype 'int4'; choose"):
        ContextFilter(dtype="int4")


def test_store_summary_and_slowest_entries(tmp_path) -> None:
    store = _store(tmp_path, [XNN, CML])
    (s,) = summarize_store(store, ContextFilter(runtime="executorch-coreml"))
    keys = keys_from_archs([small_arch()])
    medians = [0.01 * (k.in_ch + k.out_ch) for k in keys]
    assert s.context == CML and s.entries == len(keys) and s.call_ms == pytest.approx(0.005)
    assert (s.median_min_ms, s.median_max_ms) == (pytest.approx(min(medians)), pytest.approx(max(medians)))
    top = slowest_entries(store, CML, 2)
    assert [e.median_ms for e in top] == pytest.approx(sorted(medians, reverse=True)[:2])


def test_prediction_to_dict_is_json_ready(tmp_path) -> None:
    store = _store(tmp_path, [XNN])
    pred = LUT.from_store(store, XNN).predict(small_arch())
    d = json.loads(json.dumps(pred.to_dict()))
    assert d["latency_ms"] == pytest.approx(pred.latency_ms) and d["context"]["delegate"] == "xnnpack"
    assert [x["name"] for x in d["layers"]] == [c.name for c in pred.layers]
    assert d["correction"] == "measured call overhead"


def test_predicted_latency_per_deploy_target(tmp_path) -> None:
    arch = small_arch()
    lite = Context("host", "litert", "2.3", "fp32", 1)
    coreml_int8 = Context("host", "coreml", "9.0", "int8", 1)
    store = _store(tmp_path, [XNN, lite, coreml_int8])
    got = predict_targets(store, arch, ["executorch", "tflite", "tflite-nhwc", "coreml", "onnx"], "host", 1)
    want = {c: LUT.from_store(store, c).predict(arch).latency_ms for c in (XNN, lite, coreml_int8)}
    assert got.latency_ms == {
        ("executorch", "int8"): pytest.approx(want[XNN]),
        ("tflite", "fp32"): pytest.approx(want[lite]),
        ("tflite-nhwc", "fp32"): pytest.approx(want[lite]),  # same runtime and delegate: the tflite LUT
        ("coreml", "int8w"): pytest.approx(want[coreml_int8]),  # a Core ML int8 LUT times int8 weights
    }
    assert not got.notes
    assert not predict_targets(store, arch, ["executorch"], "host", 2).latency_ms  # other thread count


def test_predicted_latency_says_why_it_is_missing(tmp_path) -> None:
    arch = small_arch()
    keys = keys_from_archs([arch])
    other = Context("pixel8", "executorch", "1.5.1", "int8", 1)
    store = _store(tmp_path, [XNN, other])
    got = predict_targets(store, arch, ["executorch"], None, 1)
    assert not got.latency_ms and "several LUTs match" in got.notes[0] and "pass --device" in got.notes[0]
    partial = _store(tmp_path / "p", [XNN], drop=keys[1:2])
    got = predict_targets(partial, arch, ["executorch"], "host", 1)
    assert not got.latency_ms and "1 layer(s) missing from the LUT" in got.notes[0]
