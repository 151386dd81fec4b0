"""Browser forms of the scoring rules editor. They validate; scoring.services writes."""

from django import forms

from leads.models import EventType

from .engine import FitKind, PropertyOperator
from .models import EngagementRule, FitRule

FIT_KIND_LABELS = {
    FitKind.JOB_TITLE_CONTAINS: "Job title contains",
    FitKind.COMPANY_SIZE_AT_LEAST: "Company size at least",
    FitKind.INDUSTRY_IN: "Industry is one of",
    FitKind.COUNTRY_IN: "Country is one of",
    FitKind.EMAIL_FREE_MAIL: "Email at a free-mail domain",
    FitKind.EMAIL_COMPETITOR: "Email at a competitor's domain",
}
KINDS_WITH_VALUES = {FitKind.JOB_TITLE_CONTAINS, FitKind.INDUSTRY_IN, FitKind.COUNTRY_IN, FitKind.EMAIL_COMPETITOR}
EVENT_TYPE_LABELS = dict(EventType.choices)


def _styled(form: forms.BaseForm) -> None:
    for field in form.fields.values():
        css = "select" if isinstance(field.widget, forms.Select) else "input"
        field.widget.attrs.setdefault("class", css)


class ThresholdsForm(forms.Form):
    mql_threshold = forms.IntegerField(
        label="MQL threshold", min_value=1, max_value=10000, help_text="A lead whose score reaches this becomes an MQL."
    )
    pql_threshold = forms.IntegerField(
        label="PQL threshold",
        min_value=1,
        max_value=10000,
        help_text="Product-event points that make a lead a PQL.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _styled(self)


class EngagementRuleForm(forms.ModelForm):
    class Meta:
        model = EngagementRule
        fields = [
            "name",
            "event_type",
            "property_key",
            "property_operator",
            "property_value",
            "points",
            "cap",
            "half_life_days",
        ]
        labels = {
            "event_type": "When the lead",
            "property_key": "Property (optional)",
            "property_operator": "Match",
            "property_value": "Value",
            "half_life_days": "Half-life (days)",
        }
        help_texts = {
            "points": "Per matching event; negative allowed.",
            "cap": "The most this rule adds to one lead.",
            "half_life_days": "Points halve every this many days; empty: no decay.",
            "property_key": "",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["property_operator"].choices = [("", "—")] + [(op.value, op.value) for op in PropertyOperator]
        self.fields["event_type"].widget.attrs["list"] = "dl-event-types"
        _styled(self)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("property_key") and not cleaned.get("property_operator"):
            self.add_error("property_operator", "Choose how the property must match.")
        if cleaned.get("property_operator") and not cleaned.get("property_key"):
            self.add_error("property_key", "Name the event property to match.")
        return cleaned

    def rule_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class FitRuleForm(forms.ModelForm):
    values_text = forms.CharField(
        label="Values",
        required=False,
        max_length=2000,
        help_text="Separated by commas, e.g. VP, Director, Head of",
    )

    class Meta:
        model = FitRule
        fields = ["name", "kind", "threshold", "points"]
        labels = {"kind": "Condition", "threshold": "Company size at least"}
        help_texts = {"points": "Negative allowed.", "threshold": "Only for the company size condition."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"] = forms.ChoiceField(
            label="Condition", choices=[(kind.value, FIT_KIND_LABELS[kind]) for kind in FitKind]
        )
        if self.instance.pk:
            self.initial.setdefault("values_text", ", ".join(str(value) for value in self.instance.values or []))
        self.order_fields(["name", "kind", "values_text", "threshold", "points"])
        _styled(self)

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        values = [value.strip() for value in (cleaned.get("values_text") or "").split(",") if value.strip()]
        cleaned["values"] = values
        if kind == FitKind.COMPANY_SIZE_AT_LEAST and cleaned.get("threshold") is None:
            self.add_error("threshold", "Give the company size this rule starts at.")
        if kind in KINDS_WITH_VALUES and kind != FitKind.EMAIL_COMPETITOR and not values:
            self.add_error("values_text", "Give at least one value.")
        if kind == FitKind.COUNTRY_IN:
            cleaned["values"] = [value.upper() for value in values]
        return cleaned

    def rule_fields(self) -> dict:
        kind = self.cleaned_data["kind"]
        return {
            "name": self.cleaned_data["name"],
            "kind": kind,
            "values": self.cleaned_data["values"],
            "threshold": self.cleaned_data["threshold"] if kind == FitKind.COMPANY_SIZE_AT_LEAST else None,
            "points": self.cleaned_data["points"],
        }


def describe_fit_rule(rule: FitRule) -> str:
    label = FIT_KIND_LABELS.get(rule.kind, rule.kind)
    if rule.kind == FitKind.COMPANY_SIZE_AT_LEAST:
        return f"{label} {rule.threshold:,}" if rule.threshold is not None else label
    if rule.values:
        return f"{label}: {', '.join(str(value) for value in rule.values)}"
    return label


def describe_engagement_rule(rule: EngagementRule) -> str:
    text = EVENT_TYPE_LABELS.get(rule.event_type, rule.event_type)
    if rule.property_key:
        text += f" where {rule.property_key} {rule.property_operator} “{rule.property_value}”"
    return text
