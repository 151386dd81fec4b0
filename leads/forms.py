"""Browser forms of the leads app: the MQL list's filters, bulk actions, saved views, lead detail.

Forms validate and clean; they never write. Views pass cleaned data to a service.
"""

from django import forms
from django.core.validators import URLValidator

from .models import Lead, NoteKind
from .stages import STAGE_CHOICES, Stage

ANY_STAGE = "any"
DEFAULT_STAGE = Stage.MQL.value

SORT_CHOICES = [("score", "Score"), ("newest", "Newest"), ("activity", "Last activity")]
DEFAULT_SORT = "score"

# Company size buckets: (value, label, at least, at most).
COMPANY_SIZES = [
    ("1-49", "1 to 49", 1, 49),
    ("50-199", "50 to 199", 50, 199),
    ("200-999", "200 to 999", 200, 999),
    ("1000+", "1,000+", 1000, None),
]

OWNER_CHOICES = [("", "Anyone"), ("unowned", "Unowned"), ("owned", "Owned"), ("me", "Mine")]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs={"class": "input", **(attrs or {})}, format="%Y-%m-%d")


def _text(label: str, **attrs) -> forms.CharField:
    return forms.CharField(
        label=label, required=False, max_length=200, widget=forms.TextInput(attrs={"class": "input", **attrs})
    )


class MqlFilterForm(forms.Form):
    """The MQL list's filters and sort, read from the URL's query string.

    Every field is optional; an invalid one is shown with its error and ignored, the others apply.
    The order of the fields is the order of the chips and of the normalized query string.
    """

    q = _text("Search", type="search", placeholder="Name, email or company")
    stage = forms.ChoiceField(
        label="Stage",
        required=False,
        choices=[(ANY_STAGE, "Any stage"), *STAGE_CHOICES],
        widget=forms.Select(attrs={"class": "select"}),
    )
    score_min = forms.IntegerField(
        label="Score at least", required=False, widget=forms.NumberInput(attrs={"class": "input"})
    )
    score_max = forms.IntegerField(
        label="Score at most", required=False, widget=forms.NumberInput(attrs={"class": "input"})
    )
    source = _text("Source", list="dl-source")
    campaign = _text("UTM campaign", list="dl-campaign")
    country = forms.CharField(
        label="Country",
        required=False,
        max_length=2,
        min_length=2,
        widget=forms.TextInput(attrs={"class": "input", "placeholder": "US", "list": "dl-country"}),
        help_text="Two-letter code",
    )
    industry = _text("Industry", list="dl-industry")
    size = forms.ChoiceField(
        label="Company size",
        required=False,
        choices=[("", "Any size")] + [(value, label) for value, label, _, _ in COMPANY_SIZES],
        widget=forms.Select(attrs={"class": "select"}),
    )
    owner = forms.ChoiceField(
        label="Owner", required=False, choices=OWNER_CHOICES, widget=forms.Select(attrs={"class": "select"})
    )
    created_from = forms.DateField(label="Created from", required=False, widget=DateInput())
    created_to = forms.DateField(label="Created until", required=False, widget=DateInput())
    active_from = forms.DateField(label="Active from", required=False, widget=DateInput())
    active_to = forms.DateField(label="Active until", required=False, widget=DateInput())
    sort = forms.ChoiceField(
        label="Sort by", required=False, choices=SORT_CHOICES, widget=forms.Select(attrs={"class": "select"})
    )

    def clean_country(self) -> str:
        return self.cleaned_data["country"].strip().upper()

    def clean_stage(self) -> str:
        return self.cleaned_data["stage"] or DEFAULT_STAGE

    def clean_sort(self) -> str:
        return self.cleaned_data["sort"] or DEFAULT_SORT

    def clean(self):
        cleaned = super().clean()
        for low, high, message in (
            ("score_min", "score_max", "Must be at least the lowest score."),
            ("created_from", "created_to", "Must be on or after the first day."),
            ("active_from", "active_to", "Must be on or after the first day."),
        ):
            if cleaned.get(low) is not None and cleaned.get(high) is not None and cleaned[high] < cleaned[low]:
                self.add_error(high, message)
        return cleaned

    def filters(self) -> dict:
        """The valid filters and sort (an invalid field is left out), with the defaults filled in."""
        if not hasattr(self, "cleaned_data"):
            self.is_valid()
        values = {name: self.cleaned_data.get(name) for name in self.fields if name in self.cleaned_data}
        values.setdefault("stage", DEFAULT_STAGE)
        values.setdefault("sort", DEFAULT_SORT)
        values["stage"] = values["stage"] or DEFAULT_STAGE
        values["sort"] = values["sort"] or DEFAULT_SORT
        return values


BULK_ACTIONS = [
    ("handoff", "Hand off to sales"),
    ("recycle", "Recycle to marketing"),
    ("disqualify", "Disqualify"),
]
BULK_TARGETS = {"handoff": Stage.SQL, "recycle": Stage.MQL, "disqualify": Stage.DISQUALIFIED}


class BulkActionForm(forms.Form):
    action = forms.ChoiceField(choices=BULK_ACTIONS)
    scope = forms.ChoiceField(choices=[("selected", "Selected leads"), ("all", "Every lead matching the filters")])
    lead = forms.TypedMultipleChoiceField(coerce=int, required=False)
    reason_recycle = forms.CharField(required=False, max_length=2000)
    reason_disqualify = forms.CharField(required=False, max_length=2000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any id is acceptable here: the selector limits the leads to the filtered set.
        self.fields["lead"].valid_value = lambda value: True

    def clean(self):
        cleaned = super().clean()
        action = cleaned.get("action")
        if cleaned.get("scope") == "selected" and not cleaned.get("lead"):
            raise forms.ValidationError("Select at least one lead, or choose every lead matching the filters.")
        reason_field = f"reason_{action}"
        if reason_field in self.fields:
            cleaned["reason"] = (cleaned.get(reason_field) or "").strip()
            if not cleaned["reason"]:
                self.add_error(reason_field, "Say why: the reason is kept with each lead's stage change.")
        else:
            cleaned["reason"] = ""
        return cleaned


class SavedViewForm(forms.Form):
    name = forms.CharField(
        label="Name of the view", max_length=60, widget=forms.TextInput(attrs={"class": "input", "autocomplete": "off"})
    )
    query = forms.CharField(required=False, max_length=2000, widget=forms.HiddenInput)


PROFILE_FIELDS = [
    "first_name",
    "last_name",
    "company",
    "job_title",
    "phone",
    "country",
    "industry",
    "company_size",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
]


class LeadProfileForm(forms.ModelForm):
    """The profile fields marketing edits on the lead detail. The email is the identity: read only."""

    class Meta:
        model = Lead
        fields = PROFILE_FIELDS
        labels = {"utm_campaign": "UTM campaign", "utm_source": "UTM source", "utm_medium": "UTM medium"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs.setdefault("class", "input")
        self.fields["country"].widget.attrs["placeholder"] = "US"

    def clean_country(self) -> str:
        value = (self.cleaned_data.get("country") or "").strip().upper()
        if value and (len(value) != 2 or not value.isalpha()):
            raise forms.ValidationError("Use the two-letter country code, for example US or DE.")
        return value


class NoteForm(forms.Form):
    kind = forms.ChoiceField(
        label="Kind", choices=NoteKind.choices, initial=NoteKind.NOTE, widget=forms.Select(attrs={"class": "select"})
    )
    body = forms.CharField(
        label="Note", max_length=10000, widget=forms.Textarea(attrs={"class": "textarea", "rows": 3})
    )

    def clean_body(self) -> str:
        body = self.cleaned_data["body"].strip()
        if not body:
            raise forms.ValidationError("Write something first.")
        return body


class MoveForm(forms.Form):
    to_stage = forms.ChoiceField(choices=STAGE_CHOICES)
    reason = forms.CharField(required=False, max_length=2000)


class ReportPeriodForm(forms.Form):
    start = forms.DateField(label="From", widget=DateInput())
    end = forms.DateField(label="Until", widget=DateInput())
    owner = forms.ChoiceField(label="Owner", required=False, widget=forms.Select(attrs={"class": "select"}))

    MAX_DAYS = 731

    def __init__(self, *args, owners=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("", "Anyone"), ("unowned", "Unowned")] + [
            (str(user.pk), user.get_full_name() or user.get_username()) for user in owners
        ]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if end < start:
                self.add_error("end", "Must be on or after the first day.")
            elif (end - start).days >= self.MAX_DAYS:
                self.add_error("end", "Choose a period of two years at most.")
        return cleaned


class WebFormKeyForm(forms.Form):
    """Create, rotate or disable the public key of a web form (leads.public_forms)."""

    ACTIONS = [("create", "Create"), ("rotate", "Rotate"), ("disable", "Disable")]

    form_name = forms.CharField(
        label="Form name",
        max_length=200,
        widget=forms.TextInput(attrs={"class": "input", "placeholder": "e.g. demo-request"}),
        help_text="The name its submissions are filed under, as listed here.",
    )
    action = forms.ChoiceField(choices=ACTIONS, widget=forms.HiddenInput)


class ThankYouForm(forms.Form):
    """Where a web form's visitors land after sending it: carried (signed) by the snippet."""

    form = forms.CharField(max_length=200, widget=forms.HiddenInput)
    thank_you = forms.URLField(
        label="Thank-you page",
        required=False,
        max_length=1000,
        assume_scheme="https",
        validators=[URLValidator(schemes=["http", "https"])],
        widget=forms.URLInput(attrs={"class": "input", "placeholder": "https://www.example.com/thanks"}),
        help_text="An http(s) address on your website. Empty: LeadCRM's own thank-you page.",
    )
