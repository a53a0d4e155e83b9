#!/usr/bin/env python3
"""An SMS gateway's side of the 短信评价 flow (docs/channels.md), runnable as is.

After a citizen's business is done the gateway sends

    【政务服务】请回复1-5评价本次服务：1非常满意 2满意 3基本满意 4不满意 5非常不满意

The hall's SMS digits count from the best (1 = 非常满意), the reverse of the wire
order of ``satisfaction`` (5 = 非常满意), so the reply ``d`` is sent as ``6 - d``.
Each reply is posted once with the SMS id as ``external_id``: a retry is answered
200 ``duplicate`` and counted once.

    python3 tools/sms_gateway_example.py --server http://127.0.0.1:8080 --key ki_… \\
        --window 3 --sms-id SMS-20261202-0001 --reply 1
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime

PROMPT = "【政务服务】请回复1-5评价本次服务：1非常满意 2满意 3基本满意 4不满意 5非常不满意"


def reply_to_satisfaction(reply: str) -> int:
    """The citizen's reply (``"1"`` = 非常满意 … ``"5"`` = 非常不满意) in wire order."""
    text = reply.strip().translate(str.maketrans("１２３４５", "12345"))
    if text not in ("1", "2", "3", "4", "5"):
        raise ValueError(f"the reply {reply!r} is not a digit 1-5")
    return 6 - int(text)


def post_rating(server: str, key: str, *, sms_id: str, window: str, reply: str, phone: str | None = None,
                staff_no: str | None = None) -> tuple[int, dict]:
    body = {"external_id": sms_id, "window_no": window, "satisfaction": reply_to_satisfaction(reply),
            "rated_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")}
    if phone:
        body["phone"] = phone
    if staff_no:
        body["staff_no"] = staff_no
    req = urllib.request.Request(server.rstrip("/") + "/api/v1/channel-ratings", method="POST",
                                 data=json.dumps(body).encode(), headers={
                                     "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", required=True)
    p.add_argument("--key", required=True, help="from `kiosk admin add-integration --name NAME --source sms`")
    p.add_argument("--window", required=True)
    p.add_argument("--sms-id", required=True)
    p.add_argument("--reply", required=True, help="the citizen's reply, 1 (非常满意) to 5 (非常不满意)")
    p.add_argument("--phone")
    p.add_argument("--staff-no")
    args = p.parse_args(argv)
    status, answer = post_rating(args.server, args.key, sms_id=args.sms_id, window=args.window, reply=args.reply,
                                 phone=args.phone, staff_no=args.staff_no)
    print(status, json.dumps(answer, ensure_ascii=False))
    return 0 if status in (200, 201) else 1


if __name__ == "__main__":
    sys.exit(main())
