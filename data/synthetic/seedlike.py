"""The `seed-like` profile: reproduces the public student-performance data (marginals,
correlations, the Age→Grade rule) including its defining property: one latent factor drives
test scores, GPA, attendance and study time, and it is independent of every demographic,
access and behavioural column. SES is linked to parental education, internet access, school
type and parent support, as in the public data. Figures are measured on the 10k sample."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from data.synthetic import common as c

# Order of the correlated block: math, reading, science, GPA, attendance, study hours.
CORRELATION = np.array(
    [
        [1.000, 0.708, 0.704, 0.689, 0.821, 0.468],
        [0.708, 1.000, 0.708, 0.697, 0.821, 0.456],
        [0.704, 0.708, 1.000, 0.686, 0.819, 0.469],
        [0.689, 0.697, 0.686, 1.000, 0.706, 0.393],
        [0.821, 0.821, 0.819, 0.706, 1.000, 0.475],
        [0.468, 0.456, 0.469, 0.393, 0.475, 1.000],
    ]
)
MEANS = np.array([75.0, 75.0, 75.0, 2.99, 0.900, 1.00])
SDS = np.array([10.0, 10.0, 10.0, 0.465, 0.049, 0.351])
LOWER = np.array([0.0, 0.0, 0.0, 0.0, 0.70, 0.0])
UPPER = np.array([100.0, 100.0, 100.0, 4.0, 1.00, np.inf])
# Conditional tables by SES quartile (rows Q1..Q4).
P_PE_BY_SES = np.array(
    [  # <HS, HS, SomeCollege, Bachelors+
        [0.382, 0.420, 0.149, 0.048],
        [0.203, 0.395, 0.302, 0.100],
        [0.105, 0.295, 0.394, 0.206],
        [0.053, 0.199, 0.344, 0.404],
    ]
)
P_INTERNET_BY_SES = np.array([0.706, 0.796, 0.904, 1.000])
P_PRIVATE_BY_SES = np.array([0.081, 0.131, 0.181, 0.244])
P_SUPPORT_BY_SES = np.array([0.329, 0.382, 0.443, 0.508])
ATTENDANCE, STUDY, GPA = 4, 5, 3


def simulate(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Draw ``n`` students with the public data's joint distribution."""
    age = np.asarray(c.AGES)[c.choice(rng, [0.2] * 5, n)]
    quartile = c.choice(rng, [0.25] * 4, n)
    u = rng.random((n, 4))
    cdf_pe = np.cumsum(P_PE_BY_SES, axis=1)[quartile]
    parent_education = (u[:, 0:1] > cdf_pe[:, :-1]).sum(axis=1).astype(np.int8)
    latent = rng.standard_normal((n, 6)) @ np.linalg.cholesky(CORRELATION).T
    values = np.clip(MEANS + SDS * latent, LOWER, UPPER)
    return {
        "Age": age.astype(np.int64),
        "Grade": c.grade_for_age(age),
        "Gender": c.choice(rng, [0.504, 0.496], n),
        "Race": c.choice(rng, c.P_RACE, n),
        "SES_Quartile": (quartile + 1).astype(np.int64),
        "ParentalEducation": parent_education,
        "SchoolType": (u[:, 1] < P_PRIVATE_BY_SES[quartile]).astype(np.int8),
        "Locale": c.choice(rng, c.P_LOCALE, n),
        "TestScore_Math": values[:, 0],
        "TestScore_Reading": values[:, 1],
        "TestScore_Science": values[:, 2],
        "GPA": values[:, GPA],
        "AttendanceRate": values[:, ATTENDANCE],
        "StudyHours": values[:, STUDY],
        "InternetAccess": (u[:, 2] < P_INTERNET_BY_SES[quartile]).astype(np.int8),
        "Extracurricular": (rng.random(n) < 0.551).astype(np.int8),
        "PartTimeJob": (rng.random(n) < 0.181).astype(np.int8),
        "ParentSupport": (u[:, 3] < P_SUPPORT_BY_SES[quartile]).astype(np.int8),
        "Romantic": (rng.random(n) < 0.204).astype(np.int8),
        "FreeTime": (c.choice(rng, c.P_FREE_TIME, n) + 1).astype(np.int64),
        "GoOut": (c.choice(rng, c.P_GO_OUT, n) + 1).astype(np.int64),
    }


def true_risk(obs: dict[str, np.ndarray]) -> np.ndarray:
    """P(GPA < 2.0 | attendance, study time) by Gaussian conditioning. Clipping of the observed
    values is ignored, so this is a close approximation, not exact (the realistic profile's
    oracle is exact). Demographics carry no information here, by construction."""
    idx = [ATTENDANCE, STUDY]
    cov = CORRELATION * np.outer(SDS, SDS)
    s_xx, s_yx = cov[np.ix_(idx, idx)], cov[GPA, idx]
    weights = np.linalg.solve(s_xx, s_yx)
    x = np.column_stack([obs["AttendanceRate"], obs["StudyHours"]]) - MEANS[idx]
    mean = MEANS[GPA] + x @ weights
    sd = np.sqrt(cov[GPA, GPA] - s_yx @ weights)
    return norm.cdf((2.0 - mean) / sd)
