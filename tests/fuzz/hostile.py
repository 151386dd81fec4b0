"""Hostile values for the property tests: what a careless or malicious client sends."""

from hypothesis import strategies as st

XSS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "{{ 7*7 }}{% debug %}",
    "javascript:alert(1)",
    "</textarea><script>alert(1)</script>",
]
SQL = ["'; DROP TABLE leads_lead; --", "1 OR 1=1", "\\'; SELECT pg_sleep(10); --", "%' AND '1'='1"]
SPREADSHEET = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1:A2)", "\t=1+1", "\r=1+1"]
ODD_TEXT = [
    "",
    " ",
    "\u200b",  # zero-width space
    "\u202eevil\u202c",  # right-to-left override
    "\u200f\u0645\u0631\u062d\u0628\u0627",  # RTL mark + Arabic
    "\U0001f600\U0001f469\u200d\U0001f469\u200d\U0001f467",  # emoji joined by ZWJ
    "e\u0301",  # combining accent
    "\ufeffBOM",
    "line\nbreak\r\n",
    "tab\there",
    "bell\x07 esc\x1b[31m",
    "nul\x00byte",
    "\x00",
    "\\u0000",  # the six characters, not a NUL
    "A" * 5000,
    "é" * 201,
]

hostile_text = st.one_of(
    st.sampled_from([*XSS, *SQL, *SPREADSHEET, *ODD_TEXT]),
    st.text(max_size=60),  # any code point, control characters and NUL included
    st.text(alphabet=st.characters(codec="utf-8"), min_size=190, max_size=260),  # around the limits
)
wrong_types = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
ODD_DATES = [
    "2026-01-31T12:00:00Z",
    "2026-01-31t12:00:00z",
    "2026-01-31T12:00:00+14:00",
    "2026-01-31T12:00:00-12:00",
    "2026-01-31 12:00",
    "2026-01-31",
    "2016-12-31T23:59:60Z",
    "2026-01-31T12:00:00.123456789Z",
    "2026-W05-6",
    "31/01/2026",
    "01/31/2026 12:00 PM",
    "2026-13-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "1970-01-01T00:30:00+01:00",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-12:00",
    "\uff12\uff10\uff12\uff16-01-31T12:00:00Z",  # full-width digits
    "1738000000",
    "now",
    "",
]
odd_dates = st.one_of(st.sampled_from(ODD_DATES), st.integers(), st.floats(allow_nan=False), hostile_text)
NUMBERS_AS_STRINGS = ["12", " 12 ", "0012", "1e3", "12.0", "-1", "²", "١٢", "0x10", "10000001", "1_000", "", "NaN"]
numbers = st.one_of(st.sampled_from(NUMBERS_AS_STRINGS), st.integers(min_value=-(2**70), max_value=2**70), wrong_types)


def nested_json(depth: int) -> str:
    """JSON text nested `depth` levels deep (objects in lists), built as text: json.dumps would recurse."""
    return '[{"k": ' * depth + '"leaf"' + "}]" * depth


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), hostile_text),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(hostile_text, children, max_size=4)),
    max_leaves=12,
)
