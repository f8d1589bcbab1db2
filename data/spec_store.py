"""A spec as the workspace keeps it: the canonical YAML of the validated spec, its digest, and
reading it back. The pipeline stores it in the warehouse (and the MLflow run) so serving, the
chat and the evaluations use the spec the data was published with, with no setting repeated."""

from __future__ import annotations

import yaml
from pydantic import ValidationError

from data.spec import DatasetSpec, SpecError, spec_hash


def spec_yaml(spec: DatasetSpec) -> str:
    """The spec as canonical YAML (every declared key, defaults left out)."""
    raw = spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)


def spec_digest(spec: DatasetSpec) -> str:
    """A short content hash that names one version of a spec (shown to people). The
    catalogue's path is left out: where a workspace keeps its catalogue file does not change
    the spec (the catalogue's content is stored beside it)."""
    return spec_hash(spec_yaml(spec.model_copy(update={"interventions": None})))[:12]


def spec_from_yaml(text: str, source: str) -> DatasetSpec:
    """Read back a spec stored by ``spec_yaml``."""
    try:
        return DatasetSpec.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise SpecError(f"{source}: the stored spec cannot be read ({exc})") from None
