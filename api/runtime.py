"""The app's live state: the keys, the audit log, the tool context (model + warehouse) and
the observers every tool session reports to.

The context loads in the app's lifespan and again whenever the pipeline republishes the
warehouse (its file changes), so a server started before the first pipeline run becomes ready
by itself, and a new champion is served without a restart."""

from __future__ import annotations

import logging
import threading
import time
from functools import cached_property
from typing import Literal

import duckdb
from pydantic import BaseModel

from api.audit import AuditLog
from api.budget import TableBudget
from api.keys import KeyStore
from assistant import Assistant
from monitoring import metrics
from pipeline.warehouse import WarehouseUnavailable
from sara.settings import Settings
from tools.context import RUN_PIPELINE, ToolContext, load_context
from tools.errors import NotReady, ToolError
from tools.session import Caller, Observer, ToolSession

log = logging.getLogger(__name__)
RETRY_FAILED_LOAD_S = 10.0


class Readiness(BaseModel):
    status: Literal["ready", "degraded", "not_ready"]
    model_version: str | None = None
    model_source: str | None = None
    data_timestamp: str | None = None
    students: int | None = None
    reasons: list[str] = []


class Runtime:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.observers: list[Observer] = []  # registered by the app that owns this runtime
        self.keys = KeyStore(settings.keys_path)
        self.audit = AuditLog(settings.audit_path)
        self.budget = TableBudget(settings.audit_path, settings.disclosure_daily_tables)
        self._lock = threading.Lock()
        self._ctx: ToolContext | None = None
        # The context a reload replaced: requests may still be using it, so it is closed at
        # the next reload or at shutdown, not at once.
        self._retired: ToolContext | None = None
        self._error: ToolError = NotReady("the model is not loaded yet")
        self._loaded_stamp: tuple[int, int] | str | None = "never"
        self._failed_at = 0.0
        self._served_once = False  # a warehouse gone after serving is "missing", not "not yet"

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self.settings.warehouse_path.stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def _stale(self, stamp: tuple[int, int] | None) -> bool:
        if stamp != self._loaded_stamp:
            return True
        return self._ctx is None and time.monotonic() - self._failed_at > RETRY_FAILED_LOAD_S

    def context(self) -> ToolContext:
        """The current context; reloads first if the warehouse was republished. Raises
        NotReady (with what to do) when there is no model or warehouse to serve."""
        stamp = self._stamp()
        if self._stale(stamp):
            with self._lock:
                if self._stale(stamp):
                    self._load(stamp)
        if self._ctx is None:
            raise self._error
        return self._ctx

    @cached_property
    def assistant(self) -> Assistant:
        return Assistant(self.settings)

    def session(self, caller: Caller, route: str, via: str = "api") -> ToolSession:
        """Tools for one request (or one chat turn) as ``caller``, observed by the app's
        observers; the context is taken once, at the first call."""
        return ToolSession(self.context, caller, self.observers, route, via, self.budget.meter)

    def reload(self) -> Readiness:
        with self._lock:
            self._load(self._stamp())
        return self.readiness()

    def _load(self, stamp: tuple[int, int] | None) -> None:
        try:
            ctx = self._open()
        except ToolError as exc:
            self._retire()
            self._ctx, self._error = None, exc
            self._failed_at = time.monotonic()
            log.warning("not ready: %s", exc.message)
        else:
            self._retire()
            self._ctx, self._served_once = ctx, True
            log.info("serving model v%s (%s)", ctx.model_version, ctx.model_source)
            metrics.MODEL_INFO.clear()
            metrics.MODEL_INFO.labels(ctx.model_version, ctx.model_source).set(1)
            metrics.INPUT_DRIFT.clear()  # a new reference: no figure until records are served
        self._loaded_stamp = stamp
        metrics.READY.set(1 if self._ctx is not None else 0)

    def _open(self) -> ToolContext:
        """``load_context``, with every way the warehouse can be unusable as ``NotReady``."""
        path = self.settings.warehouse_path
        if self._served_once and not path.is_file():
            raise NotReady(
                f"the warehouse {path} is missing (it was moved or deleted); put it back, "
                f"or {RUN_PIPELINE.removesuffix(' first')} to rebuild it"
            )
        try:
            return load_context(self.settings)
        except WarehouseUnavailable as exc:
            raise NotReady(str(exc)) from None
        except duckdb.Error as exc:  # opened, then failed mid-read (locked, damaged)
            reason = str(exc).splitlines()[0]
            raise NotReady(f"the warehouse {path} cannot be read ({reason})") from None

    def _retire(self) -> None:
        if self._retired is not None:
            self._retired.close()
        self._retired, self._ctx = self._ctx, None

    def readiness(self) -> Readiness:
        try:
            ctx = self.context()
        except ToolError as exc:
            return Readiness(status="not_ready", reasons=[exc.message])
        reasons = []
        if ctx.model_source != "registry":
            reasons.append(
                f"the model registry was unreachable at load; serving the {ctx.model_source} "
                f"copy of v{ctx.model_version}"
            )
        return Readiness(
            status="degraded" if reasons else "ready",
            model_version=ctx.model_version,
            model_source=ctx.model_source,
            data_timestamp=ctx.data_timestamp,
            students=int(ctx.meta["rows"]) if ctx.meta.get("rows") else None,
            reasons=reasons,
        )

    def close(self) -> None:
        for ctx in (self._ctx, self._retired):
            if ctx is not None:
                ctx.close()
