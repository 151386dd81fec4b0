import pytest

from tests.factories import UserFactory


@pytest.fixture
def marketer(db):
    return UserFactory(username="marketer", roles=["marketing"])


@pytest.fixture
def sales_rep(db):
    return UserFactory(username="rep", roles=["sales"])


@pytest.fixture
def other_sales_rep(db):
    return UserFactory(username="rep2", roles=["sales"])


@pytest.fixture
def service_rep(db):
    return UserFactory(username="servicerep", roles=["service"])


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", roles=["admin"], is_staff=True, is_superuser=True)
