"""Circle-of-fifths positions and key colours: relatives share a hue, neighbours on the circle get
neighbouring hues, majors and minors differ in lightness, and the 24 keys get 24 distinct colours."""

from __future__ import annotations

import pytest

from loev_core.keys import (
    KEY_NAMES,
    KEYS_BY_FIFTHS,
    fifths_distance,
    fifths_position,
    key_colour,
    key_hue,
    normalize_key,
    oklch_hex,
    transpose_key,
)

CIRCLE = ("C", "G", "D", "A", "E", "B", "F#", "Db", "Ab", "Eb", "Bb", "F")
RELATIVES = ("A", "E", "B", "F#", "C#", "G#", "D#", "Bb", "F", "C", "G", "D")


def lightness(hex_colour: str) -> float:
    """Relative luminance (WCAG): how bright a colour looks, unlike HLS lightness."""
    lin = [(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
           for c in (int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def hue_gap(a: float, b: float) -> float:
    d = abs(a - b) % 360
    return min(d, 360 - d)


def test_positions_follow_the_circle_of_fifths() -> None:
    assert [fifths_position(f"{t} major") for t in CIRCLE] == list(range(12))
    assert [fifths_position(f"{t} minor") for t in RELATIVES] == list(range(12))
    assert fifths_position("Gb major") == fifths_position("F# major") == 6  # spellings of one key agree


def test_relative_major_and_minor_share_a_hue() -> None:
    for major, minor in zip(CIRCLE, RELATIVES, strict=True):
        assert key_hue(f"{major} major") == key_hue(f"{minor} minor")
        assert fifths_distance(f"{major} major", f"{minor} minor") == 0
    assert key_colour("C major") != key_colour("A minor")  # same hue, told apart by lightness


def test_neighbours_on_the_circle_have_neighbouring_hues() -> None:
    hues = [key_hue(f"{t} major") for t in CIRCLE]
    steps = [hue_gap(hues[i], hues[(i + 1) % 12]) for i in range(12)]
    assert steps == pytest.approx([30.0] * 12)
    for i in range(12):  # the further apart on the circle, the further apart in hue
        gaps = [hue_gap(hues[i], hues[(i + d) % 12]) for d in range(7)]
        assert gaps == sorted(gaps)
    assert fifths_distance("C major", "G major") == 1 and fifths_distance("C major", "F# major") == 6
    assert fifths_distance("C major", "F major") == 1  # round the circle, not across it


def test_twenty_four_distinct_colours_and_modes_differ_in_lightness() -> None:
    colours = [key_colour(k) for k in KEY_NAMES]
    assert len(set(colours)) == 24
    assert all(c.startswith("#") and len(c) == 7 for c in colours)
    majors = [lightness(key_colour(f"{t} major")) for t in CIRCLE]
    minors = [lightness(key_colour(f"{t} minor")) for t in RELATIVES]
    assert min(majors) > 2 * max(minors)  # every major reads clearly lighter than every minor


def test_wheel_order_and_spellings() -> None:
    assert len(KEYS_BY_FIFTHS) == 24 and set(KEYS_BY_FIFTHS) == set(KEY_NAMES)
    assert KEYS_BY_FIFTHS[:3] == ("C major", "G major", "D major") and KEYS_BY_FIFTHS[12] == "A minor"
    assert key_colour("d# minor") == key_colour(normalize_key("Eb minor"))
    # transposing by a fifth moves one step round the circle: one colour step
    assert fifths_position(transpose_key("C major", 7)) == 1
    with pytest.raises(ValueError):
        key_colour("not a key")


def test_out_of_gamut_colours_are_pulled_in_not_clipped_to_another_hue() -> None:
    vivid = oklch_hex(0.8, 0.4, 265.0)  # far outside sRGB at this lightness
    assert vivid.startswith("#") and len(vivid) == 7
    r, g, b = (int(vivid[i:i + 2], 16) for i in (1, 3, 5))
    assert b >= r and b >= g  # still blue-violet
