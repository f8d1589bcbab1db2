"""The `realistic` profile: a structural causal model of a secondary-school cohort with
realistic gaps and known intervention effects. Equations, effect sizes and their sources are
written down in ``data/SCM.md``; the numbers below are the ones that document names.

Design choice that makes the oracle exact: achievement depends on latent engagement and prior
ability plus *observed* columns only, and every latent is linear-Gaussian given what is observed
(attendance and study time are invertible transforms of Gaussians). So the true risk of each
student given their early-warning data is a closed form, and so is their true risk under each
intervention (a do-operation on the model, holding the student's exogenous noise fixed)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.special import expit, logit
from scipy.stats import norm

from data.synthetic import common as c

GPA_THRESHOLD = 2.0


@dataclass(frozen=True)
class Intervention:
    name: str
    title: str
    mechanism: str
    source: str


INTERVENTIONS = {
    iv.name: iv
    for iv in (
        Intervention(
            "tutoring",
            "High-dosage tutoring",
            "raises achievement by 0.30 SD",
            "Nickow, Oreopoulos & Quan (2020), NBER w27476: pooled effect 0.37 SD; "
            "Kraft & Falken (2021): smaller at scale. 0.30 SD used.",
        ),
        Intervention(
            "attendance_outreach",
            "Attendance outreach (family nudges)",
            "cuts each student's absences by 6 %",
            "Rogers & Feller (2018), Nature Human Behaviour 2:335: personalised mailings cut "
            "total absences ~6 % and chronic absenteeism ~10 %.",
        ),
        Intervention(
            "mentoring",
            "Mentoring",
            "raises engagement by 0.21 SD (then attendance, study time and achievement follow)",
            "DuBois, Portillo, Rhodes, Silverthorn & Valentine (2011), Psych. Sci. in the "
            "Public Interest 12(2): mean effect d = 0.21.",
        ),
        Intervention(
            "parent_engagement",
            "Parent engagement programme",
            "gives every family parent support (ParentSupport := 1)",
            "Kraft & Rogers (2015), Econ. of Education Review 47; Jeynes (2007), Urban "
            "Education 42(1): programme effects well below correlational estimates.",
        ),
        Intervention(
            "home_internet",
            "Home internet access",
            "gives every home internet access (InternetAccess := 1)",
            "Fairlie & Robinson (2013), AEJ: Applied 5(3): free home computers had no "
            "measurable effect on grades; a small effect is encoded.",
        ),
    )
}


@dataclass(frozen=True)
class RealisticParams:
    """Coefficients of the SCM (see data/SCM.md for the equations)."""

    race_ses_shift: tuple[float, ...] = (0.30, -0.50, -0.60, 0.30, 0.0, -0.20)
    locale_ses_shift: tuple[float, ...] = (-0.05, 0.20, -0.15, -0.25)
    pe_on_ses: float = 0.9
    # engagement e = mu_e + u_e
    e_support: float = 0.30
    e_extracurricular: float = 0.25
    e_job: float = -0.20
    e_go_out: float = -0.10
    e_ses: float = 0.10
    # attendance = expit(att_lin)
    att_intercept: float = 2.80
    att_e: float = 0.55
    att_ses: float = 0.12
    att_age: float = -0.08
    att_noise: float = 0.50
    # study hours = exp(study_lin)
    study_intercept: float = -0.15
    study_e: float = 0.30
    study_female: float = 0.20
    study_internet: float = 0.10
    study_job: float = -0.15
    study_go_out: float = -0.05
    study_noise: float = 0.35
    # achievement A (latent), standardised by a_mean / a_sd
    a_att: float = 0.40
    att_center: float = 2.80
    att_scale: float = 0.80
    a_study: float = 0.20
    study_scale: float = 0.45
    a_ses: float = 0.18
    a_parent_education: float = 0.08
    a_support: float = 0.10
    a_internet: float = 0.05
    a_private: float = 0.05
    a_e: float = 0.15
    a_ability: float = 0.75
    a_mean: float = 0.217
    a_sd: float = 1.095
    # GPA = clip(gpa_mean + gpa_a * A_std + gpa_noise * eps, 0, 4)
    gpa_mean: float = 2.85
    gpa_a: float = 0.62
    gpa_noise: float = 0.38
    # test score = clip(75 + 10 * (test_a * A_std + sqrt(1 - test_a²) * nu), 0, 100)
    test_a: float = 0.85
    # intervention sizes
    tutoring_sd: float = 0.30
    outreach_absence_cut: float = 0.06
    mentoring_e: float = 0.21

    # The structural equations' deterministic parts, shared by the simulation and the oracle
    # so the two can never drift apart.
    def engagement_mean(self, support, extra, job, go_out, qc):
        return (
            self.e_support * support
            + self.e_extracurricular * extra
            + self.e_job * job
            + self.e_go_out * (go_out - 2)
            + self.e_ses * qc
        )

    def attendance_base(self, qc, age):
        """att_lin without engagement and noise."""
        return self.att_intercept + self.att_ses * qc + self.att_age * (age - 16)

    def study_base(self, female, internet, job, go_out):
        """study_lin without engagement and noise."""
        return (
            self.study_intercept
            + self.study_female * female
            + self.study_internet * internet
            + self.study_job * job
            + self.study_go_out * (go_out - 2)
        )

    def achievement_mean(self, att_lin, study_lin, qc, pec, support, internet, private, e):
        """Achievement without prior ability."""
        return (
            self.a_att * (att_lin - self.att_center) / self.att_scale
            + self.a_study * study_lin / self.study_scale
            + self.a_ses * qc
            + self.a_parent_education * pec
            + self.a_support * support
            + self.a_internet * internet
            + self.a_private * private
            + self.a_e * e
        )

    @cached_property
    def ses_cuts(self) -> np.ndarray:
        shifts, weights = self._ses_mixture()
        return c.mixture_quantiles(shifts, weights, 1.0, (0.25, 0.5, 0.75))

    @cached_property
    def pe_cuts(self) -> np.ndarray:
        shifts, weights = self._ses_mixture()
        sd = float(np.hypot(self.pe_on_ses, 1.0))
        cumulative = np.cumsum(c.P_PARENT_EDUCATION)[:-1]
        return c.mixture_quantiles(self.pe_on_ses * shifts, weights, sd, cumulative)

    def _ses_mixture(self) -> tuple[np.ndarray, np.ndarray]:
        race, locale = np.meshgrid(self.race_ses_shift, self.locale_ses_shift, indexing="ij")
        p_race, p_locale = np.meshgrid(c.P_RACE, c.P_LOCALE, indexing="ij")
        return (race + locale).ravel(), (p_race * p_locale).ravel()


def _exogenous(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Every random draw of a chunk, in a fixed order, so a do-operation replays the same
    students with the same luck."""
    draws = {
        "age": np.asarray(c.AGES)[c.choice(rng, [0.2] * 5, n)],
        "gender": c.choice(rng, [0.5, 0.5], n),
        "race": c.choice(rng, c.P_RACE, n),
        "locale": c.choice(rng, c.P_LOCALE, n),
        "free_time": c.choice(rng, c.P_FREE_TIME, n) + 1,
        "go_out": c.choice(rng, c.P_GO_OUT, n) + 1,
    }
    for name in (
        "ses",
        "pe",
        "u_e",
        "eps_att",
        "eps_study",
        "ability",
        "eps_gpa",
        "nu_math",
        "nu_reading",
        "nu_science",
    ):
        draws[name] = rng.standard_normal(n)
    for name in ("u_internet", "u_private", "u_support", "u_job", "u_extra", "u_romantic"):
        draws[name] = rng.random(n)
    return draws


def simulate(
    rng: np.random.Generator, n: int, params: RealisticParams, intervention: str | None = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Run the structural equations for ``n`` students, optionally under ``do(intervention)``.
    Returns the observed columns (category columns as codes) and the latents."""
    if intervention is not None and intervention not in INTERVENTIONS:
        raise ValueError(
            f"unknown intervention {intervention!r}; known: {', '.join(INTERVENTIONS)}"
        )
    p, x = params, _exogenous(rng, n)
    age, go_out = x["age"], x["go_out"]
    rural = x["locale"] == c.LOCALES.index("Rural")
    ses_z = (
        np.asarray(p.race_ses_shift)[x["race"]]
        + np.asarray(p.locale_ses_shift)[x["locale"]]
        + x["ses"]
    )
    quartile = 1 + np.searchsorted(p.ses_cuts, ses_z)
    qc = quartile - 2.5
    parent_education = np.searchsorted(p.pe_cuts, p.pe_on_ses * ses_z + x["pe"]).astype(np.int8)
    pec = parent_education - 1.5
    internet = (x["u_internet"] < expit(2.5 + 0.93 * qc - 0.6 * rural)).astype(np.int8)
    private = (x["u_private"] < expit(-1.75 + 0.40 * qc)).astype(np.int8)
    support = (x["u_support"] < expit(-0.40 + 0.25 * qc + 0.20 * pec)).astype(np.int8)
    job = (x["u_job"] < expit(-1.55 + 0.40 * (age - 16) - 0.20 * qc)).astype(np.int8)
    extra = (x["u_extra"] < expit(0.20 + 0.25 * qc + 0.40 * private)).astype(np.int8)
    romantic = (x["u_romantic"] < expit(-1.40 + 0.30 * (age - 16))).astype(np.int8)
    if intervention == "parent_engagement":
        support = np.ones_like(support)
    if intervention == "home_internet":
        internet = np.ones_like(internet)

    engagement = p.engagement_mean(support, extra, job, go_out, qc) + x["u_e"]
    if intervention == "mentoring":
        engagement = engagement + p.mentoring_e
    att_lin = p.attendance_base(qc, age) + p.att_e * engagement + p.att_noise * x["eps_att"]
    attendance = expit(att_lin)
    if intervention == "attendance_outreach":
        attendance = 1 - (1 - p.outreach_absence_cut) * (1 - attendance)
        att_lin = logit(attendance)
    female = (x["gender"] == 0).astype(np.int8)
    study_lin = (
        p.study_base(female, internet, job, go_out)
        + p.study_e * engagement
        + p.study_noise * x["eps_study"]
    )
    achievement = (
        p.achievement_mean(att_lin, study_lin, qc, pec, support, internet, private, engagement)
        + p.a_ability * x["ability"]
    )
    a_std = (achievement - p.a_mean) / p.a_sd
    if intervention == "tutoring":
        a_std = a_std + p.tutoring_sd
    gpa = np.clip(p.gpa_mean + p.gpa_a * a_std + p.gpa_noise * x["eps_gpa"], 0.0, 4.0)
    noise_weight = np.sqrt(1 - p.test_a**2)

    def test(nu: np.ndarray) -> np.ndarray:
        return np.clip(75 + 10 * (p.test_a * a_std + noise_weight * nu), 0.0, 100.0)

    observed = {
        "Age": age.astype(np.int64),
        "Grade": c.grade_for_age(age),
        "Gender": x["gender"],
        "Race": x["race"],
        "SES_Quartile": quartile.astype(np.int64),
        "ParentalEducation": parent_education,
        "SchoolType": private,
        "Locale": x["locale"],
        "TestScore_Math": test(x["nu_math"]),
        "TestScore_Reading": test(x["nu_reading"]),
        "TestScore_Science": test(x["nu_science"]),
        "GPA": gpa,
        "AttendanceRate": attendance,
        "StudyHours": np.exp(study_lin),
        "InternetAccess": internet,
        "Extracurricular": extra,
        "PartTimeJob": job,
        "ParentSupport": support,
        "Romantic": romantic,
        "FreeTime": x["free_time"].astype(np.int64),
        "GoOut": go_out.astype(np.int64),
    }
    latent = {"engagement": engagement, "achievement": achievement, "achievement_std": a_std}
    return observed, latent


def true_risk(
    obs: dict[str, np.ndarray], params: RealisticParams, intervention: str | None = None
) -> np.ndarray:
    """P(GPA < 2.0 | the student's observed early-warning columns), optionally under
    ``do(intervention)``. Uses observed values only (never the latents), by Gaussian
    conditioning of engagement on attendance and study time."""
    p = params
    qc = np.asarray(obs["SES_Quartile"], dtype=float) - 2.5
    pec = np.asarray(obs["ParentalEducation"], dtype=float) - 1.5
    age = np.asarray(obs["Age"], dtype=float)
    go_out = np.asarray(obs["GoOut"], dtype=float)
    support = np.asarray(obs["ParentSupport"], dtype=float)
    internet = np.asarray(obs["InternetAccess"], dtype=float)
    job = np.asarray(obs["PartTimeJob"], dtype=float)
    extra = np.asarray(obs["Extracurricular"], dtype=float)
    private = np.asarray(obs["SchoolType"], dtype=float)
    female = (np.asarray(obs["Gender"]) == 0).astype(float)
    attendance = np.asarray(obs["AttendanceRate"], dtype=float)
    att_lin = logit(attendance)
    study_lin = np.log(np.asarray(obs["StudyHours"], dtype=float))

    mu_e = p.engagement_mean(support, extra, job, go_out, qc)
    r_att = att_lin - p.attendance_base(qc, age)
    r_study = study_lin - p.study_base(female, internet, job, go_out)
    w_att, w_study = p.att_e / p.att_noise**2, p.study_e / p.study_noise**2
    precision = 1 + p.att_e * w_att + p.study_e * w_study
    e_mean = (mu_e + w_att * r_att + w_study * r_study) / precision
    e_var = 1 / precision

    d_e = d_att = d_study = d_direct = d_std = 0.0
    if intervention == "tutoring":
        d_std = p.tutoring_sd
    elif intervention == "mentoring":
        d_e = p.mentoring_e
    elif intervention == "attendance_outreach":
        d_att = logit(1 - (1 - p.outreach_absence_cut) * (1 - attendance)) - att_lin
    elif intervention == "parent_engagement":
        d_e = p.e_support * (1 - support)
        d_direct = p.a_support * (1 - support)
    elif intervention == "home_internet":
        d_study = p.study_internet * (1 - internet)
        d_direct = p.a_internet * (1 - internet)
    elif intervention is not None:
        raise ValueError(f"unknown intervention {intervention!r}")
    att_lin = att_lin + d_att + p.att_e * d_e
    study_lin = study_lin + d_study + p.study_e * d_e

    a_mean = (
        p.achievement_mean(att_lin, study_lin, qc, pec, support, internet, private, e_mean + d_e)
        + d_direct
    )
    a_var = p.a_e**2 * e_var + p.a_ability**2
    gpa_mean = p.gpa_mean + p.gpa_a * ((a_mean - p.a_mean) / p.a_sd + d_std)
    gpa_sd = np.sqrt(p.gpa_a**2 * a_var / p.a_sd**2 + p.gpa_noise**2)
    return norm.cdf((GPA_THRESHOLD - gpa_mean) / gpa_sd)
