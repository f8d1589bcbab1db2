"""The one settings object. Every field reads from the environment with the ``SARA_`` prefix."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "password", "xxx", "your-key-here"}


class Settings(BaseSettings):
    """SARA's configuration. Runtime state lives under ``home`` (``SARA_HOME``)."""

    # An empty variable (SARA_RISK_HIGH_THRESHOLD=) means the default, as .env.example writes.
    model_config = SettingsConfigDict(
        env_prefix="SARA_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,
    )

    environment: Literal["development", "production"] = "development"
    home: Path = Field(default=Path(".sara"), description="Workspace folder for all runtime state.")
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "console"

    spec_path: Path | None = Field(
        default=None, description="Dataset spec YAML; empty means the built-in public schema."
    )
    interventions_path: Path | None = Field(
        default=None,
        description="Intervention catalogue YAML; empty means the one the spec names (if any).",
    )
    feature_set: str = "early"

    generate_rows: int = Field(default=50_000, ge=100)
    generate_seed: int = 7
    generate_profile: Literal["realistic", "seed-like", "higher-ed"] = "realistic"

    # Risk levels. Empty thresholds are set relative to the cohort when the pipeline runs: a
    # student is Medium when their odds of the outcome are at least risk_medium_odds times the
    # cohort's, High from risk_high_odds times (0.15 / 0.41 at a 12 % base rate, 0.46 / 0.77
    # at 40 %). A threshold given here is used as it is.
    risk_medium_threshold: float | None = Field(default=None, gt=0, lt=1)
    risk_high_threshold: float | None = Field(default=None, gt=0, lt=1)
    risk_medium_odds: float = Field(default=1.3, gt=1)
    risk_high_odds: float = Field(default=5.0, gt=1)
    min_group_size: int = Field(
        default=20, ge=1, description="Groups smaller than this are suppressed in equity output."
    )
    # Disclosure control of the aggregates a viewer key reads (tools/disclosure.py).
    disclosure_count_noise: float = Field(
        default=4.0,
        ge=0,
        description="Standard deviation of the noise on each count a viewer reads.",
    )
    disclosure_sum_noise: float = Field(
        default=1.5,
        ge=0,
        description="Noise on each sum a viewer reads, in units of the column's range.",
    )
    disclosure_max_dimensions: int = Field(
        default=3, ge=1, description="Columns a viewer's table may cross (filters and groups)."
    )
    disclosure_daily_tables: int = Field(
        default=200,
        ge=0,
        description="Distinct tables a viewer key may read per 24 hours (0: no limit).",
    )
    max_quarantine_share: float = Field(
        default=0.05, ge=0, le=1, description="Above this share of bad rows a pipeline run stops."
    )

    seed: int = Field(default=42, description="Seed for splits, folds and model training.")
    test_size: float = Field(default=0.2, gt=0, lt=0.5)
    cv_folds: int = Field(default=3, ge=2, le=10)
    candidates: tuple[str, ...] = ("logreg", "xgboost", "hist_gb")
    fairness_max_calibration_gap: float = Field(
        default=0.05, gt=0, description="Champion gate: |mean risk − outcome rate| in any group."
    )
    fairness_max_auc_gap: float = Field(
        default=0.10, gt=0, description="Champion gate: spread of per-group ROC-AUC."
    )
    fairness_gate_min_group: int = Field(
        default=200, ge=1, description="Only groups this large (in the test set) gate selection."
    )
    fairness_fallback: Literal["keep_champion", "promote_with_warning"] = Field(
        default="keep_champion",
        description="When every candidate breaks a fairness limit: keep the current champion "
        "(with none yet, the best candidate is promoted with a warning), or promote the best "
        "candidate with a warning.",
    )
    train_threads: int = Field(
        default=1,
        ge=0,
        description="Threads per model fit while training (XGBoost, OpenMP and BLAS pools); "
        "0 means one per CPU. CV folds are fitted side by side, CPUs // threads at a time.",
    )
    champion_tolerance: float = Field(
        default=0.005,
        ge=0,
        description="A challenger replaces the champion unless its test "
        "PR-AUC is lower than the champion's by more than this.",
    )
    top_factors: int = Field(default=3, ge=1, le=10)
    score_index_max_students: int = Field(
        default=2_000_000,
        ge=0,
        description="Keep published scores in memory for lookups by id up to this many "
        "students (about 0.5 KB each); above it, each lookup is a warehouse query.",
    )

    mlflow_tracking_uri: str | None = None
    mlflow_registry_uri: str | None = None
    model_name: str = "sara-risk"
    mlflow_experiment: str = "sara-risk-model"

    assistant_backend: Literal["offline", "llm"] = "offline"
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str | None = None
    llm_timeout_s: float = Field(default=20.0, gt=0)

    host: str = Field(default="127.0.0.1", description="Address `sara serve` listens on.")
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64, description="uvicorn worker processes.")
    # The largest legitimate request is a /v1/score batch of 100,000 records: 28 MiB of compact
    # JSON with an id and the model's features, 63 MiB pretty-printed with every column of the
    # built-in spec. A worker parses a body while holding the GIL (~1 s for 64 MiB), so the cap
    # also bounds how long one request can keep it from answering health checks.
    max_body_bytes: int = Field(
        default=64 * 2**20,
        ge=64 * 2**10,
        description="Largest request body accepted, in bytes; a larger one gets 413 before it "
        "is parsed (at once when its Content-Length says so, else once that many bytes came).",
    )
    keys_file: Path | None = Field(
        default=None, description="API keys (hashed) with their roles; default in the workspace."
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.risk_medium_odds >= self.risk_high_odds:
            raise ValueError(
                f"risk_medium_odds ({self.risk_medium_odds}) must be below risk_high_odds "
                f"({self.risk_high_odds})"
            )
        medium, high = self.risk_medium_threshold, self.risk_high_threshold
        if medium is not None and high is not None and medium >= high:
            raise ValueError(
                f"risk_medium_threshold ({self.risk_medium_threshold}) must be below "
                f"risk_high_threshold ({self.risk_high_threshold})"
            )
        key = self.llm_api_key.get_secret_value() if self.llm_api_key else ""
        if self.environment != "development" and key.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("llm_api_key is a placeholder; set a real key outside development")
        return self

    # Workspace layout: derived, never configured separately, so it cannot drift.
    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def staging_dir(self) -> Path:
        """Where a scheduled pipeline run keeps its state between tasks."""
        return self.home / "staging"

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def default_cohort_path(self) -> Path:
        return self.data_dir / "cohort.parquet"

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    @property
    def registry_uri(self) -> str:
        return self.mlflow_registry_uri or self.tracking_uri

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def keys_path(self) -> Path:
        return self.keys_file or self.home / "api-keys.json"

    @property
    def local_key_path(self) -> Path:
        """The development admin key `make run` creates, readable by the local UI only."""
        return self.home / "local-admin.key"

    @property
    def audit_path(self) -> Path:
        return self.home / "audit.sqlite"

    @property
    def metrics_dir(self) -> Path:
        """Shared folder for Prometheus metrics when several worker processes serve."""
        return self.home / "metrics"

    def ensure_workspace(self) -> Path:
        """Create the workspace folders (called by commands that write, never on import)."""
        for folder in (
            self.home,
            self.data_dir,
            self.quarantine_dir,
            self.reports_dir,
            self.logs_dir,
            self.artifacts_dir,
        ):
            folder.mkdir(parents=True, exist_ok=True)
        return self.home


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once; tests clear the cache or pass their own."""
    return Settings()
