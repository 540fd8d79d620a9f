"""Hypothesis strategies and settings shared by the property tests (faults tried on purpose).

Strategies: any JSON-ish value (:func:`json_values`), the protocol's example messages
(:data:`EXAMPLES`) mutated a few times (:func:`mutated_messages`), and payload bytes that
are sometimes valid, often nearly so (:func:`payloads`). :data:`THOROUGH` is the settings of
a pure property: 2,000 examples, no deadline (a busy CI machine is slow, not wrong).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from lobbywatch.protocol.examples import EXAMPLES

#: Settings of a pure property (no I/O): at least 2,000 examples per property in CI.
THOROUGH = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["", "0", "2026-11-23T01:30:00Z", "9999-12-31T23:59:59Z", "queue", "warning"])
)
_FINITE_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)


_SCALARS_OF = {False: _SCALARS, True: _FINITE_SCALARS}


def _json_values(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=12,
    )


#: Built once: a strategy is validated when first drawn from, which costs more than a draw.
_JSON_VALUES = {False: _json_values(_SCALARS), True: _json_values(_FINITE_SCALARS)}
#: What a mutation puts in a field: mostly a scalar (cheap to generate, and the likelier
#: mistake), else any JSON value.
_FIELD_VALUES = {finite: _SCALARS_OF[finite] | _JSON_VALUES[finite] for finite in (False, True)}


def json_values(*, finite: bool = False) -> st.SearchStrategy[Any]:
    """Any JSON-ish value: scalars (NaN and infinities unless ``finite``), lists, objects."""
    return _JSON_VALUES[finite]


_NAMES = st.sampled_from(sorted(EXAMPLES))
_COUNT = st.integers(min_value=0, max_value=3)
_OPS = st.sampled_from(["drop", "replace", "replace", "add"])
_KEYS = st.text(max_size=10)
_INDEX = st.integers(min_value=0, max_value=63)


@st.composite
def mutated_messages(draw: st.DrawFn, *, finite: bool = False) -> dict[str, Any]:
    """A valid example message with zero to three fields removed, replaced or added."""
    data: dict[str, Any] = copy.deepcopy(EXAMPLES[draw(_NAMES)])
    for _ in range(draw(_COUNT)):
        op = draw(_OPS)
        if op == "add":
            data[draw(_KEYS)] = draw(_FIELD_VALUES[finite])
        elif data:
            keys = sorted(data)
            key = keys[draw(_INDEX) % len(keys)]
            if op == "drop":
                del data[key]
            else:
                data[key] = draw(_FIELD_VALUES[finite])
    return data


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def payloads() -> st.SearchStrategy[bytes]:
    """Bytes an MQTT payload could hold: random, any JSON, mutated messages, and those with a
    byte-order mark, cut short or in UTF-16."""
    messages = mutated_messages().map(_dumps)
    return st.one_of(
        st.binary(max_size=300),
        json_values().map(_dumps),
        messages,
        messages.map(lambda b: b"\xef\xbb\xbf" + b),
        messages.flatmap(lambda b: st.integers(0, len(b)).map(lambda n: b[:n])),
        messages.map(lambda b: b.decode().encode("utf-16")),
        st.integers(min_value=1, max_value=40_000).map(lambda n: b"[" * n + b"]" * n),
    )
