"""What every tool reads: the served model (loaded once, by the version the warehouse was
built with, from the MLflow registry, with a local copy so serving survives the registry being
down) and the DuckDB warehouse (opened read-only).

A context owns one DuckDB database per warehouse file: every thread reads through a cursor of
its own on it (DuckDB connections are not shared across threads), so the file's cache is held
once per process, not once per thread; a thread that ends hands its cursor to the next new one.
The database stays on the file it opened — a publish
that replaces the file is served by the next context — and closes with its context."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Container
from dataclasses import dataclass, field
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
from pipeline import explain, model_cache, warehouse, what_if
from pipeline.levels import served_levels
from pipeline.model import RiskModel
from sara.leases import ThreadLeases
from sara.settings import Settings
from tools.errors import InvalidInput, NotConfigured, NotFound, NotReady

log = logging.getLogger(__name__)
RUN_PIPELINE = "run `sara pipeline run` first"
# Where a context's model came from (``ToolContext.model_source``).
REGISTRY = "registry"
LOCAL_CACHE = "local cache"  # the registry was unreachable: the workspace's copy
CHECKED_COPY = "local copy checked against the publish"  # one-shot commands: see model_cache


@dataclass(eq=False)
class ToolContext:
    settings: Settings
    spec: DatasetSpec
    model: RiskModel
    model_version: str
    meta: dict[str, str]
    model_source: str  # REGISTRY, LOCAL_CACHE or CHECKED_COPY
    catalogue: Catalogue | None = None  # None: the dataset defines no interventions
    database: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)
    _cursors: ThreadLeases[duckdb.DuckDBPyConnection] = field(
        default_factory=ThreadLeases, repr=False
    )
    _database_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _closed: bool = field(default=False, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.database is not None:
            self._own(self.database)

    def _own(self, database: duckdb.DuckDBPyConnection) -> None:
        # Closed once nothing uses this context any more, or at exit at the latest: DuckDB
        # aborts the process if a connection is only destroyed during interpreter shutdown.
        weakref.finalize(self, database.close)

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
        """This thread's cursor on the context's warehouse database (made on first use, or
        handed on by a thread that ended)."""
        try:
            return self._cursors.get(lambda: warehouse.cursor(self._database()))
        except duckdb.ConnectionException:  # closed by a reload or at shutdown
            raise self._gone() from None

    def _database(self) -> duckdb.DuckDBPyConnection:
        with self._database_lock:
            if self._closed:
                raise self._gone()
            if self.database is None:  # a context made without one opens it on first use
                path = self.settings.warehouse_path
                if not path.is_file():
                    raise NotReady(f"the warehouse {path} is missing; {RUN_PIPELINE}")
                try:
                    self.database = warehouse.open_read_only(path)
                except duckdb.Error as exc:
                    raise NotReady(str(warehouse.unavailable(path, exc))) from None
                self._own(self.database)
            return self.database

    def _gone(self) -> NotReady:
        return NotReady(
            "the warehouse this request started on was replaced by a newer publish while it "
            "ran; send the request again"
        )

    @property
    def scored_source(self) -> str:
        """The FROM clause for students (``s``) with their scores (``c``): see
        ``warehouse.scored_source``; the one-table layout when this warehouse has it."""
        one_table, enums = self.cached("scored_layout", _scored_layout)
        return warehouse.scored_source(self.id_column, one_table, enums)

    @property
    def scored_source_native(self) -> str:
        """``scored_source`` with the ENUM columns as stored, for queries that only group,
        filter and count on them (their values come back as text all the same)."""
        one_table, enums = self.cached("scored_layout", _scored_layout)
        return warehouse.scored_source(self.id_column, one_table, enums, native=True)

    @property
    def what_if_terms(self) -> dict | None:
        """The description of the interventions' per-student terms the warehouse holds
        (pipeline/what_if.py); None when it holds none (published without a catalogue, or
        before the terms were kept)."""
        return self.cached("what_if", _what_if)

    @property
    def what_if_source(self) -> str:
        """``scored_source`` with the students' intervention terms beside, as ``w``."""
        one_table, enums = self.cached("scored_layout", _scored_layout)
        return warehouse.what_if_source(self.id_column, one_table, enums)

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
        """Close the warehouse database and with it every thread's cursor."""
        with self._database_lock:
            self._closed = True
            database, self.database = self.database, None
        if database is not None:
            database.close()  # and with it every cursor
        self._cursors.drop()


def require_known(ids: list[str], found: Container[str]) -> None:
    """Raise NotFound naming the ids (up to five) that are not in ``found``."""
    missing = [i for i in ids if i not in found]
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise NotFound(f"no student with id {shown}", field="student_ids", value=missing[:5])


def _scored_layout(ctx: ToolContext) -> tuple[bool, list[str]]:
    """Whether the warehouse has the one-table layout, and its columns stored as ENUMs."""
    found = (
        ctx.connection()
        .execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE database_name = current_database() AND table_name = ?",
            [warehouse.SCORED],
        )
        .fetchall()
    )
    return bool(found), [name for name, dtype in found if dtype.startswith("ENUM")]


def _what_if(ctx: ToolContext) -> dict | None:
    found = ctx.sql(
        "SELECT 1 FROM duckdb_tables() WHERE database_name = current_database() AND table_name = ?",
        [warehouse.WHAT_IF],
    )
    return what_if.read_description(ctx.meta) if len(found) else None


def _load_model(
    settings: Settings, version: str, meta: dict[str, str], local_first: bool
) -> tuple[RiskModel, str]:
    """Model ``version`` ready to serve (its explaining tables built: see
    ``explain.prepare``), and where it came from."""
    model = (
        model_cache.load_checked(settings, version, meta.get(model_cache.META_KEY))
        if local_first
        else None
    )
    if model is not None:
        source = CHECKED_COPY
    else:
        model, source = _fetch_model(settings, version)
    explain.prepare(model)
    return model, source


def _fetch_model(settings: Settings, version: str) -> tuple[RiskModel, str]:
    from pipeline import registry

    cache = model_cache.cache_dir(settings, version)
    try:
        registry.configure(settings)
        model = registry.load_version(settings.model_name, version)
    except Exception as exc:  # any registry failure: fall back on the local copy
        if (cache / "MLmodel").is_file():
            log.warning("model registry unavailable (%s); serving cached v%s", exc, version)
            return model_cache.load_saved(cache), LOCAL_CACHE
        raise NotReady(
            f"cannot load model v{version} from the registry ({exc}) and there is "
            f"no local copy; {RUN_PIPELINE}"
        ) from None
    if not (cache / "MLmodel").is_file():
        model_cache.save_cache(cache, lambda folder: model_cache.save_model(model, folder))
    return model, REGISTRY


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


def load_context(
    settings: Settings, serving: ToolContext | None = None, *, local_first: bool = False
) -> ToolContext:
    """Open the warehouse and load the model it was built with. Given the context ``serving``
    now, a file with the same build metadata is the same publish (copied, or written again
    unchanged): ``serving`` is returned and nothing is loaded; a new publish built with the
    same model version reuses its model instead of loading it again. ``local_first`` (one-shot
    commands): the copy of the model the publish wrote, when it is unchanged, is loaded
    instead of the registry's (see ``pipeline.model_cache``)."""
    path = settings.warehouse_path
    if not path.is_file():
        raise NotReady(f"there is no warehouse yet; {RUN_PIPELINE}")
    try:
        database = warehouse.open_read_only(path)
    except duckdb.Error as exc:
        raise warehouse.unavailable(path, exc) from None
    try:
        meta = warehouse.meta_of(database)
        if serving is not None and not serving._closed and serving.meta == meta:
            database.close()
            return serving
        settings = served_levels(settings, meta)
        spec = served_spec(settings, meta)
        catalogue = served_catalogue(spec, settings, meta)
        version = meta["model_version"]
        if serving is not None and (serving.model_version, serving.model_source) == (
            version,
            REGISTRY,
        ):
            model, source = serving.model, serving.model_source
        else:
            model, source = _load_model(settings, version, meta, local_first)
        return ToolContext(settings, spec, model, version, meta, source, catalogue, database)
    except BaseException:
        database.close()
        raise
