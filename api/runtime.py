"""The app's live state: the keys, the audit log, the tool context (model + warehouse) and
the observers every tool session reports to.

The context loads in the app's lifespan, so a started server is ready when it says so. After
that, a republished warehouse (its file changes) is loaded by a background thread while the
context in service keeps answering; requests switch to the new one at once when it is ready.
No request and no probe waits on a reload; only while nothing has been served yet (the
lifespan's load, or the first publish after a start without a warehouse) is there nothing
else to answer with, and requests wait for that load instead of failing. A server started
before the first pipeline run thus becomes ready by itself, and a new champion is served
without a restart."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
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
from tools.context import REGISTRY, RUN_PIPELINE, ToolContext, load_context
from tools.errors import NotReady, ToolError
from tools.session import Caller, Observer, ToolSession

log = logging.getLogger(__name__)
RETRY_FAILED_LOAD_S = 10.0
# How long shutdown waits for a load under way to finish (it is then closed, never served).
CLOSE_WAIT_S = 60.0
Stamp = tuple[int, int]  # the warehouse file's inode and modification time


class Readiness(BaseModel):
    status: Literal["ready", "degraded", "not_ready"]
    model_version: str | None = None
    model_source: str | None = None
    data_timestamp: str | None = None
    students: int | None = None
    reloading: bool = False  # a newly published warehouse is loading; the one above serves
    reasons: list[str] = []


@dataclass(eq=False)
class _Load:
    """One load of the warehouse file seen as ``stamp``, in a background thread."""

    stamp: Stamp
    force: bool
    done: threading.Event = field(default_factory=threading.Event)


class Runtime:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.observers: list[Observer] = []  # registered by the app that owns this runtime
        self.keys = KeyStore(settings.keys_path)
        self.audit = AuditLog(settings.audit_path)
        self.budget = TableBudget(settings.audit_path, settings.disclosure_daily_tables)
        # Guards the state below; held only to read or swap it, never while loading.
        self._lock = threading.Lock()
        self._ctx: ToolContext | None = None  # what requests get
        self._served: Stamp | None = None  # the file _ctx was loaded from
        # The context a reload replaced: requests may still be using it, so it is closed at
        # the next reload or at shutdown (or once nothing refers to it), not at once.
        self._retired: ToolContext | None = None
        self._error: ToolError = NotReady("the model is not loaded yet")  # why _ctx is None
        self._missing: NotReady | None = None  # the file is gone (seen at the last check)
        self._failed: tuple[Stamp, float, ToolError] | None = None  # the last failed load
        self._loading: _Load | None = None
        self._attempted = False  # the first load has ended, or there was nothing to load
        self._closed = False

    def _stamp(self) -> Stamp | None:
        try:
            stat = self.settings.warehouse_path.stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def _watch(self, force: bool = False) -> _Load | None:
        """Compare the warehouse file with the one served and start a background load when
        there is something new to load (or ``force``). Returns the load under way, if any.
        Cheap (one stat) and never waits."""
        stamp = self._stamp()
        with self._lock:
            loading = self._loading
            if self._closed:
                return None
            if stamp is None:
                self._missing, self._attempted = self._missing_error(), True
                return loading
            self._missing = None
            if loading is not None:
                return loading  # a newer file seen meanwhile is loaded at the next check
            if not force:
                if stamp == self._served:
                    self._failed = None  # e.g. a broken file replaced by the served one again
                    return None
                failed = self._failed
                recent = failed and time.monotonic() - failed[1] < RETRY_FAILED_LOAD_S
                if recent and failed[0] == stamp:
                    return None
            self._loading = load = _Load(stamp, force)
        threading.Thread(target=self._load, args=(load,), name="sara-reload", daemon=True).start()
        return load

    def _missing_error(self) -> NotReady:
        path = self.settings.warehouse_path
        if self._ctx is None:
            return NotReady(f"there is no warehouse yet; {RUN_PIPELINE}")
        return NotReady(
            f"the warehouse {path} is missing (it was moved or deleted); put it back, "
            f"or {RUN_PIPELINE.removesuffix(' first')} to rebuild it"
        )

    def context(self) -> ToolContext:
        """The context in service. Raises NotReady (with what to do) when there is no model or
        warehouse to serve. Never waits on a load, except the very first (when the app's
        lifespan did not make it, e.g. a runtime used without one)."""
        load = self._watch()
        with self._lock:
            ctx, missing, error, attempted = (
                self._ctx, self._missing, self._error, self._attempted)  # fmt: skip
        if missing is not None:
            raise missing
        if ctx is None and load is not None:
            if attempted:
                raise NotReady(
                    "the published warehouse and its model are loading; try again in a moment"
                )
            load.done.wait()
            with self._lock:
                ctx, error = self._ctx, self._error
        if ctx is None:
            raise error
        return ctx

    @cached_property
    def assistant(self) -> Assistant:
        return Assistant(self.settings)

    def session(self, caller: Caller, route: str, via: str = "api") -> ToolSession:
        """Tools for one request (or one chat turn) as ``caller``, observed by the app's
        observers; the context is taken once, at the first call."""
        return ToolSession(self.context, caller, self.observers, route, via, self.budget.meter)

    def reload(self) -> Readiness:
        """Load the model and warehouse again now, and report once done. The context in
        service answers other requests meanwhile."""
        load = self._watch(force=True)
        if load is not None:
            load.done.wait()
        return self.readiness(wait=False)

    def _load(self, load: _Load) -> None:
        try:
            ctx, error = self._open(None if load.force else self._ctx), None
        except ToolError as exc:
            ctx, error = None, exc
        except Exception as exc:  # a fault, not a state: logged in full, retried like a miss
            log.exception("loading the model and warehouse failed")
            ctx, error = None, NotReady(f"loading the model and warehouse failed ({exc})")
        to_close: ToolContext | None = None
        try:
            with self._lock:
                if self._closed:
                    to_close = ctx if ctx is not self._ctx else None
                elif error is not None:
                    self._failed = (load.stamp, time.monotonic(), error)
                    if self._ctx is None:
                        self._error = error
                    log.warning("%s: %s", "not ready" if self._ctx is None else "reload failed",
                                error.message)  # fmt: skip
                elif ctx is not None:
                    self._failed, self._served = None, load.stamp
                    if ctx is self._ctx:
                        log.info("the republished warehouse is the one served; nothing to load")
                    else:
                        to_close, self._retired, self._ctx = self._retired, self._ctx, ctx
                        self._announce(ctx)
                metrics.READY.set(1 if self._ctx is not None else 0)
        finally:
            with self._lock:
                self._loading, self._attempted = None, True
            load.done.set()
        if to_close is not None:
            to_close.close()

    @staticmethod
    def _announce(ctx: ToolContext) -> None:
        log.info("serving model v%s (%s), data of %s", ctx.model_version, ctx.model_source,
                 ctx.data_timestamp)  # fmt: skip
        metrics.MODEL_INFO.clear()
        metrics.MODEL_INFO.labels(ctx.model_version, ctx.model_source).set(1)
        metrics.INPUT_DRIFT.clear()  # a new reference: no figure until records are served

    def _open(self, serving: ToolContext | None) -> ToolContext:
        """``load_context``, with every way the warehouse can be unusable as ``NotReady``."""
        path = self.settings.warehouse_path
        if not path.is_file():
            raise self._missing_error()
        try:
            return load_context(self.settings, serving)
        except WarehouseUnavailable as exc:
            raise NotReady(str(exc)) from None
        except duckdb.Error as exc:  # opened, then failed mid-read (locked, damaged)
            reason = str(exc).splitlines()[0]
            raise NotReady(f"the warehouse {path} cannot be read ({reason})") from None

    def readiness(self, wait: bool = True) -> Readiness:
        """What is served and how well. Starts a background load when the warehouse changed;
        with ``wait``, waits for it only while nothing has been served yet (the first load)."""
        load = self._watch()
        if wait and load is not None:
            with self._lock:
                first = self._ctx is None
            if first:
                load.done.wait()
        with self._lock:
            ctx, missing, error = self._ctx, self._missing, self._error
            loading, failed = self._loading is not None, self._failed
        if missing is not None:
            return Readiness(status="not_ready", reasons=[missing.message])
        if ctx is None:
            reasons = [error.message]
            if loading:
                reasons.append("loading the published warehouse and its model")
            return Readiness(status="not_ready", reloading=loading, reasons=reasons)
        degraded = []
        if ctx.model_source != REGISTRY:
            degraded.append(
                f"the model registry was unreachable at load; serving the {ctx.model_source} "
                f"copy of v{ctx.model_version}"
            )
        if failed is not None:
            degraded.append(
                f"a republished warehouse could not be loaded ({failed[2].message}); still "
                f"serving the one of {ctx.data_timestamp}"
            )
        notes = []
        if loading:
            notes.append(
                f"reloading: a republished warehouse is loading; the one of "
                f"{ctx.data_timestamp} (model v{ctx.model_version}) serves until it is ready"
            )
        return Readiness(
            status="degraded" if degraded else "ready",
            model_version=ctx.model_version,
            model_source=ctx.model_source,
            data_timestamp=ctx.data_timestamp,
            students=int(ctx.meta["rows"]) if ctx.meta.get("rows") else None,
            reloading=loading,
            reasons=degraded + notes,
        )

    def open(self) -> None:
        """Serve (again): a runtime closed by one lifespan loads on demand in the next."""
        with self._lock:
            self._closed, self._attempted = False, False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            load = self._loading
        if load is not None:  # its context is closed by the load itself once it ends
            load.done.wait(CLOSE_WAIT_S)
        with self._lock:
            contexts, self._ctx, self._retired = (self._ctx, self._retired), None, None
            self._served, self._failed = None, None  # a later open() loads afresh
        for ctx in contexts:
            if ctx is not None:
                ctx.close()
