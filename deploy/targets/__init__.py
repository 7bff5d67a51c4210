"""One module per deployable runtime. Each declares ``SPEC`` (a :class:`deploy.types.TargetSpec`: name,
runtime, delegate, suffix, dtypes, base dtype, LUT dtype map, known-slow facts) and ``TARGET`` (its
implementation); :mod:`deploy.registry` finds them. Keep toolchain imports (torch, executorch,
coremltools, ...) inside functions: listing the registry must stay cheap.

Adding a runtime is adding one file here (see docs/runtimes.md); the tests parametrized over the
registry then cover it.
"""
