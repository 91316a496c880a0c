"""Pure unit tests for models/unit_resolver.py: no Telegram, no database.

The resolver is built from the real default units file, so these tests also pin the contract in
PRODUCT.md "Units": name, alias, unambiguous part, pinyin, small typos, and "never guesses silently".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from models.unit_resolver import Resolution, UnitRef, UnitResolver, normalize
from models.units import read_units_file

UNITS_FILE = Path(__file__).resolve().parent.parent / "bot" / "data" / "pingli-units.yaml"


@pytest.fixture(scope="module")
def units() -> list[UnitRef]:
    specs = read_units_file(UNITS_FILE)
    return [UnitRef(i, spec.name, spec.kind.value, tuple(spec.aliases)) for i, spec in enumerate(specs, start=1)]


@pytest.fixture(scope="module")
def resolver(units) -> UnitResolver:
    return UnitResolver(units)


def names(resolution: Resolution) -> list[str]:
    return [unit.name for unit in resolution.matches]


def labels_of(unit: UnitRef) -> list[str]:
    return [normalize(label) for label in (unit.name, *unit.aliases)]


def assert_unique(resolution: Resolution, expected: str) -> None:
    assert names(resolution) == [expected], names(resolution)
    assert resolution.unit is not None
    assert resolution.unit.name == expected
    assert resolution.ambiguous is False


def assert_nothing(resolution: Resolution) -> None:
    assert resolution.matches == ()
    assert resolution.unit is None
    assert resolution.ambiguous is False


# --- the data itself ---------------------------------------------------------------------------


def test_default_file_has_the_units_the_tests_rely_on(units):
    by_name = {u.name: u for u in units}
    assert sum(u.kind == "town" for u in units) == 11
    assert by_name["八仙镇"].kind == "town"
    assert by_name["县住建局"].kind == "department"
    assert "住建局" in by_name["县住建局"].aliases
    assert "县住房和城乡建设局" in by_name["县住建局"].aliases
    # "住建" is deliberately not an alias in the file: it must resolve as an unambiguous part.
    assert "住建" not in by_name["县住建局"].aliases


# --- tier 1: exact name or alias ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("县住建局", "县住建局"),
        ("住建局", "县住建局"),
        ("县住房和城乡建设局", "县住建局"),
        ("八仙镇", "八仙镇"),
        ("八仙", "八仙镇"),
        ("教育局", "县教科局"),
        ("县乡村振兴局", "县扶贫局"),
        ("老县", "老县镇"),  # exact alias wins although "县" is part of 25 department names
    ],
)
def test_exact_name_or_alias(resolver, text, expected):
    assert_unique(resolver.resolve(text), expected)


def test_resolution_keeps_the_original_query(resolver):
    resolution = resolver.resolve("  住建局。")
    assert resolution.query == "  住建局。"
    assert_unique(resolution, "县住建局")


def test_resolved_unit_is_the_same_ref_that_was_given(resolver, units):
    resolution = resolver.resolve("住建局")
    expected = next(u for u in units if u.name == "县住建局")
    assert resolution.unit == expected
    assert resolution.unit.id == expected.id
    assert resolution.unit.kind == "department"


# --- tier 2: containment ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("住建", "县住建局"),
        ("县住建", "县住建局"),
        ("林业", "县林业局"),
        ("教科", "县教科局"),
        ("八", "八仙镇"),
    ],
)
def test_unambiguous_part_of_a_name(resolver, text, expected):
    assert_unique(resolver.resolve(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("平利县八仙镇", "八仙镇"),
        ("平利县住建局", "县住建局"),
        ("八仙镇镇", "八仙镇"),
    ],
)
def test_longer_text_containing_a_name(resolver, text, expected):
    assert_unique(resolver.resolve(text), expected)


def test_text_naming_two_units_is_ambiguous(resolver):
    resolution = resolver.resolve("八仙镇住建局")
    assert names(resolution) == ["八仙镇", "县住建局"]
    assert resolution.unit is None
    assert resolution.ambiguous is True


# --- tier 3: same pinyin or initials -------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["baxian", "BaXian", "ba xian", "BAXIANZHEN", "baxianzhen", "BA_XIAN", "ba仙"],
)
def test_pinyin(resolver, text):
    assert_unique(resolver.resolve(text), "八仙镇")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bxz", "八仙镇"),
        ("BXZ", "八仙镇"),
        ("cgz", "城关镇"),
        ("xzjj", "县住建局"),
        ("zjj", "县住建局"),  # initials of the alias 住建局
    ],
)
def test_initials(resolver, text, expected):
    assert_unique(resolver.resolve(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("八先镇", "八仙镇"),
        ("大桂镇", "大贵镇"),
        ("洛何镇", "洛河镇"),
        ("正扬镇", "正阳镇"),
        ("县住键局", "县住建局"),
    ],
)
def test_homophone_typo(resolver, text, expected):
    assert_unique(resolver.resolve(text), expected)


# --- tier 4: pinyin prefix ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("bax", "八仙镇"), ("baxianz", "八仙镇"), ("zhujian", "县住建局"), ("xingzheng", "县行政审批服务局")],
)
def test_pinyin_prefix(resolver, text, expected):
    assert_unique(resolver.resolve(text), expected)


@pytest.mark.parametrize("text", ["baxi", "zhen", "guan", "chen"])
def test_prefix_ending_on_another_whole_syllable_is_no_match(resolver, text):
    # "baxi" may be 八西 as well as the start of 八仙: the bot says it found nothing, never guesses.
    assert resolver.resolve(text).unit is None


def test_pinyin_prefix_needs_three_letters(resolver):
    # "ba" is a prefix of "baxianzhen" but too short to count; it matches no initials either.
    assert_nothing(resolver.resolve("ba"))


def test_pinyin_prefix_shared_by_several_units_is_ambiguous(resolver):
    resolution = resolver.resolve("xing")  # 兴隆镇 (xinglong) and 县行政审批服务局's alias 行政审批服务局
    assert names(resolution) == ["兴隆镇", "县行政审批服务局"]
    assert resolution.unit is None
    assert resolution.ambiguous is True


def test_pinyin_of_zhen_does_not_silently_pick_one_town(resolver):
    assert resolver.resolve("镇").ambiguous  # the Chinese form asks which town
    assert resolver.resolve("zhen").unit is None


# --- tier 5: small typos ----------------------------------------------------------------------------


def test_character_typo(resolver):
    assert_unique(resolver.resolve("八仙正"), "八仙镇")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("八山镇", "八仙镇"),  # 山 shan ≠ 仙 xian: neither same sound nor a part
        ("县往建局", "县住建局"),
        ("县行政审比服物局", "县行政审批服务局"),  # two edits allowed on a long name
    ],
)
def test_character_typo_that_only_the_typo_tier_can_catch(resolver, units, text, expected):
    query = normalize(text)
    # Guard: no name or alias is part of the query or contains it, so tiers 1-2 cannot answer.
    for unit in units:
        for label in labels_of(unit):
            assert label not in query and query not in label
    assert_unique(resolver.resolve(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("baxain", "八仙镇"),  # transposition
        ("laoxain", "老县镇"),
        ("baxianzhenn", "八仙镇"),  # one letter too many
        ("wenluju", "县文旅局"),  # lü typed as u instead of v
    ],
)
def test_pinyin_typo(resolver, text, expected):
    assert_unique(resolver.resolve(text), expected)


# --- ambiguity ----------------------------------------------------------------------------------


def test_county_alone_is_ambiguous(resolver, units):
    resolution = resolver.resolve("县")
    assert resolution.unit is None
    assert resolution.ambiguous is True
    got = names(resolution)
    assert "县住建局" in got
    assert "老县镇" in got
    assert "八仙镇" not in got
    # Exactly the units with 县 in a name or alias, in the order of the file.
    assert got == [u.name for u in units if any("县" in label for label in labels_of(u))]
    assert len(got) == 26


def test_town_alone_is_ambiguous_over_all_towns_in_file_order(resolver, units):
    resolution = resolver.resolve("镇")
    assert resolution.ambiguous is True
    assert names(resolution) == [u.name for u in units if u.kind == "town"]


def test_order_of_matches_follows_the_file_order(resolver, units):
    position = {u.name: i for i, u in enumerate(units)}
    for text in ("县", "局", "镇", "xing", "xian"):
        got = names(resolver.resolve(text))
        assert len(got) > 1, text
        assert got == sorted(got, key=position.__getitem__), text


def test_order_follows_given_order_not_ids():
    units = [UnitRef(30, "甲镇", "town", ("中心",)), UnitRef(7, "乙局", "department", ("中心",))]
    assert [u.id for u in UnitResolver(units).resolve("中心").matches] == [30, 7]
    assert [u.id for u in UnitResolver(reversed(units)).resolve("中心").matches] == [7, 30]


# --- nothing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["火星局", "", "   ", "\t\n", "，。、", "·-_()（）", "hello", "12345", "zzz",
                                  # Units the county does not list, whose pinyin is two letters from one it does.
                                  "县供电局", "县档案局", "县税务局"])
def test_nothing_matches(resolver, text):
    resolution = resolver.resolve(text)
    assert resolution.query == text
    assert_nothing(resolution)


# --- normalisation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ＢＡＸＩＡＮ", "八仙镇"),  # full-width Latin letters
        ("Ｂａ Ｘｉａｎ", "八仙镇"),
        ("八　仙　镇", "八仙镇"),  # ideographic spaces
        ("八-仙-镇", "八仙镇"),
        ("「住建局」", "县住建局"),
        ("县住建局。", "县住建局"),
        ("（县住建局）", "县住建局"),
    ],
)
def test_full_width_spaces_and_punctuation(resolver, text, expected):
    assert_unique(resolver.resolve(text), expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ＢａＸｉａｎ", "baxian"),
        ("Ba·Xian", "baxian"),
        (" 八 仙 镇 ", "八仙镇"),
        ("八仙镇（平利）", "八仙镇平利"),
        ("“县住建局”，", "县住建局"),
        ("Ａ－Ｂ＿Ｃ", "abc"),
        ("", ""),
        ("，。、 ", ""),
    ],
)
def test_normalize(text, expected):
    assert normalize(text) == expected


# --- by_id -----------------------------------------------------------------------------------------


def test_by_id(resolver, units):
    for unit in units:
        assert resolver.by_id(unit.id) is unit
    assert resolver.by_id(0) is None
    assert resolver.by_id(len(units) + 1) is None


# --- hand-made resolvers: never a silent pick -----------------------------------------------------


def test_shared_alias_is_ambiguous_never_a_silent_pick():
    a = UnitRef(1, "甲镇", "town", ("中心",))
    b = UnitRef(2, "乙局", "department", ("中心",))
    resolver = UnitResolver([a, b])
    resolution = resolver.resolve("中心")
    assert resolution.matches == (a, b)
    assert resolution.unit is None
    assert resolution.ambiguous is True
    # Each unit is still reachable by its own name.
    assert resolver.resolve("甲镇").unit == a
    assert resolver.resolve("乙局").unit == b


def test_shared_alias_by_pinyin_is_ambiguous():
    a = UnitRef(1, "甲镇", "town", ("中心",))
    b = UnitRef(2, "乙局", "department", ("中心",))
    resolution = UnitResolver([a, b]).resolve("zhongxin")
    assert resolution.matches == (a, b)
    assert resolution.unit is None


def test_homophone_names_are_ambiguous_by_pinyin():
    a = UnitRef(1, "公安局", "department")
    b = UnitRef(2, "攻安局", "department")
    resolver = UnitResolver([a, b])
    assert resolver.resolve("gonganju").matches == (a, b)
    # The characters still tell them apart.
    assert resolver.resolve("公安局").unit == a
    assert resolver.resolve("攻安局").unit == b


def test_equal_typos_are_ambiguous():
    a = UnitRef(1, "东河镇", "town")
    b = UnitRef(2, "南河镇", "town")
    resolution = UnitResolver([a, b]).resolve("北河镇")  # one character off from both
    assert resolution.matches == (a, b)
    assert resolution.ambiguous is True


def test_name_repeated_as_alias_is_one_match():
    a = UnitRef(1, "甲镇", "town", ("甲镇", "甲"))
    resolution = UnitResolver([a]).resolve("甲镇")
    assert resolution.matches == (a,)
    assert resolution.unit == a


def test_alias_that_normalizes_to_nothing_is_ignored():
    a = UnitRef(1, "甲镇", "town", ("·", " "))
    resolver = UnitResolver([a])
    assert resolver.resolve("甲镇").unit == a
    assert_nothing(resolver.resolve("·"))


def test_empty_resolver():
    resolver = UnitResolver([])
    assert resolver.units == ()
    assert_nothing(resolver.resolve("八仙镇"))
    assert resolver.by_id(1) is None


def test_resolver_accepts_a_generator():
    resolver = UnitResolver(UnitRef(i, name, "town") for i, name in enumerate(["甲镇", "乙镇"], start=1))
    assert [u.name for u in resolver.units] == ["甲镇", "乙镇"]
    assert resolver.resolve("乙镇").unit.id == 2


def test_resolution_properties():
    a, b = UnitRef(1, "甲", "town"), UnitRef(2, "乙", "town")
    assert Resolution("x").unit is None and not Resolution("x").ambiguous
    assert Resolution("x", (a,)).unit == a and not Resolution("x", (a,)).ambiguous
    assert Resolution("x", (a, b)).unit is None and Resolution("x", (a, b)).ambiguous
