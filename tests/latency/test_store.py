import threading

import pytest

from latency.keys import BlockKey, keys_from_archs
from latency.store import COLUMNS, LUTStore, LUTStoreError
from tests.support.lut_fakes import fake_row, small_arch


def _keys():
    return keys_from_archs([small_arch(24), small_arch(32)])


def test_append_read_back_and_resume(tmp_path, ctx):
    keys = _keys()
    s = LUTStore(tmp_path / "lut")
    s.append([fake_row(ctx, keys[0], 1.0)])
    s.append([fake_row(ctx, k, 2.0) for k in keys[1:3]])
    df = s.frame()
    assert len(df) == 3 and list(df.columns) == list(COLUMNS)
    assert list(df["samples_ms"].iloc[0]) == pytest.approx([0.98, 1.0, 1.0, 1.02, 1.01])
    # a fresh store object (a new process) sees the same rows and answers `has`
    s2 = LUTStore(tmp_path / "lut")
    assert all(s2.has(ctx, k) for k in keys[:3]) and not s2.has(ctx, keys[3])
    assert s2.contexts() == [ctx]


def test_duplicates_keep_first_and_compact_is_lossless(tmp_path, ctx):
    k = _keys()[0]
    s = LUTStore(tmp_path)
    s.append([fake_row(ctx, k, 1.0)])
    s.append([fake_row(ctx, k, 5.0)])  # a racing worker measured the same key
    s.append([fake_row(ctx, _keys()[1], 2.0)])
    df = s.frame()
    assert len(df) == 2
    assert float(df[df["in_ch"] == k.in_ch]["median_ms"].iloc[0]) == pytest.approx(1.0)
    before = s.frame().sort_values("row_id").reset_index(drop=True)
    s.compact()
    assert len(s.parts()) == 1
    after = LUTStore(tmp_path).frame().sort_values("row_id").reset_index(drop=True)
    assert before["row_id"].tolist() == after["row_id"].tolist()


def test_interrupted_compaction_leaves_no_duplicates(tmp_path, ctx):
    s = LUTStore(tmp_path)
    for k in _keys()[:3]:
        s.append([fake_row(ctx, k, 1.0)])
    # simulate a crash after the merged part landed but before the old ones were removed
    import pandas as pd

    merged = pd.concat([pd.read_parquet(p) for p in s.parts()])
    merged.to_parquet(tmp_path / "part-99999999999999999999-1-compact.parquet", index=False)
    assert len(LUTStore(tmp_path).frame()) == 3


def test_corrupt_part_is_a_clear_error(tmp_path, ctx):
    s = LUTStore(tmp_path)
    p = s.append([fake_row(ctx, _keys()[0], 1.0)])
    s.append([fake_row(ctx, _keys()[1], 1.0)])
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(LUTStoreError, match=p.name):
        LUTStore(tmp_path).frame()


def test_leftover_temp_file_is_ignored(tmp_path, ctx):
    s = LUTStore(tmp_path)
    s.append([fake_row(ctx, _keys()[0], 1.0)])
    (tmp_path / ".tmp-part-123.parquet").write_bytes(b"half written")
    assert len(LUTStore(tmp_path).frame()) == 1


def test_store_path_that_is_a_file(tmp_path):
    f = tmp_path / "lut.parquet"
    f.write_text("x")
    with pytest.raises(LUTStoreError, match="directory"):
        LUTStore(f)


def test_concurrent_appends_from_threads(tmp_path, ctx):
    keys = [BlockKey("ir", 3, c, c * 3, c, 8, 1, False, "relu") for c in range(8, 8 + 40)]
    s = LUTStore(tmp_path)

    def work(chunk):
        for k in chunk:
            s.append([fake_row(ctx, k, 1.0)])

    threads = [threading.Thread(target=work, args=(keys[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(s.frame()) == 40
    assert len(LUTStore(tmp_path).frame()) == 40


def test_csv_export(tmp_path, ctx):
    s = LUTStore(tmp_path / "lut")
    s.append([fake_row(ctx, _keys()[0], 1.0)])
    out = s.export_csv(tmp_path / "lut.csv")
    assert "median_ms" in out.read_text().splitlines()[0]
