"""Fixtures shared by the unit tests of the assistant's parser and of the tools."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def builtin_lexicon():
    """The parser's vocabulary for the built-in spec and intervention catalogue, ids of the
    generator's width (``S0000042``) and the catalogue's prices, as the assistant builds it from a
    served context."""
    from assistant.lexicon import build_lexicon, switches_of
    from data.catalogue import load_catalogue
    from data.spec import load_spec

    spec = load_spec(None)
    catalogue = load_catalogue(spec).interventions
    names = {iv.name: iv.title for iv in catalogue}
    costs = {iv.name: iv.cost_per_student for iv in catalogue}
    return build_lexicon(spec, names, 7, costs=costs, switches=switches_of(spec, catalogue))


@pytest.fixture(scope="session")
def tiny_ctx(tmp_path_factory):
    """A ``ToolContext`` over a tiny published warehouse (see tiny_warehouse.py), built once."""
    from tests.unit.tiny_warehouse import build_tiny_context

    ctx = build_tiny_context(tmp_path_factory.mktemp("tiny") / "ws")
    yield ctx
    ctx.close()
