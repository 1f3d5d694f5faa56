"""staticbuild: collect a web project's static files as a declarative, reproducible build."""

from __future__ import annotations

__version__ = "0.1.0"
