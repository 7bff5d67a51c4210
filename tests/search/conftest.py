import pytest

from search.data import DataBundle
from search.space import SearchSpace
from tests.support.search_tiny import make_tiny_data, make_tiny_space


@pytest.fixture
def tiny_space() -> SearchSpace:
    return make_tiny_space()


@pytest.fixture(scope="session")
def tiny_data() -> DataBundle:
    """Digits at 16x16, cut down so a search epoch takes well under a second."""
    return make_tiny_data()
