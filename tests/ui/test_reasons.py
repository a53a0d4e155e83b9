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
