"""`phonenas devices`."""


def devices() -> None:
    """List attached devices."""
    raise NotImplementedError("phonenas devices lands with the android_bench issue")
