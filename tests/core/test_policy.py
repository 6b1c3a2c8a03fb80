"""The organisation policy: the shipped default, validation messages, lookups."""

from __future__ import annotations

import datetime as dt
import tomllib
from importlib import resources
from typing import get_args
from zoneinfo import ZoneInfo

import pytest

from incidentbot.core.policy import Category, Policy, PolicyError, load_policy, parse_policy
from incidentbot.errors import ConfigError

SHIPPED_TEXT = resources.files("incidentbot").joinpath("incidentbot.toml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def policy() -> Policy:
    return load_policy(None)


# --- the shipped default ---------------------------------------------------------------------


def test_shipped_file_parses_to_the_same_policy_as_load_policy_none(policy):
    assert parse_policy(SHIPPED_TEXT, "incidentbot.toml") == policy


def test_model_defaults_match_the_shipped_file_apart_from_the_example_services(policy):
    # Keys left out of an operator's file must behave as the shipped file documents them.
    assert parse_policy("") == Policy()
    assert policy.model_copy(update={"services": []}) == Policy()
    assert Policy().services == []


def test_shipped_severities_follow_the_default_policy(policy):
    assert policy.severity_ids == ["SEV1", "SEV2", "SEV3", "SEV4"]
    assert [s.postmortem_required for s in policy.severities] == [True, True, False, False]
    assert [s.update_every_minutes for s in policy.severities] == [30, 60, 120, 240]
    sev1, sev2 = policy.severity("SEV1"), policy.severity("SEV2")
    assert (sev1.postmortem_due_days, sev1.postmortem_due_business_days) == (3, False)
    assert (sev2.postmortem_due_days, sev2.postmortem_due_business_days) == (5, True)
    assert "outage" in sev1.description and "data loss" in sev1.description
    assert policy.default_severity == "SEV3"


def test_shipped_statuses(policy):
    assert [s.id for s in policy.statuses] == ["investigating", "identified", "monitoring", "resolved", "closed"]
    assert policy.initial_status.id == "investigating"
    assert [s.id for s in policy.final_statuses] == ["closed"]
    assert [s.id for s in policy.statuses if s.resolved] == ["resolved", "closed"]


def test_shipped_taxonomy(policy):
    assert [c.id for c in policy.taxonomy.categories] == [
        "code-deploy", "config-change", "capacity-load", "dependency-third-party",
        "infrastructure-hardware-network", "data-pipeline-integrity", "performance-degradation",
        "time-certificates-expiry", "security", "automation-tooling", "unknown",
    ]
    assert policy.taxonomy.tags == [
        "cascading-failure", "near-miss", "detected-by-monitoring", "detected-by-customer", "detected-by-staff",
    ]
    assert policy.taxonomy.default_category == "unknown"
    assert all(c.description for c in policy.taxonomy.categories)
    assert policy.category("Code-Deploy").name == "Code deploy"


def test_shipped_services_roles_and_schedules(policy):
    assert {s.name for s in policy.services} >= {"api", "web", "payments", "search"}
    api = policy.service("API")
    assert api.team and 0 < api.slo < 1
    assert api.error_budget == pytest.approx(0.001)
    assert [r.id for r in policy.roles] == ["lead", "comms", "scribe"]
    assert policy.lead_role.name == "Incident lead"
    assert all(len(r.description) > 80 for r in policy.roles)
    assert policy.role("scribe").name == "Scribe"
    assert policy.timezone == "UTC" and policy.tz == ZoneInfo("UTC")
    assert policy.channels.name_pattern == "inc-{date}-{slug}"
    assert policy.channels.announcement == "incidents"
    assert (policy.digest.weekday, policy.digest.time_of_day) == (0, dt.time(9, 0))
    assert policy.business_hours.weekdays == frozenset(range(5))
    assert policy.timeline.capture_emoji == "pushpin"
    assert (policy.limits.title_max_chars, policy.limits.summary_max_chars) == (120, 2900)
    assert policy.action_items.priority_due_weeks(1) == 4
    assert policy.action_items.priority_due_weeks(2) == 8
    assert policy.action_items.priority_due_weeks(None) == 8


def test_shipped_file_spells_out_every_key():
    data = tomllib.loads(SHIPPED_TEXT)
    assert set(data) == set(Policy.model_fields)
    for section in ("taxonomy", "channels", "digest", "business_hours", "timeline", "limits", "action_items",
                    "permissions", "nudges", "postmortems"):
        assert set(data[section]) == set(Policy.model_fields[section].annotation.model_fields), section
    for section in ("severities", "statuses", "roles", "services"):
        (item_model,) = get_args(Policy.model_fields[section].annotation)
        for entry in data[section]:
            assert set(entry) == set(item_model.model_fields), (section, entry)
    for entry in data["taxonomy"]["categories"]:
        assert set(entry) == set(Category.model_fields), entry


def test_shipped_permissions_and_nudges(policy):
    assert policy.permissions.restricted_actions == ["downgrade", "resolve", "close"]
    assert (policy.permissions.privileged_users, policy.permissions.privileged_usergroup) == ([], "")
    nudges = policy.nudges
    assert (nudges.enabled, nudges.no_lead_minutes, nudges.idle_hours, nudges.snooze_minutes) == (True, 10, 4, 60)
    assert [c.id for c in policy.taxonomy.categories if c.private_by_default] == ["security"]


def test_shipped_postmortem_rules(policy):
    rules = policy.postmortems
    assert (rules.required_categories, rules.owner_role, rules.meeting_minutes, rules.meeting_notice_hours) == (
        [], "lead", 60, 24)
    assert (rules.reminder_days_before_due, rules.overdue_channel_after_days, rules.reminders,
            rules.close_on_publish) == (2, 1, True, False)


def test_postmortem_rules_accept_categories_and_roles_in_any_case():
    policy = parse_policy('[postmortems]\nrequired_categories = ["Security", "data-pipeline-integrity"]\n'
                          'owner_role = "Scribe"\nmeeting_minutes = 480\nreminder_days_before_due = 0\n')
    assert policy.postmortems.required_categories == ["security", "data-pipeline-integrity"]
    assert policy.postmortems.owner_role == "scribe"
    assert policy.postmortems.meeting_minutes == 480  # the whole business day


def test_permissions_accept_ids_in_any_case():
    policy = parse_policy('[permissions]\nrestricted_actions = ["Resolve"]\nprivileged_users = ["u012abc", "W0XYZ"]\n'
                          'privileged_usergroup = "s0123"\n[nudges]\nenabled = false\n')
    assert policy.permissions.restricted_actions == ["resolve"]
    assert policy.permissions.privileged_users == ["U012ABC", "W0XYZ"]
    assert policy.permissions.privileged_usergroup == "S0123"
    assert policy.nudges.enabled is False and policy.nudges.idle_hours == 4


# --- lookups -------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["SEV1", "sev1", "Sev1", "1", 1, "sev 1", " SEV1 "])
def test_severity_lookup_forms(policy, key):
    assert policy.severity(key).id == "SEV1"


def test_severity_rank_orders_most_severe_first(policy):
    assert [policy.severity_rank(i) for i in ("sev1", "2", "SEV3", 4)] == [0, 1, 2, 3]


@pytest.mark.parametrize("lookup", ["severity", "status", "category", "service", "role"])
def test_unknown_ids_raise_key_error_listing_the_choices(policy, lookup):
    with pytest.raises(KeyError, match="expected one of"):
        getattr(policy, lookup)("nope")


def test_severity_number_lookup_works_for_other_id_schemes():
    policy = parse_policy('default_severity = "p2"\n[[severities]]\nid = "P1"\nname = "Urgent"\n'
                          '[[severities]]\nid = "p2"\nname = "High"\n')
    assert policy.severity("2").id == "P2"
    assert policy.default_severity == "P2"


def test_partial_sections_keep_the_other_defaults():
    policy = parse_policy('timezone = "Europe/Copenhagen"\n[digest]\nday = "Friday"\ntime = 16:30:00\n'
                          '[channels]\nannouncement = "#ops-incidents"\n'
                          '[timeline]\ncapture_emoji = ":round_pushpin:"\n'
                          '[business_hours]\nstart = "8:00"\nholidays = [2025-12-24, "2025-12-25"]\n')
    assert policy.tz == ZoneInfo("Europe/Copenhagen")
    assert (policy.digest.day, policy.digest.time, policy.digest.weekday) == ("fri", "16:30", 4)
    assert policy.digest.window_weeks == 12
    assert policy.channels.announcement == "ops-incidents"
    assert policy.timeline.capture_emoji == "round_pushpin"
    hours = policy.business_hours
    assert hours.start == "08:00" and hours.end == "17:00"
    assert not hours.is_working_day(dt.date(2025, 12, 25))  # holiday (a Thursday)
    assert not hours.is_working_day(dt.date(2025, 12, 27))  # Saturday
    assert hours.is_open(dt.datetime(2025, 12, 22, 8, 0)) and not hours.is_open(dt.datetime(2025, 12, 22, 17, 0))


def test_channel_id_is_accepted_for_announcement():
    assert parse_policy('[channels]\nannouncement = "C0123ABCD"').channels.announcement == "C0123ABCD"


def test_policy_is_immutable(policy):
    with pytest.raises(Exception):
        policy.timezone = "Europe/Paris"


# --- validation messages -------------------------------------------------------------------

SEV = '[[severities]]\nid = "{id}"\nname = "x"\n'
ROLE = '[[roles]]\nid = "{id}"\nname = "x"\nlead = {lead}\n'

BROKEN = {
    "duplicate severity id": (
        'default_severity = "SEV1"\n' + SEV.format(id="SEV1") + SEV.format(id="sev1"),
        "policy.toml: severities[1].id: duplicate id 'SEV1' (already used by severities[0])",
    ),
    "negative cadence": (
        SEV.format(id="SEV1") + "update_every_minutes = -5\n" + 'default_severity = "SEV1"',
        "policy.toml: severities[0].update_every_minutes: must be greater than 0 (got -5)",
    ),
    "no severities": ("severities = []", "policy.toml: severities: must have at least 1 item"),
    "two leads": (
        ROLE.format(id="a", lead="true") + ROLE.format(id="b", lead="true"),
        "policy.toml: roles[1].lead: only one role can have lead = true (roles[0] already has)",
    ),
    "no lead": (
        ROLE.format(id="a", lead="false"),
        "policy.toml: roles: exactly one role must have lead = true (none has)",
    ),
    "bad timezone": (
        'timezone = "Europe/Atlantis"',
        "policy.toml: timezone: must be an IANA timezone name such as 'UTC' or 'Europe/Copenhagen' "
        "(got 'Europe/Atlantis')",
    ),
    "bad digest time": (
        '[digest]\ntime = "25:00"',
        "policy.toml: digest.time: must be a 24-hour time as HH:MM, like '09:30' (got '25:00')",
    ),
    "unknown top-level key": ("severitys = []", "policy.toml: severitys: unknown key (did you mean 'severities'?)"),
    "unknown nested key": (
        SEV.format(id="SEV3") + "postmortem_requred = true\n",
        "policy.toml: severities[0].postmortem_requred: unknown key (did you mean 'postmortem_required'?)",
    ),
    "unknown placeholder": (
        '[channels]\nname_pattern = "inc-{title}"',
        "policy.toml: channels.name_pattern: unknown placeholder {title}; allowed: {date}, {number}, {slug}, "
        "{severity} (got 'inc-{title}')",
    ),
    "unbalanced braces": ('[channels]\nname_pattern = "inc-{slug"', "channels.name_pattern: has unbalanced braces"),
    "pattern without slug or number": (
        '[channels]\nprivate_name_pattern = "inc-{date}"',
        "channels.private_name_pattern: must contain {slug} or {number}",
    ),
    "pattern giving an invalid channel name": (
        '[channels]\nname_pattern = "INC {slug}"',
        "channels.name_pattern: gives 'INC checkout-errors', which is not a Slack channel name",
    ),
    "slo above 1": (
        '[[services]]\nname = "api"\nteam = "platform"\nslo = 1.5',
        "policy.toml: services[0].slo: must be less than 1 (got 1.5)",
    ),
    "missing slo": ('[[services]]\nname = "api"\nteam = "platform"', "services[0].slo: required key is missing"),
    "unknown default severity": (
        'default_severity = "SEV9"',
        "policy.toml: default_severity: must be one of SEV1, SEV2, SEV3, SEV4 (got 'SEV9')",
    ),
    "unknown default category": (
        '[taxonomy]\ndefault_category = "gremlins"',
        "taxonomy.default_category: must be one of code-deploy",
    ),
    "toml syntax error": ('timezone = "UTC"\nlimits = = 3\n', "policy.toml: line 2, column 10: invalid TOML:"),
    "two initial statuses": (
        '[[statuses]]\nid = "a"\nname = "A"\ninitial = true\n[[statuses]]\nid = "b"\nname = "B"\n'
        "initial = true\nfinal = true\n",
        "statuses[1].initial: only one status can have initial = true (statuses[0] already has)",
    ),
    "no final status": (
        '[[statuses]]\nid = "a"\nname = "A"\ninitial = true\n',
        "statuses: at least one status must have final = true",
    ),
    "business hours end before start": (
        '[business_hours]\nstart = "18:00"',
        "business_hours.end: must be later than start (18:00) (got '17:00')",
    ),
    "bad weekday": ('[digest]\nday = "someday"', "digest.day: must be a day of the week: mon, tue"),
    "bad holiday": ('[business_hours]\nholidays = ["2025-02-30"]', "business_hours.holidays[0]: "),
    "bad emoji": ('[timeline]\ncapture_emoji = "two words"', "timeline.capture_emoji: must be an emoji name"),
    "title over the Slack header limit": (
        "[limits]\ntitle_max_chars = 500", "limits.title_max_chars: must be less than or equal to 150 (got 500)",
    ),
    "wrong type": ('[limits]\ntitle_max_chars = "long"', "limits.title_max_chars: must be an integer (got 'long')"),
    "section not a table": ('digest = "monday"', "policy.toml: digest: must be a table (got 'monday')"),
    "unknown restricted action": (
        '[permissions]\nrestricted_actions = ["resolve", "delete"]',
        "policy.toml: permissions.restricted_actions[1]: must be one of downgrade, resolve, close (got 'delete')",
    ),
    "restricted action twice": (
        '[permissions]\nrestricted_actions = ["close", "close"]',
        "policy.toml: permissions.restricted_actions[1]: lists 'close' more than once",
    ),
    "privileged user not a user id": (
        '[permissions]\nprivileged_users = ["@alice"]',
        "policy.toml: permissions.privileged_users[0]: must be a Slack user id like 'U012ABC'",
    ),
    "privileged user twice": (
        '[permissions]\nprivileged_users = ["U012ABC", "u012abc"]',
        "policy.toml: permissions.privileged_users[1]: lists 'U012ABC' more than once",
    ),
    "usergroup not a group id": (
        '[permissions]\nprivileged_usergroup = "incident-managers"',
        "policy.toml: permissions.privileged_usergroup: must be a Slack user group id like 'S012ABC'",
    ),
    "zero idle hours": ("[nudges]\nidle_hours = 0", "policy.toml: nudges.idle_hours: must be greater than 0 (got 0)"),
    "negative no-lead minutes": (
        "[nudges]\nno_lead_minutes = -1", "policy.toml: nudges.no_lead_minutes: must be greater than 0 (got -1)",
    ),
    "snooze typo": (
        "[nudges]\nsnoze_minutes = 5", "nudges.snoze_minutes: unknown key (did you mean 'snooze_minutes'?)",
    ),
    "postmortem category unknown": (
        '[postmortems]\nrequired_categories = ["secruity"]',
        "policy.toml: postmortems.required_categories[0]: must be one of code-deploy, config-change",
    ),
    "postmortem category twice": (
        '[postmortems]\nrequired_categories = ["security", "security"]',
        "policy.toml: postmortems.required_categories[1]: lists 'security' more than once",
    ),
    "postmortem owner role unknown": (
        '[postmortems]\nowner_role = "captain"',
        "policy.toml: postmortems.owner_role: must be one of lead, comms, scribe (got 'captain')",
    ),
    "postmortem meeting longer than the business day": (
        '[business_hours]\nstart = "09:00"\nend = "12:00"\n[postmortems]\nmeeting_minutes = 240',
        "policy.toml: postmortems.meeting_minutes: must fit within business hours (09:00-12:00 is 180 minutes) "
        "(got 240)",
    ),
    "postmortem meeting of no minutes": (
        "[postmortems]\nmeeting_minutes = 0",
        "policy.toml: postmortems.meeting_minutes: must be greater than 0 (got 0)",
    ),
    "postmortem reminder days negative": (
        "[postmortems]\nreminder_days_before_due = -1",
        "policy.toml: postmortems.reminder_days_before_due: must be greater than or equal to 0 (got -1)",
    ),
    "postmortem key typo": (
        "[postmortems]\nmeeting_minuts = 30",
        "postmortems.meeting_minuts: unknown key (did you mean 'meeting_minutes'?)",
    ),
    "private flag not a boolean": (
        '[taxonomy]\n[[taxonomy.categories]]\nid = "unknown"\nname = "Unknown"\nprivate_by_default = "perhaps"',
        "taxonomy.categories[0].private_by_default: must be true or false (got 'perhaps')",
    ),
}


@pytest.mark.parametrize("snippet, expected", list(BROKEN.values()), ids=list(BROKEN))
def test_broken_policies_name_the_key_and_the_problem(snippet, expected):
    with pytest.raises(PolicyError) as caught:
        parse_policy(snippet, "policy.toml")
    assert expected in str(caught.value)
    for line in str(caught.value).splitlines():
        assert line.startswith("policy.toml: ")


def test_bad_category_id_is_named():
    with pytest.raises(PolicyError, match=r"taxonomy\.categories\[0\]\.id: must be lowercase letters"):
        parse_policy('[taxonomy]\n[[taxonomy.categories]]\nid = "Code Deploy"\nname = "x"\n'
                     '[[taxonomy.categories]]\nid = "unknown"\nname = "Unknown"\n')


def test_every_problem_is_reported_on_its_own_line():
    with pytest.raises(PolicyError) as caught:
        parse_policy('timezone = "Nowhere"\n[digest]\ntime = "7pm"\nmin_sample = 0\n', "p.toml")
    error = caught.value
    assert [path for path, _ in error.problems] == ["timezone", "digest.time", "digest.min_sample"]
    assert len(str(error).splitlines()) == 3
    assert error.source == "p.toml"
    assert isinstance(error, ConfigError)


def test_load_policy_reports_missing_and_unreadable_files(tmp_path):
    with pytest.raises(PolicyError, match="nope.toml: file not found"):
        load_policy(tmp_path / "nope.toml")
    with pytest.raises(PolicyError, match="cannot read the file"):
        load_policy(tmp_path)


def test_load_policy_reads_a_file_and_names_it_in_errors(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('timezone = "Europe/Copenhagen"\n', encoding="utf-8")
    assert load_policy(str(path)).timezone == "Europe/Copenhagen"
    path.write_text("[limits]\ntitle_max_chars = 0\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=rf"^{path}: limits\.title_max_chars: must be greater than 0"):
        load_policy(path)


def test_policy_built_in_python_is_checked_too():
    with pytest.raises(PolicyError, match="default_severity: must be one of"):
        Policy(default_severity="SEV7")


def test_drafting_rules_reach_the_drafter():
    from incidentbot.drafting.draft import policy_options

    policy = parse_policy('[drafting]\nmodel_timeout_seconds = 5\ntoken_budget = 4000\n'
                          '[drafting.redact_patterns]\nEMPLOYEE_ID = "EMP-\\\\d{6}"\n')
    options = policy_options(policy)
    assert (options["model_options"].timeout, options["model_options"].token_budget) == (5, 4000)
    assert options["extra_patterns"] == {"EMPLOYEE_ID": r"EMP-\d{6}"}


@pytest.mark.parametrize("patterns, says", [
    ('employee = "EMP"', "must be capitals"),
    ('EMPLOYEE = "EMP-("', "not a valid regular expression"),
    ('EMPLOYEE = "x*"', "matches empty text"),
])
def test_bad_redaction_patterns_name_the_key(patterns, says):
    with pytest.raises(PolicyError) as error:
        parse_policy(f"[drafting.redact_patterns]\n{patterns}\n")
    assert "drafting.redact_patterns" in str(error.value) and says in str(error.value)


@pytest.mark.parametrize("typed", ["²", "١", "sev²"])
def test_unusual_digits_are_an_unknown_severity_or_their_number(typed):
    # "²" passes str.isdigit() but is not a number int() reads; "١" (Arabic-Indic one) is.
    policy = load_policy()
    if typed == "١":
        assert policy.severity(typed).id == "SEV1"
    else:
        with pytest.raises(KeyError):
            policy.severity(typed)
