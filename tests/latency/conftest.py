import pytest
from lut_fakes import CTX

from latency.keys import Context


@pytest.fixture
def ctx() -> Context:
    return CTX
