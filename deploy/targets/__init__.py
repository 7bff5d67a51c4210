"""One module per deployment target; each exposes a ``TARGET`` (see :mod:`deploy.registry`)."""
