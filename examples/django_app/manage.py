"""Run the Django example: ``python -m examples.django_app.manage runserver --noreload 127.0.0.1:9002``
(from the repository root, with ``JWTGATE_URL`` pointing at a running ``jwtgate serve``)."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
