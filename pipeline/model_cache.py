"""The workspace's local copy of a served model (``$SARA_HOME/model-cache/<name>-v<version>``).

Two uses:

- **The registry is down.** A server loads the champion from the MLflow registry and keeps a
  copy; when the registry cannot be reached at load, it serves that copy and says it is
  degraded.
- **One-shot commands start fast.** A publish writes the copy of the model it scored with and
  records the copy's digest in the warehouse. ``sara chat "…"`` and ``sara eval`` load that copy
  directly when its digest matches (skipping MLflow's import and its tracking store, seconds
  of a short command); any mismatch or a missing copy goes to the registry as before.

A copy is an MLflow model folder (the registry's own format, skops-serialised with the same
trusted types), written under another name and renamed into place, so readers and other
processes writing it at the same time only ever see a complete copy."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import warehouse
from sara.settings import Settings

if TYPE_CHECKING:
    from pipeline.model import RiskModel

log = logging.getLogger(__name__)
SAVING_INFIX = ".saving-"  # a copy being written: <name>.saving-<pid>-<random>
MODEL_FILE = "model.skops"  # where MLflow's sklearn flavour keeps the serialised model
META_KEY = "model_digest"  # the warehouse's record of the copy a publish wrote


def cache_dir(settings: Settings, version: str) -> Path:
    return settings.home / "model-cache" / f"{settings.model_name}-v{version}"


def save_model(model: RiskModel, folder: Path) -> None:
    """``model`` as an MLflow model folder, in the format the registry holds it."""
    import mlflow.sklearn

    from pipeline.registry import TRUSTED_TYPES

    mlflow.sklearn.save_model(model, str(folder), skops_trusted_types=TRUSTED_TYPES)


def load_saved(cache: Path) -> RiskModel:
    """The model of a copy, through MLflow (which checks its trusted types)."""
    import mlflow.sklearn

    return mlflow.sklearn.load_model(str(cache))


def digest(cache: Path) -> str | None:
    """The SHA-256 of a copy's serialised model, or None when there is no complete copy."""
    if not (cache / "MLmodel").is_file():
        return None
    try:
        return hashlib.sha256((cache / MODEL_FILE).read_bytes()).hexdigest()
    except OSError:
        return None


def write_published(settings: Settings, version: str, model: RiskModel) -> str | None:
    """Put a fresh copy of the model a publish scored with in place of any older copy of that
    version; returns its digest for the warehouse (None: the copy could not be written, and
    one-shot commands then load from the registry)."""
    cache = cache_dir(settings, version)
    try:
        save_cache(cache, lambda folder: save_model(model, folder), replace=True)
    except Exception as exc:  # a copy is a shortcut: never a reason to fail the publish
        log.warning("could not write the model copy %s (%s); one-shot commands will load "
                    "from the registry", cache, exc)  # fmt: skip
        return None
    return digest(cache)


def load_checked(settings: Settings, version: str, expected: str | None) -> RiskModel | None:
    """The copy of ``version`` when its digest is ``expected`` (the one its publish recorded),
    loaded with skops directly and the registry's trusted types; otherwise None."""
    cache = cache_dir(settings, version)
    if not expected or digest(cache) != expected:
        return None
    import skops.io

    from pipeline.registry import TRUSTED_TYPES

    try:
        model = skops.io.load(cache / MODEL_FILE, trusted=TRUSTED_TYPES)
    except Exception as exc:  # e.g. a library upgrade since the publish: the registry decides
        log.warning("could not load the model copy %s (%s); loading from the registry", cache, exc)
        return None
    if digest(cache) != expected:  # replaced while it was read: not the copy that was checked
        return None
    return model


def save_cache(cache: Path, save: Callable[[Path], None], *, replace: bool = False) -> Path:
    """Write a copy at ``cache`` with ``save(folder)``: into a folder of its own beside it,
    renamed into place. When another process got there first, its complete copy is kept and
    this one discarded — unless ``replace``, when the older copy is moved aside first."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_saves(cache)
    staging = cache.with_name(f"{cache.name}{SAVING_INFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        save(staging)
        for _ in range(3):
            if replace:
                _discard(cache)
            try:
                os.rename(staging, cache)  # atomic; fails when cache is a non-empty folder
                return cache
            except OSError:
                if not replace and (cache / "MLmodel").is_file():
                    return cache  # another process's complete copy
                _discard(cache)  # an incomplete copy (e.g. written before saves were atomic)
        raise OSError(f"cannot put the model cache in place at {cache}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _discard(folder: Path) -> None:
    aside = folder.with_name(f"{folder.name}{SAVING_INFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(folder, aside)  # out of the way at once; another process may do the same
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def _remove_abandoned_saves(cache: Path) -> None:
    """Delete the copies of saves whose process is gone (killed mid-save)."""
    for folder in cache.parent.glob(f"{cache.name}{SAVING_INFIX}*"):
        pid = folder.name.removeprefix(f"{cache.name}{SAVING_INFIX}").split("-")[0]
        if pid.isdigit() and not warehouse.process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
