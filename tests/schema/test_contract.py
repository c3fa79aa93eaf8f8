from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml.exceptions import ConfigError, DataContractError, RowsExcludedWarning
from leadml.features import build_flat_training_set
from leadml.schema import ColumnMapping, read_table, validate_lead_data, validate_leads


def test_missing_column_shows_a_diff_and_a_suggestion(tiny):
    leads, _, _ = tiny
    bad = leads.rename(columns={"created_at": "created"})
    with pytest.raises(
        DataContractError,
        match=r"(?s)leads: missing required column.*created_at \(did you mean 'created'\?\).*received:.*column mapping",
    ):
        validate_leads(bad)


def test_duplicate_lead_id(tiny):
    leads, _, _ = tiny
    bad = pd.concat([leads, leads.iloc[[0]]])
    with pytest.raises(
        DataContractError, match=r"leads.lead_id: 1 lead id\(s\) appear more than once: 'a'"
    ):
        validate_leads(bad)


def test_unparseable_timestamp_names_rows_and_ids(tiny):
    leads, _, _ = tiny
    bad = leads.assign(created_at=["2024-01-01", "not a date", "2024-13-45"])
    with pytest.raises(
        DataContractError,
        match=r"leads.created_at: 2 value\(s\) do not match the format 'ISO8601'.*'not a date'.*lead ids 'b', 'c'.*rows 1, 2.*--time-format",
    ):
        validate_leads(bad)


def test_naive_timestamps_are_utc_and_aware_ones_converted(tiny):
    leads, _, _ = tiny
    out = validate_leads(
        leads.assign(
            created_at=["2024-01-01T11:00:00-03:00", "2024-01-01T10:00:00+02:00", "2024-01-01T10Z"]
        )
    )
    assert str(out["created_at"].dtype) == "datetime64[us, UTC]"
    assert out["created_at"].dt.hour.tolist() == [14, 8, 10]
    naive = validate_leads(leads.assign(created_at=["2024-01-01 10:00"] * 3))
    assert naive["created_at"].dt.hour.tolist() == [10, 10, 10]
    # both in one text column: the naive ones may be local time, so it is an error
    with pytest.raises(DataContractError, match=r"leads.created_at: 2 value\(s\) carry a time"):
        validate_leads(
            leads.assign(
                created_at=["2024-01-01 10:00", "2024-01-01T10:00:00+02:00", "2024-01-01T10:00Z"]
            )
        )


def test_events_for_unknown_leads_error_by_default_and_drop_reports(tiny):
    leads, events, conv = tiny
    bad = pd.concat(
        [
            events,
            pd.DataFrame(
                {
                    "lead_id": ["zz", "zz"],
                    "timestamp": ["2024-01-02", "2024-01-03"],
                    "event_type": ["x", "x"],
                }
            ),
        ]
    )
    with pytest.raises(
        DataContractError,
        match=r"events.lead_id: 2 row\(s\) refer to 1 lead id\(s\) that are not in the leads table: 'zz'.*unknown_leads='drop'",
    ):
        validate_lead_data(leads, bad, conv)
    with pytest.warns(
        RowsExcludedWarning, match=r"events: dropped 2 row\(s\) for 1 lead id\(s\).*'zz'"
    ):
        data = validate_lead_data(leads, bad, conv, unknown_leads="drop")
    assert len(data.events) == len(events)


def test_conversions_for_unknown_leads(tiny):
    leads, events, _ = tiny
    with pytest.raises(
        DataContractError, match=r"conversions.lead_id: 1 row\(s\) refer to 1 lead id\(s\).*'q'"
    ):
        validate_lead_data(
            leads, events, pd.DataFrame({"lead_id": ["q"], "converted_at": ["2024-02-01"]})
        )


def test_conversion_before_created_at(tiny):
    leads, events, _ = tiny
    with pytest.raises(
        DataContractError,
        match=r"conversions.converted_at: 1 conversion\(s\) happen before.*lead ids 'c'.*time zones",
    ):
        validate_lead_data(
            leads, events, pd.DataFrame({"lead_id": ["c"], "converted_at": ["2024-01-09"]})
        )


def test_more_than_one_conversion_per_lead(tiny):
    leads, events, _ = tiny
    conv = pd.DataFrame({"lead_id": ["a", "a"], "converted_at": ["2024-02-01", "2024-02-03"]})
    with pytest.raises(DataContractError, match=r"more than one conversion: 'a'.*drop_duplicates"):
        validate_lead_data(leads, events, conv)


def test_empty_tables(tiny):
    leads, events, conv = tiny
    with pytest.raises(DataContractError, match=r"leads: the table is empty"):
        validate_lead_data(leads.iloc[0:0], events, conv)
    # an events table with its columns and no rows is valid: no lead has activity yet
    data = validate_lead_data(leads, events.iloc[0:0], conv)
    assert len(data.events) == 0
    assert len(data.leads) == len(leads)


def test_missing_lead_id_and_event_type(tiny):
    leads, events, _ = tiny
    with pytest.raises(
        DataContractError, match=r"events.event_type: 1 missing value\(s\) at lead ids 'b'"
    ):
        validate_lead_data(leads, events.assign(event_type=["a", "b", "c", None, "e"]))
    with pytest.raises(DataContractError, match=r"leads.lead_id: 1 missing value\(s\) at rows 2"):
        validate_leads(leads.assign(lead_id=["a", "b", None]))


def test_integer_ids_stay_integers_and_mismatched_ids_error():
    leads = pd.DataFrame({"lead_id": [1, 2], "created_at": ["2024-01-01", "2024-01-02"]})
    ev = pd.DataFrame(
        {"lead_id": ["1", "2"], "timestamp": ["2024-01-03", "2024-01-04"], "event_type": ["v", "v"]}
    )
    data = validate_lead_data(leads, ev)
    assert data.events["lead_id"].tolist() == [1, 2]
    with pytest.raises(
        DataContractError, match=r"events.lead_id: leads.lead_id is an integer column.*'x1'"
    ):
        validate_lead_data(leads, ev.assign(lead_id=["x1", "2"]))


def test_flat_label_must_be_binary():
    df = pd.DataFrame({"id": [1, 2, 3], "x": [1.0, 2.0, 3.0], "y": ["won", "lost", "open"]})
    with pytest.raises(
        DataContractError,
        match=r"table.y: the label must be binary.*3 distinct value\(s\): 'won', 'lost', 'open'.*positive=",
    ):
        build_flat_training_set(df, label="y", id_column="id")
    out = build_flat_training_set(df, label="y", id_column="id", positive="won")
    assert out["label"].tolist() == [1, 0, 0]


def test_flat_label_with_missing_values_and_yes_no():
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": ["yes", None, "no"]})
    with pytest.raises(
        DataContractError, match=r"table.y: the label has 1 missing value\(s\) at lead ids 1"
    ):
        build_flat_training_set(df, label="y")
    out = build_flat_training_set(df.assign(y=["yes", "no", "no"]), label="y", time_column=None)
    assert out["label"].tolist() == [1, 0, 0]
    assert not out["censored"].any()


def test_flat_mode_shape_and_time_column():
    df = pd.DataFrame(
        {
            "id": ["u", "v", "w", "z"],
            "when": ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"],
            "src": ["a", None, "b", "a"],
            "n": [1, 2, np.nan, 4],
            "y": [1, 0, 0, 1],
            "leaky": [1, 0, 0, 1],
        }
    )
    out = build_flat_training_set(
        df, label="y", id_column="id", time_column="when", exclude=["leaky"]
    )
    assert list(out.columns) == ["lead_id", "as_of", "src", "n", "label", "censored"]
    assert str(out["as_of"].dtype) == "datetime64[us, UTC]"
    assert out["src"].isna().iloc[1]


def test_column_mapping_renames_and_reports_missing(tmp_path, tiny):
    leads, _, _ = tiny
    path = tmp_path / "m.yaml"
    path.write_text("leads:\n  lead_id: Id\n  created_at: Created\n")
    m = ColumnMapping.from_yaml(path)
    user = leads.rename(columns={"lead_id": "Id", "created_at": "Created"})
    assert validate_leads(m.apply("leads", user))["lead_id"].tolist() == ["a", "b", "c"]
    with pytest.raises(
        DataContractError,
        match=r"leads: the column mapping names column\(s\) \['Id', 'Created'\] that are not in the table",
    ):
        m.apply("leads", leads)
    with pytest.raises(ConfigError, match="unknown table 'lead'"):
        ColumnMapping({"lead": {"lead_id": "x"}})


def test_read_table_csv_parquet_and_errors(tmp_path, tiny):
    leads, _, _ = tiny
    leads.to_csv(tmp_path / "l.csv", index=False)
    leads.to_parquet(tmp_path / "l.parquet")
    assert read_table(tmp_path / "l.csv").shape == leads.shape
    assert read_table(tmp_path / "l.parquet").shape == leads.shape
    with pytest.raises(DataContractError, match="file not found"):
        read_table(tmp_path / "missing.csv", table="leads")
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(DataContractError, match=r"unsupported file type '\.xlsx'"):
        read_table(tmp_path / "x.xlsx")


def test_validation_never_mutates_input(tiny):
    leads, events, conv = tiny
    copies = [leads.copy(), events.copy(), conv.copy()]
    validate_lead_data(leads, events, conv)
    for a, b in zip([leads, events, conv], copies, strict=True):
        pd.testing.assert_frame_equal(a, b)
