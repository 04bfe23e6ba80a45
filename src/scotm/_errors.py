"""One exception type for every problem a user can fix.

The CLI catches :class:`ScotmInputError` and prints its message as a single line,
so bad input never surfaces as a traceback from deep inside scanpy or torch.
"""


class ScotmInputError(ValueError):
    """Bad input: the message says what is wrong and how to fix it."""
