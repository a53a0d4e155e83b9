"""The two reversed code orders and the reason dictionary (docs/api.md, docs/hardware.md)."""

import pytest

from kiosk.levels import LEVELS, REASON_BY_CODE, REASONS, Channel, Level, check_reasons, good_rate


def test_orders_are_reversed_and_explicit():
    assert [lv.zh for lv in LEVELS] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    assert [lv.wire for lv in LEVELS] == [5, 4, 3, 2, 1]
    assert [lv.gbt for lv in LEVELS] == [1, 2, 3, 4, 5]
    assert [lv.position for lv in LEVELS] == [0, 1, 2, 3, 4]
    for lv in LEVELS:
        assert Level.from_wire(lv.wire) is lv
        assert Level.from_gbt(lv.gbt) is lv
        assert Level.from_position(lv.position) is lv
        assert lv.wire + lv.gbt == 6


@pytest.mark.parametrize("bad", [0, 6, -1, "x", None, 2.5])
def test_out_of_range_codes_are_refused(bad):
    with pytest.raises(ValueError):
        Level.from_wire(bad)
    with pytest.raises(ValueError):
        Level.from_gbt(bad)


def test_bad_levels_are_the_two_dissatisfied():
    assert [lv for lv in LEVELS if lv.is_bad] == [Level.DISSATISFIED, Level.VERY_DISSATISFIED]


def test_reason_dictionary_matches_the_national_codes():
    assert [r.code for r in REASONS[5]] == [str(c) for c in range(510, 518)]
    assert [r.code for r in REASONS[4]] == [str(c) for c in range(406, 414)]
    assert [r.code for r in REASONS[3]] == [str(c) for c in range(307, 315)]
    assert [r.code for r in REASONS[2]] == [str(c) for c in range(207, 215)]
    assert [r.code for r in REASONS[1]] == [str(c) for c in range(108, 116)]
    assert REASON_BY_CODE["115"].zh == "服务态度差效率低"
    assert REASON_BY_CODE["213"].level is Level.DISSATISFIED


def test_check_reasons_refuses_codes_of_another_level():
    assert check_reasons(1, ["115", 113, "115"]) == ["115", "113"]
    with pytest.raises(ValueError, match="belongs to level 2"):
        check_reasons(1, ["207"])
    with pytest.raises(ValueError, match="not in the national dictionary"):
        check_reasons(1, ["999"])


def test_good_rate_and_channels():
    assert good_rate({"5": 2, "4": 1, "3": 1, "2": 0, "1": 4}) == 0.5
    assert good_rate({}) is None
    assert Channel(4).zh == "政务大厅平板电脑"
    assert Channel.HALL_OTHER_TERMINAL == 5
