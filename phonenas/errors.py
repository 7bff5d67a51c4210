"""The error type every CLI command maps to one clear line (traceback only with --debug)."""


class PhoneNASError(RuntimeError):
    """A user-facing failure: the message names the problem and the fix."""
