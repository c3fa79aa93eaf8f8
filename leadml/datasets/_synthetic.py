"""A synthetic B2B CRM with ground truth.

The generator is a hidden Markov model per lead. The hidden state is a persona (buyer or job
seeker, fixed) and an intent level (cold, warm or hot) that evolves day by day. Each day a lead
emits behavioural events (web visits by page, e-mail opens and clicks, forms, downloads,
webinars, demo requests, unsubscribes) at rates that depend on its state, and converts with a
daily hazard that depends on its state and on its profile fit (industry, company size,
seniority, country, free vs business e-mail domain).

Because the model is an HMM, the generator runs the forward filter on exactly what a model can
observe (the profile, every event before the cut-off, and the fact that the lead has not
converted yet). ``truth.p_true`` is therefore the best possible probability, given the
observable data, that a lead converts within the horizon after each cut-off: the ceiling
any model can reach, not an oracle that knows the hidden state.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from leadml.exceptions import ConfigError

__all__ = ["CRMData", "make_crm"]

# --- profile -----------------------------------------------------------------------------
INDUSTRIES = {  # name: (share, fit effect)
    "software": (0.22, 0.55),
    "financial services": (0.14, 0.35),
    "healthcare": (0.12, 0.10),
    "manufacturing": (0.14, 0.0),
    "retail": (0.12, -0.25),
    "media": (0.08, -0.10),
    "education": (0.10, -0.55),
    "government": (0.08, -0.40),
}
COUNTRIES = {  # name: (share, fit effect)
    "US": (0.38, 0.20),
    "UK": (0.12, 0.15),
    "DE": (0.10, 0.15),
    "FR": (0.07, 0.0),
    "CA": (0.06, 0.10),
    "AU": (0.05, 0.05),
    "IN": (0.12, -0.35),
    "BR": (0.06, -0.25),
    "NG": (0.04, -0.60),
}
SENIORITY = {  # name: (share, fit effect, titles)
    "C-level": (0.06, 0.25, ("CEO", "CTO", "CFO", "COO")),
    "VP": (0.09, 0.50, ("VP Engineering", "VP Marketing", "VP Sales")),
    "Director": (0.16, 0.40, ("Director of Engineering", "Director of Marketing", "IT Director")),
    "Manager": (0.27, 0.20, ("Marketing Manager", "Engineering Manager", "Product Manager")),
    "Individual contributor": (0.30, -0.10, ("Software Engineer", "Analyst", "Consultant")),
    "Student": (0.12, -0.30, ("Student", "Graduate Student")),
}
SOURCES = {  # name: (share, initial intent distribution cold/warm/hot)
    "website_organic": (0.24, (0.60, 0.32, 0.08)),
    "paid_search": (0.18, (0.55, 0.35, 0.10)),
    "webinar": (0.12, (0.50, 0.40, 0.10)),
    "content_syndication": (0.16, (0.75, 0.22, 0.03)),
    "event_list": (0.14, (0.85, 0.13, 0.02)),
    "referral": (0.08, (0.40, 0.40, 0.20)),
    "demo_request_form": (0.08, (0.20, 0.40, 0.40)),
}
P_JOBSEEKER = {"Student": 0.85}  # by seniority; others below
P_JOBSEEKER_OTHER = 0.04
REVERSED_SCALE = 2.0
"""make_crm(reversed_source=...): that source's fit effects are multiplied by -REVERSED_SCALE."""
FREE_EMAIL_EFFECT = -0.60
P_FREE_EMAIL = {"buyer": 0.18, "jobseeker": 0.80}

# --- behaviour ---------------------------------------------------------------------------
# channel: (event_type, detail, buyer rates per day for cold/warm/hot, job seeker rate per day)
CHANNELS: tuple[tuple[str, str | None, tuple[float, float, float], float], ...] = (
    ("page_view", "/", (0.015, 0.12, 0.30), 0.15),
    ("page_view", "/product", (0.005, 0.08, 0.30), 0.05),
    ("page_view", "/pricing", (0.001, 0.02, 0.35), 0.005),
    ("page_view", "/docs", (0.003, 0.05, 0.15), 0.10),
    ("page_view", "/blog", (0.010, 0.06, 0.08), 0.20),
    ("page_view", "/careers", (0.001, 0.002, 0.002), 0.12),
    ("email_sent", "campaign", (0.07, 0.07, 0.07), 0.07),
    ("email_open", "campaign", (0.040, 0.07, 0.09), 0.08),
    ("email_click", "campaign", (0.003, 0.03, 0.08), 0.02),
    ("form_fill", "contact_us", (0.0003, 0.002, 0.040), 0.001),
    ("form_fill", "newsletter", (0.001, 0.004, 0.003), 0.010),
    ("content_download", "ebook", (0.002, 0.015, 0.025), 0.040),
    ("content_download", "whitepaper", (0.001, 0.010, 0.030), 0.020),
    ("webinar_attended", None, (0.001, 0.010, 0.020), 0.020),
    ("demo_request", None, (0.00005, 0.001, 0.050), 0.0005),
    ("unsubscribe", None, (0.004, 0.0008, 0.0002), 0.002),
)
CAMPAIGNS = ("newsletter", "product_update", "nurture", "event_invite")
# daily intent transitions (rows: from cold/warm/hot)
INTENT_T = np.array(
    [
        [0.993, 0.005, 0.002],
        [0.040, 0.950, 0.010],
        [0.020, 0.060, 0.920],
    ]
)
HAZARD = np.array([0.0001, 0.0012, 0.035])  # buyer daily conversion hazard at fit 0
JOBSEEKER_HAZARD_FACTOR = 0.03


@dataclass(frozen=True)
class CRMData:
    """A generated CRM: the three contract tables plus ground truth.

    Attributes
    ----------
    leads, events, conversions : DataFrame
        The contract tables.
    truth : DataFrame
        ``lead_id, as_of, p_true``: for every cut-off of the truth schedule (every
        ``every`` from ``start``, for each lead created before it and not yet converted), the
        probability, given everything observable, that the lead converts in ``(as_of, as_of + horizon]``.
    latent : DataFrame
        ``lead_id, persona, fit_logit``: hidden generator variables, for analysis only.
    start, observed_until : Timestamp
        The first day and the end (exclusive) of the data.
    horizon, every : Timedelta
    """

    leads: pd.DataFrame
    events: pd.DataFrame
    conversions: pd.DataFrame
    truth: pd.DataFrame
    latent: pd.DataFrame
    start: pd.Timestamp
    observed_until: pd.Timestamp
    horizon: pd.Timedelta
    every: pd.Timedelta

    def sample_cutoffs(self, per_lead: int = 1, *, seed: int = 0) -> pd.DataFrame:
        """Decision times drawn per lead *independently of its outcome*, with their truth.

        For each lead, ``per_lead`` times are drawn uniformly (without replacement) from the
        truth schedule between its creation and the end of the data; a time at or after the
        lead's (recorded) conversion is then no row, as in a CRM. Returns ``lead_id, as_of,
        p_true`` (at most ``per_lead`` rows per lead), sorted by ``as_of, lead_id``.

        Drawing instead among the rows a lead *has* would select on the future: a lead that
        converts soon has few rows, so its one sampled row is likely the one just before the
        conversion, and the labels of such a sample are not those of random decision times.
        """
        if per_lead < 1:
            raise ConfigError(f"sample_cutoffs: per_lead must be >= 1, got {per_lead}.")
        rng = np.random.default_rng(seed)
        grid = pd.date_range(
            self.start + self.every, self.observed_until, freq=self.every, inclusive="left"
        ).as_unit("us")
        g = np.asarray(grid.asi8)
        created = self.leads["created_at"].astype("datetime64[us, UTC]").astype("int64").to_numpy()
        first = np.searchsorted(g, created, side="right")  # the truth needs created < as_of
        n_cand = len(g) - first
        picks = []
        for _ in range(per_lead):
            u = rng.random(len(created))
            picks.append(first + np.floor(u * np.maximum(n_cand, 1)).astype(np.int64))
        k = np.stack(picks, axis=1)
        ok = (n_cand > 0)[:, None] & np.ones_like(k, dtype=bool)
        if per_lead > 1:  # without replacement: redraw duplicates as the next free slots
            k = np.sort(k, axis=1)
            for j in range(1, per_lead):
                k[:, j] = np.maximum(k[:, j], k[:, j - 1] + 1)
            ok &= k < len(g)
        idx = np.repeat(np.arange(len(created)), per_lead)[ok.ravel()]
        times = g[np.minimum(k.ravel()[ok.ravel()], len(g) - 1)]
        cut = pd.DataFrame(
            {
                "lead_id": self.leads["lead_id"].to_numpy()[idx],
                "as_of": pd.to_datetime(times, unit="us", utc=True).astype("datetime64[us, UTC]"),
            }
        )
        out = cut.merge(self.truth, on=["lead_id", "as_of"], how="inner")
        return out.sort_values(["as_of", "lead_id"], kind="stable").reset_index(drop=True)

    def snapshot(self, until: str | pd.Timestamp) -> CRMData:
        """The CRM as it was known at ``until``: leads created, events logged and conversions
        recorded before it, ``lost_at`` only where it had happened; the truth up to it. For
        simulating scheduled jobs (each run sees a later snapshot of the same CRM)."""
        t = pd.Timestamp(until)
        t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
        if not self.start < t <= self.observed_until:
            raise ConfigError(
                f"snapshot: until must be after {self.start} and at most {self.observed_until}, "
                f"got {t}."
            )
        leads = self.leads[self.leads["created_at"] < t].reset_index(drop=True)
        if "lost_at" in leads.columns:
            leads["lost_at"] = leads["lost_at"].where(leads["lost_at"] < t)
        keep = set(leads["lead_id"])
        events = self.events[
            (self.events["timestamp"] < t) & self.events["lead_id"].isin(keep)
        ].reset_index(drop=True)
        conv = self.conversions[
            (self.conversions["converted_at"] < t) & self.conversions["lead_id"].isin(keep)
        ].reset_index(drop=True)
        truth = self.truth[self.truth["as_of"] < t].reset_index(drop=True)
        return replace(
            self, leads=leads, events=events, conversions=conv, truth=truth, observed_until=t
        )


def _pick(rng: np.random.Generator, table: dict, n: int) -> np.ndarray:
    names = list(table)
    p = np.array([v[0] for v in table.values()], dtype=float)
    return rng.choice(len(names), size=n, p=p / p.sum())


def make_crm(
    n_leads: int = 20_000,
    *,
    days: int = 420,
    start: str | pd.Timestamp = "2024-01-01",
    horizon_days: int = 30,
    every_days: int = 7,
    leads_per_account: float = 4.0,
    missing_rate: float = 0.08,
    rate_shift: float = 1.0,
    rate_shift_start: float = 2 / 3,
    conversions_from_day: int | None = None,
    reversed_source: str | None = None,
    onboarding_events: bool = False,
    seed: int = 0,
) -> CRMData:
    """Generate a realistic B2B CRM with leads, behavioural events, conversions and ground truth.

    Parameters
    ----------
    n_leads : int
        Number of leads, created uniformly over the first ``days - horizon_days`` days.
    days : int
        Length of the data in days; the event log runs to the end, past every cut-off.
    start : str or Timestamp
        First day (UTC midnight).
    horizon_days : int
        Horizon of ``truth.p_true``.
    every_days : int
        Spacing of the truth cut-offs (UTC midnights ``start + k * every_days``, ``k >= 1``).
    leads_per_account : float
        Mean leads per account (accounts share industry, size and country).
    missing_rate : float
        Share of missing values in industry, employees and country.
    rate_shift : float
        A moving base rate: the daily conversion hazard of every state is multiplied by a factor
        that stays 1 until day ``rate_shift_start * days`` and then rises linearly to
        ``rate_shift`` on the last day (2.0: the hazard doubles over the last third). The truth
        follows it exactly (the filter and the horizon probabilities use each day's hazard).
    rate_shift_start : float
        Where the ramp starts, as a share of ``days``.
    conversions_from_day : int, optional
        Conversion tracking starts on this day: conversions before it happen (the lead goes
        silent) but are not in the conversions table, as in a CRM whose deal tracking was
        switched on partway. The truth is then the probability of a *recorded* conversion given
        what is observable, with "converted before tracking, unrecorded" as a hidden state.
    reversed_source : str, optional
        A ``lead_source`` value (e.g. ``"website_organic"``) whose leads convert for the opposite profile
        reasons: their fit effects (industry, country, size, seniority, e-mail type) are negated and
        doubled (``REVERSED_SCALE``),
        so a model of that segment alone beats a global one (per-segment benchmarks). Default:
        every source shares the same drivers (only the initial intent differs), and the data is
        exactly that of earlier versions.
    onboarding_events : bool
        Add what a real CRM export holds and a model must not learn from: events caused by the
        conversion (``onboarding_call``, ``invoice_paid``, ``page_view`` of ``/app/welcome``
        after it; ``contract_sent`` in the days just before it) and a profile column set by the
        sales process (``sales_stage``, with the row's last update time in ``updated_at``).
        Drawn from a separate random stream: the other columns and events are unchanged.
    seed : int
        The same seed gives the same data.

    Examples
    --------
    >>> crm = make_crm(500, days=120, seed=1)
    >>> sorted(crm.leads.columns)[:3]
    ['account_id', 'country', 'created_at']
    """
    if n_leads < 1 or days <= horizon_days or every_days < 1 or horizon_days < 1:
        raise ConfigError(
            "make_crm: need n_leads >= 1, horizon_days >= 1, every_days >= 1 and days > horizon_days; "
            f"got n_leads={n_leads}, days={days}, horizon_days={horizon_days}, every_days={every_days}."
        )
    if rate_shift <= 0 or not 0 <= rate_shift_start < 1:
        raise ConfigError(
            "make_crm: need rate_shift > 0 and 0 <= rate_shift_start < 1; got "
            f"rate_shift={rate_shift}, rate_shift_start={rate_shift_start}."
        )
    if reversed_source is not None and reversed_source not in SOURCES:
        raise ConfigError(
            f"make_crm: reversed_source must be one of {list(SOURCES)}; got {reversed_source!r}."
        )
    if conversions_from_day is not None and not 0 <= conversions_from_day < days:
        raise ConfigError(
            f"make_crm: conversions_from_day must be in [0, days); got {conversions_from_day}."
        )
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start)
    t0 = (t0.tz_localize("UTC") if t0.tzinfo is None else t0.tz_convert("UTC")).normalize()

    # --- accounts and profiles -----------------------------------------------------------
    n_acc = max(1, round(n_leads / leads_per_account))
    acc_ind = _pick(rng, INDUSTRIES, n_acc)
    acc_cty = _pick(rng, COUNTRIES, n_acc)
    acc_emp = np.maximum(1, np.round(np.exp(rng.normal(np.log(150), 1.7, n_acc)))).astype(float)
    acc_w = rng.pareto(1.5, n_acc) + 1.0
    acc = rng.choice(n_acc, size=n_leads, p=acc_w / acc_w.sum())
    sen = _pick(rng, SENIORITY, n_leads)
    sen_names = list(SENIORITY)
    p_js = np.array([P_JOBSEEKER.get(sen_names[s], P_JOBSEEKER_OTHER) for s in sen])
    jobseeker = rng.random(n_leads) < p_js
    titles = np.array(
        [rng.choice(SENIORITY[sen_names[s]][2]) for s in range(len(sen_names))], dtype=object
    )
    title_idx = rng.integers(0, 10_000, n_leads)
    job_title = np.array(
        [
            SENIORITY[sen_names[s]][2][i % len(SENIORITY[sen_names[s]][2])]
            for s, i in zip(sen, title_idx, strict=True)
        ],
        dtype=object,
    )
    del titles
    free = rng.random(n_leads) < np.where(
        jobseeker, P_FREE_EMAIL["jobseeker"], P_FREE_EMAIL["buyer"]
    )
    src = _pick(rng, SOURCES, n_leads)

    ind_eff = np.array([v[1] for v in INDUSTRIES.values()])[acc_ind[acc]]
    cty_eff = np.array([v[1] for v in COUNTRIES.values()])[acc_cty[acc]]
    emp = acc_emp[acc]
    emp_eff = 0.35 - 0.30 * (np.log10(emp) - 2.7) ** 2
    miss_ind = rng.random(n_leads) < missing_rate
    miss_cty = rng.random(n_leads) < missing_rate / 2
    miss_emp = rng.random(n_leads) < missing_rate * 1.5
    # A missing value contributes a fixed effect, so the truth stays a function of what is observed.
    ind_eff = np.where(miss_ind, 0.0, ind_eff)
    cty_eff = np.where(miss_cty, 0.0, cty_eff)
    emp_eff = np.where(miss_emp, -0.10, emp_eff)
    sen_eff = np.array([v[1] for v in SENIORITY.values()])[sen]
    fit = ind_eff + cty_eff + emp_eff + sen_eff + np.where(free, FREE_EMAIL_EFFECT, 0.0)
    if reversed_source is not None:  # that segment converts for the opposite profile reasons
        fit = np.where(src == list(SOURCES).index(reversed_source), -REVERSED_SCALE * fit, fit)

    # creation times: uniform over the days before the last horizon, slightly growing
    span = days - horizon_days
    c_day = np.floor(
        span * np.sqrt(rng.random(n_leads)) * 0.4 + span * rng.random(n_leads) * 0.6
    ).astype(int)
    c_day = np.clip(c_day, 0, span - 1)
    c_frac = rng.random(n_leads) * 0.999

    # --- hidden states ------------------------------------------------------------------
    n_ch = len(CHANNELS)
    R = np.zeros((6, n_ch))  # state = persona * 3 + intent
    for j, (_, _, buyer, js) in enumerate(CHANNELS):
        R[0:3, j] = buyer
        R[3:6, j] = js
    logR = np.log(R)
    R_sum = R.sum(axis=1)
    T = np.zeros((6, 6))
    T[0:3, 0:3] = INTENT_T
    T[3:6, 3:6] = INTENT_T
    T_cum = np.cumsum(T, axis=1)
    base_h = np.concatenate([HAZARD, HAZARD * JOBSEEKER_HAZARD_FACTOR])
    rate = np.exp(fit)[:, None] * base_h[None, :]  # (n_leads, 6) hazard rates at factor 1
    ramp0 = rate_shift_start * days
    factor = 1.0 + (rate_shift - 1.0) * np.clip(
        (np.arange(days + horizon_days) - ramp0) / max(days - 1 - ramp0, 1e-9), 0.0, 1.0
    )
    moving = rate_shift != 1.0
    h_fixed = 1.0 - np.exp(-rate)

    def hazard(day: int) -> np.ndarray:
        return 1.0 - np.exp(-rate * factor[day]) if moving else h_fixed

    src_pi = np.array([v[1] for v in SOURCES.values()])[src]  # (n, 3)
    pj = p_js[:, None]
    pi0 = np.concatenate([(1 - pj) * src_pi, pj * src_pi], axis=1)  # filter prior (observables)

    tracked_from = 0 if conversions_from_day is None else conversions_from_day

    def within_horizon(day: int) -> np.ndarray:
        """P(a recorded conversion on days day .. day + H - 1 | state on ``day``) per lead.

        Backwards over the window: ``S`` is the probability of no recorded conversion from
        day ``k`` on. A conversion before tracking starts is not recorded, and ends the lead.
        """
        S = np.ones((n_leads, 6))
        for k in range(horizon_days - 1, -1, -1):
            hk = hazard(day + k)
            S = (1.0 - hk) * (S @ T.T) + (hk if day + k < tracked_from else 0.0)
        return 1.0 - S

    q_fixed = within_horizon(0) if not moving and tracked_from == 0 else None

    state = np.full(n_leads, -1)
    post = np.zeros((n_leads, 6))
    silent = np.zeros(n_leads)  # filter mass of "converted before tracking, unrecorded"
    converted = np.zeros(n_leads, dtype=bool)
    recorded = np.zeros(n_leads, dtype=bool)
    conv_time = np.full(n_leads, np.nan)
    ev_lead: list[np.ndarray] = []
    ev_ch: list[np.ndarray] = []
    ev_t: list[np.ndarray] = []
    tr_lead: list[np.ndarray] = []
    tr_day: list[np.ndarray] = []
    tr_p: list[np.ndarray] = []
    order = np.argsort(c_day, kind="stable")
    c_sorted = c_day[order]

    for d in range(days):
        n_created = np.searchsorted(c_sorted, d, side="right")
        created = order[:n_created]
        # the simulation runs on leads that have not converted; the filter (what a model can
        # know) on leads without a recorded conversion, which includes unrecorded converters
        alive = created[~converted[created]]
        seen = created[~recorded[created]]
        if seen.size == 0:
            continue
        h = hazard(d)
        is_new = c_day[alive] == d
        old, new = alive[~is_new], alive[is_new]
        s_new = seen[c_day[seen] == d]
        s_old = seen[c_day[seen] != d]
        # predict step for existing leads; prior for new ones
        if s_old.size:
            post[s_old] = post[s_old] @ T
            if d % every_days == 0 and d > 0:
                q = q_fixed if q_fixed is not None else within_horizon(d)
                tr_lead.append(s_old)
                tr_day.append(np.full(s_old.size, d))
                tr_p.append(np.einsum("ij,ij->i", post[s_old], q[s_old]))
        if old.size:
            u = rng.random(old.size)
            state[old] = (u[:, None] > T_cum[state[old]]).sum(axis=1)
        if s_new.size:
            post[s_new] = pi0[s_new]
        if new.size:
            persona = jobseeker[new].astype(int)
            u = rng.random(new.size)
            intent = (u[:, None] > np.cumsum(src_pi[new], axis=1)).sum(axis=1)
            state[new] = persona * 3 + np.minimum(intent, 2)
        n_ev = np.zeros(n_leads, dtype=np.int64)
        loglik = np.zeros((n_leads, 6))
        if alive.size:
            s = state[alive]
            # emissions: total count, then split over channels
            n_tot = rng.poisson(R_sum[s])
            nz = np.flatnonzero(n_tot)
            n_ev[alive] = n_tot
            if nz.size:
                counts = rng.multinomial(n_tot[nz], R[s[nz]] / R_sum[s[nz], None])
                loglik[alive[nz]] = counts @ logR.T
                rows, chans = np.nonzero(counts)
                reps = counts[rows, chans]
                lead_rep = np.repeat(alive[nz][rows], reps)
                ev_lead.append(lead_rep)
                ev_ch.append(np.repeat(chans, reps))
                lo = np.where(c_day[lead_rep] == d, c_frac[lead_rep], 0.0)
                ev_t.append(d + lo + (1.0 - lo) * rng.random(lead_rep.size))
            # conversion
            hz = h[alive, s]
            conv = rng.random(alive.size) < hz
            if conv.any():
                cl = alive[conv]
                converted[cl] = True
                recorded[cl] = d >= tracked_from
                lo = np.where(c_day[cl] == d, c_frac[cl], 0.0)
                conv_time[cl] = d + lo + (1.0 - lo) * rng.random(cl.size) * 0.999
        # update step for the leads without a recorded conversion today
        surv = seen[~recorded[seen]]
        ll = loglik[surv] - R_sum[None, :]
        shift = ll.max(axis=1, keepdims=True)
        like = post[surv] * np.exp(ll - shift)
        # a silent (unrecorded) converter emits nothing: likelihood 1 on a day without events
        quiet = np.where(n_ev[surv] == 0, np.exp(-shift[:, 0]), 0.0) * silent[surv]
        if d >= tracked_from:
            live, gone = like * (1.0 - h[surv]), quiet
        else:  # a conversion today would not be recorded: it moves mass to the silent state
            live, gone = like * (1.0 - h[surv]), quiet + (like * h[surv]).sum(axis=1)
        total = live.sum(axis=1) + gone
        post[surv] = live / total[:, None]
        silent[surv] = gone / total

    # --- assemble tables ------------------------------------------------------------------
    lead_ids = np.array([f"L{i:07d}" for i in range(n_leads)], dtype=object)
    acc_ids = np.array([f"A{i:05d}" for i in range(n_acc)], dtype=object)
    to_ts = lambda x: t0 + pd.to_timedelta(np.round(np.asarray(x) * 86_400_000_000), unit="us")  # noqa: E731
    ind_names = np.array(list(INDUSTRIES), dtype=object)
    cty_names = np.array(list(COUNTRIES), dtype=object)
    leads = pd.DataFrame(
        {
            "lead_id": lead_ids,
            "created_at": to_ts(c_day + c_frac),
            "account_id": acc_ids[acc],
            "industry": np.where(miss_ind, None, ind_names[acc_ind[acc]]),
            "employees": np.where(miss_emp, np.nan, emp),
            "country": np.where(miss_cty, None, cty_names[acc_cty[acc]]),
            "seniority": np.array(sen_names, dtype=object)[sen],
            "job_title": job_title,
            "lead_source": np.array(list(SOURCES), dtype=object)[src],
            "email_domain_type": np.where(free, "free", "business"),
        }
    )
    li = np.concatenate(ev_lead) if ev_lead else np.array([], dtype=int)
    ch = np.concatenate(ev_ch) if ev_ch else np.array([], dtype=int)
    tt = np.concatenate(ev_t) if ev_t else np.array([], dtype=float)
    ev_order = np.lexsort((tt, li))
    li, ch, tt = li[ev_order], ch[ev_order], tt[ev_order]
    types = np.array([c[0] for c in CHANNELS], dtype=object)
    details = np.array([c[1] for c in CHANNELS], dtype=object)
    det = details[ch]
    is_campaign = det == "campaign"
    det[is_campaign] = np.array(CAMPAIGNS, dtype=object)[
        rng.integers(0, len(CAMPAIGNS), int(is_campaign.sum()))
    ]
    events = pd.DataFrame(
        {"lead_id": lead_ids[li], "timestamp": to_ts(tt), "event_type": types[ch], "detail": det}
    )
    cmask = recorded
    conversions = pd.DataFrame(
        {"lead_id": lead_ids[cmask], "converted_at": to_ts(conv_time[cmask])}
    )
    if tr_lead:
        tl, td, tp = np.concatenate(tr_lead), np.concatenate(tr_day), np.concatenate(tr_p)
    else:
        tl, td, tp = np.array([], dtype=int), np.array([], dtype=int), np.array([], dtype=float)
    truth = pd.DataFrame({"lead_id": lead_ids[tl], "as_of": to_ts(td), "p_true": tp})
    truth = truth.sort_values(["as_of", "lead_id"], kind="stable").reset_index(drop=True)
    latent = pd.DataFrame(
        {
            "lead_id": lead_ids,
            "persona": np.where(jobseeker, "job_seeker", "buyer"),
            "fit_logit": fit,
        }
    )
    if onboarding_events:
        leads, events = _with_onboarding(
            leads, events, conversions, seed, t0 + pd.Timedelta(days=days)
        )
    return CRMData(
        leads=leads,
        events=events,
        conversions=conversions,
        truth=truth,
        latent=latent,
        start=t0,
        observed_until=t0 + pd.Timedelta(days=days),
        horizon=pd.Timedelta(days=horizon_days),
        every=pd.Timedelta(days=every_days),
    )


ONBOARDING = (  # event_type, detail, share of converted leads, days after conversion (low, high)
    ("onboarding_call", None, 0.9, (0.2, 5.0)),
    ("invoice_paid", None, 0.8, (1.0, 30.0)),
    ("page_view", "/app/welcome", 0.95, (0.0, 10.0)),
)
SALES_STAGES_OPEN = ("contacted", "nurture", "disqualified")


def _with_onboarding(
    leads: pd.DataFrame,
    events: pd.DataFrame,
    conversions: pd.DataFrame,
    seed: int,
    end: pd.Timestamp,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The leakage a CRM export carries: events caused by the conversion, and a sales stage
    with the time the row was last updated (see ``make_crm(onboarding_events=True)``)."""
    rng = np.random.default_rng([seed, 15])
    conv_at = conversions["converted_at"].reset_index(drop=True)
    ids = conversions["lead_id"].to_numpy()
    day = pd.Timedelta(days=1)
    parts = [events]
    for etype, detail, share, (lo, hi) in ONBOARDING:
        pick = rng.random(len(ids)) < share
        ts = conv_at[pick] + rng.uniform(lo, hi, int(pick.sum())) * day
        parts.append(
            pd.DataFrame(
                {
                    "lead_id": ids[pick],
                    "timestamp": ts.to_numpy(),
                    "event_type": etype,
                    "detail": detail,
                }
            )
        )
    created = leads.set_index("lead_id")["created_at"]
    pick = rng.random(len(ids)) < 0.7
    ts = conv_at[pick] - rng.uniform(0.05, 3.0, int(pick.sum())) * day
    ts = np.maximum(ts.to_numpy(), created.loc[ids[pick]].to_numpy())
    parts.append(
        pd.DataFrame(
            {"lead_id": ids[pick], "timestamp": ts, "event_type": "contract_sent", "detail": None}
        )
    )
    ev = pd.concat(parts, ignore_index=True).astype(events.dtypes.to_dict())
    ev = ev[ev["timestamp"] < end]
    ev = ev.sort_values(["lead_id", "timestamp"], kind="stable").reset_index(drop=True)
    # the sales stage: set by the sales team as the lead moves; updated_at moves with it
    conv = leads["lead_id"].map(conversions.set_index("lead_id")["converted_at"])
    is_conv = conv.notna().to_numpy()
    n = len(leads)
    touched = rng.random(n) < np.where(is_conv, 0.75, 0.4)
    won = rng.random(n) < 0.85
    stage = np.where(
        ~touched,
        "new",
        np.where(
            is_conv,
            np.where(won, "closed_won", "negotiation"),
            np.array(SALES_STAGES_OPEN, dtype=object)[rng.integers(0, 3, n)],
        ),
    ).astype(object)
    lag = pd.to_timedelta(np.where(is_conv, rng.uniform(0, 2, n), rng.uniform(1, 60, n)), unit="D")
    base = conv.where(is_conv, leads["created_at"])
    upd = (base + lag).where(touched, leads["created_at"])
    upd = upd.where(upd < end, end - pd.Timedelta(seconds=1))
    out = leads.assign(sales_stage=stage, updated_at=upd.astype(leads["created_at"].dtype))
    return out, ev
