"""User-facing errors.

Every mistake a user can make (a bad config, missing data, a broken checkpoint, a wrong command
line) raises one of these. The CLI prints ``error: <message>`` for each problem, without a
traceback, and exits with the class's ``exit_code``. Anything else that escapes is a bug in textclf.

Exit codes (documented in the README):
    1  a check failed (reserved for commands such as ``sanity``)
    2  usage error (command line)
    3  config error
    4  data error
    5  checkpoint error
    6  training failed (the loss diverged)
  130  training interrupted (SIGINT/SIGTERM); last.ckpt saved for --resume
"""

from __future__ import annotations

__all__ = [
    "TextclfError",
    "UsageError",
    "ConfigError",
    "DataError",
    "CheckpointError",
    "TrainingError",
    "TrainingInterrupted",
]


class TextclfError(Exception):
    """Base class: a problem the user can fix. ``problems`` holds one line per problem."""

    exit_code = 1

    def __init__(self, *problems: str):
        if not problems:
            raise ValueError("a TextclfError needs at least one message")
        # One line per problem, whatever a library's message held.
        self.problems = [" ".join(str(p).split()) for p in problems]
        super().__init__("\n".join(self.problems))


class UsageError(TextclfError):
    exit_code = 2


class ConfigError(TextclfError):
    exit_code = 3


class DataError(TextclfError):
    exit_code = 4


class CheckpointError(TextclfError):
    exit_code = 5


class TrainingError(TextclfError):
    exit_code = 6


class TrainingInterrupted(TextclfError):
    exit_code = 130
