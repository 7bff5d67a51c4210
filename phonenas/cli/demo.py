"""`phonenas demo`."""


def demo() -> None:
    """Run the whole flow on the host with the bundled digits."""
    raise NotImplementedError("phonenas demo lands with the demo issue")
