"""The work pages in a real browser: jobs created, run and followed live (log and state),
a failing run explained, a data scientist running and stopping their own run; Kafka topics
created and deleted; a member's own JupyterLab started, opened and stopped.

Each test works in a project of its own (`work_*`), made through the API."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import WIDTHS

# waits for `<marker>` (its first argument, default go.txt) in Resources, so the test
# decides when it ends: its log is seen growing while it runs
WAITER = b"""import os, sys, time
d = os.environ["HOPS_DATASETS_DIR"]
marker = sys.argv[1] if len(sys.argv) > 1 else "go.txt"
print("counting up", flush=True)
for i in range(1, 4):
    print(f"line {i}", flush=True)
deadline = time.time() + 60
while not os.path.exists(f"{d}/Resources/{marker}") and time.time() < deadline:
    time.sleep(0.2)
print("all done", flush=True)
"""
FAILER = (
    b"import sys\nprint('about to fail', flush=True)\nprint('boom', file=sys.stderr)\nsys.exit(3)\n"
)
RUN_DEADLINE_MS = 45_000  # a sandboxed run on a busy 2-core machine


def project(platform, name: str) -> None:
    api = platform.api
    assert api.call("owner", "POST", "/api/projects", json={"name": name}).status_code == 201
    api.add_member("owner", name, "scientist", "data_scientist")


def snap(page: Page, shoot, name: str) -> None:
    """Screenshots at both widths; at a phone's, no sideways scrolling of the page."""
    shoot(page, name)
    page.set_viewport_size(WIDTHS["phone"])
    width = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size(WIDTHS["desktop"])
    assert width <= WIDTHS["phone"]["width"], f"{name} is {width}px wide on a phone"


def status(page: Page, text: str):
    return page.get_by_role("status").filter(has_text=text)


def test_a_job_is_created_run_and_its_log_followed(open_as, platform, shoot):
    project(platform, "work_jobs")
    api = platform.api
    assert (
        api.upload("owner", "work_jobs", "Resources", "jobs/waiter.py", WAITER).status_code == 201
    )
    assert (
        api.upload("owner", "work_jobs", "Resources", "jobs/failer.py", FAILER).status_code == 201
    )

    page = open_as("owner")
    page.goto("/p/work_jobs/jobs")
    expect(page.get_by_text("No jobs yet")).to_be_visible()
    page.get_by_label("Job name").fill("waiter")
    page.get_by_label("Program file").fill("Resources/jobs/waiter.py")
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_role("heading", name="Job waiter")).to_be_visible()
    expect(page.get_by_text("Resources/jobs/waiter.py")).to_be_visible()

    page.get_by_role("button", name="Run", exact=True).click()
    expect(page).to_have_url(re.compile(r"/p/work_jobs/jobs/waiter/\d+$"))
    log = page.get_by_role("log", name="Output")
    # followed while it runs: the first lines, the state in words, a Stop of one's own
    expect(log).to_contain_text("line 3", timeout=RUN_DEADLINE_MS)
    expect(status(page, "Running")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile(r"Stop execution \d+"))).to_be_visible()
    expect(log).not_to_contain_text("all done")
    snap(page, shoot, "work-job-log")
    assert api.upload("owner", "work_jobs", "Resources", "go.txt", b"go").status_code == 201
    expect(log).to_contain_text("all done", timeout=RUN_DEADLINE_MS)
    expect(status(page, "Finished")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile(r"Stop execution"))).to_have_count(0)

    # a failing program: failed, with its exit code and its error stream
    reply = api.call(
        "owner",
        "POST",
        "/api/projects/work_jobs/jobs",
        json={"name": "failer", "type": "python", "app_path": "Resources/jobs/failer.py"},
    )
    assert reply.status_code == 201, reply.text
    page.goto("/p/work_jobs/jobs")
    expect(page.get_by_role("row", name=re.compile("waiter"))).to_contain_text("Finished")
    expect(page.get_by_role("row", name=re.compile("failer"))).to_contain_text("Never run")
    page.get_by_role("button", name="Run failer").click()
    expect(page).to_have_url(re.compile(r"/p/work_jobs/jobs/failer/\d+$"))
    expect(status(page, "Failed (exit code 3)")).to_be_visible(timeout=RUN_DEADLINE_MS)
    expect(page.get_by_role("log", name="Errors")).to_contain_text("boom")
    expect(page.get_by_role("log", name="Output")).to_contain_text("about to fail")
    snap(page, shoot, "work-job-failed")

    page.goto("/p/work_jobs/jobs")
    expect(page.get_by_role("row", name=re.compile("failer"))).to_contain_text("Failed")
    snap(page, shoot, "work-jobs")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete failer").click()
    expect(page.get_by_role("status")).to_contain_text("Job failer deleted.")
    expect(page.get_by_role("row", name=re.compile("failer"))).to_have_count(0)
    assert api.call("owner", "GET", "/api/projects/work_jobs/jobs/failer").status_code == 404


def test_a_data_scientist_runs_with_arguments_and_stops_their_run(open_as, platform):
    project(platform, "work_runs")
    api = platform.api
    assert api.upload("owner", "work_runs", "Resources", "waiter.py", WAITER).status_code == 201
    body = {"name": "waiter", "type": "python", "app_path": "Resources/waiter.py"}
    assert api.call("owner", "POST", "/api/projects/work_runs/jobs", json=body).status_code == 201

    url = "/api/projects/work_runs/jobs/waiter/executions"
    owners = api.call("owner", "POST", url, json={"args": ["owner_go.txt"]})
    assert owners.status_code == 201, owners.text
    owners_id = owners.json()["id"]

    page = open_as("scientist")
    page.goto(f"/p/work_runs/jobs/waiter/{owners_id}")
    # the owner's run: followed, but not the scientist's to stop
    expect(page.get_by_role("log", name="Output")).to_contain_text(
        "line 1", timeout=RUN_DEADLINE_MS
    )
    expect(status(page, "run by owner@example.org")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Stop"))).to_have_count(0)
    page.get_by_label("Arguments for this run").fill("never.txt")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(status(page, "run by scientist@example.org")).to_be_visible()
    expect(status(page, "arguments: never.txt")).to_be_visible()
    expect(page.get_by_role("log", name="Output")).to_contain_text(
        "line 1", timeout=RUN_DEADLINE_MS
    )
    expect(page.get_by_role("button", name=re.compile(r"Stop execution \d+"))).to_be_visible()
    page.get_by_role("button", name="Stop this execution").click()
    expect(status(page, "Stopped")).to_be_visible(timeout=RUN_DEADLINE_MS)
    expect(page.get_by_role("row", name=re.compile("scientist@example.org"))).to_contain_text(
        "Stopped"
    )
    assert api.upload("owner", "work_runs", "Resources", "owner_go.txt", b"go").status_code == 201
    expect(page.get_by_role("row", name=re.compile("owner@example.org"))).to_contain_text(
        "Finished", timeout=RUN_DEADLINE_MS
    )


def test_kafka_topics_are_created_and_deleted(open_as, platform, shoot):
    project(platform, "work_topics")
    page = open_as("owner")
    page.goto("/p/work_topics/topics")
    expect(page.get_by_text("no Kafka topics yet")).to_be_visible()

    page.get_by_label("Topic name").fill("bad name!")
    page.get_by_role("button", name="Create topic").click()
    expect(page.get_by_role("alert")).to_contain_text("A topic name is")

    page.get_by_label("Topic name").fill("events")
    page.get_by_label("Partitions").fill("3")
    page.get_by_role("button", name="Create topic").click()
    expect(page.get_by_role("status")).to_contain_text("Topic events created.")
    row = page.get_by_role("row", name=re.compile("events"))
    expect(row).to_contain_text("work_topics.events")
    expect(row.get_by_role("cell", name="3", exact=True)).to_be_visible()

    page.get_by_label("Topic name").fill("events")
    page.get_by_role("button", name="Create topic").click()  # the API refuses: in words
    expect(page.get_by_role("alert")).to_contain_text("already exists")
    quota = {"kafka_topics": 1}
    reply = platform.api.call("admin", "PUT", "/api/projects/work_topics/quotas", json=quota)
    assert reply.status_code == 200, reply.text
    page.get_by_label("Topic name").fill("more")
    page.get_by_role("button", name="Create topic").click()  # the quota's 413, in words
    expect(page.get_by_role("alert")).to_contain_text("may own at most 1 Kafka topics")
    snap(page, shoot, "work-topics")

    scientist = open_as("scientist")
    scientist.goto("/p/work_topics/topics")
    expect(scientist.get_by_role("row", name=re.compile("events"))).to_be_visible()
    expect(scientist.get_by_role("button", name="Create topic")).to_have_count(0)
    expect(scientist.get_by_role("button", name="Delete topic events")).to_have_count(0)

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete topic events").click()
    expect(page.get_by_role("status")).to_contain_text("Topic events deleted.")
    expect(page.get_by_text("no Kafka topics yet")).to_be_visible()


def test_a_member_starts_opens_and_stops_jupyterlab(open_as, platform, shoot):
    project(platform, "work_jupyter")
    page = open_as("owner")
    page.goto("/p/work_jupyter/jupyter")
    expect(page.get_by_text("You have not started JupyterLab")).to_be_visible()
    expect(page.get_by_text("No member has started JupyterLab")).to_be_visible()
    snap(page, shoot, "work-jupyter-none")
    page.get_by_role("button", name="Start", exact=True).click()
    expect(status(page, "Running")).to_be_visible(timeout=90_000)
    opener = page.get_by_role("link", name="Open JupyterLab")
    expect(opener).to_have_attribute("href", "/api/projects/work_jupyter/jupyter/proxy/lab")
    expect(opener).to_have_attribute("target", "_blank")
    servers = page.get_by_role("table", name="Every member's notebook server")
    expect(servers.get_by_role("row", name=re.compile("owner@example.org"))).to_contain_text(
        "Running"
    )
    snap(page, shoot, "work-jupyter")

    scientist = open_as("scientist")  # no one else's servers for a data scientist
    scientist.goto("/p/work_jupyter/jupyter")
    expect(scientist.get_by_role("button", name="Start", exact=True)).to_be_visible()
    expect(scientist.get_by_role("heading", name="Every member's server")).to_have_count(0)

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Stop", exact=True).click()
    expect(status(page, "Stopped")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("button", name="Start", exact=True)).to_be_visible()
    snap(page, shoot, "work-jupyter-stopped")
