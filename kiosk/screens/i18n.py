"""Every text the screens show, in Chinese (first) and English.

Level and reason names come from the national dictionary in
:mod:`kiosk.levels` (which carries both languages); everything else is here.
"""

from __future__ import annotations

from ..levels import Level, Reason

LANGUAGES = ("zh_CN", "en")

CATALOGUE: dict[str, dict[str, str]] = {
    "zh_CN": {
        "app_title": "好差评",
        "prompt": "请您对本次服务进行评价",
        "window": "{window} 号窗口",
        "staff_no": "工号 {no}",
        "staff_unknown": "窗口工作人员",
        "please_wait": "请稍候",
        "idle_hint": "业务办理完毕后，请在此对本次服务进行评价",
        "countdown": "剩余 {n} 秒",
        "reasons_bad": "请选择不满意的原因（可多选）",
        "reasons_good": "请选择满意的方面（可多选）",
        "submit": "提交",
        "skip": "跳过",
        "thanks": "感谢您的评价",
        "your_rating": "您的评价：{level}",
        "out_of_order": "设备暂停使用，请联系工作人员",
        "out_of_order_sub": "评价暂时无法保存",
        "pin_title": "请输入维护密码",
        "pin_wrong": "密码错误",
        "pin_locked": "错误次数过多，请 {n} 秒后再试",
        "pin_not_set": "未设置维护密码",
        "ok": "确定",
        "cancel": "取消",
        "clear": "清除",
        "close": "关闭",
        "tech_title": "设备维护",
        "f_device_id": "设备编号",
        "f_window": "窗口 / 版块",
        "f_mode": "评价模式",
        "mode_free": "自由评价",
        "mode_transaction": "一事一评",
        "f_staff": "当前人员",
        "f_server": "服务器",
        "none": "（未设置）",
        "f_pending": "待上传 / 被拒绝",
        "f_ratings": "本机评价 (5→1)",
        "f_last_sync": "上次同步",
        "never": "从未",
        "f_clock": "时钟",
        "clock_synced": "已同步",
        "clock_unsynced": "未同步",
        "f_hardware": "硬件",
        "hw_none": "仅触摸屏",
        "hw_ok": "正常",
        "hw_fault": "故障",
        "f_state": "状态",
        "state_idle": "等待评价请求",
        "state_rating": "评价中",
        "state_reasons": "选择原因",
        "state_thanks": "致谢",
        "state_out_of_order": "暂停使用",
        "f_ip": "IP 地址",
        "f_version": "软件版本",
        "test_leds": "测试指示灯",
        "sync_now": "立即同步",
        "switch_staff": "切换人员",
        "language": "English",
        "leds_tested": "已向 {n} 个面板发送指示灯测试",
        "no_leds": "没有带指示灯的面板",
        "sync_requested": "已请求立即同步",
        "staff_no_input": "工号",
        "staff_name_input": "姓名",
        "staff_switched": "当前人员：{name}（{no}）",
        "staff_no_required": "请输入工号",
        "failed": "操作失败：{error}",
    },
    "en": {
        "app_title": "Service rating",
        "prompt": "Please rate the service you received",
        "window": "Window {window}",
        "staff_no": "Staff No. {no}",
        "staff_unknown": "Window staff",
        "please_wait": "Please wait",
        "idle_hint": "When your business is done, you can rate the service here",
        "countdown": "{n} s left",
        "reasons_bad": "What went wrong? (choose any)",
        "reasons_good": "What went well? (choose any)",
        "submit": "Submit",
        "skip": "Skip",
        "thanks": "Thank you for your feedback",
        "your_rating": "Your rating: {level}",
        "out_of_order": "Out of service, please contact the staff",
        "out_of_order_sub": "Ratings cannot be stored at the moment",
        "pin_title": "Enter the technician PIN",
        "pin_wrong": "Wrong PIN",
        "pin_locked": "Too many attempts, try again in {n} s",
        "pin_not_set": "No technician PIN is set",
        "ok": "OK",
        "cancel": "Cancel",
        "clear": "Clear",
        "close": "Close",
        "tech_title": "Device maintenance",
        "f_device_id": "Device id",
        "f_window": "Window / section",
        "f_mode": "Rating mode",
        "mode_free": "free",
        "mode_transaction": "one rating per case",
        "f_staff": "Staff on duty",
        "f_server": "Server",
        "none": "(not set)",
        "f_pending": "Pending / rejected",
        "f_ratings": "Ratings (5 → 1)",
        "f_last_sync": "Last sync",
        "never": "never",
        "f_clock": "Clock",
        "clock_synced": "synchronised",
        "clock_unsynced": "NOT synchronised",
        "f_hardware": "Hardware",
        "hw_none": "touch screen only",
        "hw_ok": "ok",
        "hw_fault": "FAULT",
        "f_state": "State",
        "state_idle": "waiting for a prompt",
        "state_rating": "rating",
        "state_reasons": "choosing reasons",
        "state_thanks": "thanks",
        "state_out_of_order": "OUT OF ORDER",
        "f_ip": "IP address",
        "f_version": "Software version",
        "test_leds": "Test LEDs",
        "sync_now": "Sync now",
        "switch_staff": "Switch staff",
        "language": "中文",
        "leds_tested": "LED test sent to {n} panel(s)",
        "no_leds": "No panel with LEDs",
        "sync_requested": "Sync requested",
        "staff_no_input": "Staff No.",
        "staff_name_input": "Name",
        "staff_switched": "Staff on duty: {name} ({no})",
        "staff_no_required": "Enter a staff number",
        "failed": "Failed: {error}",
    },
}


def check_language(lang: str) -> str:
    if lang not in CATALOGUE:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    return lang


def tr(lang: str, key: str, **values) -> str:
    """The text ``key`` in ``lang``, with ``{placeholders}`` filled in."""
    text = CATALOGUE[lang][key]
    return text.format(**values) if values else text


def level_label(level: Level, lang: str) -> str:
    return level.zh if lang == "zh_CN" else level.en


def reason_label(reason: Reason, lang: str) -> str:
    return reason.zh if lang == "zh_CN" else reason.en
