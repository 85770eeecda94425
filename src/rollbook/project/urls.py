"""Top-level URLs: the web app at the root, the JSON API under /api/."""

from django.urls import include, path

urlpatterns = [
    path("api/", include("rollbook.api.urls")),
    path("", include("rollbook.web.urls")),
]
