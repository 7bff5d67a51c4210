import sys
from pathlib import Path

import pytest

# The editable install predates some packages (deploy); make sure the repository root wins over
# namespace-package stand-ins so `import deploy` finds the real package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
for _name in [m for m in sys.modules if m == "deploy" or m.startswith("deploy.")]:
    if getattr(sys.modules[_name], "__file__", None) is None:
        del sys.modules[_name]

from lut_fakes import CTX  # noqa: E402

from latency.keys import Context  # noqa: E402


@pytest.fixture
def ctx() -> Context:
    return CTX
