#!/usr/bin/python3
"""Split a lava-run log into the device's console and LAVA's result list.

lava-run (Debian's lava-dispatcher) prints one YAML mapping per line:
`{"dt": ..., "lvl": ..., "msg": ...}`.  Lines with `lvl: target` are what the
device printed; lines with `lvl: results` are LAVA's test results (the job's
own `lava` suite and each monitor's suite).

Usage: lava_results.py LOG CONSOLE_OUT RESULTS_OUT

CONSOLE_OUT gets the device's lines, one per line, as LAVA recorded them.
RESULTS_OUT gets one tab-separated line per result, in order:
    definition <TAB> case <TAB> test_case_id (or -) <TAB> result
Exit status 1 when a log line is not a mapping with `lvl` and `msg`.
"""

import sys

import yaml


def main(argv):
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    log, console_out, results_out = argv[1:]
    console, results = [], []
    with open(log, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entry = yaml.safe_load(line)
            except yaml.YAMLError as e:
                print("lava-results: %s:%d: not a LAVA log line: %s" % (log, n, e), file=sys.stderr)
                return 1
            if not isinstance(entry, dict) or "lvl" not in entry or "msg" not in entry:
                print("lava-results: %s:%d: not a LAVA log line: %r" % (log, n, line[:120]), file=sys.stderr)
                return 1
            if entry["lvl"] == "target":
                console.append(str(entry["msg"]))
            elif entry["lvl"] == "results" and isinstance(entry["msg"], dict):
                m = entry["msg"]
                extra = m.get("extra") if isinstance(m.get("extra"), dict) else {}
                results.append(
                    "\t".join(
                        [
                            str(m.get("definition", "")),
                            str(m.get("case", "")),
                            str(extra.get("test_case_id", "-")),
                            str(m.get("result", "")),
                        ]
                    )
                )
    with open(console_out, "w", encoding="utf-8") as f:
        f.write("".join(l + "\n" for l in console))
    with open(results_out, "w", encoding="utf-8") as f:
        f.write("".join(r + "\n" for r in results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
