"""A marketer imports a trade-show list in a real browser: upload, map, review, import, result."""

import csv
import io

from leads.models import ImportJob, ImportStatus, Lead

TRADE_SHOW = (
    "Vorname;Nachname;E-Mail;Firma;Land;Notiz\r\n"
    'Jürgen;Müller;j.mueller@example.de;"Müller; Söhne GmbH";DE;Stand 4\r\n'
    "\r\n"
    "Zoë;Martin;zoe@example.fr;Café Société;FR;\r\n"
    "Ada;Lovelace;ADA@example.com;Analytical Engines;GB;\r\n"
    "No;Email;;Nowhere;DE;\r\n"
    "Bad;Country;bad@example.com;Nowhere;Germany;\r\n"
    "Ada;Again;ada@example.com;Duplicate;GB;\r\n"
).encode("cp1252")


def test_marketer_imports_a_trade_show_list(page, live_server, demo_data, login, shot, tmp_path, settings):
    settings.VAR_DIR = tmp_path
    before = Lead.objects.count()
    login(page, "marketer")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Import").click()
    page.wait_for_url(f"{live_server.url}/imports/")
    shot(page, "0-list")
    page.get_by_role("link", name="Import a CSV file").first.click()

    csv_path = tmp_path / "messe.csv"
    csv_path.write_bytes(TRADE_SHOW)
    page.set_input_files("#id_file", str(csv_path))
    shot(page, "1-upload")
    page.get_by_role("button", name="Upload and map columns").click()
    page.wait_for_url(f"{live_server.url}/imports/*/map/")
    assert page.locator("select[data-header='E-Mail']").input_value() == "email"
    assert page.locator("select[data-header='Vorname']").input_value() == "first_name"
    assert page.locator("select[data-header='Notiz']").input_value() == ""
    assert "Windows-1252" in page.locator(".page-subtitle").inner_text() or "windows-1252" in page.content()
    assert page.locator("[data-testid=import-sample] tbody tr").count() == 6
    assert "Müller; Söhne GmbH" in page.locator("[data-testid=import-sample]").inner_text()
    shot(page, "2-map")

    page.get_by_role("button", name="Check every row").click()
    page.wait_for_url(f"{live_server.url}/imports/*/review/")
    review = page.locator("[data-testid=import-review]")
    assert review.locator("[data-count=create]").inner_text() == "3"
    assert review.locator("[data-count=skip]").inner_text() == "1"
    assert review.locator("[data-count=fail]").inner_text() == "2"
    assert "Country must be a two-letter ISO code" in page.content()
    assert Lead.objects.count() == before  # nothing written by the review
    shot(page, "3-review")

    page.get_by_role("button", name="Import 3 leads").click()
    page.wait_for_url(f"{live_server.url}/imports/*/")
    progress = page.locator("[data-testid=import-progress][data-status=done]")
    progress.wait_for()
    assert progress.locator("[data-count=created]").inner_text() == "3"
    assert progress.locator("[data-count=failed]").inner_text() == "2"
    shot(page, "4-result")
    assert Lead.objects.count() == before + 3
    assert Lead.objects.get(email="j.mueller@example.de").company == "Müller; Söhne GmbH"

    with page.expect_download() as download:
        page.get_by_role("link", name="Download the 2 failed rows (CSV)").click()
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8"))))
    assert [row[:2] for row in rows[1:]] == [
        ["6", "No email address."],
        ["7", "Country must be a two-letter ISO code, not 'Germany'."],
    ]


def test_the_progress_bar_is_polled_until_the_import_is_done(page, live_server, demo_data, login, shot):
    job = ImportJob.objects.create(
        file_name="big.csv", file_path="/nonexistent", status=ImportStatus.RUNNING,
        headers=["email"], mapping=["email"], total_rows=100_000, processed_rows=40_000, created_count=39_000,
        skipped_count=600, failed_count=400,
    )  # fmt: skip
    login(page, "marketer")
    page.goto(f"{live_server.url}/imports/{job.pk}/")
    bar = page.get_by_role("progressbar", name="Import progress")
    assert bar.get_attribute("aria-valuenow") == "40"
    assert "Importing… 40,000 of 100,000 rows" in page.content()
    shot(page, "1-running")
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.DONE, processed_rows=100_000, created_count=99_000)
    page.locator("[data-testid=import-progress][data-status=done]").wait_for(timeout=5000)
    assert page.locator("[data-count=created]").inner_text() == "99,000"
    shot(page, "2-done")
