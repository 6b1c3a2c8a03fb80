from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incidentbot.core import naming

WHEN = datetime(2026, 11, 21, 9, 30, tzinfo=timezone.utc)
ALLOWED = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


def name(title: str, pattern: str = "inc-{date}-{slug}", number: int = 7) -> str:
    return naming.channel_name(pattern, number=number, title=title, severity="SEV2", declared_at=WHEN)


def test_default_pattern_gives_date_and_slug():
    assert name("Checkout API returning 502s") == "inc-20261121-checkout-api-returning-502s"


def test_accents_fold_and_punctuation_becomes_dashes():
    assert name("Paiement échoué: «Visa» / Mastercard!!") == "inc-20261121-paiement-echoue-visa-mastercard"


def test_emoji_only_title_falls_back_to_the_number():
    assert name("🔥🔥🔥") == "inc-20261121-incident-7"


def test_other_placeholders():
    assert name("DB down", "{severity}-{number}-{slug}", number=42) == "sev2-42-db-down"


def test_long_titles_are_cut_at_a_word_and_leave_room_for_a_suffix():
    result = name("database " * 30)
    assert len(result) <= naming.MAX_CHANNEL_NAME - naming.SUFFIX_ROOM
    assert not result.endswith("-") and result.endswith("database")


@pytest.mark.parametrize("attempt, expected", [(2, "inc-x-2"), (13, "inc-x-13")])
def test_suffix(attempt, expected):
    assert naming.with_suffix("inc-x", attempt) == expected


def test_suffix_keeps_within_80_characters():
    assert len(naming.with_suffix("a" * 80, 19)) == 80


@settings(max_examples=500)
@given(st.text(max_size=300))
def test_any_title_gives_a_valid_slack_channel_name(title):
    result = name(title)
    assert 0 < len(naming.with_suffix(result, 20)) <= 80
    assert set(result) <= ALLOWED
