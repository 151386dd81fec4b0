"""CSV import with ugly real-world files: encodings, delimiters, quotes, blank lines, duplicates."""

import csv
import io
import time
from pathlib import Path

import pytest

from leads import imports
from leads.data_tasks import import_run_task
from leads.imports import (
    ImportFileError,
    import_error_csv,
    import_review,
    import_run,
    import_set_mapping,
    import_start,
    import_upload,
    mapping_guess,
    sniff,
)
from leads.models import ImportJob, ImportRowError, ImportStatus, Lead
from leads.privacy import person_erase
from leads.signals import events_stored
from scoring import receivers as scoring_receivers
from tests.factories import LeadFactory
from tests.scoring.helpers import queued_lead_ids

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_import(django_capture_on_commit_callbacks, tmp_path, settings, marketer):
    settings.VAR_DIR = tmp_path

    def run(raw: bytes, mode: str = "update_empty", mapping: list[str] | None = None) -> ImportJob:
        job = import_upload(file_name="list.csv", raw=raw, user=marketer)
        import_set_mapping(job_id=job.pk, mapping=mapping or job.mapping, mode=mode)
        with django_capture_on_commit_callbacks(execute=True):
            import_start(job_id=job.pk)
        job.refresh_from_db()
        return job

    return run


def counts(job: ImportJob) -> tuple:
    return job.status, job.total_rows, job.created_count, job.updated_count, job.skipped_count, job.failed_count


def report(job: ImportJob) -> list[list[str]]:
    out = io.StringIO()
    import_error_csv(job=job, out=out)
    return list(csv.reader(io.StringIO(out.getvalue())))


UGLY_UTF8 = (
    "\ufeffE-Mail,First Name,Last Name,Company,Notes\r\n"
    'ada@example.com,Ada,Lovelace,"Analytical Engines, Ltd","first line\nsecond line"\r\n'
    "\r\n"
    "  GRACE@Example.com ,Grace,Hopper,Navy,\r\n"
    ",No,Email,Nowhere,\r\n"
    "not-an-email,Bad,Address,Nowhere,\r\n"
    "\r\n"
    "ada@EXAMPLE.com,Ada,Again,Duplicate Inc,\r\n"
    "zoe@example.com,Zoë,Ørsted,Ærø Ñandú,\r\n"
).encode()


def test_an_ugly_utf8_file_with_bom_quotes_blank_lines_and_duplicates(run_import):
    job = run_import(UGLY_UTF8)
    assert job.encoding == "utf-8-sig"
    assert job.mapping == ["email", "first_name", "last_name", "company", ""]
    assert counts(job) == ("done", 6, 3, 0, 1, 2)
    ada = Lead.objects.get(email="ada@example.com")
    assert (ada.last_name, ada.company) == ("Lovelace", "Analytical Engines, Ltd")  # the first row of an email wins
    assert Lead.objects.get(email="grace@example.com").first_name == "Grace"
    assert Lead.objects.get(email="zoe@example.com").company == "Ærø Ñandú"
    # Lines are the file's physical lines (the quoted field spans lines 2-3; blank lines count).
    assert [(e.line, e.reason) for e in ImportRowError.objects.order_by("line")] == [
        (6, "No email address."),
        (7, "Not a valid email address: not-an-email"),
    ]


def test_the_error_report_has_one_row_per_failed_row_with_its_line_and_values(run_import):
    job = run_import(UGLY_UTF8)
    rows = report(job)
    assert rows[0] == ["line", "reason", "E-Mail", "First Name", "Last Name", "Company", "Notes"]
    assert len(rows) - 1 == job.failed_count == 2
    assert rows[2][:4] == ["7", "Not a valid email address: not-an-email", "not-an-email", "Bad"]


def test_a_latin1_file_with_semicolons(run_import):
    raw = "Email;Vorname;Nachname;Firma;Land\nm@example.de;Jürgen;Müller;Café Größe GmbH;de\n".encode("latin-1")
    job = run_import(raw)
    assert (job.encoding, job.delimiter) == ("windows-1252", ";")
    assert job.mapping == ["email", "first_name", "last_name", "company", "country"]
    lead = Lead.objects.get(email="m@example.de")
    assert (lead.first_name, lead.last_name, lead.company, lead.country) == (
        "Jürgen",
        "Müller",
        "Café Größe GmbH",
        "DE",
    )


def test_mixed_encodings_in_one_file_are_read_line_by_line(run_import):
    raw = (
        b"email,first_name,company\n"
        + "a@example.com,Zoë,Ærø\n".encode()
        + "b@example.com,Renée,Société Générale\n".encode("latin-1")
    )
    job = run_import(raw)
    assert job.encoding == "utf-8+windows-1252"
    assert Lead.objects.get(email="a@example.com").first_name == "Zoë"
    assert Lead.objects.get(email="b@example.com").company == "Société Générale"


def test_a_tab_separated_file_with_a_full_name_column(run_import):
    job = run_import(b"Name\tEmail address\tEmployees\nAlan Mathison Turing\talan@example.org\t1,200\n")
    assert job.delimiter == "\t"
    lead = Lead.objects.get(email="alan@example.org")
    assert (lead.first_name, lead.last_name, lead.company_size) == ("Alan", "Mathison Turing", 1200)


def test_a_utf16_export_from_a_spreadsheet(run_import):
    run_import("Email\tFirst name\nu16@example.com\tÅsa\n".encode("utf-16"))
    assert Lead.objects.get(email="u16@example.com").first_name == "Åsa"


@pytest.mark.parametrize(
    "raw,message",
    [
        (b"", "The file is empty."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text file"),
        (b'email,name\na@example.com,"never closed\nb@example.com,x\n', "cannot be read as CSV"),
    ],
)
def test_a_broken_file_is_refused_whole(run_import, raw, message):
    with pytest.raises(ImportFileError, match=message):
        run_import(raw)
    assert Lead.objects.count() == 0


def test_an_unclosed_quote_after_the_sample_fails_the_job_before_any_write(run_import):
    good = "".join(f"ok{i}@example.com,Name{i}\n" for i in range(3000))
    job = run_import(f'email,name\n{good}late@example.com,"never closed\n'.encode())
    assert job.status == ImportStatus.FAILED
    assert "Line 3002 cannot be read as CSV" in job.error
    assert "Nothing was imported" in job.error
    assert Lead.objects.count() == 0


def test_it_rejects_a_file_without_an_email_column(run_import):
    with pytest.raises(ImportFileError, match="Map a column to Email"):
        run_import(b"first,last\nAda,Lovelace\n")


# --- Existing leads ---------------------------------------------------------------------------

FILE = b"email,first_name,last_name,company,job_title\nknown@example.com,New,,NewCo,CTO\n"


@pytest.mark.parametrize(
    "mode,expected,outcome",
    [
        ("update_empty", ("Old", "Known", "OldCo", "CTO"), (0, 1, 0)),
        ("overwrite", ("New", "Known", "NewCo", "CTO"), (0, 1, 0)),
        ("skip", ("Old", "Known", "OldCo", ""), (0, 0, 1)),
    ],
)
def test_an_existing_lead_is_updated_per_the_mode_and_an_empty_cell_never_erases(run_import, mode, expected, outcome):
    LeadFactory(email="known@example.com", first_name="Old", last_name="Known", company="OldCo", job_title="")
    job = run_import(FILE, mode=mode)
    lead = Lead.objects.get(email="known@example.com")
    assert (lead.first_name, lead.last_name, lead.company, lead.job_title) == expected
    assert (job.created_count, job.updated_count, job.skipped_count) == outcome


@pytest.fixture
def no_scoring_nudge():
    """What an import leaves for the scoring worker, without the in-process drain of its nudge."""
    events_stored.disconnect(dispatch_uid="scoring.on_events_stored")
    yield
    scoring_receivers.connect()


def test_created_and_updated_leads_are_marked_and_queued_for_the_scoring_worker(run_import, no_scoring_nudge):
    known = LeadFactory(email="known@example.com", job_title="")
    untouched = LeadFactory(email="other@example.com")

    job = run_import(FILE.replace(b"\n", b"\nnew@example.com,Ada,,Co,VP\n", 1), mode="overwrite")

    assert (job.created_count, job.updated_count) == (1, 1)
    marked = set(Lead.objects.filter(score_stale=True).values_list("id", flat=True))
    assert marked == {known.pk, Lead.objects.get(email="new@example.com").pk} == queued_lead_ids()
    assert untouched.pk not in marked


def test_an_import_run_twice_creates_nothing_the_second_time(run_import):
    first = run_import(UGLY_UTF8)
    second = run_import(UGLY_UTF8)
    assert first.created_count == 3
    assert (second.created_count, second.updated_count, second.skipped_count, second.failed_count) == (0, 0, 4, 2)
    assert Lead.objects.count() == 3


def test_an_erased_and_suppressed_person_is_not_imported_again(run_import):
    lead = LeadFactory(email="gone@example.com")
    person_erase(lead_id=lead.pk)
    job = run_import(b"email\ngone@example.com\nnew@example.com\n")
    assert (job.created_count, job.failed_count) == (1, 1)
    rejected = ImportRowError.objects.get()
    assert (rejected.reason, rejected.values) == ("This person was erased and asked not to be kept.", [])


def test_the_review_says_what_would_happen_without_writing(run_import, tmp_path, settings):
    settings.VAR_DIR = tmp_path
    LeadFactory(email="grace@example.com")
    job = import_upload(file_name="list.csv", raw=UGLY_UTF8)
    review = import_review(job=job)
    assert (review.total, review.create, review.update, review.skip, review.fail) == (6, 2, 1, 1, 2)
    assert Lead.objects.count() == 1
    assert ImportJob.objects.get().status == ImportStatus.UPLOADED


def test_mapping_guess_knows_other_crms_headers():
    headers = ["Work Email", "Given Name", "Surname", "Organisation", "Job Title", "Mobile", "Lead Source", "Foo"]
    assert mapping_guess(headers) == [
        "email", "first_name", "last_name", "company", "job_title", "phone", "source", "",
    ]  # fmt: skip


def test_sniff_shows_ten_sample_rows():
    raw = ("email\n" + "".join(f"p{i}@example.com\n" for i in range(30))).encode()
    assert len(sniff(raw).sample) == 10


def test_starting_twice_runs_once(run_import, django_capture_on_commit_callbacks):
    job = run_import(b"email\none@example.com\n")
    with django_capture_on_commit_callbacks(execute=True):
        import_start(job_id=job.pk)
    assert import_run(job_id=job.pk).created_count == 1
    assert Lead.objects.count() == 1


# --- Volume -----------------------------------------------------------------------------------


def test_a_100000_row_file_generated_on_the_fly(tmp_path, settings):
    settings.VAR_DIR = tmp_path
    rows = ["Email;First name;Last name;Company;Country;Employees"]
    for i in range(100_000):
        email = f"person{i}@company{i % 977}.example" if i % 1000 else f"PERSON{i - 1000 if i else 0}@company0.example"
        rows.append(f'{email};First{i};Last{i};"Company {i % 977}; Inc";{"US" if i % 7 else "usa"};{i % 5000}')
    raw = ("\r\n".join(rows) + "\r\n").encode()
    started = time.monotonic()
    # Run in the test's transaction without its on-commit callbacks: this measures the import, not
    # the in-process scoring of 100,000 new leads (a worker's job; the leads are marked stale).
    job = import_upload(file_name="big.csv", raw=raw)
    import_set_mapping(job_id=job.pk, mapping=job.mapping, mode="update_empty")
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED)
    job = import_run(job_id=job.pk)
    elapsed = time.monotonic() - started
    # Every 1,000th row repeats an earlier email (other case): skipped; every 7th has a bad country.
    bad_country = len([i for i in range(100_000) if i % 7 == 0])
    assert job.status == ImportStatus.DONE
    assert job.total_rows == 100_000
    assert job.failed_count == bad_country == ImportRowError.objects.filter(job=job).count()
    assert job.created_count + job.skipped_count + job.failed_count == 100_000
    assert Lead.objects.count() == job.created_count == Lead.objects.filter(score_stale=True).count()
    assert len(report(job)) - 1 == job.failed_count
    print(f"\n100,000 rows in {elapsed:.1f} s: {100_000 / elapsed:,.0f} rows/s")


# --- A real worker on PostgreSQL and Redis ----------------------------------------------------


@pytest.mark.postgres
@pytest.mark.celery_worker
def test_a_real_worker_runs_the_import(transactional_db, live_celery_worker):
    # The worker reads the stored file: put it where both processes see it (the default VAR_DIR).
    rows = "".join(f"worker{i}@example.com;Name{i}\n" for i in range(5000))
    job = import_upload(file_name="w.csv", raw=f"email;first_name\n{rows}bad;x\n".encode())
    import_set_mapping(job_id=job.pk, mapping=job.mapping, mode="update_empty")
    import_start(job_id=job.pk)  # commits: the task is queued to the worker
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in (ImportStatus.DONE, ImportStatus.FAILED):
            break
        time.sleep(0.05)
    assert counts(job) == ("done", 5001, 5000, 0, 0, 1), live_celery_worker.log_tail()
    assert Lead.objects.count() == 5000


def test_the_uploaded_file_is_deleted_when_the_import_is_over(run_import):
    job = run_import(b"email\nkept@example.com\n")
    assert job.status == ImportStatus.DONE
    assert not Path(job.file_path).exists()


# --- Celery redelivery: two copies of one task ------------------------------------------------


def _queued_job(raw: bytes) -> ImportJob:
    job = import_upload(file_name="redelivered.csv", raw=raw)
    import_set_mapping(job_id=job.pk, mapping=job.mapping, mode="update_empty")
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED)
    return job


REDELIVERY_CSV = ("email,first_name\n" + "".join(f"r{i}@example.com,R{i}\n" for i in range(7)) + "bad,x\n").encode()


def test_a_task_delivered_again_after_the_import_finished_changes_nothing(tmp_path, settings):
    settings.VAR_DIR = tmp_path
    job = _queued_job(REDELIVERY_CSV)
    import_run_task.apply(args=(job.pk,))
    job.refresh_from_db()
    assert counts(job) == ("done", 8, 7, 0, 0, 1)
    import_run_task.apply(args=(job.pk,))  # Celery delivers the same message again
    job.refresh_from_db()
    assert counts(job) == ("done", 8, 7, 0, 0, 1)
    assert job.processed_rows == 8
    assert ImportRowError.objects.filter(job=job).count() == 1


def test_a_copy_run_after_a_lost_worker_resumes_without_resetting_or_doubling(tmp_path, settings, monkeypatch):
    settings.VAR_DIR = tmp_path
    monkeypatch.setattr(imports, "CHUNK_ROWS", 3)
    job = _queued_job(REDELIVERY_CSV)
    real_write = imports._write_chunk
    written = []

    def dies_on_the_second_chunk(rows, *, mode):
        if len(written) == 1:
            raise SystemExit("the worker was killed")
        written.append(len(rows))
        return real_write(rows, mode=mode)

    monkeypatch.setattr(imports, "_write_chunk", dies_on_the_second_chunk)
    with pytest.raises(SystemExit):
        import_run_task.apply(args=(job.pk,), throw=True)
    job.refresh_from_db()
    assert (job.status, job.created_count, job.processed_rows) == ("running", 3, 4)  # 1 rejected + 3 written

    monkeypatch.setattr(imports, "_write_chunk", real_write)
    import_run_task.apply(args=(job.pk,))  # the redelivered message
    job.refresh_from_db()
    # Before: the copy reset the counts and then counted the first three leads as "skipped".
    assert counts(job) == ("done", 8, 7, 0, 0, 1)
    assert job.processed_rows == 8
    assert Lead.objects.count() == 7
    assert ImportRowError.objects.filter(job=job).count() == 1


@pytest.mark.postgres
def test_two_copies_running_at_once_write_each_chunk_once(transactional_db, tmp_path, settings, monkeypatch):
    import threading

    from django.db import connection

    settings.VAR_DIR = tmp_path
    monkeypatch.setattr(imports, "CHUNK_ROWS", 50)
    raw = ("email,first_name\n" + "".join(f"c{i}@example.com,C{i}\n" for i in range(1000)) + "bad,x\n").encode()
    job = _queued_job(raw)
    start = threading.Barrier(2)
    errors = []

    def copy():
        try:
            start.wait()
            import_run(job_id=job.pk)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=copy) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    job.refresh_from_db()
    assert counts(job) == ("done", 1001, 1000, 0, 0, 1)
    assert job.processed_rows == 1001
    assert Lead.objects.count() == 1000
    assert ImportRowError.objects.filter(job=job).count() == 1
