"""Checks of a program's ``/metrics`` text: ``promtool check metrics`` and the samples by name."""

from __future__ import annotations

import subprocess

from prometheus_client.parser import text_string_to_metric_families

from lobbywatch.services import find_binary


def promtool_check(text: str) -> None:
    """Fail unless ``promtool check metrics`` finds nothing to say about ``text`` (lint included).

    A missing ``promtool`` fails the test, naming the Debian package that carries it."""
    promtool = find_binary("promtool", "prometheus")
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False
    )
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert not said.strip(), said


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of ``text``: (name, labels) -> value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The value of one sample of :func:`samples` (KeyError naming it when it is missing)."""
    key = (name, frozenset(labels.items()))
    if key not in found:
        raise KeyError(f"no sample {name}{labels} among {sorted(n for n, _ in found)}")
    return found[key]
