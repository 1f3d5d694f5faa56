"""Run Django's real ``collectstatic`` with ManifestStaticFilesStorage on one tree.

Runs under whichever Django the interpreter has (5.2 in .venv, 6.1 in .venv-django61);
``tests/django_reference.py`` calls it in a subprocess. Usage:
``python django_driver.py CONFIG.json``, where CONFIG holds ``tree``, ``root``, ``url``,
``js_module_imports``, ``lenient`` and ``max_passes``. Prints one JSON line:
``{"ok": true}`` or ``{"ok": false, "error": "..."}``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage
from django.core.exceptions import SuspiciousFileOperation


class ReferenceStorage(ManifestStaticFilesStorage):
    """Django's storage with the knobs staticbuild exposes.

    ``lenient`` models ``manifest_strict: false`` in staticbuild: a reference to a missing
    file is left as written (Django itself always fails on one during post_process).
    """

    def __init__(
        self,
        *args: Any,
        js_module_imports: bool = False,
        lenient: bool = False,
        max_passes: int = 5,
        **kwargs: Any,
    ) -> None:
        self.support_js_module_import_aggregation = js_module_imports
        self.max_post_process_passes = max_passes
        self.lenient = lenient
        super().__init__(*args, **kwargs)

    def url_converter(self, *args: Any, **kwargs: Any) -> Any:
        convert = super().url_converter(*args, **kwargs)
        if not self.lenient:
            return convert

        def lenient(match: Any) -> Any:
            try:
                return convert(match)
            except (ValueError, SuspiciousFileOperation):
                return match.groupdict()["matched"]

        return lenient


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        config = json.load(f)
    import django
    from django.conf import settings
    from django.core.management import call_command

    settings.configure(
        DEBUG=False,
        SECRET_KEY="x",
        USE_TZ=True,
        INSTALLED_APPS=["django.contrib.staticfiles"],
        STATIC_URL=config["url"],
        STATIC_ROOT=config["root"],
        STATICFILES_DIRS=[config["tree"]],
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {
                "BACKEND": "django_driver.ReferenceStorage",
                "OPTIONS": {
                    "js_module_imports": config["js_module_imports"],
                    "lenient": config["lenient"],
                    "max_passes": config["max_passes"],
                },
            },
        },
    )
    django.setup()
    try:
        call_command("collectstatic", interactive=False, verbosity=0)
    except Exception as exc:  # 6.1 raises CommandError, 5.2 the post-processing error itself
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}))
        return
    print(json.dumps({"ok": True}))


if __name__ == "__main__":
    main()
