def test_health_and_project_lifecycle(api):
    assert api.client.get("/api/health").json()["status"] == "ok"
    reply = api.call("owner", "GET", "/api/projects/demo/datasets")
    assert [d["name"] for d in reply.json()["items"]] == ["Jupyter", "Logs", "Models", "Resources"]
    assert api.upload("owner", "demo", "Resources", "a/b.txt", b"hello").status_code == 201
    assert api.download("owner", "demo", "Resources", "a/b.txt").content == b"hello"
    feed = api.call("owner", "GET", "/api/projects/demo/activity").json()
    assert feed["items"][0]["action"] == "file.read"


def test_metrics_count_requests_per_route(api):
    api.call("owner", "GET", "/api/projects/demo")
    text = api.client.get("/metrics").text
    assert 'hops_http_requests_total{method="GET",route="project.get",status="200"} 1.0' in text
    assert "hops_http_request_seconds_bucket" in text
