"""A CRM that grows: snapshots of one synthetic CRM written where a scheduled job reads them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from leadml.datasets import make_crm
from tests._fast import QUICK_TREES


class GrowingCRM:
    """``write(day)`` puts the CRM as known on ``day`` into ``folder/data``; ``config(...)``
    writes a retraining job YAML (relative paths, as a user would) and returns its path."""

    def __init__(
        self,
        folder: Path,
        *,
        n: int = 4000,
        days: int = 600,
        seed: int = 1,
        new_source_from: float | None = None,
    ) -> None:
        """``new_source_from``: from that day on, a third of the new leads come from a lead
        source the CRM did not have before (``partner_referral``)."""
        self.folder = folder
        self.crm = make_crm(n, days=days, seed=seed)
        self.conversions = self.crm.conversions
        if new_source_from is not None:
            leads = self.crm.leads.copy()
            rng = np.random.default_rng(seed)
            new = (leads["created_at"] >= self.day(new_source_from)).to_numpy() & (
                rng.random(len(leads)) < 1 / 3
            )
            leads["lead_source"] = leads["lead_source"].astype(object)
            leads.loc[new, "lead_source"] = "partner_referral"
            self.crm = replace(self.crm, leads=leads)

    def day(self, d: float) -> pd.Timestamp:
        return self.crm.start + pd.Timedelta(days=d)

    def write(self, d: float, *, shuffle_before: float | None = None, seed: int = 0) -> Any:
        """The snapshot at day ``d``. ``shuffle_before``: a tracking error: every conversion
        recorded before that day is attributed to a random lead (the labels a challenger learns
        from are noise; the later ones, which the gate judges on, are right)."""
        s = self.crm.snapshot(self.day(d))
        conv = self.conversions
        conv = conv[(conv["converted_at"] < self.day(d)) & conv["lead_id"].isin(s.leads["lead_id"])]
        if shuffle_before is not None:
            rng = np.random.default_rng(seed)
            conv = conv.copy()
            early = (conv["converted_at"] < self.day(shuffle_before)).to_numpy()
            leads = s.leads.sort_values("created_at")
            created = leads["created_at"].to_numpy()
            n_before = np.searchsorted(created, conv.loc[early, "converted_at"].to_numpy())
            pick = np.floor(rng.random(int(early.sum())) * n_before).astype(int)
            conv.loc[early, "lead_id"] = leads["lead_id"].to_numpy()[pick]
            conv = conv.sort_values("converted_at").drop_duplicates("lead_id")
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        s.leads.to_parquet(data / "leads.parquet")
        s.events.to_parquet(data / "events.parquet")
        conv.to_parquet(data / "conversions.parquet")
        return s

    def config(self, name: str, uri: str, file: str = "retrain.yaml", **gate: Any) -> Path:
        cfg = {
            "data": {
                "leads": "data/leads.parquet",
                "events": "data/events.parquet",
                "conversions": "data/conversions.parquet",
            },
            # a fortnightly schedule and a faster learning rate: the gate's logic, not the model's
            # last decimal, is under test here (and the suite has a time budget)
            "train": {
                "horizon": "30d",
                "every": "14d",
                "n_boot": 0,
                "lightgbm": QUICK_TREES,
            },
            "model_name": name,
            "tracking_uri": uri,
            "gate": {"n_boot": 100, "segments": ["lead_source"], **gate},
        }
        path = self.folder / file
        path.write_text(yaml.safe_dump(cfg))
        return path
