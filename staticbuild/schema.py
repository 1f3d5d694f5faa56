"""``python -m staticbuild.schema``: print (or ``--check``) the spec's JSON Schema."""

from __future__ import annotations

import sys
from pathlib import Path

from staticbuild.spec import schema_text


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--check":
        committed = Path(argv[1]).read_text(encoding="utf-8")
        if committed != schema_text():
            print(f"{argv[1]} is stale: run 'make schema'", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(schema_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
