"""The JSON API. For now: a health check that a load balancer or an operator can call."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, JsonResponse

import rollbook


def health(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse(
        {"status": "ok", "version": rollbook.__version__, "database": connection.vendor}
    )
