"""The reasons step: chips produce the right codes; submit, skip and timeout."""

from kiosk.levels import Level


def open_reasons(k, position: int = 3):
    k.tap(k.button(position))
    assert k.screen == "reasons"
    return k.app.screens["reasons"]


def test_bad_rating_offers_the_national_reasons_for_its_level(make_kiosk):
    k = make_kiosk()
    screen = open_reasons(k, 3)
    assert [c.code for c in screen.chips] == [r.code for r in Level.DISSATISFIED.reasons]
    assert [c.text.text for c in screen.chips] == [r.zh for r in Level.DISSATISFIED.reasons]
    assert screen.title.text == "请选择不满意的原因（可多选）"
    assert screen.countdown.text == "剩余 20 秒"


def test_chips_submit_the_right_codes(make_kiosk):
    k = make_kiosk()
    screen = open_reasons(k, 4)
    chips = {c.code: c for c in screen.chips}
    k.tap(chips["109"])
    k.tap(chips["115"])
    k.tap(chips["113"])
    k.tap(chips["113"])  # toggled off again
    assert k.device.session.view().reasons_draft == ("109", "115")
    assert [c.code for c in screen.chips if c.state == "down"] == ["109", "115"]
    k.tap(screen.submit)
    assert k.screen == "thanks"
    (rating,) = k.events("rating")
    (detail,) = k.events("rating_detail")
    assert rating["satisfaction"] == 1
    assert detail["rating_id"] == rating["id"] and detail["reasons"] == ["109", "115"]
    assert detail["phone"] is None


def test_skip_stores_no_detail(make_kiosk):
    k = make_kiosk()
    screen = open_reasons(k, 3)
    k.tap(screen.chips[0])
    k.tap(screen.skip)
    assert k.screen == "thanks"
    assert k.events("rating_detail") == []
    assert k.levels()["2"] == 1


def test_timeout_keeps_selected_chips(make_kiosk):
    k = make_kiosk(ui={"reasons_timeout_seconds": 15})
    screen = open_reasons(k, 3)
    k.tap(screen.chips[6])
    k.advance(10)
    assert screen.countdown.text == "剩余 5 秒"
    k.advance(5.1)
    assert k.screen == "thanks"
    (detail,) = k.events("rating_detail")
    assert detail["reasons"] == ["213"]


def test_good_levels_skip_reasons_by_default_and_offer_them_with_reasons_for_all(make_kiosk):
    k = make_kiosk()
    k.tap(k.button(0))
    assert k.screen == "thanks"
    k2 = make_kiosk(ui={"reasons_for": "all"})
    screen = open_reasons(k2, 1)
    assert [c.code for c in screen.chips] == [r.code for r in Level.SATISFIED.reasons]
    assert screen.title.text == "请选择满意的方面（可多选）"
    k2.tap(screen.chips[7])
    k2.tap(screen.submit)
    (detail,) = k2.events("rating_detail")
    assert detail["reasons"] == ["413"]


def test_submit_without_chips_is_a_skip(make_kiosk):
    k = make_kiosk()
    screen = open_reasons(k, 4)
    k.tap(screen.submit)
    assert k.screen == "thanks"
    assert k.events("rating_detail") == []


def test_a_tap_on_a_chip_gives_the_full_time_again(make_kiosk):
    k = make_kiosk(ui={"reasons_timeout_seconds": 20})
    screen = open_reasons(k, 4)
    k.advance(15)
    assert screen.countdown.text == "剩余 5 秒"
    k.tap(screen.chips[0])
    k.advance(0)
    assert screen.countdown.text == "剩余 20 秒"
    k.advance(19)
    assert k.screen == "reasons", "still choosing"
    k.advance(1.1)
    assert k.screen == "thanks"
    assert k.events("rating_detail")[0]["reasons"] == [screen.chips[0].code]


def test_selected_chips_show_a_check_mark_as_well_as_the_fill(make_kiosk):
    k = make_kiosk()
    screen = open_reasons(k, 3)
    chip, other = screen.chips[0], screen.chips[1]
    assert chip.mark.opacity == 0 and chip.mark.width == 0
    k.tap(chip)
    assert chip.selected and chip.mark.opacity == 1 and chip.mark.width > 0.3 * chip.height
    assert chip.bg == screen.submit.colour and other.mark.opacity == 0
    assert chip.mark.canvas.children, "the ✓ is drawn, not a font glyph"
    k.tap(chip)
    assert chip.mark.opacity == 0


def shown(widget) -> bool:
    return widget.opacity == 1 and widget.pos_hint.get("x") != 1.5


def test_thanks_after_a_bad_rating_says_what_happens_next(make_kiosk):
    k = make_kiosk(ui={"cooldown_seconds": 0})
    thanks = k.app.screens["thanks"]
    open_reasons(k, 4)
    k.tap(k.app.screens["reasons"].skip)
    assert shown(thanks.followup) and thanks.followup.text == "我们将在 5 日内核实处理", "the default: 5 natural days"
    k.advance(k.cfg.ui.thanks_seconds)
    k.buffer.set_meta("settings.remote", {"version": 3, "values": {
        "rectify_days": 3, "rectify_day_kind": "working", "supervision_phone": "0531-12345"}})
    k.advance(2.1)  # the device reads new server settings every 2 s
    open_reasons(k, 3)
    k.tap(k.app.screens["reasons"].skip)
    assert thanks.followup.text == "我们将在 3 个工作日内核实处理\n监督电话：0531-12345"
    assert shown(thanks.followup) and not thanks.followup.overflows()
    k.advance(k.cfg.ui.thanks_seconds)
    k.tap(k.button(0))
    assert k.screen == "thanks" and not shown(thanks.followup), "only after a 差评"


def test_supervision_phone_from_the_config(make_kiosk):
    k = make_kiosk(ui={"supervision_phone": "12345"})
    open_reasons(k, 4)
    k.tap(k.app.screens["reasons"].skip)
    assert k.app.screens["thanks"].followup.text.endswith("监督电话：12345")


def test_the_follow_up_settings_are_checked():
    import pytest

    from kiosk import remote

    assert remote.validate({"rectify_days": 5, "rectify_day_kind": "natural", "supervision_phone": "12345"})
    for bad, message in (({"rectify_days": 0}, "1..60"), ({"rectify_days": True}, "1..60"),
                         ({"rectify_day_kind": "lunar"}, "natural, working"),
                         ({"supervision_phone": 12345}, "at most 32")):
        with pytest.raises(ValueError, match=message):
            remote.validate(bad)
