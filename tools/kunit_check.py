#!/usr/bin/env python3
"""Parse an iommu-bringup console log with the Linux kernel's own KTAP parser.

docs/design.md §6 requires our KTAP to parse with the kernel's parser
(tools/testing/kunit/kunit_parser.py).  We do not vendor kernel code: the
runner extracts the parser from Debian's linux-source package at test time
(see tools/xtask) and points this script at it.

usage: kunit_check.py KUNIT_DIR LOG EXPECTED
  KUNIT_DIR  directory holding kunit_parser.py and kunit_printer.py
  LOG        console log (boot chatter before the KTAP header is fine)
  EXPECTED   SUCCESS or FAILURE: the overall status the parser must report

Exit 0 when the parser's verdict equals EXPECTED and it reported no parse
errors; 1 otherwise; 2 on bad usage.
"""
import sys


def main() -> int:
    if len(sys.argv) != 4 or sys.argv[3] not in ("SUCCESS", "FAILURE"):
        print(__doc__, file=sys.stderr)
        return 2
    kunit_dir, log, expected = sys.argv[1:]
    sys.path.insert(0, kunit_dir)
    import kunit_parser  # noqa: E402  (path set above)

    with open(log, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    test = kunit_parser.parse_run_tests(lines)
    status = test.status.name
    errors = test.counts.errors
    print(f"kernel KTAP parser: status {status}, {test.counts}, parse errors {errors}")
    if errors:
        return 1
    return 0 if status == expected else 1


if __name__ == "__main__":
    sys.exit(main())
