"""Calibration and verification data for deploy, from the same sources as search (``search.data``)."""

from __future__ import annotations

import torch

from deploy.pipeline import EvalData, Normalization
from deploy.types import DeployError
from search.arch import ArchSpec
from search.data import DIGITS_MEAN, DIGITS_STD, IMAGENET_MEAN, IMAGENET_STD, load_data


def eval_data(
    source: str, arch: ArchSpec, n_calib: int = 128, n_verify: int = 200, seed: int = 0
) -> EvalData:
    """``n_calib`` train images for PT2E calibration and ``n_verify`` labelled test images for checks.

    ``source`` is ``"digits"`` (bundled), an ImageFolder path, or ``cifar10:<root>``; images are
    produced at the arch's resolution and channel count, normalised like training.
    """
    try:
        bundle = load_data(source, size=arch.input_hw, channels=arch.in_ch, seed=seed)
    except ValueError as e:
        raise DeployError(f"calibration data {source!r}: {e}") from None
    if bundle.num_classes != arch.num_classes:
        raise DeployError(
            f"the data has {bundle.num_classes} classes but the arch has {arch.num_classes}; "
            f"build the arch for this data (e.g. --num-classes {bundle.num_classes})"
        )
    calib = bundle.calibration_inputs(n_calib)
    test = bundle.split("test")
    n = min(n_verify, len(test))  # type: ignore[arg-type]
    xs, ys = zip(*(test[i] for i in range(n)), strict=True)
    inputs, labels = torch.stack(xs), torch.as_tensor(ys, dtype=torch.long)
    if source.strip() == "digits":
        norm = Normalization(
            (DIGITS_MEAN,) * arch.in_ch,
            (DIGITS_STD,) * arch.in_ch,
            "x = (pixel / 16 - mean) / std on 8x8 digits bilinearly upsampled; grey repeated per channel",
        )
        names = tuple(str(i) for i in range(10))
    else:
        if arch.in_ch == 3:
            norm = Normalization(IMAGENET_MEAN, IMAGENET_STD, "RGB, x = (pixel / 255 - mean) / std")
        else:
            norm = Normalization((0.5,), (0.5,), "greyscale, x = (pixel / 255 - mean) / std")
        names = _class_names(test) or tuple(str(i) for i in range(bundle.num_classes))
    return EvalData(calib, inputs, labels, names, norm, bundle.name)


def _class_names(ds) -> tuple[str, ...]:
    while ds is not None:
        classes = getattr(ds, "classes", None)
        if classes:
            return tuple(str(c) for c in classes)
        ds = getattr(ds, "dataset", None)
    return ()
