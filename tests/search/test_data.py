import pytest
import torch

from search.data import DataError, digits_dataset, load_data, make_loader


def test_digits_splits_are_disjoint_deterministic_and_cover_everything():
    b = load_data("digits", seed=3)
    sizes = {k: len(v) for k, v in b.splits.items()}
    assert sizes["train"] + sizes["arch"] + sizes["val"] + sizes["test"] == 1797
    assert sizes["trainval"] == sizes["train"] + sizes["arch"]
    x, y = b.split("train")[0]
    assert x.shape == (3, 32, 32) and y.dtype == torch.long
    again = digits_dataset("train", seed=3)
    assert torch.equal(again.tensors[0], b.split("train").tensors[0])
    other = digits_dataset("train", seed=4)
    assert not torch.equal(other.tensors[1], again.tensors[1])
    # every class in every split, approximately normalised
    for name in ("train", "arch", "val", "test"):
        assert len(torch.unique(b.split(name).tensors[1])) == 10
    assert abs(float(b.split("trainval").tensors[0].mean())) < 0.1


def test_digits_one_channel_and_size():
    ds = digits_dataset("test", size=16, channels=1)
    assert ds.tensors[0].shape[1:] == (1, 16, 16)


def test_loader_shuffle_is_seeded():
    ds = digits_dataset("val")
    a = next(iter(make_loader(ds, 16, shuffle=True, seed=1)))[1]
    b = next(iter(make_loader(ds, 16, shuffle=True, seed=1)))[1]
    assert torch.equal(a, b)


def test_bad_path_and_split_give_clear_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_data(str(tmp_path / "missing"))
    with pytest.raises(DataError, match="unknown split"):
        digits_dataset("bogus")
    with pytest.raises(DataError, match="needs a root"):
        load_data("cifar10")


def test_image_folder(tmp_path):
    from PIL import Image

    for c in range(2):
        d = tmp_path / f"class{c}"
        d.mkdir()
        for i in range(10):
            Image.new("RGB", (20, 20), color=(c * 200, i * 10, 0)).save(d / f"{i}.png")
    b = load_data(str(tmp_path), size=16)
    assert b.num_classes == 2
    x, y = b.split("train")[0]
    assert x.shape == (3, 16, 16)
    assert sum(len(b.split(s)) for s in ("train", "arch", "val", "test")) == 20
