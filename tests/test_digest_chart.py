"""The digest's chart: a real PNG, whatever the week looked like."""

from __future__ import annotations

import struct
import zlib
from dataclasses import replace

import pytest

import digest_samples as samples
from incidentbot.core.digest_report import WeekCount
from incidentbot.digest_chart import DPI, SIZE, chart_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk (the first one), checking its CRC."""
    assert data[:8] == PNG_MAGIC
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    body = data[16:16 + length]
    (crc,) = struct.unpack(">I", data[16 + length:20 + length])
    assert crc == zlib.crc32(kind + body)
    width, height, depth, _colour, _compression, _filter, _interlace = struct.unpack(">IIBBBBB", body)
    assert depth == 8
    assert data.endswith(b"IEND\xaeB`\x82")
    return width, height


@pytest.mark.parametrize("make", [samples.busy, samples.empty, samples.small, samples.private_only])
def test_a_valid_png_for_every_kind_of_week(make):
    width, height = png_size(chart_png(make()))
    assert (width, height) == (round(SIZE[0] * DPI), round(SIZE[1] * DPI))


def test_all_zero_window():
    digest = samples.empty()
    assert all(not any(w.by_severity.values()) for w in digest.weekly)
    digest = replace(digest, trends=[], weekly=[WeekCount(w.week, {"SEV1": 0, "SEV2": 0}) for w in digest.weekly])
    png_size(chart_png(digest))


def test_zero_durations_and_unknown_severities_are_drawn():
    digest = samples.busy()
    digest.trends = [replace(t, window=replace(t.window, minimum=0.0)) for t in digest.trends]
    digest.weekly = [*digest.weekly[:-1], WeekCount("2026-W47", {"SEV1": 1, "P0": 2, "SEV9": 1})]
    png_size(chart_png(digest))


def test_a_long_window_and_no_weeks():
    digest = samples.busy()
    long = replace(digest, window_weeks=52, weekly=[WeekCount(f"2026-W{i:02d}", {"SEV2": i % 3}) for i in range(1, 53)])
    png_size(chart_png(long))
    png_size(chart_png(replace(digest, weekly=[])))
