import pytest


@pytest.mark.django_db
def test_health_reports_the_database(client, settings):
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] in {"sqlite", "postgresql"}
