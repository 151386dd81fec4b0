import pytest
from django.test import Client


@pytest.fixture
def marketer_client(marketer):
    client = Client()
    client.force_login(marketer)
    return client


@pytest.fixture
def client_as(db):
    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make
