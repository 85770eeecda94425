"""WSGI entry point, for ``rollbook serve`` and for production servers."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rollbook.project.settings")
application = get_wsgi_application()
