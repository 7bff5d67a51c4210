"""Shared test helpers and fakes, imported as ``tests.support.<module>``.

Conventions (pytest runs with ``--import-mode=importlib`` and ``pythonpath = ["."]``, pyproject.toml):
- never edit ``sys.path`` or ``sys.modules`` in a conftest or test; import the packages by name and
  shared helpers from ``tests.support``; test folders have no ``__init__.py`` and test files may share
  basenames across folders (``tests/latency/test_stats.py`` and ``tests/android_bench/test_stats.py``);
- helpers used by more than one test file live here, not in a conftest or a test module (a conftest
  holds fixtures only); subprocesses that import them get the repository root on ``PYTHONPATH``;
- CLI failures are checked with ``tests.support.cli.cli_error`` (one ``error:`` line, no traceback);
- slow tests (real exports, training, loopback phones) carry ``@pytest.mark.slow`` and use the short
  protocols (``--runs/--warmup/--cooldown/--remeasure``, ``DemoConfig.timing``); no timed assertions.

Modules:
- ``deploy_tiny``: a tiny seeded 1x16x16 model, torch references, module counting (deploy tests);
- ``drift_fakes``: a fake device whose speed drifts on purpose (drift reference, block model);
- ``lut_fakes``: a LUT ``Context``, fake rows/arches, a logging ``FakeMeter`` and exporter (latency tests);
- ``fake_runners``: shell-script runner stand-ins that misbehave on purpose (android_bench fault tests);
- ``search_tiny``: the tiny search space and the cut-down digits data (search tests, DDP ranks);
- ``arch_strategies``: hypothesis strategies for valid arch/block specs;
- ``ios_fixtures`` + ``fake_xcrun/``: fake iPhones (a fake ``xcrun devicectl`` on PATH and a stand-in app);
- ``cli``: ``cli_error`` for the console entry point's failures.

The loopback adbd (a phone without a phone) is part of the package: ``android_bench.testing``.
"""
