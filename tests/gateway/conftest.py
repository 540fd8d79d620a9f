"""Fixtures of the gateway tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateway.helpers_ingest import IngestReceiver


@pytest.fixture
def receiver() -> Iterator[IngestReceiver]:
    """A test ingest server (see ingest_receiver.py), behaving until told otherwise."""
    with IngestReceiver() as r:
        yield r
