"""The one tool registry, and the context the tools read (model cache, readiness)."""

import pytest
from pydantic import BaseModel

from pipeline import model_cache
from sara.roles import LOCAL
from sara.settings import Settings
from tools import TOOLS, TOOLS_BY_NAME
from tools.base import ToolOutput
from tools.context import CHECKED_COPY, REGISTRY, load_context
from tools.errors import InvalidInput, NotReady
from tools.session import ToolSession

pytestmark = pytest.mark.integration


def test_every_tool_is_typed_described_and_registered_once():
    names = [tool.name for tool in TOOLS]
    assert len(names) == len(set(names)) and set(names) == set(TOOLS_BY_NAME)
    for tool in TOOLS:
        assert issubclass(tool.input_model, BaseModel)
        assert issubclass(tool.output_model, ToolOutput)
        assert len(tool.description) > 40, tool.name
        assert tool.role in ("viewer", "staff", "analyst", "admin")
        schema = tool.input_model.model_json_schema()
        assert schema["type"] == "object"


def test_bad_arguments_name_the_field_value_and_rule():
    tool = TOOLS_BY_NAME["find_students"]
    with pytest.raises(InvalidInput) as info:
        tool.parse({"limit": 0})
    assert info.value.field == "limit" and info.value.value == 0
    assert "greater than or equal to 1" in info.value.message
    with pytest.raises(InvalidInput, match="Extra inputs are not permitted"):
        tool.parse({"colour": "red"})


def test_tools_run_from_raw_arguments_and_stamp_their_outputs(ctx):
    session = ToolSession(lambda: ctx, LOCAL)
    out = session.run(TOOLS_BY_NAME["score_students"], {"student_ids": ["S0000003"]})
    assert out.model_version == ctx.model_version
    assert out.data_timestamp == ctx.meta["built_at"]


def test_no_warehouse_means_not_ready_with_the_fix(tmp_path):
    with pytest.raises(NotReady, match="run `sara pipeline run` first"):
        load_context(Settings(home=tmp_path / "empty"))


def test_serving_survives_the_registry_being_down(published, ctx, tmp_path):
    # ctx was loaded from the registry, which left a local copy of the model.
    assert ctx.model_source == "registry"
    broken = published.model_copy(
        update={"mlflow_tracking_uri": f"sqlite:///{tmp_path / 'elsewhere.db'}"}
    )
    degraded = load_context(broken)
    try:
        assert degraded.model_source == "local cache"
        assert degraded.model_version == ctx.model_version
        sample = ctx.sql("SELECT * FROM students LIMIT 50")
        assert (degraded.model.predict_proba(sample) == ctx.model.predict_proba(sample)).all()
    finally:
        degraded.close()


def test_one_shot_commands_load_the_copy_the_publish_checked_and_nothing_else(
    published, ctx, tmp_path
):
    # The publish wrote a copy of the model it scored with and recorded its digest.
    recorded = ctx.meta[model_cache.META_KEY]
    cache = model_cache.cache_dir(published, ctx.model_version)
    assert model_cache.digest(cache) == recorded
    # Loaded without the registry (its store is elsewhere and empty): the checked copy.
    broken = published.model_copy(
        update={"mlflow_tracking_uri": f"sqlite:///{tmp_path / 'nowhere.db'}"}
    )
    quick = load_context(broken, local_first=True)
    try:
        assert quick.model_source == CHECKED_COPY
        sample = ctx.sql("SELECT * FROM students LIMIT 50")
        assert (quick.model.predict_proba(sample) == ctx.model.predict_proba(sample)).all()
    finally:
        quick.close()
    # A copy that is not the one recorded (changed since the publish) is not loaded: the
    # registry is asked, as a server does.
    original = (cache / model_cache.MODEL_FILE).read_bytes()
    try:
        (cache / model_cache.MODEL_FILE).write_bytes(original + b"\0")
        assert model_cache.load_checked(published, ctx.model_version, recorded) is None
        again = load_context(published, local_first=True)
        try:
            assert again.model_source == REGISTRY
        finally:
            again.close()
    finally:
        (cache / model_cache.MODEL_FILE).write_bytes(original)
    assert model_cache.load_checked(published, ctx.model_version, "0" * 64) is None


def test_a_copy_that_cannot_be_read_back_leaves_the_load_to_the_registry(
    published, ctx, monkeypatch
):
    # The digest matches, but the copy does not load (here: no type is trusted any more, as
    # after a library upgrade that renamed one): no error, the registry is asked instead.
    from pipeline import registry

    monkeypatch.setattr(registry, "TRUSTED_TYPES", [])
    recorded = ctx.meta[model_cache.META_KEY]
    assert model_cache.load_checked(published, ctx.model_version, recorded) is None
