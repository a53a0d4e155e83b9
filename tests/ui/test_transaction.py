"""Transaction mode (一事一评): idle screen, prompt with a countdown, unrated on timeout."""


def test_idle_screen_welcomes_with_the_staff_card(make_kiosk):
    k = make_kiosk(mode="transaction")
    assert k.screen == "idle"
    idle = k.app.screens["idle"]
    assert idle.wait.text == "欢迎"
    assert idle.card.height >= 0.35 * k.root.height, "the staff card is the main content"
    assert idle.card.name_label.text == "张敏"
    assert idle.card.no_label.text == "工号 0231"
    assert idle.header.window_label.text == "7 号窗口"


def test_prompt_opens_rating_screen_with_countdown_and_touch_rates_it(make_kiosk):
    k = make_kiosk(mode="transaction", ui={"prompt_timeout_seconds": 60})
    prompt = k.device.trigger("P-2026-0001", "A012").result()
    k.advance(0)
    assert k.screen == "rating"
    footer = k.app.screens["rating"].footer
    assert footer.text == "剩余 60 秒"
    k.advance(20.5)
    assert footer.text == "剩余 40 秒"
    k.tap(k.button(1))
    assert k.screen == "thanks"
    (rating,) = k.events("rating")
    assert rating["satisfaction"] == 4 and rating["prompt_id"] == prompt.id
    assert rating["project_no"] == "P-2026-0001" and rating["ticket_no"] == "A012"
    k.advance(k.cfg.ui.thanks_seconds)
    assert k.screen == "idle"


def test_unanswered_prompt_becomes_unrated_and_returns_to_idle(make_kiosk):
    k = make_kiosk(mode="transaction", ui={"prompt_timeout_seconds": 30})
    prompt = k.device.trigger("P-9").result()
    k.advance(29)
    assert k.screen == "rating"
    assert k.app.screens["rating"].footer.text == "剩余 1 秒"
    k.advance(1.1)
    assert k.screen == "idle"
    (unrated,) = k.events("unrated")
    assert unrated["prompt_id"] == prompt.id and unrated["project_no"] == "P-9"
    assert k.events("rating") == []


def test_no_rating_without_a_prompt(make_kiosk):
    k = make_kiosk(mode="transaction")
    rating = k.app.screens["rating"]
    k.tap(rating.buttons[0])  # not on screen: the idle screen is shown, nothing under the finger
    k.key(49, "1")
    assert k.screen == "idle"
    assert k.buffer.counts()["events_total"] == 0


def test_prompt_for_another_staff_member_shows_their_number(make_kiosk):
    k = make_kiosk(mode="transaction")
    k.device.trigger("P-1", None, "0777").result()
    k.advance(0)
    card = k.app.screens["rating"].header.card
    assert card.no_label.text == "工号 0777"
    assert card.name_label.text == "窗口工作人员"
