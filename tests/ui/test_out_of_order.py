"""When the buffer cannot store ratings the screen says so instead of pretending."""


def test_failing_buffer_shows_out_of_order_and_recovers(make_kiosk, failing_buffer):
    k = make_kiosk(buffer_cls=failing_buffer)
    k.buffer.broken = True
    k.tap(k.button(0))
    assert k.screen == "out_of_order"
    screen = k.app.screens["out_of_order"]
    assert screen.title.text == "设备暂停使用"
    assert screen.detail.text == "请到窗口评价，或联系工作人员"
    shown = [w.text for w in screen.walk() if hasattr(w, "text") and isinstance(w.text, str) and w.text]
    assert not [t for t in shown if "disk" in t or "buffer" in t or ".db" in t], \
        "no raw English exception for citizens"
    assert any("disk is full" in v for _, v in k.app.technician_info()), "the detail is on the technician screen"
    k.buffer.broken = False
    assert k.buffer.counts()["events_total"] == 0, "nothing was acknowledged"
    k.advance(2.1)  # the session probes the buffer again
    assert k.screen == "rating"
    k.tap(k.button(2))
    assert k.screen == "thanks"
    assert k.levels()["3"] == 1


def test_a_press_while_out_of_order_is_not_thanked(make_kiosk, failing_buffer):
    k = make_kiosk(buffer_cls=failing_buffer)
    k.buffer.broken = True
    k.tap(k.button(1))
    k.key(49, "1")
    assert k.screen == "out_of_order"
    assert k.buffer.counts()["events_total"] == 0


def test_full_sqlite_file_shows_out_of_order(make_kiosk):
    """A real SQLite limit: the database may not grow by a single page."""
    k = make_kiosk()
    conn = k.buffer.conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    thanked = 0
    for _ in range(400):
        k.tap(k.button(0))
        if k.screen == "out_of_order":
            break
        assert k.screen == "thanks"
        thanked += 1
        k.advance(k.cfg.ui.thanks_seconds)
    assert k.screen == "out_of_order"
    assert k.levels()["5"] == thanked, "every thanked press is durable, no other"
    conn.execute("PRAGMA max_page_count = 1073741823")
    k.advance(2.1)
    assert k.screen == "rating"


def test_out_of_order_in_english_is_plain_too(make_kiosk, failing_buffer, caplog):
    k = make_kiosk(buffer_cls=failing_buffer, ui={"language": "en"})
    k.buffer.broken = True
    k.tap(k.button(3))
    screen = k.app.screens["out_of_order"]
    assert (screen.title.text, screen.detail.text) == ("Out of service", "Please rate at the counter or ask the staff")
    assert "disk is full" in caplog.text, "the technician detail goes to the log"
