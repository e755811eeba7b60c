"""Fixtures shared by the fruits-emr tests."""

from __future__ import annotations

import pytest

from fruits_pipeline.emr import cli


@pytest.fixture
def sent(monkeypatch):
    """The parameters of every request the CLI really sends, by operation name."""
    calls: dict[str, list[dict]] = {}
    original = cli.App.client

    def client(self, service):
        made = original(self, service)

        def record(params, model, **_):
            calls.setdefault(model.name, []).append(params)

        made.meta.events.register("provide-client-params", record)
        return made

    monkeypatch.setattr(cli.App, "client", client)
    return calls
