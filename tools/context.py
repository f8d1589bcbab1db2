"""What every tool reads: the served model (loaded once, by the version the warehouse was
built with, from the MLflow registry, with a local copy so serving survives the registry being
down) and the DuckDB warehouse (opened read-only)."""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from data.catalogue import (
    Catalogue,
    CatalogueError,
    Intervention,
    UnknownIntervention,
    catalogue_text,
    no_catalogue_message,
    parse_catalogue,
)
from data.spec import DatasetSpec, SpecError, load_spec
from data.spec_store import spec_digest, spec_from_yaml
from pipeline import warehouse
from pipeline.levels import served_levels
from pipeline.model import RiskModel
from sara.settings import Settings
from tools.errors import InvalidInput, NotConfigured, NotFound, NotReady

log = logging.getLogger(__name__)
RUN_PIPELINE = "run `sara pipeline run` first"
_live: weakref.WeakSet[ToolContext] = weakref.WeakSet()


@dataclass(eq=False)
class ToolContext:
    settings: Settings
    spec: DatasetSpec
    model: RiskModel
    model_version: str
    meta: dict[str, str]
    model_source: str  # "registry" or "local cache"
    catalogue: Catalogue | None = None  # None: the dataset defines no interventions
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _opened: list[duckdb.DuckDBPyConnection] = field(default_factory=list, repr=False)
    _opened_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def data_timestamp(self) -> str:
        return self.meta.get("built_at", "")

    @property
    def id_column(self) -> str:
        return self.spec.id_column

    def interventions(self) -> Catalogue:
        """The dataset's intervention catalogue; ``NotConfigured`` (saying how to add one) when
        the dataset defines none."""
        if self.catalogue is None:
            raise NotConfigured(no_catalogue_message(self.spec), field="interventions")
        return self.catalogue

    def pick_interventions(self, names: list[str] | None) -> list[Intervention]:
        """The named interventions of the dataset's catalogue (all by default)."""
        try:
            return self.interventions().pick(names)
        except UnknownIntervention as exc:
            raise InvalidInput(str(exc), field="interventions", value=exc.name) from None

    def sql(self, query: str, params: list | None = None) -> pd.DataFrame:
        """Run a parameterised read-only query on the warehouse."""
        return self.connection().execute(query, params or []).df()

    def connection(self) -> duckdb.DuckDBPyConnection:
        # One read-only connection per thread; DuckDB connections are not shared across threads.
        con = getattr(self._local, "con", None)
        if con is None:
            path = self.settings.warehouse_path
            if not path.is_file():
                raise NotReady(f"the warehouse {path} is missing; {RUN_PIPELINE}")
            try:
                # Attached from a fresh in-memory database: connect(path) would reuse the
                # database this process has open under that name, the file a publish replaced.
                con = warehouse.open_read_only(path)
            except duckdb.Error as exc:
                raise NotReady(
                    f"the warehouse {path} cannot be opened ({str(exc).splitlines()[0]}); if "
                    "another process holds it open for writing, wait for it to finish or stop it"
                ) from None
            self._local.con = con
            with self._opened_lock:
                self._opened.append(con)
        return con

    def cached(self, name: str, build: Callable[[ToolContext], Any]) -> Any:
        """A value derived from this model and warehouse, built once on first use."""
        if name not in self._cache:
            with self._cache_lock:
                if name not in self._cache:
                    self._cache[name] = build(self)
        return self._cache[name]

    def students(self, ids: list[str]) -> pd.DataFrame:
        """The students' rows (spec columns) in the order asked; unknown ids are an error."""
        frame = self.sql(
            f'SELECT * FROM students WHERE "{self.id_column}" IN (SELECT unnest(?))', [list(ids)]
        )
        require_known(ids, set(frame[self.id_column]))
        return frame.set_index(self.id_column).loc[list(ids)].reset_index()

    def close(self) -> None:
        """Close the connections of every thread (DuckDB aborts the process if a connection
        is only destroyed during interpreter shutdown)."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for con in opened:
            con.close()
        self._local = threading.local()


def require_known(ids: list[str], found: Container[str]) -> None:
    """Raise NotFound naming the ids (up to five) that are not in ``found``."""
    missing = [i for i in ids if i not in found]
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise NotFound(f"no student with id {shown}", field="student_ids", value=missing[:5])


def _cache_dir(settings: Settings, version: str) -> Path:
    return settings.home / "model-cache" / f"{settings.model_name}-v{version}"


def _load_model(settings: Settings, version: str) -> tuple[RiskModel, str]:
    import mlflow.sklearn

    from pipeline import registry

    cache = _cache_dir(settings, version)
    try:
        registry.configure(settings)
        model = registry.load_version(settings.model_name, version)
    except Exception as exc:  # any registry failure: fall back on the local copy
        if (cache / "MLmodel").is_file():
            log.warning("model registry unavailable (%s); serving cached v%s", exc, version)
            return mlflow.sklearn.load_model(str(cache)), "local cache"
        raise NotReady(
            f"cannot load model v{version} from the registry ({exc}) and there is "
            f"no local copy; {RUN_PIPELINE}"
        ) from None
    if not (cache / "MLmodel").is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        mlflow.sklearn.save_model(model, str(cache), skops_trusted_types=registry.TRUSTED_TYPES)
    return model, "registry"


def served_spec(settings: Settings, meta: dict[str, str]) -> DatasetSpec:
    """The spec the warehouse was published with (stored in it). ``SARA_SPEC_PATH`` is not
    needed; when it is set and names another spec, the mismatch is named with its fix."""
    stored = meta.get("spec_yaml")
    if not stored:  # a warehouse published before the spec was stored in it
        spec = load_spec(settings.spec_path)
        if meta.get("spec") != spec.name:
            raise NotReady(
                f"the warehouse was built with spec {meta.get('spec')!r}, not "
                f"{spec.name!r}; {RUN_PIPELINE}"
            )
        return spec
    spec = spec_from_yaml(stored, "the warehouse")
    if settings.spec_path is None:
        return spec
    try:
        configured = load_spec(settings.spec_path)
    except SpecError as exc:
        raise NotReady(f"SARA_SPEC_PATH: {exc}") from None
    if spec_digest(configured) != meta.get("spec_hash"):
        raise NotReady(
            f"SARA_SPEC_PATH is {settings.spec_path} (spec {configured.name!r}, version "
            f"{spec_digest(configured)}), but the warehouse was published with spec "
            f"{spec.name!r} (version {meta.get('spec_hash')}): unset SARA_SPEC_PATH to serve the "
            f"published spec, or run `sara pipeline run --spec {settings.spec_path}` to publish "
            "with yours"
        )
    return spec


def served_catalogue(
    spec: DatasetSpec, settings: Settings, meta: dict[str, str]
) -> Catalogue | None:
    """The intervention catalogue in service: ``SARA_INTERVENTIONS_PATH`` when set, else the one
    published with the warehouse; None when the dataset has none."""
    try:
        if settings.interventions_path is not None:
            return parse_catalogue(spec, *catalogue_text(spec, settings.interventions_path))
        if "catalogue_yaml" not in meta:  # published before catalogues were stored
            found = catalogue_text(spec)
            return parse_catalogue(spec, *found) if found else None
        text = meta["catalogue_yaml"]
        return parse_catalogue(spec, text, meta.get("catalogue_source", "")) if text else None
    except CatalogueError as exc:
        raise NotReady(str(exc)) from None


def load_context(settings: Settings) -> ToolContext:
    """Open the warehouse and load the model it was built with."""
    meta = warehouse.read_meta(settings.warehouse_path)
    if meta is None:
        raise NotReady(f"there is no warehouse yet; {RUN_PIPELINE}")
    settings = served_levels(settings, meta)
    spec = served_spec(settings, meta)
    catalogue = served_catalogue(spec, settings, meta)
    version = meta["model_version"]
    model, source = _load_model(settings, version)
    ctx = ToolContext(settings, spec, model, version, meta, source, catalogue)
    atexit.unregister(_close_live)  # registered once, however many contexts load
    atexit.register(_close_live)
    _live.add(ctx)
    return ctx


def _close_live() -> None:
    for ctx in list(_live):
        ctx.close()
