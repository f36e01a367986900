"""The datasets pages in a real browser: the datasets list, the file browser (folders,
uploads in chunks with progress, drag and drop, deletion, downloads only for roles that
may export), the session ending mid-upload, and a share offered and accepted."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Page, expect

PROJECT = "ds_files"
TARGET = "ds_target"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def projects(platform):
    api = platform.api
    for name in (PROJECT, TARGET):
        reply = api.call("owner", "POST", "/api/projects", json={"name": name})
        assert reply.status_code == 201, reply.text
    api.add_member("owner", PROJECT, "scientist", "data_scientist")
    reply = api.upload("owner", PROJECT, "Resources", "notes.txt", b"arranged by the API\n")
    assert reply.status_code == 201, reply.text
    return platform


def open_folder(page: Page, dataset: str) -> None:
    page.goto(f"/p/{PROJECT}/datasets")
    page.get_by_role("link", name=dataset, exact=True).click()
    expect(page.get_by_role("heading", name=dataset, exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Breadcrumb")).to_contain_text(dataset)


@pytest.fixture
def shoot_fits(shoot):
    """A screenshot at both widths, and no sideways page scroll at 390 px (only tables scroll)."""

    def take(page: Page, name: str) -> None:
        shoot(page, name)
        original = page.viewport_size
        page.set_viewport_size({"width": 390, "height": 844})
        width = page.evaluate("document.documentElement.scrollWidth")
        if original:
            page.set_viewport_size(original)
        assert width <= 390, f"{name} is {width} px wide on a phone"

    return take


def row(page: Page, name: str):
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=name))


def test_the_owner_uploads_in_chunks_drops_files_makes_and_deletes_folders(
    open_as, projects, shoot_fits
):
    page = open_as("owner")
    page.goto(f"/p/{PROJECT}/datasets")
    expect(page.get_by_role("link", name="Logs", exact=True)).to_be_visible()
    shoot_fits(page, "datasets-list")
    open_folder(page, "Resources")

    # bigger than one chunk (the page sends 4 MiB chunks through an upload session)
    data = os.urandom(5 * MiB + 7)
    chunks = []
    page.on(
        "request",
        lambda r: chunks.append(r.url) if re.search(r"/uploads/\w+/chunks/\d+$", r.url) else None,
    )
    held = []  # the second chunk waits until the progress is seen (and photographed)
    page.route(re.compile(r"/uploads/\w+/chunks/2$"), lambda route: held.append(route))
    page.get_by_label("Files to upload").set_input_files(
        {"name": "big.bin", "mimeType": "application/octet-stream", "buffer": data}
    )
    expect(page.get_by_text(re.compile(r"^big\.bin: .* of 5\.0 MiB — uploading$"))).to_be_visible()
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the second chunk was never sent"
    expect(page.get_by_role("status").filter(has_text="Uploaded")).to_have_count(0)
    shoot_fits(page, "datasets-upload-progress")
    held[0].continue_()
    expect(page.get_by_role("status").filter(has_text="Uploaded 1 file.")).to_be_visible()
    progress = page.get_by_role("progressbar", name="Upload of big.bin")
    expect(progress).to_have_attribute("value", str(len(data)))
    expect(page.get_by_text("big.bin: 5.0 MiB of 5.0 MiB — uploaded")).to_be_visible()
    expect(row(page, "big.bin")).to_contain_text("5.0 MiB")
    assert len(chunks) == 2, chunks
    shoot_fits(page, "datasets-upload-done")
    fetched = projects.api.download("owner", PROJECT, "Resources", "big.bin")
    assert fetched.status_code == 200 and fetched.content == data

    download = page.get_by_role("link", name="Download big.bin")
    expect(download).to_have_attribute(
        "href", f"/api/projects/{PROJECT}/datasets/Resources/files/big.bin"
    )

    # drag and drop: a DataTransfer with a file dropped on the drop zone
    transfer = page.evaluate_handle(
        """() => {
            const dt = new DataTransfer();
            dt.items.add(new File(["dropped bytes"], "dropped.txt", {type: "text/plain"}));
            return dt;
        }"""
    )
    page.locator(".dropzone").dispatch_event("drop", {"dataTransfer": transfer})
    expect(row(page, "dropped.txt")).to_contain_text("13 B")
    expect(page.get_by_role("status").filter(has_text="Uploaded 1 file.")).to_be_visible()
    assert projects.api.download("owner", PROJECT, "Resources", "dropped.txt").content == (
        b"dropped bytes"
    )

    # the same name again is refused in words
    page.get_by_label("Files to upload").set_input_files(
        {"name": "dropped.txt", "mimeType": "text/plain", "buffer": b"again"}
    )
    expect(page.get_by_role("alert")).to_contain_text("Replace files that exist")

    # a folder: made, opened, left through the breadcrumbs
    page.get_by_label("New folder name").fill("reports")
    page.get_by_role("button", name="Create folder").click()
    page.get_by_role("link", name="reports (folder)").click()
    expect(page).to_have_url(re.compile(r"/datasets/Resources/reports$"))
    expect(page.get_by_text("This folder is empty.")).to_be_visible()
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Resources").click()
    expect(row(page, "big.bin")).to_be_visible()
    shoot_fits(page, "datasets-browser")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete dropped.txt").click()
    expect(page.get_by_role("status").filter(has_text="Deleted dropped.txt.")).to_be_visible()
    expect(row(page, "dropped.txt")).to_have_count(0)
    assert projects.api.download("owner", PROJECT, "Resources", "dropped.txt").status_code == 404


def test_a_scientist_browses_without_downloads_and_uploads_only_where_allowed(
    open_as, projects, shoot_fits
):
    page = open_as("scientist")
    page.goto(f"/p/{PROJECT}/datasets")
    expect(page.get_by_role("button", name=re.compile("^Delete"))).to_have_count(0)
    expect(page.get_by_label("Dataset name")).to_have_count(0)
    shoot_fits(page, "datasets-list-scientist")
    open_folder(page, "Resources")
    expect(row(page, "notes.txt")).to_contain_text("20 B")
    expect(page.get_by_role("link", name=re.compile("^Download"))).to_have_count(0)
    page.get_by_label("Files to upload").set_input_files(
        [
            {"name": "one.txt", "mimeType": "text/plain", "buffer": b"1"},
            {"name": "two.txt", "mimeType": "text/plain", "buffer": b"22"},
        ]
    )
    expect(page.get_by_role("status").filter(has_text="Uploaded 2 files.")).to_be_visible()
    expect(row(page, "two.txt")).to_contain_text("2 B")
    shoot_fits(page, "datasets-browser-scientist")

    open_folder(page, "Logs")
    expect(page.get_by_text("You may look at this dataset but not change it.")).to_be_visible()
    expect(page.get_by_label("Files to upload")).to_have_count(0)
    expect(page.get_by_label("New folder name")).to_have_count(0)


def test_a_session_ending_mid_upload_says_which_file_to_upload_again(open_as, projects, shoot_fits):
    page = open_as("owner")
    open_folder(page, "Resources")

    def session_ends(route):
        page.context.clear_cookies()  # no refresh cookie: the session cannot be renewed
        route.fulfill(
            status=401,
            content_type="application/json",
            body='{"error": {"code": "unauthenticated", "message": "not signed in"}}',
        )

    page.route(re.compile(r"/uploads/\w+/chunks/\d+$"), session_ends)
    page.get_by_label("Files to upload").set_input_files(
        {"name": "cut.bin", "mimeType": "application/octet-stream", "buffer": os.urandom(MiB)}
    )
    message = "Your session ended during the upload of cut.bin; sign in again and upload it again"
    expect(page.get_by_role("alert").filter(has_text=message)).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Upload stopped")).to_be_visible()
    shoot_fits(page, "datasets-upload-session-ended")
    page.get_by_role("button", name="Sign in again").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Your session has ended")
    page.unroute(re.compile(r"/uploads/\w+/chunks/\d+$"))
    page.get_by_label("Email").fill("owner@example.org")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/datasets/Resources$"))
    expect(page.get_by_role("alert").filter(has_text=message)).to_be_visible()
    expect(row(page, "cut.bin")).to_have_count(0)


def test_a_dataset_offered_to_another_project_is_accepted_there(open_as, projects, shoot_fits):
    page = open_as("owner")
    page.goto(f"/p/{PROJECT}/datasets")
    page.get_by_label("Dataset name").fill("shared_data")
    page.get_by_label("Description").fill("results for the other team")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.get_by_role("link", name="shared_data", exact=True)).to_be_visible()

    page.goto(f"/p/{PROJECT}/shares")
    page.get_by_label("Dataset to share").select_option("shared_data")
    page.get_by_label("Target project name").fill(TARGET)
    page.get_by_label("Permission").select_option("read_only")
    page.get_by_role("button", name="Offer share").click()
    offered = row(page, "shared_data")
    expect(offered).to_contain_text(TARGET)
    expect(offered).to_contain_text("offered, not accepted yet")
    shoot_fits(page, "datasets-shares")

    page.goto(f"/p/{TARGET}/shares")
    page.get_by_role("button", name=f"Accept shared_data of {PROJECT}").click()
    expect(page.get_by_role("status")).to_contain_text(f"Accepted shared_data of {PROJECT}")
    expect(row(page, "shared_data")).to_contain_text("accepted")
    shoot_fits(page, "datasets-shares-incoming")

    page.goto(f"/p/{TARGET}/datasets")
    shared = row(page, f"{PROJECT}::shared_data")
    expect(shared).to_contain_text("Shared with us (read only)")
    shared.get_by_role("link").click()
    expect(page.get_by_text("This folder is empty.")).to_be_visible()
    expect(page.get_by_label("Files to upload")).to_have_count(0)

    page.goto(f"/p/{PROJECT}/shares")
    expect(row(page, "shared_data")).to_contain_text("accepted")

    # a data scientist sees the shares but may neither offer nor end one
    page = open_as("scientist")
    page.goto(f"/p/{PROJECT}/shares")
    expect(row(page, "shared_data")).to_contain_text("accepted")
    expect(page.get_by_role("button", name="Offer share")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^Unshare"))).to_have_count(0)
    shoot_fits(page, "datasets-shares-scientist")
