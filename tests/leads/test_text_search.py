"""leads.text_search: one condition on the four searched columns joined by spaces finds exactly the
leads the condition per column found, and on PostgreSQL the trigram index serves it."""

import pytest
from django.db import connection, transaction
from django.db.models import Q

from leads.models import Lead
from leads.text_search import SEARCHED_COLUMNS, containing, with_company
from tests.factories import LeadFactory

pytestmark = pytest.mark.django_db

# Words at the columns' boundaries, empty columns, spaces inside a column, case, accents, LIKE's
# wildcards and escape character.
PEOPLE = [
    ("Ada", "Lovelace", "ada@engines.example", "Analytical Engines"),
    ("", "Hopper", "grace@navy.example", ""),
    ("Anna", "Müller", "anna@mueller.example", "Müller & Söhne"),
    ("Bo", "Di", "bo.di@x.example", "50% Off_Sale"),
    ("Jean-Luc", "O'Brien", "jl@ex.example", "Back\\slash Ltd"),
    ("Émile", "Zola", "emile@zola.example", "Ünïcode GmbH"),
    ("X", "Y Z", "xyz@acme.example", "Acme Corp"),
    ("Lovelace", "", "lovelace@b.example", "Ada"),
]
WORDS = [
    [""],
    [" "],
    ["ada"],
    ["ADA"],
    ["ada lovelace"],  # first name and last name: not one column
    ["lovelace ada"],
    ["a lo"],
    ["e a"],  # across last name and email, and inside "Analytical Engines"
    ["l e"],
    ["analytical engines"],
    ["hopper"],
    [" hopper"],  # the empty first name's side of the space
    ["müller"],
    ["MÜLLER"],
    ["muller"],
    ["mueller"],
    ["50%"],
    ["%"],
    ["_"],
    ["off_sale"],
    ["f_s"],
    ["0% o"],
    ["\\"],
    ["k\\s"],
    ["o'brien"],
    ["y z"],  # inside the last name
    ["x y"],  # first name and last name
    ["z xyz"],  # last name and email
    ["é"],
    ["É"],
    ["ünïcode"],
    ["ada", "engines"],
    ["hopper", "navy"],
    ["müller", "söhne"],
    ["ada", "zola"],
]


def per_column(leads, words: list[str]):
    """The search as it was: each word in one of the columns (the reference)."""
    for word in words:
        leads = leads.filter(Q.create([(f"{column}__icontains", word) for column in SEARCHED_COLUMNS], connector=Q.OR))
    return leads


@pytest.fixture
def people():
    return [
        LeadFactory(first_name=first, last_name=last, email=email, company=company)
        for first, last, email, company in PEOPLE
    ]


@pytest.mark.parametrize("words", WORDS, ids=repr)
def test_it_finds_what_the_search_per_column_finds(people, words):
    expected = set(per_column(Lead.objects.all(), words).values_list("pk", flat=True))
    assert set(containing(Lead.objects.all(), words).values_list("pk", flat=True)) == expected


def test_a_word_is_found_in_every_column_but_not_across_two(people):
    ada, hopper, *_ = people
    assert set(containing(Lead.objects.all(), ["ada"])) == {ada, people[-1]}
    assert set(containing(Lead.objects.all(), ["grace@navy"])) == {hopper}
    assert set(containing(Lead.objects.all(), ["engines"])) == {ada}
    assert list(containing(Lead.objects.all(), ["ada lovelace"])) == []
    assert list(containing(Lead.objects.all(), ["x y"])) == []
    assert list(containing(Lead.objects.all(), ["y z"])) == [people[6]]


@pytest.mark.parametrize("company", ["Acme Corp", "acme corp", "ACME CORP", "Ada", "50% Off_Sale", "Back\\slash Ltd"])
def test_with_company_is_company_iexact(people, company):
    expected = set(Lead.objects.filter(company__iexact=company))
    assert expected
    assert set(with_company(Lead.objects.all(), company)) == expected


@pytest.mark.parametrize("company", ["Acme", "Corp", "acme corp ", "Lovelace Ada", "Ada Lovelace"])
def test_with_company_refuses_a_part_or_another_column(people, company):
    assert list(with_company(Lead.objects.all(), company)) == []


@pytest.mark.postgres
@pytest.mark.parametrize(
    "leads",
    [
        lambda: containing(Lead.objects.all(), ["hopper"]),
        lambda: containing(Lead.objects.select_related("owner"), ["grace hopper"]),
        lambda: with_company(Lead.objects.all(), "Acme Corp"),
    ],
    ids=["a word", "a phrase", "a company"],
)
def test_the_trigram_index_serves_the_search(people, leads):
    """The search must test Lead.search_text as the index has it (migration 0020): the column itself,
    upper-cased already."""
    with transaction.atomic(), connection.cursor() as cursor:
        # Only a bitmap scan is left, which the search's condition alone can drive: through the
        # trigram index, where PostgreSQL sees that it indexes the column the condition tests.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        plan = leads().explain()
    assert "lead_stage_search_trgm_idx" in plan


def test_it_searches_the_columns_as_they_are_now(people):
    """Lead.search_text is written by the database on every insert and update of the columns, the
    ORM's or raw SQL's alike."""
    ada = people[0]
    Lead.objects.filter(pk=ada.pk).update(last_name="Byron", company="")
    assert set(containing(Lead.objects.all(), ["byron"])) == {ada}
    assert set(containing(Lead.objects.all(), ["lovelace"])) == {people[-1]}
    assert list(containing(Lead.objects.all(), ["analytical"])) == []


@pytest.mark.postgres
def test_near_the_break_even_a_count_over_a_sample_of_the_table_decides(monkeypatch):
    """The planner's estimate of a word's matches scatters with ANALYZE's sample; near the limit
    where a walk of the sort index is chosen instead, a count over a sample of pages decides."""
    from leads import text_search

    LeadFactory.create_batch(100, last_name="Hopper")
    LeadFactory.create_batch(100, last_name="Lovelace")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")
    hoppers = containing(Lead.objects.all(), ["hopper"])
    # 5-row pages over 200 leads: collecting is chosen below 100 matches (the walk's margin
    # included: 5 x 200 x 10 = 100 squared), and ~100 are estimated.
    # A table this small is counted whole: 1% of its pages would be one page or none.
    assert text_search.sampled_matches(hoppers, table_rows=200) == 100

    monkeypatch.setattr(text_search, "sampled_matches", lambda leads, table_rows: 90)
    assert text_search.matches_are_few(hoppers, terms=["hopper"], page_rows=5)
    monkeypatch.setattr(text_search, "sampled_matches", lambda leads, table_rows: 110)
    assert not text_search.matches_are_few(hoppers, terms=["hopper"], page_rows=5)
    # Far from the limit the planner's estimate stands, with no sample taken.
    monkeypatch.setattr(text_search, "sampled_matches", lambda leads, table_rows: pytest.fail("sampled"))
    assert not text_search.matches_are_few(hoppers, terms=["hopper"], page_rows=1)
    assert text_search.matches_are_few(hoppers, terms=["hopper"], page_rows=500)
