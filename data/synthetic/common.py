"""Pieces both generator profiles share: the public schema's categories and marginals, and
small vectorised sampling helpers. A chunk is a dict of equal-length numpy arrays."""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

GENDERS = ("Female", "Male")
RACES = ("White", "Hispanic", "Black", "Asian", "Two-or-more", "Other")
P_RACE = (0.443, 0.295, 0.147, 0.049, 0.047, 0.019)
LOCALES = ("City", "Suburban", "Town", "Rural")
P_LOCALE = (0.310, 0.393, 0.107, 0.190)
PARENT_EDUCATION = ("<HS", "HS", "SomeCollege", "Bachelors+")
P_PARENT_EDUCATION = (0.186, 0.327, 0.297, 0.190)
SCHOOL_TYPES = ("Public", "Private")
AGES = (14, 15, 16, 17, 18)
P_FREE_TIME = (0.067, 0.243, 0.375, 0.248, 0.067)
P_GO_OUT = (0.311, 0.378, 0.245, 0.059, 0.007)

# Column order of a generated cohort (the public schema, id first).
CATEGORIES = {
    "Gender": GENDERS,
    "Race": RACES,
    "ParentalEducation": PARENT_EDUCATION,
    "SchoolType": SCHOOL_TYPES,
    "Locale": LOCALES,
}
COLUMNS = (
    "StudentID",
    "Age",
    "Grade",
    "Gender",
    "Race",
    "SES_Quartile",
    "ParentalEducation",
    "SchoolType",
    "Locale",
    "TestScore_Math",
    "TestScore_Reading",
    "TestScore_Science",
    "GPA",
    "AttendanceRate",
    "StudyHours",
    "InternetAccess",
    "Extracurricular",
    "PartTimeJob",
    "ParentSupport",
    "Romantic",
    "FreeTime",
    "GoOut",
)


def choice(rng: np.random.Generator, probs, n: int) -> np.ndarray:
    """Category codes 0..k-1 drawn with the given probabilities (int8)."""
    cdf = np.cumsum(np.asarray(probs, dtype=float))
    cdf /= cdf[-1]
    return np.searchsorted(cdf, rng.random(n), side="right").astype(np.int8)


def grade_for_age(age: np.ndarray) -> np.ndarray:
    """The public data's rule: 14→9, 15→10, 16→11, 17 and 18→12."""
    return np.minimum(age - 5, 12).astype(np.int64)


def mixture_quantiles(shifts: np.ndarray, weights: np.ndarray, sd: float, probs) -> np.ndarray:
    """Quantiles of a mixture of normals N(shift_i, sd²) with the given weights."""
    weights = np.asarray(weights, dtype=float) / np.sum(weights)

    def cdf(x: float) -> float:
        return float(np.sum(weights * norm.cdf((x - shifts) / sd)))

    lo, hi = float(shifts.min()) - 10 * sd, float(shifts.max()) + 10 * sd
    return np.array([brentq(lambda x, p=p: cdf(x) - p, lo, hi) for p in probs])
