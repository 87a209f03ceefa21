# -*- coding: utf-8 -*-
# Copyright: cinder.multiattach maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The parts of a node failure, from what molecule/resources/fault.yml keeps
(fault_record_dir): the fault's time, the survivor's first write after it, and
the survivor's journal (journalctl -o short-unix: kernel, corosync, dlm, o2cb).

  python3 hack/bench.d/fault_timeline.py RECORD.json

Prints one line of figures; exits 1 when the first write came after 60 s.
"""

from __future__ import annotations

import json
import re
import sys

# (part, pattern) in the order they happen; the first line after the fault
# that matches names the time.
EVENTS = [
    ("detected", r"processor failed|Token has not been received|Members left|"
                 r"No longer connected to node|o2hb: .*(dead|Node .* has been)|Removing node"),
    ("fence requested", r"fence request \d+ pid"),
    ("fenced", r"fence result \d+ pid \d+ result 0"),
    ("replay started", r"jid=\d+: Trying to acquire journal|Begin replay journal"),
    ("replay done", r"jid=\d+: Done|End replay journal"),
]
TARGET = 60.0


def timeline(record):
    # the journal is on the survivor's clock, the fault and the write on ours
    t0, t1 = record["guest_t0"], record["guest_t0"] + record["t1"] - record["t0"]
    seen = {}
    for line in record["journal"]:
        stamp, _sep, message = line.partition(" ")
        try:
            when = float(stamp)
        except ValueError:
            continue
        if when < t0:
            continue
        for part, pattern in EVENTS:
            if part not in seen and re.search(pattern, message):
                seen[part] = when
    return t0, t1, seen


def main(path):
    with open(path) as f:
        record = json.load(f)
    t0, t1, seen = timeline(record)
    parts = []

    def span(name, start, end):
        if start in seen and end in seen:
            parts.append("%s %.1f s" % (name, seen[end] - seen[start]))

    if "detected" in seen:
        parts.append("detection %.1f s" % (seen["detected"] - t0))
    span("fence (request until Nova confirms)", "fence requested", "fenced")
    span("journal replay", "replay started", "replay done")
    total = t1 - t0
    verdict = "ok" if total <= TARGET else "ABOVE TARGET %.0f s" % TARGET
    print("%s, %s of %s: first write on %s after %.1f s (%s); %s" % (
        record["fs"], record["kind"], record["victim"], record["writer"], total, verdict,
        "; ".join(parts) or "no events found in the journal"))
    return 0 if total <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
