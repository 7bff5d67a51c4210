"""benchmarks/lut_scale.py end to end on a small space and budget: the results file says what ran where,
and scores whole models predicted from the finished LUT."""

from __future__ import annotations

import json

import pytest

from benchmarks import lut_scale


@pytest.mark.slow
def test_lut_scale_smoke_records_machine_commit_and_heldout(tmp_path):
    out = tmp_path / "res" / "lut_scale"
    args = ["--space", "digits", "--contexts", "executorch:fp32", "--budget-min", "0.2", "--initial", "12"]
    args += ["--batch", "6", "--calib", "2", "--light", "1", "--heldout", "4", "--heldout-rounds", "2"]
    args += ["--whole", "2"]
    args += ["--export-workers", "1", "--work", str(tmp_path / "work"), "--out", str(out)]
    res = lut_scale.main(args)
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["contexts"] == json.loads(json.dumps(res["contexts"]))
    (c,) = saved["contexts"]
    assert (c["runtime"], c["dtype"]) == ("executorch", "fp32")
    assert c["measured"] >= 12 and c["predicted"] > 0
    assert c["cpu"] and "commit" in c and c["heldout_rounds"] == 2
    # calibration first, then the loop with what is left (here nothing: the designed sample only)
    assert c["calibration_min"] > 0 and c["loop_min"] > 0 and c["stop"] == "budget"
    assert c["calibration_min"] + c["loop_min"] <= c["wall_min"] + 0.01
    assert c["heldout_n"] == 4 and c["heldout_block_rmspe_pct"] >= 0
    # the end-to-end check: models predicted from the finished LUT, then timed whole
    assert c["whole_n"] == 2 and not c["whole_skipped"]
    assert 0 <= c["whole_within10_pct"] <= 100 and c["whole_rmspe_pct"] >= 0
    for m in c["whole_models"]:
        assert m["measured_ms"] > 0 and m["predicted_ms"] > 0 and 0 <= m["learned_layers"] <= m["layers"]
        assert m["err_pct"] == pytest.approx(100 * (m["predicted_ms"] / m["measured_ms"] - 1), abs=0.2)
    learned = sum(m["learned_layers"] for m in c["whole_models"])
    assert c["whole_learned_layers_pct"] == pytest.approx(
        100 * learned / sum(m["layers"] for m in c["whole_models"]), abs=0.1
    )
    md = out.with_suffix(".md").read_text()
    assert "| CPU | commit |" in md and c["cpu"] in md
    assert all(m["name"] in md for m in c["whole_models"])


def test_lut_scale_rejects_negative_counts(tmp_path):
    with pytest.raises(SystemExit, match="--whole"):
        lut_scale.main(["--whole", "-1", "--out", str(tmp_path / "x")])


def test_lut_scale_rejects_zero_rounds(tmp_path):
    with pytest.raises(SystemExit, match="rounds"):
        lut_scale.main(["--heldout-rounds", "0", "--out", str(tmp_path / "x")])


def test_lut_scale_append_keeps_other_cpus_and_replaces_same_cpu():
    def entry(rt, dt, cpu, wall):
        return {"runtime": rt, "dtype": dt, "cpu": cpu, "wall_min": wall}

    kept = [entry("executorch", "fp32", "Intel", 11.0), entry("litert", "fp32", "Intel", 11.0)]
    kept.append(entry("executorch", "fp32", "AMD", 9.0))
    fresh = [entry("executorch", "fp32", "AMD", 8.0)]
    merged = lut_scale.merge_contexts(kept, fresh)
    assert merged == kept[:2] + fresh  # Intel entries stay, the AMD fp32 re-run replaces its old entry
    assert lut_scale.merge_contexts([], fresh) == fresh


def test_host_cpu_label_names_the_last_level_cache(tmp_path):
    """Two VMs that both say "AMD EPYC" but have 16 and 32 MiB of L3 are two machines in the results."""
    from latency.meters import host_cpu_label, host_cpu_model

    for i, (level, size) in enumerate([(1, "32K"), (2, "512K"), (3, "16384K")]):
        d = tmp_path / f"index{i}"
        d.mkdir()
        (d / "level").write_text(f"{level}\n")
        (d / "size").write_text(f"{size}\n")
    assert host_cpu_label(tmp_path) == f"{host_cpu_model()} (16 MiB L3)"
    (tmp_path / "index2" / "size").write_text("2M\n")
    assert host_cpu_label(tmp_path / "index2") == host_cpu_model()  # no index* below it: the bare model
    (tmp_path / "index2" / "level").write_text("4\n")  # the highest level wins, whatever its size
    assert host_cpu_label(tmp_path) == f"{host_cpu_model()} (2 MiB L4)"
    (tmp_path / "index2" / "size").write_text("junk\n")  # unreadable sizes are skipped
    assert host_cpu_label(tmp_path) == f"{host_cpu_model()} (512 KiB L2)"
