"""Browser pages of data in and out (issue 7): the CSV import step by step (UX.md screen 10), and
duplicates with their field-by-field merge.

Upload -> Map (auto-mapped, sample rows, Email required) -> Review (every row checked, nothing
written) -> Import (background, a progress bar polled with htmx; leave and come back) -> Result
(counts and the error CSV). Views are thin: leads.imports does the work.
"""

from django import forms
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from . import imports, merge
from .marketing_views import marketing_required
from .models import ImportJob, ImportMode, ImportStatus, Lead


class UploadForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="Up to 50 MB and 500,000 rows; comma, semicolon or tab.")


def _job(pk: int) -> ImportJob:
    return get_object_or_404(ImportJob, pk=pk)


@marketing_required
def import_list(request):
    jobs = ImportJob.objects.select_related("created_by")[:25]
    return render(request, "leads/import_list.html", {"jobs": jobs})


@marketing_required
@require_http_methods(["GET", "POST"])
def import_new(request):
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > imports.MAX_FILE_BYTES:
            form.add_error("file", "The file is larger than 50 MB: split it and import the parts.")
        else:
            try:
                job = imports.import_upload(file_name=upload.name, raw=upload.read(), user=request.user)
            except imports.ImportFileError as exc:
                form.add_error("file", str(exc))
            else:
                return redirect("import-map", pk=job.pk)
    return render(request, "leads/import_upload.html", {"form": form, "step": 1})


@marketing_required
@require_http_methods(["GET", "POST"])
def import_map(request, pk: int):
    job = _job(pk)
    if job.status != ImportStatus.UPLOADED:
        return redirect("import-job", pk=job.pk)
    error = ""
    mapping, mode = job.mapping, job.mode
    if request.method == "POST":
        mapping = [request.POST.get(f"column-{index}", "") for index in range(len(job.headers))]
        mode = request.POST.get("mode", ImportMode.UPDATE_EMPTY)
        try:
            imports.import_set_mapping(job_id=job.pk, mapping=mapping, mode=mode)
        except imports.ImportFileError as exc:
            error = str(exc)
        else:
            return redirect("import-review", pk=job.pk)
    sample = imports.import_sample(job=job)
    columns = [
        {"index": index, "header": header, "field": mapping[index] if index < len(mapping) else "",
         "samples": [row[index] if index < len(row) else "" for row in sample]}
        for index, header in enumerate(job.headers)
    ]  # fmt: skip
    context = {
        "job": job,
        "columns": columns,
        "sample": sample,
        "fields": [(name, imports.FIELD_LABELS[name]) for name in imports.IMPORTABLE_FIELDS],
        "modes": ImportMode.choices,
        "mode": mode,
        "error": error,
        "step": 2,
    }
    return render(request, "leads/import_map.html", context, status=400 if error else 200)


@marketing_required
@require_http_methods(["GET", "POST"])
def import_review(request, pk: int):
    job = _job(pk)
    if job.status != ImportStatus.UPLOADED:
        return redirect("import-job", pk=job.pk)
    try:
        review = imports.import_review(job=job)
    except imports.ImportFileError as exc:
        messages.error(request, str(exc))
        return redirect("import-map", pk=job.pk)
    if request.method == "POST":
        imports.import_start(job_id=job.pk)
        return redirect("import-job", pk=job.pk)
    return render(
        request,
        "leads/import_review.html",
        {"job": job, "review": review, "rejected": review.rejected[:20], "step": 3},
    )


@marketing_required
def import_job(request, pk: int):
    job = _job(pk)
    template = "leads/partials/import_progress.html" if request.htmx else "leads/import_job.html"
    step = 5 if job.status in (ImportStatus.DONE, ImportStatus.FAILED) else 4
    errors = job.row_errors.all()[:10] if step == 5 else []
    return render(request, template, {"job": job, "step": step, "errors": errors})


@marketing_required
def import_errors(request, pk: int):
    job = _job(pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    imports.import_error_csv(job=job, out=response)
    return response


# --- Duplicates and merge ---------------------------------------------------------------------


@marketing_required
def duplicate_list(request):
    suggestions = merge.duplicate_suggestions()
    ids = {lead_id for suggestion in suggestions for lead_id in suggestion.lead_ids}
    leads = Lead.objects.in_bulk(ids)
    pairs = [
        {"a": leads[s.lead_ids[0]], "b": leads[s.lead_ids[1]], "reason": s.reason}
        for s in suggestions
        if s.lead_ids[0] in leads and s.lead_ids[1] in leads
    ]
    return render(request, "leads/merge_list.html", {"pairs": pairs})


@marketing_required
@require_http_methods(["GET", "POST"])
def merge_leads(request, a: int, b: int):
    first, second = get_object_or_404(Lead, pk=a), get_object_or_404(Lead, pk=b)
    error = ""
    if request.method == "POST":
        survivor_id = int(request.POST.get("survivor", first.pk))
        if survivor_id not in (first.pk, second.pk):
            survivor_id = first.pk
        other = second if survivor_id == first.pk else first
        # Each field's radio names the lead whose value to keep.
        take = [name for name in merge.MERGEABLE_FIELDS if request.POST.get(f"field-{name}") == str(other.pk)]
        try:
            merge.lead_merge(survivor_id=survivor_id, other_id=other.pk, take_from_other=take, actor=request.user)
        except merge.MergeNotAllowed as exc:
            error = exc.message
        else:
            messages.success(request, f"Merged lead #{other.pk} into this lead; its history is on the timeline.")
            return redirect("lead-detail", lead_id=survivor_id)
    rows = []
    for name in merge.MERGEABLE_FIELDS:
        left, right = getattr(first, name), getattr(second, name)
        if left in ("", None) and right in ("", None):
            continue
        default = first.pk if left not in ("", None) else second.pk
        rows.append({"name": name, "label": Lead._meta.get_field(name).verbose_name, "a": left, "b": right,
                     "same": left == right, "default": default})  # fmt: skip
    sides = [
        {
            "lead": lead,
            "events": lead.events.count(),
            "handoffs": lead.handoffs.count(),
            "notes": lead.notes.count(),
        }
        for lead in (first, second)
    ]
    context = {"a": first, "b": second, "sides": sides, "rows": rows, "error": error}
    return render(request, "leads/merge_form.html", context, status=409 if error else 200)
