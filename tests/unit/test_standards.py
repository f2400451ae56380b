"""Standards file: resolution of overrides and the exact text of every file error."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from servicepulse.processors.standards import (
    STANDARD_NAMES,
    StandardsConfig,
    StandardsFileError,
    load_standards,
    parse_standards,
)
from tests.unit.shared_standards import TTFR

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "standards.example.yaml"

BASE: dict[str, Any] = {
    "version": 1,
    "defaults": {
        "minimum_sample": 20,
        "at_risk_margin": 0.10,
        "repeat_contact_days": 30,
        "standards": {
            "time_to_first_response": {"target_seconds": 14400, "objective": 0.90},
            "abandonment_rate": {"max": 0.05},
            "csat": {"min": 0.80},
        },
    },
    "overrides": [
        {"match": {"agency": "ssa"}, "standards": {"csat": {"min": 0.85}}},
        {"match": {"agency": "ssa", "service": "retirement"}, "standards": {}},
    ],
}


def doc(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def error_of(data: object) -> str:
    with pytest.raises(StandardsFileError) as caught:
        parse_standards(data, "standards.yaml")
    return str(caught.value)


def file_error(path: Path, text: str) -> str:
    """The error loading a standards file with this text raises."""
    path.write_text(text, encoding="utf-8")
    with pytest.raises(StandardsFileError) as caught:
        load_standards(path)
    return str(caught.value)


def test_example_file_loads_and_resolves() -> None:
    config = load_standards(EXAMPLE)
    irs = config.for_group("irs", "refunds", "web")
    assert irs["time_to_first_response"] == TTFR
    assert irs["csat"].direction == "at_least"
    assert irs["csat"].objective is None
    assert irs["abandonment_rate"].target == 0.05
    assert set(irs) == {
        "time_to_first_response",
        "time_to_resolution",
        "abandonment_rate",
        "transfer_rate",
        "repeat_contact_rate",
        "self_service_share",
        "csat",
        "trust",
        "negative_sentiment_share",
        "run_around_rate",
    }
    assert config.repeat_contact_days("irs", "refunds", "web") == 30


def test_override_chain_most_specific_wins_per_field() -> None:
    config = load_standards(EXAMPLE)
    ssa_web = config.for_group("ssa", "disability", "web")
    assert ssa_web["time_to_first_response"].target == 7200
    assert ssa_web["time_to_first_response"].objective == 0.95
    assert ssa_web["abandonment_rate"].target == 0.05
    assert ssa_web["abandonment_rate"].minimum_sample == 20

    phone = config.for_group("ssa", "retirement", "phone")
    # The agency-wide override still applies under the more specific one.
    assert phone["time_to_first_response"].target == 7200
    assert phone["abandonment_rate"].target == 0.08
    # minimum_sample from the override applies to every standard of the group.
    assert {standard.minimum_sample for standard in phone.values()} == {10}


def test_partial_standard_override_keeps_default_fields() -> None:
    data = doc(
        overrides=[
            {
                "match": {"channel": "phone"},
                "standards": {"time_to_first_response": {"target_seconds": 600}},
            }
        ]
    )
    ttfr = parse_standards(data, "s.yaml").for_group("a", "b", "phone")["time_to_first_response"]
    assert (ttfr.target, ttfr.objective) == (600, 0.90)


def test_ties_go_to_the_later_entry_and_specificity_beats_order() -> None:
    data = doc(
        overrides=[
            {"match": {"agency": "ssa", "service": "x"}, "standards": {"csat": {"min": 0.5}}},
            {"match": {"agency": "ssa"}, "standards": {"csat": {"min": 0.6}}},
            {"match": {"service": "x"}, "standards": {"csat": {"min": 0.7}}},
        ]
    )
    config = parse_standards(data, "s.yaml")
    assert config.for_group("ssa", "x", "web")["csat"].target == 0.5
    assert config.for_group("ssa", "y", "web")["csat"].target == 0.6
    assert config.for_group("irs", "x", "web")["csat"].target == 0.7
    # Same specificity (1 key each): the later entry wins.
    data["overrides"] = data["overrides"][1:]
    assert parse_standards(data, "s.yaml").for_group("ssa", "x", "web")["csat"].target == 0.7


def test_for_group_is_cached() -> None:
    config = parse_standards(doc(), "s.yaml")
    assert config.for_group("a", "b", "web") is config.for_group("a", "b", "web")


def test_override_can_add_a_complete_new_standard() -> None:
    data = doc(overrides=[{"match": {"agency": "va"}, "standards": {"trust": {"min": 0.7}}}])
    config = parse_standards(data, "s.yaml")
    assert config.for_group("va", "b", "web")["trust"].target == 0.7
    assert "trust" not in config.for_group("irs", "b", "web")


def test_missing_settings_use_fallbacks() -> None:
    config = parse_standards({"version": 1, "defaults": {"standards": {}}}, "s.yaml")
    assert config.for_group("a", "b", "web") == {}
    assert config.repeat_contact_days("a", "b", "web") == 30


def test_valid_standard_names_include_every_driver() -> None:
    for driver in ("trust", "satisfaction", "effectiveness", "ease", "efficiency"):
        assert driver in STANDARD_NAMES
    assert "employee_helpfulness" in STANDARD_NAMES and "transparency" in STANDARD_NAMES


# --- file-level errors ----------------------------------------------------------------------


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(StandardsFileError) as caught:
        load_standards(missing)
    assert str(caught.value) == f"{missing}: (file): cannot read: No such file or directory"
    assert caught.value.location == "(file)"


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(b"version: 1\n\xff\n")
    with pytest.raises(StandardsFileError, match=r"s\.yaml: \(file\): is not UTF-8 text"):
        load_standards(path)


def test_invalid_yaml_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "standards.yaml"
    path.write_text("version: 1\ndefaults:\n  minimum_sample: 20\n   bad: [1\n")
    with pytest.raises(StandardsFileError) as caught:
        load_standards(path)
    assert caught.value.location == "line 4, column 7"
    assert str(caught.value) == (
        f"{path}: line 4, column 7: invalid YAML: mapping values are not allowed here"
    )


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "standards.yaml"
    path.write_text("version: 1\ndefaults:\n  minimum_sample: 20\n  minimum_sample: 5\n")
    with pytest.raises(StandardsFileError) as caught:
        load_standards(path)
    assert str(caught.value) == (
        f"{path}: line 4, column 3: invalid YAML: duplicate key 'minimum_sample'"
    )


def test_the_same_override_twice_is_an_error_naming_both(tmp_path: Path) -> None:
    path = tmp_path / "standards.yaml"
    assert file_error(
        path,
        "version: 1\noverrides:\n"
        "  - match: {agency: ssa, channel: phone}\n    minimum_sample: 10\n"
        "  - match: {agency: irs}\n    minimum_sample: 12\n"
        "  - match: {channel: phone, agency: ssa}\n    minimum_sample: 5\n",
    ) == (
        f"{path}: overrides[2].match: {{agency: ssa, channel: phone}} is the same match as "
        "overrides[0]; merge the two overrides into one"
    )


def test_empty_document() -> None:
    assert error_of(None) == (
        "standards.yaml: (document): is empty; expected a mapping starting with 'version: 1'"
    )


def test_document_not_a_mapping() -> None:
    assert error_of([1]) == "standards.yaml: (document): must be a mapping (got a list)"


# --- version --------------------------------------------------------------------------------


def test_missing_version() -> None:
    data = doc()
    del data["version"]
    assert error_of(data) == "standards.yaml: version: is required (this release reads version 1)"


def test_unsupported_version() -> None:
    assert error_of(doc(version=2)) == (
        "standards.yaml: version: unsupported version 2 (this release reads version 1)"
    )


# --- unknown names and keys -----------------------------------------------------------------


def test_unknown_top_level_key() -> None:
    assert error_of(doc(defualts={})) == (
        "standards.yaml: defualts: unknown key (expected one of: version, defaults, overrides, "
        "benchmarks)"
    )


def test_unknown_standard_lists_the_valid_ones() -> None:
    data = doc()
    data["overrides"][1]["standards"]["csta"] = {"min": 0.8}
    assert error_of(data) == (
        "standards.yaml: overrides[1].standards.csta: unknown standard (valid: "
        + ", ".join(STANDARD_NAMES)
        + ")"
    )


def test_unknown_key_in_defaults() -> None:
    data = doc()
    data["defaults"]["minimum_samples"] = 5
    assert error_of(data) == (
        "standards.yaml: defaults.minimum_samples: unknown key (expected one of: "
        "minimum_sample, at_risk_margin, repeat_contact_days, silence_after_seconds, standards)"
    )


def test_unknown_key_in_a_standard() -> None:
    data = doc()
    data["defaults"]["standards"]["csat"] = {"max": 0.8}
    assert error_of(data) == (
        "standards.yaml: defaults.standards.csat.max: unknown key (expected one of: min, page, "
        "silence_after_seconds)"
    )


def test_unknown_key_in_a_duration_standard() -> None:
    data = doc()
    data["defaults"]["standards"]["time_to_first_response"]["target"] = 5
    assert error_of(data) == (
        "standards.yaml: defaults.standards.time_to_first_response.target: unknown key "
        "(expected one of: target_seconds, objective, page, silence_after_seconds)"
    )


# --- wrong types ----------------------------------------------------------------------------


def test_standards_not_a_mapping() -> None:
    data = doc()
    data["defaults"]["standards"] = ["csat"]
    assert error_of(data) == "standards.yaml: defaults.standards: must be a mapping (got a list)"


def test_standard_body_not_a_mapping() -> None:
    data = doc()
    data["defaults"]["standards"]["csat"] = 0.8
    assert error_of(data) == "standards.yaml: defaults.standards.csat: must be a mapping (got 0.8)"


def test_overrides_not_a_list() -> None:
    assert error_of(doc(overrides={"match": {}})) == (
        "standards.yaml: overrides: must be a list (got a mapping)"
    )


def test_number_given_as_text() -> None:
    data = doc()
    data["defaults"]["standards"]["abandonment_rate"] = {"max": "5%"}
    assert error_of(data) == (
        "standards.yaml: defaults.standards.abandonment_rate.max: must be a number between "
        '0 and 1 (got "5%")'
    )


def test_boolean_is_not_a_number() -> None:
    data = doc()
    data["defaults"]["minimum_sample"] = True
    assert error_of(data) == (
        "standards.yaml: defaults.minimum_sample: must be a whole number of at least 1 (got true)"
    )


def test_minimum_sample_must_be_whole() -> None:
    data = doc()
    data["overrides"][0]["minimum_sample"] = 2.5
    assert error_of(data) == (
        "standards.yaml: overrides[0].minimum_sample: must be a whole number of at least 1 "
        "(got 2.5)"
    )


# --- out of range ---------------------------------------------------------------------------


def test_rate_out_of_range_in_an_override() -> None:
    data = doc()
    data["overrides"][1]["standards"]["csat"] = {"min": 1.5}
    assert error_of(data) == (
        "standards.yaml: overrides[1].standards.csat.min: must be a number between 0 and 1 "
        "(got 1.5)"
    )


def test_objective_out_of_range() -> None:
    data = doc()
    data["defaults"]["standards"]["time_to_first_response"]["objective"] = 90
    assert error_of(data) == (
        "standards.yaml: defaults.standards.time_to_first_response.objective: must be a "
        "number between 0 and 1 (got 90)"
    )


def test_target_seconds_must_be_positive() -> None:
    data = doc()
    data["defaults"]["standards"]["time_to_first_response"]["target_seconds"] = 0
    assert error_of(data) == (
        "standards.yaml: defaults.standards.time_to_first_response.target_seconds: must be a "
        "positive number of seconds (got 0)"
    )


def test_at_risk_margin_out_of_range() -> None:
    data = doc()
    data["defaults"]["at_risk_margin"] = -0.1
    assert error_of(data) == (
        "standards.yaml: defaults.at_risk_margin: must be a number between 0 and 1 (got -0.1)"
    )


def test_repeat_contact_days_at_least_one() -> None:
    data = doc()
    data["defaults"]["repeat_contact_days"] = 0
    assert error_of(data) == (
        "standards.yaml: defaults.repeat_contact_days: must be a whole number of at least 1 (got 0)"
    )


# --- missing required fields ----------------------------------------------------------------


def test_objective_missing_for_a_duration() -> None:
    data = doc()
    data["defaults"]["standards"]["time_to_resolution"] = {"target_seconds": 432000}
    assert error_of(data) == (
        "standards.yaml: defaults.standards.time_to_resolution.objective: is required for "
        "duration standards: the share of cases that must meet target_seconds, e.g. 0.90"
    )


def test_objective_missing_for_a_duration_new_in_an_override() -> None:
    data = doc()
    data["overrides"][0]["standards"]["time_to_resolution"] = {"target_seconds": 432000}
    assert error_of(data) == (
        "standards.yaml: overrides[0].standards.time_to_resolution.objective: is required for "
        "duration standards: the share of cases that must meet target_seconds, e.g. 0.90"
    )


def test_rate_bound_missing() -> None:
    data = doc()
    data["defaults"]["standards"]["transfer_rate"] = {}
    assert error_of(data) == (
        "standards.yaml: defaults.standards.transfer_rate.max: is required for transfer_rate: "
        "the highest acceptable ratio"
    )


# --- match ----------------------------------------------------------------------------------


def test_bad_match_key() -> None:
    data = doc()
    data["overrides"][0]["match"] = {"agency": "ssa", "region": "east"}
    assert error_of(data) == (
        "standards.yaml: overrides[0].match.region: unknown key (expected one of: "
        "agency, service, channel)"
    )


def test_missing_match() -> None:
    data = doc()
    del data["overrides"][1]["match"]
    assert error_of(data) == (
        "standards.yaml: overrides[1].match: is required (any of: agency, service, channel)"
    )


def test_empty_match() -> None:
    data = doc()
    data["overrides"][0]["match"] = {}
    assert error_of(data) == (
        "standards.yaml: overrides[0].match: must name at least one of: agency, service, channel"
    )


def test_unknown_channel_in_match() -> None:
    data = doc()
    data["overrides"][0]["match"] = {"channel": "fax"}
    assert error_of(data) == (
        'standards.yaml: overrides[0].match.channel: unknown channel "fax" (valid: chat, '
        "email, in_person, mail, mobile_app, phone, social, web)"
    )


def test_match_id_must_look_like_an_event_id() -> None:
    data = doc()
    data["overrides"][0]["match"] = {"agency": "SSA"}
    assert error_of(data) == (
        "standards.yaml: overrides[0].match.agency: must be a lowercase id as sent in events, "
        'e.g. ssa (got "SSA")'
    )


def test_error_carries_its_parts() -> None:
    data = doc()
    data["overrides"][1]["standards"]["csat"] = {"min": 1.5}
    with pytest.raises(StandardsFileError) as caught:
        parse_standards(data, "standards.yaml")
    error = caught.value
    assert (error.path, error.location) == ("standards.yaml", "overrides[1].standards.csat.min")
    assert error.problem == "must be a number between 0 and 1 (got 1.5)"


def test_config_type() -> None:
    assert isinstance(parse_standards(doc(), "s.yaml"), StandardsConfig)


def test_benchmarks_section() -> None:
    config = parse_standards(
        {"version": 1, "benchmarks": {"peer_by": "channel", "best_in_class": {"csat": 0.9}}},
        "standards.yaml",
    )
    assert config.benchmarks.peer_by == "channel"
    assert config.benchmarks.best_in_class == {"csat": 0.9}
    assert error_of(doc(benchmarks={"peer_by": "region"})) == (
        'standards.yaml: benchmarks.peer_by: must be one of service, channel (got "region")'
    )
    assert error_of(doc(benchmarks={"best_in_class": {"speed": 0.5}})).startswith(
        "standards.yaml: benchmarks.best_in_class.speed: unknown standard"
    )


@pytest.mark.parametrize(
    ("document", "location", "problem"),
    [
        ({"silence_after_seconds": -1}, "defaults.silence_after_seconds", "at least 0"),
        ({"silence_after_seconds": "1h"}, "defaults.silence_after_seconds", "whole number"),
        (
            {"standards": {"csat": {"min": 0.8, "page": "no"}}},
            "defaults.standards.csat.page",
            "true or false",
        ),
        (
            {"standards": {"csat": {"min": 0.8, "silence_after_seconds": -5}}},
            "defaults.standards.csat.silence_after_seconds",
            "at least 0 (got -5)",
        ),
        (
            {"standards": {"csat": {"min": 0.8, "silence_after_seconds": 1.5}}},
            "defaults.standards.csat.silence_after_seconds",
            "whole number",
        ),
        (
            {"standards": {"csat": {"min": 0.8, "silence_after_seconds": True}}},
            "defaults.standards.csat.silence_after_seconds",
            "whole number",
        ),
    ],
)
def test_silence_and_page_settings_are_validated(
    document: dict[str, object], location: str, problem: str
) -> None:
    with pytest.raises(StandardsFileError) as caught:
        parse_standards({"version": 1, "defaults": document}, "s.yaml")
    assert caught.value.location == location
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"s.yaml: {location}: ")


def test_silence_and_page_settings_are_read() -> None:
    config = parse_standards(
        {"version": 1,
         "defaults": {"standards": {"transfer_rate": {"max": 0.15, "page": False}}},
         "overrides": [{"match": {"agency": "ssa"}, "silence_after_seconds": 0}]},
        "s.yaml",
    )  # fmt: skip
    assert config.defaults.settings["silence_after_seconds"] == 3600
    assert config.overrides[0].settings["silence_after_seconds"] == 0
    assert config.defaults.standards["transfer_rate"]["page"] == 0.0
    assert config.for_group("ssa", "x", "web")["transfer_rate"].target == 0.15


def test_a_bad_silence_of_a_standard_in_an_override_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "standards.yaml"
    assert file_error(
        path,
        "version: 1\ndefaults:\n  standards:\n    csat: {min: 0.8}\noverrides:\n"
        "  - match: {agency: ssa}\n    standards: {csat: {silence_after_seconds: 1d}}\n",
    ) == (
        f"{path}: overrides[0].standards.csat.silence_after_seconds: must be a whole number of "
        'at least 0 (got "1d")'
    )


def test_a_standards_own_silence_wins_over_the_groups_from_any_layer() -> None:
    config = parse_standards(
        {"version": 1,
         "defaults": {"silence_after_seconds": 3600, "standards": {
             "csat": {"min": 0.8, "silence_after_seconds": 86400},
             "abandonment_rate": {"max": 0.05}}},
         "overrides": [
             {"match": {"agency": "ssa", "channel": "phone"}, "silence_after_seconds": 900},
             {"match": {"agency": "ssa"}, "standards": {"csat": {"silence_after_seconds": 0}}},
             {"match": {"agency": "irs"},
              "standards": {"abandonment_rate": {"silence_after_seconds": 600}}},
         ]},
        "s.yaml",
    )  # fmt: skip
    silence = config.silence_after_seconds
    assert silence("dmv", "licensing", "web") == 3600
    assert silence("dmv", "licensing", "web", "csat") == 86400
    assert silence("dmv", "licensing", "web", "abandonment_rate") == 3600
    # The more specific group setting of ssa/phone does not reach csat: csat has its own.
    assert silence("ssa", "retirement", "phone") == 900
    assert silence("ssa", "retirement", "phone", "abandonment_rate") == 900
    assert silence("ssa", "retirement", "phone", "csat") == 0
    assert silence("irs", "tax", "web", "abandonment_rate") == 600
    assert silence("irs", "tax", "web", "csat") == 86400
    # The setting changes nothing else about the standard.
    assert config.for_group("irs", "tax", "web")["abandonment_rate"].target == 0.05
