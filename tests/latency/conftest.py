import pytest

from latency.keys import Context
from tests.support.lut_fakes import CTX


@pytest.fixture
def ctx() -> Context:
    return CTX
