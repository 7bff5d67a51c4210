"""Shared test helpers and fakes, imported as ``tests.support.<module>`` (pytest runs in
``--import-mode=importlib`` with the repository root on ``sys.path`` via ``[tool.pytest] pythonpath``).

- ``deploy_tiny``: a tiny seeded 1x16x16 model, torch references, module counting (deploy tests);
- ``lut_fakes``: a LUT ``Context``, fake rows/arches, a logging ``FakeMeter`` and exporter (latency tests);
- ``fake_runners``: shell-script runner stand-ins that misbehave on purpose (android_bench fault tests);
- ``search_tiny``: the tiny search space and the cut-down digits data (search tests, DDP ranks).

The loopback adbd (a phone without a phone) is part of the package: ``android_bench.testing``.
"""
