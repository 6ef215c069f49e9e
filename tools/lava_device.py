#!/usr/bin/python3
"""Render a LAVA device dictionary into the device configuration lava-run reads.

lava-server does this when it schedules a job: it renders the device's dictionary
(which extends a device-type template such as `qemu.jinja2`) with the job's
`context:` as template variables.  There is no lava-server here, so this script
does the same with LAVA's own device-type templates (unpacked from Debian's
lava-server package by `cargo xtask`) and the same Jinja2 settings.

Usage: lava_device.py TEMPLATES_DIR DICT_FILE JOB_FILE OUTPUT
"""

import os
import sys

import jinja2
import yaml


def main(argv):
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    templates, dict_file, job_file, output = argv[1:]
    with open(job_file, encoding="utf-8") as f:
        job = yaml.safe_load(f)
    context = job.get("context") or {}
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([os.path.dirname(os.path.abspath(dict_file)), templates]),
        trim_blocks=True,
        autoescape=False,
    )
    rendered = env.get_template(os.path.basename(dict_file)).render(**context)
    config = yaml.safe_load(rendered)
    qemu = config["actions"]["boot"]["methods"]["qemu"]["parameters"]
    print("lava-device: qemu command: %s %s" % (qemu["command"], " ".join(qemu["options"])))
    with open(output, "w", encoding="utf-8") as f:
        f.write(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
