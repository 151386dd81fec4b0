from rest_framework import serializers

from ..engine import FitKind, PropertyOperator
from ..models import EngagementRule, FitRule, RescoreJob, RuleSet

VALUE_KINDS = {FitKind.JOB_TITLE_CONTAINS, FitKind.INDUSTRY_IN, FitKind.COUNTRY_IN, FitKind.EMAIL_COMPETITOR}


class EngagementRuleSerializer(serializers.ModelSerializer):
    property_operator = serializers.ChoiceField(
        choices=[op.value for op in PropertyOperator], required=False, allow_blank=True
    )

    class Meta:
        model = EngagementRule
        fields = [
            "id",
            "name",
            "event_type",
            "property_key",
            "property_operator",
            "property_value",
            "points",
            "cap",
            "half_life_days",
            "position",
        ]
        read_only_fields = ["id"]
        extra_kwargs = {"half_life_days": {"min_value": 0.01}, "points": {"min_value": -1000, "max_value": 1000}}

    def validate(self, attrs):
        merged = {}
        if self.instance:
            merged = {
                "property_key": self.instance.property_key,
                "property_operator": self.instance.property_operator,
                "property_value": self.instance.property_value,
            }
        merged.update(attrs)
        key, operator = merged.get("property_key") or "", merged.get("property_operator") or ""
        if key and not operator:
            raise serializers.ValidationError({"property_operator": "Say how the property must match."})
        if operator and not key:
            raise serializers.ValidationError({"property_key": "Name the property to match."})
        if key and not (merged.get("property_value") or ""):
            raise serializers.ValidationError({"property_value": "Give the value to match."})
        return attrs


class FitRuleSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=[kind.value for kind in FitKind])
    values = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=500)

    class Meta:
        model = FitRule
        fields = ["id", "name", "kind", "values", "threshold", "points", "position"]
        read_only_fields = ["id"]
        extra_kwargs = {"points": {"min_value": -1000, "max_value": 1000}}

    def validate(self, attrs):
        kind = attrs.get("kind", getattr(self.instance, "kind", None))
        values = attrs.get("values", getattr(self.instance, "values", None) or [])
        threshold = attrs.get("threshold", getattr(self.instance, "threshold", None))
        if kind == FitKind.COMPANY_SIZE_AT_LEAST and threshold is None:
            raise serializers.ValidationError({"threshold": "Give the company size to reach."})
        if kind in VALUE_KINDS - {FitKind.EMAIL_COMPETITOR} and not values:
            raise serializers.ValidationError({"values": "Give at least one value."})
        return attrs


class RuleSetSerializer(serializers.ModelSerializer):
    engagement_rules = EngagementRuleSerializer(many=True, read_only=True)
    fit_rules = FitRuleSerializer(many=True, read_only=True)

    class Meta:
        model = RuleSet
        fields = [
            "id",
            "version",
            "status",
            "name",
            "notes",
            "mql_threshold",
            "pql_threshold",
            "pql_event_types",
            "high_intent_event_types",
            "based_on",
            "created_at",
            "updated_at",
            "published_at",
            "engagement_rules",
            "fit_rules",
        ]
        read_only_fields = fields


class RuleSetUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    mql_threshold = serializers.IntegerField(required=False, min_value=-10000, max_value=10000)
    pql_threshold = serializers.IntegerField(required=False, min_value=-10000, max_value=10000)
    pql_event_types = serializers.ListField(child=serializers.CharField(max_length=64), required=False, max_length=100)
    high_intent_event_types = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=100
    )


class RescoreJobSerializer(serializers.ModelSerializer):
    ruleset_version = serializers.IntegerField(source="ruleset.version", read_only=True)
    progress = serializers.FloatField(read_only=True)

    class Meta:
        model = RescoreJob
        fields = [
            "id",
            "ruleset",
            "ruleset_version",
            "reason",
            "status",
            "total",
            "done",
            "moved",
            "progress",
            "created_at",
            "updated_at",
            "finished_at",
        ]
        read_only_fields = fields


class ScoreSummarySerializer(serializers.Serializer):
    mean = serializers.FloatField(allow_null=True)
    median = serializers.IntegerField(allow_null=True)
    p90 = serializers.IntegerField(allow_null=True)
    histogram = serializers.ListField(child=serializers.IntegerField())


class StageCountSerializer(serializers.Serializer):
    stage = serializers.CharField()
    label = serializers.CharField()
    current = serializers.IntegerField()
    proposed = serializers.IntegerField()


class PreviewSerializer(serializers.Serializer):
    ruleset = serializers.DictField()
    leads = serializers.IntegerField()
    histogram_buckets = serializers.ListField(child=serializers.CharField())
    current = ScoreSummarySerializer()
    proposed = ScoreSummarySerializer()
    score_changes = serializers.DictField(child=serializers.IntegerField())
    stages = StageCountSerializer(many=True)
    newly = serializers.DictField(child=serializers.IntegerField(), help_text="Leads that would move, by stage.")
    thresholds = serializers.DictField(child=serializers.IntegerField())
    computed_in_ms = serializers.IntegerField()


class LeadScoreSerializer(serializers.Serializer):
    lead_id = serializers.IntegerField()
    score = serializers.IntegerField()
    fit_score = serializers.IntegerField()
    engagement_score = serializers.IntegerField()
    breakdown = serializers.ListField(child=serializers.DictField())
    ruleset_version = serializers.IntegerField(allow_null=True)
    scored_at = serializers.DateTimeField(allow_null=True)
    stale = serializers.BooleanField()
