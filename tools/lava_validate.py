#!/usr/bin/python3
"""Validate LAVA job files with LAVA's own job schema (Debian's lava-common).

No hand-written rules: each file is loaded with yaml.safe_load (as LAVA
loads a submitted job) and handed to lava_common.schemas.validate(job,
strict=True), the function lava-server and lava-dispatcher use for job
definitions.  strict=True also rejects keys LAVA does not know (a misspelt
option); lava-server's default submission check (strict=False) accepts a
superset of what passes here.  Run it with Debian's own python3 (xtask
calls /usr/bin/python3): lava-common is a Debian package, not a PyPI one.

usage: lava_validate.py [--expect-invalid] JOB.yaml...
  without the flag  every file must be valid
  --expect-invalid  every file must be rejected by LAVA's schema; a line
                    `# lava-expect: TEXT` in the file names text LAVA's
                    message must contain

Output: one line per file, `lava: valid FILE`, `lava: INVALID FILE: MESSAGE`
(LAVA's message and the path into the job) or `lava: ERROR FILE: ...` (not
YAML, unreadable).  The first line names the lava-common version and module.

Exit status: 0 when every file came out as asked; 1 when one did not;
2 on bad usage or a file that could not be read as YAML; 3 when LAVA's
schema could not be imported (never a silent pass).
"""
import re
import sys


def expected_text(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\s*#\s*lava-expect:\s*(.+?)\s*$", line)
            if m:
                return m.group(1)
    return None


def main() -> int:
    args = sys.argv[1:]
    expect_invalid = False
    if args and args[0] == "--expect-invalid":
        expect_invalid = True
        args = args[1:]
    if not args or any(a.startswith("-") for a in args):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import yaml
        import lava_common
        from lava_common.schemas import validate
        from lava_common.version import __version__ as lava_version
        from voluptuous import Invalid
    except Exception as e:  # ImportError, or a broken installation
        print(f"lava: ERROR cannot import LAVA's job schema (lava-common): {e!r}")
        return 3
    print(f"lava: lava-common {lava_version}, lava_common.schemas.validate from {lava_common.__file__}")
    worst = 0
    for path in args:
        try:
            with open(path, encoding="utf-8") as f:
                job = yaml.safe_load(f)
        except (OSError, yaml.YAMLError) as e:
            print(f"lava: ERROR {path}: cannot read as YAML: {e}")
            worst = max(worst, 2)
            continue
        try:
            if not isinstance(job, dict):
                raise Invalid("a job definition must be a mapping")
            validate(job, strict=True)
        except Invalid as e:
            msg = str(e)
            print(f"lava: INVALID {path}: {msg}")
            if not expect_invalid:
                worst = max(worst, 1)
                continue
            want = expected_text(path)
            if want is not None and want not in msg:
                print(f"lava: but {path} expects LAVA's message to contain {want!r}")
                worst = max(worst, 1)
            continue
        print(f"lava: valid {path}")
        if expect_invalid:
            print(f"lava: but {path} is a broken job that LAVA's schema must reject")
            worst = max(worst, 1)
    return worst


if __name__ == "__main__":
    sys.exit(main())
