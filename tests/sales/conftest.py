import pytest

from leads.models import HandoffKind, SlaPolicy


@pytest.fixture
def sla_policies(db):
    """Times to accept per handoff kind, as an admin would set them."""
    hours = {HandoffKind.MARKETING_TO_SALES: 4, HandoffKind.PRODUCT_TO_SALES: 8, HandoffKind.SERVICE_TO_SALES: 24}
    return {kind: SlaPolicy.objects.create(kind=kind, hours_to_accept=h) for kind, h in hours.items()}


@pytest.fixture
def rep_client(client, sales_rep):
    client.force_login(sales_rep)
    return client


HTMX = {"HTTP_HX_REQUEST": "true"}
