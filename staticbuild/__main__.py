"""``python -m staticbuild``."""

from staticbuild.cli import main

main()
