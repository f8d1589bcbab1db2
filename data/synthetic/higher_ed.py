"""The `higher-ed` profile: module enrolments at a distance-learning university, a schema
deliberately unlike the built-in one (composite key, repeated students, an ordered band with
missing values, a four-way result), for checking that SARA works on any spec. Its spec is
``data/specs/higher_ed.yaml``; the structural causal model is written down in ``data/SCM.md``
("Higher-ed profile") and its coefficients are ``HigherEdParams``.

A row is one enrolment: a student (``id_student``) on a module (``module``) in a term
(``term``). A student has 1-3 enrolments in consecutive terms, so the triple is unique while
``id_student`` repeats. Student-level columns (sex, age band, disability, region, deprivation,
prior education) are shared by a student's rows; so is part of their latent motivation, which
correlates their results.

Design choice that makes the oracle exact: motivation is the only latent cause of the result
besides independent noise, and it reaches the record only through two columns that are
invertible transforms of Gaussians (log VLE clicks, logit of the submitted share). So the true
risk given a row's early-warning record (everything but the result and the submitted share)
is a Gaussian integral over the share, computed by quadrature to 1e-6, and so is the true risk
under each intervention (a do-operation on the columns the catalogue moves, the student's
noise held fixed)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import expit, logit, ndtr

from data.synthetic import common as c

PROFILE = "higher-ed"
# The spec the generated files are written for.
SPEC_PATH = Path(__file__).resolve().parents[1] / "specs" / "higher_ed.yaml"
# The row key, as data/specs/higher_ed.yaml declares it (key_name, key_separator, id_column).
KEY_NAME = "enrolment_id"
KEY_SEPARATOR = "-"
ID_PARTS = ("id_student", "module", "term")

SEXES = ("F", "M")
AGE_BANDS = ("0-35", "35-55", "55<")
P_AGE_BAND = (0.68, 0.29, 0.03)
DISABILITY = ("N", "Y")
P_DISABILITY = 0.10
REGIONS = ("London", "South East", "South West", "Midlands", "North", "Wales", "Scotland")
P_REGION = (0.14, 0.16, 0.11, 0.18, 0.22, 0.07, 0.12)
# Band 0 ("0-10%") is the most deprived tenth of the population.
IMD_BANDS = tuple(f"{10 * k}-{10 * (k + 1)}%" for k in range(10))
IMD_MISSING = 0.05
EDUCATION = (
    "No formal qualifications",
    "Below A level",
    "A level or equivalent",
    "HE qualification",
    "Postgraduate qualification",
)
P_EDUCATION = (0.02, 0.38, 0.43, 0.15, 0.02)
MODULES = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG")
P_MODULE = (0.04, 0.24, 0.14, 0.20, 0.09, 0.25, 0.04)
TERMS = ("2023B", "2023J", "2024B", "2024J", "2025B", "2025J")
P_ENROLMENTS = (0.55, 0.30, 0.15)  # 1, 2 or 3 enrolments per student
P_PREV_ATTEMPTS = (0.86, 0.10, 0.026, 0.009, 0.003, 0.001, 0.001)  # 0..6
CREDITS = (30, 60, 90, 120, 150, 180, 240)
P_CREDITS = (0.08, 0.52, 0.10, 0.20, 0.04, 0.04, 0.02)
RESULTS = ("Distinction", "Pass", "Fail", "Withdrawn")
MAX_TUTOR_CONTACTS = 20
# Gauss–Hermite nodes for the share integrated out of the true risk (error below 1e-6).
QUADRATURE_NODES = 8

CATEGORIES = {
    "sex": SEXES,
    "age_band": AGE_BANDS,
    "disability": DISABILITY,
    "region": REGIONS,
    "imd_band": IMD_BANDS,
    "highest_education": EDUCATION,
    "final_result": RESULTS,
}
# Column order of a generated file (the key parts first).
COLUMNS = (
    *ID_PARTS,
    "sex",
    "age_band",
    "disability",
    "region",
    "imd_band",
    "highest_education",
    "num_prev_attempts",
    "studied_credits",
    "vle_clicks_per_week",
    "assessments_submitted_share",
    "forum_posts",
    "tutor_contacts",
    "final_result",
)
INT_COLUMNS = ("num_prev_attempts", "studied_credits", "forum_posts", "tutor_contacts")
# Per-row values of the structural equations (a constant where a term is fixed).
Values = np.ndarray | float


@dataclass(frozen=True)
class Intervention:
    name: str
    title: str
    mechanism: str


# The do-operations are exactly the moves of data/specs/higher_ed.interventions.yaml, so an
# estimate from the data can be checked against the truth without a stand-in.
INTERVENTIONS = {
    iv.name: iv
    for iv in (
        Intervention(
            "study_coaching",
            "Study-skills coaching",
            "VLE clicks × 1.25; submitted share moves 15 % of the way to 1",
        ),
        Intervention(
            "tutor_outreach", "Proactive tutor outreach", "two more tutor contacts (at most 20)"
        ),
        Intervention("peer_forum", "Peer study forum", "three more forum posts"),
    )
}


@dataclass(frozen=True)
class HigherEdParams:
    """Coefficients of the SCM (see data/SCM.md, "Higher-ed profile")."""

    region_affluence: tuple[float, ...] = (0.10, 0.35, 0.15, -0.10, -0.30, -0.25, -0.05)
    # prior education: ordered probit on edu_affluence·affluence + edu_older·(age ≥ 35) + N(0,1)
    edu_affluence: float = 0.45
    edu_older: float = 0.30
    # motivation m = rho·student part + sqrt(1 − rho²)·enrolment part (latent, N(0,1))
    rho: float = 0.6
    # log VLE clicks per week
    clicks_intercept: float = 2.6
    clicks_imd: float = 0.15
    clicks_edu: float = 0.10
    clicks_disability: float = -0.20
    clicks_credits: float = -0.10
    clicks_m: float = 0.45
    clicks_noise: float = 0.55
    # logit of the share of assessments submitted
    share_intercept: float = 1.5
    share_imd: float = 0.20
    share_edu: float = 0.15
    share_disability: float = -0.25
    share_credits: float = -0.20
    share_m: float = 0.70
    share_noise: float = 0.70
    # forum posts ~ Poisson(exp(...)); tutor contacts ~ Poisson(exp(...)), at most 20
    forum_intercept: float = 0.7
    forum_edu: float = 0.20
    forum_imd: float = 0.10
    tutor_intercept: float = 0.6
    tutor_disability: float = 0.40
    tutor_attempts: float = 0.20
    tutor_imd: float = -0.10
    # staying in: Withdrawn when w + N(0,1) < 0
    w_intercept: float = 1.05
    w_clicks: float = 0.35
    w_share: float = 0.55
    w_imd: float = 0.10
    w_credits: float = -0.15
    w_attempts: float = -0.10
    w_tutor: float = 0.03
    # performance y = y_mean + y_m·m + N(0,1): Fail below 0, Distinction above distinction_cut
    y_intercept: float = 0.75
    y_clicks: float = 0.30
    y_share: float = 0.45
    y_imd: float = 0.08
    y_edu: float = 0.15
    y_attempts: float = -0.20
    y_credits: float = -0.10
    y_forum: float = 0.10
    y_tutor: float = 0.04
    y_m: float = 0.35
    distinction_cut: float = 2.3
    # do-operations (the catalogue's moves)
    coaching_clicks_factor: float = 1.25
    coaching_share_fraction: float = 0.15
    outreach_contacts: int = 2
    forum_posts_added: int = 3

    # The structural equations' deterministic parts, shared by the simulation and the oracle
    # so the two can never drift apart. ic: deprivation band centred (negative = deprived),
    # hc: prior education centred, cc: credits above 60 in units of 60.
    def clicks_mean(self, ic: Values, hc: Values, disabled: Values, cc: Values) -> Values:
        return (
            self.clicks_intercept
            + self.clicks_imd * ic
            + self.clicks_edu * hc
            + self.clicks_disability * disabled
            + self.clicks_credits * cc
        )

    def share_mean(self, ic: Values, hc: Values, disabled: Values, cc: Values) -> Values:
        return (
            self.share_intercept
            + self.share_imd * ic
            + self.share_edu * hc
            + self.share_disability * disabled
            + self.share_credits * cc
        )

    def staying(
        self,
        log_clicks: Values,
        share_logit: Values,
        ic: Values,
        cc: Values,
        attempts: Values,
        tutor: Values,
    ) -> Values:
        """w: the student withdraws when w + N(0,1) < 0."""
        return (
            self.w_intercept
            + self.w_clicks * (log_clicks - self.clicks_intercept)
            + self.w_share * (share_logit - self.share_intercept)
            + self.w_imd * ic
            + self.w_credits * cc
            + self.w_attempts * attempts
            + self.w_tutor * tutor
        )

    def performance_mean(
        self,
        log_clicks: Values,
        share_logit: Values,
        ic: Values,
        hc: Values,
        cc: Values,
        attempts: Values,
        forum: Values,
        tutor: Values,
    ) -> Values:
        """y without motivation and noise."""
        return (
            self.y_intercept
            + self.y_clicks * (log_clicks - self.clicks_intercept)
            + self.y_share * (share_logit - self.share_intercept)
            + self.y_imd * ic
            + self.y_edu * hc
            + self.y_attempts * attempts
            + self.y_credits * cc
            + self.y_forum * np.log1p(forum)
            + self.y_tutor * tutor
        )

    @cached_property
    def imd_cuts(self) -> np.ndarray:
        """Population deciles of affluence (a mixture over regions)."""
        shifts = np.asarray(self.region_affluence)
        return c.mixture_quantiles(shifts, np.asarray(P_REGION), 1.0, np.arange(1, 10) / 10)

    @cached_property
    def education_cuts(self) -> np.ndarray:
        region, older = np.meshgrid(self.region_affluence, (0.0, 1.0), indexing="ij")
        p_older = sum(P_AGE_BAND[1:])
        p_region, p_age = np.meshgrid(P_REGION, (1 - p_older, p_older), indexing="ij")
        shifts = (self.edu_affluence * region + self.edu_older * older).ravel()
        sd = float(np.hypot(self.edu_affluence, 1.0))
        cumulative = np.cumsum(P_EDUCATION)[:-1]
        return c.mixture_quantiles(shifts, (p_region * p_age).ravel(), sd, cumulative)


def _centred(
    band: np.ndarray, education: np.ndarray, credits: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deprivation band, prior education and credits centred and scaled as the equations use
    them (ic < 0: more deprived than the middle band)."""
    ic = (np.asarray(band, dtype=float) - 4.5) / 2.87
    hc = np.asarray(education, dtype=float) - 1.75
    cc = (np.asarray(credits, dtype=float) - 60.0) / 60.0
    return ic, hc, cc


def _exogenous(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Every random draw of a chunk of ``n`` rows, in a fixed order, so a do-operation replays
    the same students with the same luck. Student-level draws are made for ``n`` students (at
    least as many as the rows need)."""
    draws = {
        "enrolments": c.choice(rng, P_ENROLMENTS, n) + 1,
        "u_term": rng.random(n),
        "sex": c.choice(rng, [0.5, 0.5], n),
        "age_band": c.choice(rng, P_AGE_BAND, n),
        "disability": (rng.random(n) < P_DISABILITY).astype(np.int8),
        "region": c.choice(rng, P_REGION, n),
        "affluence": rng.standard_normal(n),
        "education": rng.standard_normal(n),
        "m_student": rng.standard_normal(n),
        "imd_missing": rng.random(n) < IMD_MISSING,
        "module": c.choice(rng, P_MODULE, n),
        "attempts": c.choice(rng, P_PREV_ATTEMPTS, n),
        "credits": c.choice(rng, P_CREDITS, n),
        "m_enrolment": rng.standard_normal(n),
    }
    for name in ("eps_clicks", "eps_share", "eps_stay", "eps_perf"):
        draws[name] = rng.standard_normal(n)
    for name in ("u_forum", "u_tutor"):
        draws[name] = rng.random(n)
    return draws


def _poisson(u: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Poisson draws by inverting the CDF at ``u`` (so a draw is a fixed function of its
    uniform): the count of k with F(k) < u, summed term by term. The means here are small, so
    a few dozen vectorised steps cover every row (scipy's ppf is ~30× slower)."""
    pmf = np.exp(-mean)
    cdf = pmf.copy()
    count = np.zeros(len(u), dtype=np.int64)
    # Rounding can leave the summed CDF a hair below 1; no uniform may sit above it.
    u = np.minimum(u, 1 - 1e-12)
    for k in range(1, 1000):
        above = u > cdf
        if not above.any():
            break
        count += above
        pmf = pmf * mean / k
        cdf += pmf
    return count


def coached_share(share: np.ndarray, params: HigherEdParams) -> np.ndarray:
    """The submitted share under study coaching: part of the way to every assessment."""
    return share + params.coaching_share_fraction * (1.0 - share)


def do_moves(
    record: dict[str, np.ndarray], intervention: str, params: HigherEdParams
) -> dict[str, np.ndarray]:
    """``record`` with the intervention's moves applied to the columns it changes (a copy of
    those columns; the others are shared)."""
    p, out = params, dict(record)
    if intervention == "study_coaching":
        out["vle_clicks_per_week"] = record["vle_clicks_per_week"] * p.coaching_clicks_factor
        out["assessments_submitted_share"] = coached_share(record["assessments_submitted_share"], p)
    elif intervention == "tutor_outreach":
        out["tutor_contacts"] = np.minimum(
            record["tutor_contacts"] + p.outreach_contacts, MAX_TUTOR_CONTACTS
        )
    elif intervention == "peer_forum":
        out["forum_posts"] = record["forum_posts"] + p.forum_posts_added
    else:
        raise ValueError(
            f"unknown intervention {intervention!r}; known: {', '.join(INTERVENTIONS)}"
        )
    return out


@dataclass(frozen=True)
class Simulated:
    """One chunk of the SCM: the record as written (categories as codes, ``imd_band`` −1
    where it is not recorded, ``student`` the chunk-local student number), the record before
    the do-operation (the same without one), and hidden values."""

    record: dict[str, np.ndarray]
    before: dict[str, np.ndarray]
    band: np.ndarray  # the true deprivation band, also where the record leaves it out
    motivation: np.ndarray


def simulate(
    rng: np.random.Generator, n: int, params: HigherEdParams, intervention: str | None = None
) -> Simulated:
    """Run the structural equations for ``n`` enrolment rows, optionally under
    ``do(intervention)`` (the same students with the same luck, the intervention's moves
    applied before the result is drawn)."""
    if intervention is not None and intervention not in INTERVENTIONS:
        raise ValueError(
            f"unknown intervention {intervention!r}; known: {', '.join(INTERVENTIONS)}"
        )
    p, x = params, _exogenous(rng, n)
    # Enrolment rows: students in turn, each with 1-3 rows, until n rows are filled; the
    # last student may lose enrolments that do not fit.
    k = x["enrolments"].astype(np.int64)
    students = int(np.searchsorted(np.cumsum(k), n)) + 1
    student = np.repeat(np.arange(students), k[:students])[:n]
    first_row = np.cumsum(k[:students]) - k[:students]
    ordinal = np.arange(n) - first_row[student]
    # Consecutive terms, starting early enough for every enrolment of the student to fit.
    first_term = np.floor(x["u_term"] * (len(TERMS) - k + 1)).astype(np.int64)
    term = (first_term[student] + ordinal).astype(np.int8)

    region = x["region"][student]
    affluence = np.asarray(p.region_affluence)[x["region"]] + x["affluence"]
    band = np.searchsorted(p.imd_cuts, affluence).astype(np.int8)
    older = (x["age_band"] > 0).astype(float)
    edu_latent = p.edu_affluence * affluence + p.edu_older * older + x["education"]
    education = np.searchsorted(p.education_cuts, edu_latent).astype(np.int8)
    band, education = band[student], education[student]
    disabled = x["disability"][student]
    attempts = x["attempts"].astype(np.int64)
    credits = np.asarray(CREDITS, dtype=np.int64)[x["credits"]]
    ic, hc, cc = _centred(band, education, credits)

    m = p.rho * x["m_student"][student] + np.sqrt(1 - p.rho**2) * x["m_enrolment"]
    log_clicks = (
        p.clicks_mean(ic, hc, disabled, cc) + p.clicks_m * m + p.clicks_noise * x["eps_clicks"]
    )
    share_logit = (
        p.share_mean(ic, hc, disabled, cc) + p.share_m * m + p.share_noise * x["eps_share"]
    )
    forum = _poisson(x["u_forum"], np.exp(p.forum_intercept + p.forum_edu * hc + p.forum_imd * ic))
    tutor = np.minimum(
        _poisson(
            x["u_tutor"],
            np.exp(
                p.tutor_intercept
                + p.tutor_disability * disabled
                + p.tutor_attempts * attempts
                + p.tutor_imd * ic
            ),
        ),
        MAX_TUTOR_CONTACTS,
    )
    record = {
        "student": student,
        "module": x["module"],
        "term": term,
        "sex": x["sex"][student],
        "age_band": x["age_band"][student],
        "disability": disabled,
        "region": region,
        "imd_band": np.where(x["imd_missing"][student], -1, band).astype(np.int8),
        "highest_education": education,
        "num_prev_attempts": attempts,
        "studied_credits": credits,
        "vle_clicks_per_week": np.exp(log_clicks),
        "assessments_submitted_share": expit(share_logit),
        "forum_posts": forum,
        "tutor_contacts": tutor,
    }
    before = record
    if intervention is not None:
        record = do_moves(record, intervention, p)
        log_clicks = np.log(record["vle_clicks_per_week"])
        share_logit = logit(record["assessments_submitted_share"])
        forum, tutor = record["forum_posts"], record["tutor_contacts"]
    stay = p.staying(log_clicks, share_logit, ic, cc, attempts, tutor)
    perf = (
        p.performance_mean(log_clicks, share_logit, ic, hc, cc, attempts, forum, tutor)
        + p.y_m * m
        + x["eps_perf"]
    )
    withdrawn = stay + x["eps_stay"] < 0
    result = np.where(perf > p.distinction_cut, 0, np.where(perf >= 0, 1, 2))
    record["final_result"] = np.where(withdrawn, 3, result).astype(np.int8)
    return Simulated(record, before, band, m)


def true_risk(
    record: dict[str, np.ndarray],
    band: np.ndarray,
    params: HigherEdParams,
    intervention: str | None = None,
) -> np.ndarray:
    """P(final_result in [Fail, Withdrawn] | the enrolment's early-warning record), optionally
    under ``do(intervention)``: the Bayes risk given every column of the row but the result
    and the submitted share (the `early` feature set plus the protected columns), with the
    true deprivation ``band`` also where the row does not record it.

    Motivation given the record is Gaussian (conditioned on log clicks); the share's logit
    given the record is Gaussian too, and is integrated out by Gauss–Hermite quadrature, with
    motivation conditioned on it at each node (a do-operation moves the share at the node)."""
    p = params
    education = np.asarray(record["highest_education"], dtype=float)
    credits = np.asarray(record["studied_credits"], dtype=float)
    ic, hc, cc = _centred(band, education, credits)
    disabled = np.asarray(record["disability"], dtype=float)
    attempts = np.asarray(record["num_prev_attempts"], dtype=float)
    log_clicks = np.log(np.asarray(record["vle_clicks_per_week"], dtype=float))

    # Motivation given the clicks: prior N(0,1), one linear-Gaussian observation of it.
    r_clicks = log_clicks - p.clicks_mean(ic, hc, disabled, cc)
    precision = 1 + p.clicks_m**2 / p.clicks_noise**2
    m_mean = p.clicks_m / p.clicks_noise**2 * r_clicks / precision
    m_var = 1 / precision
    # The share's logit z given the record, and motivation given z as well.
    z_mean = p.share_mean(ic, hc, disabled, cc) + p.share_m * m_mean
    z_var = p.share_m**2 * m_var + p.share_noise**2
    m_gain = p.share_m * m_var / z_var
    m_var_z = m_var - m_gain * p.share_m * m_var
    perf_sd = np.sqrt(1 + p.y_m**2 * m_var_z)

    moved = record if intervention is None else do_moves(record, intervention, p)
    log_clicks = np.log(np.asarray(moved["vle_clicks_per_week"], dtype=float))
    forum = np.asarray(moved["forum_posts"], dtype=float)
    tutor = np.asarray(moved["tutor_contacts"], dtype=float)
    # The parts that do not depend on the share, computed once (its term is 0 at its intercept).
    stay_base = p.staying(log_clicks, p.share_intercept, ic, cc, attempts, tutor)
    perf_base = (
        p.performance_mean(log_clicks, p.share_intercept, ic, hc, cc, attempts, forum, tutor)
        + p.y_m * m_mean
    )
    nodes, weights = hermegauss(QUADRATURE_NODES)
    risk = np.zeros(len(log_clicks))
    for node, weight in zip(nodes, weights / np.sqrt(2 * np.pi), strict=True):
        z = z_mean + np.sqrt(z_var) * node
        share_logit = z
        if intervention == "study_coaching":
            share_logit = logit(coached_share(expit(z), p))
        shift = share_logit - p.share_intercept
        p_withdraw = ndtr(-(stay_base + p.w_share * shift))
        perf_mean = perf_base + p.y_share * shift + p.y_m * m_gain * (z - z_mean)
        p_fail = ndtr(-perf_mean / perf_sd)
        risk += weight * (p_withdraw + (1 - p_withdraw) * p_fail)
    return risk


def student_numbers(index: np.ndarray, width: int, seed: int) -> pa.Array:
    """Student ids for global student numbers ``index``: ``width``-digit numeric strings
    (leading zeros kept, e.g. "007731"). A bijection of 0..10**width − 1 (a four-round Feistel
    network on the two halves of the digits, keyed by the seed), so distinct numbers always
    give distinct ids, and neighbouring numbers look unrelated."""
    half = np.uint64(10 ** (width // 2))
    keys = np.random.SeedSequence([seed, 0x5EED]).generate_state(4, dtype=np.uint64)
    numbers = np.asarray(index, dtype=np.uint64)
    left, right = numbers // half, numbers % half
    for key in keys:
        # uint64 products wrap around; any function of `right` keeps each round invertible.
        mixed = ((right ^ key) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(33)
        left, right = right, (left + mixed % half) % half
    text = pc.cast(pa.array(left * half + right), pa.string())
    return pc.utf8_lpad(text, width, "0")


def id_width(rows: int, chunk_rows: int) -> int:
    """Digits of a student id (an even number, for the two halves the ids are mixed in):
    enough for every student a file of ``rows`` rows can hold."""
    capacity = -(-rows // chunk_rows) * chunk_rows
    digits = max(6, len(str(capacity - 1)))
    return digits + digits % 2


def _dictionary(codes: np.ndarray, categories: tuple[str, ...]) -> pa.DictionaryArray:
    codes = np.asarray(codes)
    missing = codes < 0
    indices = pa.array(codes.astype(np.int8), pa.int8(), mask=missing if missing.any() else None)
    return pa.DictionaryArray.from_arrays(indices, pa.array(categories, pa.string()))


def tables(
    rng: np.random.Generator,
    n: int,
    chunk_index: int,
    chunk_rows: int,
    total_rows: int,
    seed: int,
    intervention: str | None = None,
) -> tuple[pa.Table, pa.Table]:
    """One chunk as (cohort, truth) Arrow tables. Students of chunk ``chunk_index`` are numbered
    from ``chunk_index · chunk_rows`` (a chunk holds at most ``chunk_rows`` students), so ids
    never repeat across chunks. The truth's first column is the row key the spec builds."""
    params = HigherEdParams()
    simulated = simulate(rng, n, params, intervention)
    record = simulated.record
    width = id_width(total_rows, chunk_rows)
    ids = student_numbers(chunk_index * chunk_rows + record["student"], width, seed)
    modules = pa.array(np.asarray(MODULES)[record["module"]], pa.string())
    terms = pa.array(np.asarray(TERMS)[record["term"]], pa.string())
    arrays: dict[str, pa.Array] = {"id_student": ids, "module": modules, "term": terms}
    for name in COLUMNS[len(ID_PARTS) :]:
        values = record[name]
        if name in CATEGORIES:
            arrays[name] = _dictionary(values, CATEGORIES[name])
        elif name in INT_COLUMNS:
            arrays[name] = pa.array(values, pa.int64())
        else:
            arrays[name] = pa.array(values, pa.float64())
    truth = {KEY_NAME: pc.binary_join_element_wise(ids, modules, terms, KEY_SEPARATOR)}
    # Risks are of the students as they were before any do-operation: in a counterfactual
    # cohort, true_risk is their risk under the intervention applied.
    before, band = simulated.before, simulated.band
    truth["true_risk"] = pa.array(true_risk(before, band, params, intervention), pa.float64())
    for name in INTERVENTIONS:
        truth[f"true_risk_{name}"] = pa.array(true_risk(before, band, params, name), pa.float64())
    return pa.table(arrays), pa.table(truth)
