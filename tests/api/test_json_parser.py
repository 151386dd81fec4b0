"""The API's JSON parser reads a body exactly as the standard json module does, fast path or not."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leads.api.parsers import _finite_float, _loads, _refuse_constant


def standard(body: bytes):
    return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float)


def same(a, b) -> bool:
    """Equal, and of the same types all the way down (1 is not 1.0, -0.0 is not 0.0)."""
    return repr(a) == repr(b)


@pytest.mark.parametrize(
    "body",
    [
        b'{"n": 9223372036854775807, "m": -9223372036854775808}',  # the 64-bit limits: 19 digits
        b'{"n": 9223372036854775808, "m": -9223372036854775809}',  # just beyond
        b'{"n": 18446744073709551615, "m": 18446744073709551616}',  # orjson's own limit, and beyond
        b'{"n": 123456789012345678901234567890}',
        b'{"n": 123456789012345678}',  # 18 digits: the fast path
        b'{"id": "1234567890123456789012", "x": 1}',  # 19 digits in a string: the slow path, same data
        b'{"f": 0.1, "g": -0.0, "h": 5e-324, "i": 1.7976931348623157e308, "j": 1E2, "k": 10}',
        b'{"a": 1, "a": 2}',  # the last one wins
        b'{"s": "\\u00e9\\u2028\\ud83d\\ude00 \\"q\\" \\\\ \\/"}',
        b'  [1, [2, [3, {"deep": null, "t": true, "f": false}]]]  ',
        '{"é": "ü"}'.encode(),
    ],
)
def test_a_body_reads_as_the_standard_parser_reads_it(body):
    assert same(_loads(body), standard(body))


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"a": NaN}', "NaN is not valid JSON"),
        (b'{"a": 1e400}', "1e400 is out of range"),
        (b'{"a": 1,}', "Expecting property name"),
        (b"\xff{}", "invalid start byte"),
    ],
)
def test_a_bad_body_is_refused_in_the_standard_parsers_words(body, error):
    with pytest.raises(ValueError, match=error):
        _loads(body)


def test_a_lone_surrogate_escape_is_read_as_the_standard_parser_reads_it():
    # The parser refuses it afterwards (LimitedJSONParser), with its own message.
    assert _loads(b'{"a": "\\ud800"}') == {"a": "\ud800"}


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_any_json_value_reads_back_the_same(value):
    for body in (json.dumps(value).encode(), json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")):
        try:
            expected = standard(body)
        except ValueError:  # a lone surrogate in raw UTF-8: neither parser reads it
            with pytest.raises(ValueError):
                _loads(body)
            continue
        assert same(_loads(body), expected)
