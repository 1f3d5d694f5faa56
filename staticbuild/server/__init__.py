"""The development server: serve what ``apply`` produced, over real HTTP.

Split by role, as WhiteNoise splits its request path: :mod:`.guard` (the one guarded
path resolution), :mod:`.responder` (HTTP semantics for one file), :mod:`.app` (the WSGI
callable other projects can mount) and :mod:`.runner` (waitress lifecycle).
"""

from staticbuild.server.app import StaticFilesApp, WSGIApplication, make_app, url_prefix
from staticbuild.server.guard import (
    normal_request_path,
    resolve_request_path,
    split_request_path,
)
from staticbuild.server.runner import (
    DEFAULT_ADDR,
    DevServer,
    check_serving_allowed,
    parse_addr,
    start_server,
)

__all__ = [
    "DEFAULT_ADDR",
    "DevServer",
    "StaticFilesApp",
    "WSGIApplication",
    "check_serving_allowed",
    "make_app",
    "normal_request_path",
    "parse_addr",
    "resolve_request_path",
    "split_request_path",
    "start_server",
    "url_prefix",
]
