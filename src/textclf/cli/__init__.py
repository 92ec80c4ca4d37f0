"""The ``textclf`` command: thin subcommands over the library.

Each subcommand parses its arguments (``cli/parser.py``), loads the config, calls one library
function and prints the result (``cli/commands.py``). User mistakes (TextclfError) become
``error: ...`` lines and the error's exit code.
"""

from __future__ import annotations

import sys

from textclf.cli.parser import build_parser
from textclf.errors import TextclfError

__all__ = ["main", "build_parser"]


def _other_rank() -> bool:
    """Whether this process is a torchrun rank other than 0 (which meets the same mistakes)."""
    import os

    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and os.environ.get("RANK", "0") != "0"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TextclfError as exc:
        if not _other_rank():  # under torchrun, rank 0 alone says what is wrong
            for problem in exc.problems:
                print(f"error: {problem}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
        # A path the user gave that cannot be written or read as asked (a folder where a file
        # belongs, a read-only place): one line, and atomic writes left nothing behind.
        where = exc.filename or "a path"
        print(f"error: {where}: {exc.strerror or exc}; choose another path (check that it is a "
              "file, not a folder, and that you may write there)", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into head & co.: stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
