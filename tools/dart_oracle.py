#!/usr/bin/env python3
"""Replay the DART driver's register and table writes through Asahi's own
DART classes (PyPI `m1n1-proxyclient`, MIT: m1n1/hw/dart8020.py and
dart8110.py) and judge them.

Input: the JSON the ignored host test `iommu::dart::oracle_dump::
dart_oracle_record` writes (cargo xtask test, stage `oracle: dart`): per
record, the driver's register writes and table-entry writes in order, a
step marker before each change of a domain's tables (naming the streams
attached to it), and check points with the table memory, the driver's
intent and the model's translation for each (stream, IOVA).

What the oracle does with the package, and nothing else:

* register writes go into the package's register map (DART8020Regs /
  DART8110Regs over an in-memory backend), so TCR and TTBR are read back
  through its field definitions (R_TCR, R_TTBR);
* translations come from the package's `iotranslate` (its own table walk,
  its own PTE classes PTE_T8020 / PTE_T6000 / PTE), one DART object per
  stream over the check point's table memory;
* flushes are decoded with the package's register classes
  (R_STREAM_COMMAND.INVALIDATE with STREAM_SELECT on the T8020 layout,
  R_TLB_OP.OP / STREAM on T8110), and each must equal the register writes
  the package's own `invalidate_streams` issues for that stream set;
* the package has no TLB model.  Its DART objects keep a table cache
  (`pt_cache`: a table read once is reused; an invalid entry is re-read);
  the oracle drops a stream's cache (`invalidate_cache`) only when the
  driver's writes hold a flush that covers the stream.  A missed flush
  after an unmap therefore shows as a stale translation.  A missed flush
  after a map does not (the package re-reads invalid entries), so a second
  rule checks the order directly: every table write of a domain with
  attached streams must be followed by a flush covering those streams
  before the next step or check point.

Verdicts: a record marked `pass` must show no violation, and at every
check point the package's translation must equal the driver's intent and
the model's translation; a record marked `reject:TEXT` (a driver bug
switched on) must show at least one violation containing TEXT.

usage: dart_oracle.py RECORD.json
Exit status: 0 every verdict met; 1 one was not; 2 bad input; 3 the
package cannot be imported (never a silent pass).
"""
import importlib.metadata
import json
import sys

PAGE = 1 << 14
PINNED = "0.4.0"


class Backend:
    """The register map's backend: plain storage, every write kept."""

    def __init__(self):
        self.regs = {}
        self.writes = []

    def read(self, addr, width=32):
        return self.regs.get(addr, 0)

    def write(self, addr, value, width=32):
        self.regs[addr] = int(value)
        self.writes.append((addr, int(value)))


class Memory:
    """Table memory of one check point: 16 KiB pages, zero elsewhere."""

    def __init__(self):
        self.pages = {}

    def load(self, tables):
        self.pages = {}
        for page, words in tables.items():
            buf = bytearray(PAGE)
            for index, value in words:
                buf[8 * index:8 * index + 8] = int(value).to_bytes(8, "little")
            self.pages[int(page)] = buf

    def readmem(self, addr, size):
        out = bytearray()
        while size > 0:
            base = addr & ~(PAGE - 1)
            off = addr - base
            n = min(size, PAGE - off)
            page = self.pages.get(base)
            out += page[off:off + n] if page is not None else bytes(n)
            addr += n
            size -= n
        return bytes(out)

    def writemem(self, addr, data):
        raise RuntimeError("the oracle never writes table memory")


def show(v):
    return "blocked" if v is None else hex(v)


def mask(sids):
    m = 0
    for s in sids:
        m |= 1 << s
    return m


class Layout:
    """The package's classes for one compatible."""

    def __init__(self, compat):
        from m1n1.hw import dart8020, dart8110
        self.compat = compat
        if compat in ("dart,t8020", "dart,t6000"):
            self.t8110 = False
            self.regs_cls = dart8020.DART8020Regs
            self.dart_cls = lambda iface, regs: dart8020.DART8020(iface, regs, None, compat)
            self.cmd = dart8020.R_STREAM_COMMAND
        elif compat == "dart,t8110":
            self.t8110 = True
            self.regs_cls = dart8110.DART8110Regs
            self.dart_cls = lambda iface, regs: dart8110.DART8110(iface, regs, None)
            self.cmd = dart8110.R_TLB_OP
        else:
            raise ValueError(f"unknown compatible {compat}")

    def name(self, off):
        name, index, _ = self.regs_cls.lookup_offset(off)
        if name is None:
            return f"{off:#x}"
        return f"{name}[{index}]" if index is not None else name

    def m1n1_flush(self, sids):
        """The writes the package's invalidate_streams issues for `sids`."""
        b = Backend()
        dart = self.dart_cls(Memory(), self.regs_cls(b, 0))
        b.writes = []
        dart.invalidate_streams(mask(sids))
        return b.writes

    def decode_flush(self, backend, off, value):
        """The streams a write flushes, decoded with the package's classes
        (None: not a flush)."""
        name = self.name(off)
        if not self.t8110 and name == "STREAM_COMMAND":
            if self.cmd(value).INVALIDATE:
                select = backend.regs.get(self.regs_cls.lookup_name("STREAM_SELECT")[0], 0)
                return {s for s in range(32) if select >> s & 1}
        if self.t8110 and name == "TLB_OP":
            op = self.cmd(value)
            if op.OP == 1:
                return {op.STREAM}
            if op.OP == 0:
                return set(range(256))
        return None


def judge(record):
    """Replays one record; returns (violations, facts)."""
    lay = Layout(record["compat"])
    backend = Backend()
    mem = Memory()
    regs = lay.regs_cls(backend, 0)
    darts = {}

    def dart_of(sid):
        if sid not in darts:
            darts[sid] = lay.dart_cls(mem, regs)
        return darts[sid]

    violations = []
    facts = {"checks": 0, "translations": 0, "flushes": 0, "m1n1_flushes": 0}
    step = None
    owed = set()
    since = 0  # index into backend.writes where the current flush began

    def settle(where):
        nonlocal owed
        if owed and step is not None:
            violations.append(
                f"no flush of streams {sorted(owed)} after the table writes of step "
                f"'{step[0]}' (before {where})")
        owed = set()

    for ev in record["events"]:
        kind = ev[0]
        if kind == "reg":
            off, val = ev[1], ev[2]
            start = len(backend.writes)
            backend.write(off, val)
            flushed = lay.decode_flush(backend, off, val)
            if flushed is None:
                continue
            facts["flushes"] += 1
            # The driver's writes that make up this flush, compared with
            # the package's own invalidate_streams for the same streams.
            want = lay.m1n1_flush(sorted(flushed) if len(flushed) < 256 else [])
            if lay.t8110:
                got = backend.writes[start:]
                if len(flushed) == 256:
                    want = [(off, val)]  # OP 0: flush all, one write
            else:
                got = backend.writes[start - 1:]
            if got == want:
                facts["m1n1_flushes"] += 1
            else:
                violations.append(
                    f"flush of streams {sorted(flushed)[:8]}: the driver wrote "
                    f"{[(lay.name(o), hex(v)) for o, v in got]}, m1n1's invalidate_streams "
                    f"writes {[(lay.name(o), hex(v)) for o, v in want]}")
            owed -= flushed
            for sid in flushed & set(darts):
                darts[sid].invalidate_cache()
        elif kind == "pte":
            if step is not None:
                owed |= set(step[1])
        elif kind == "step":
            settle(f"step '{ev[1]}'")
            step = (ev[1], ev[2])
        elif kind == "check":
            settle(f"check point {ev[1]}")
            step = None
            check = record["checks"][ev[1]]
            mem.load(check["tables"])
            facts["checks"] += 1
            for sid, iova, intent, model in check["expect"]:
                try:
                    ranges = dart_of(sid).iotranslate(sid, iova, PAGE)
                    got = ranges[0][0]
                except Exception:  # TCR neither translate nor bypass: blocked
                    got = None
                facts["translations"] += 1
                if got != intent or got != model:
                    violations.append(
                        f"check {ev[1]}: stream {sid} IOVA {iova:#x}: the package translates to "
                        f"{show(got)}, the driver intended {show(intent)}, the model reached {show(model)}")
        else:
            raise ValueError(f"unknown event {ev!r}")
    settle("the end")
    return violations, facts


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-4])
        return 2
    try:
        from m1n1.hw import dart8020, dart8110  # noqa: F401
        version = importlib.metadata.version("m1n1-proxyclient")
    except Exception as e:
        print(f"oracle: ERROR cannot import m1n1-proxyclient's DART classes: {e}")
        return 3
    print(f"oracle: m1n1-proxyclient {version} ({dart8020.__file__}, {dart8110.__file__})")
    if version != PINNED:
        print(f"oracle: ERROR the oracle is pinned to m1n1-proxyclient {PINNED}, found {version}")
        return 3
    try:
        with open(sys.argv[1], encoding="utf-8") as f:
            data = json.load(f)
        records = data["records"]
    except Exception as e:
        print(f"oracle: ERROR reading {sys.argv[1]}: {e}")
        return 2
    ok = True
    for r in records:
        violations, facts = judge(r)
        verdict = r["verdict"]
        summary = (f"{facts['checks']} check points, {facts['translations']} translations, "
                   f"{facts['m1n1_flushes']}/{facts['flushes']} flushes as m1n1 writes them")
        if verdict == "pass":
            if violations:
                ok = False
                print(f"oracle: FAIL {r['name']}: {len(violations)} violations ({summary})")
                for v in violations[:20]:
                    print(f"oracle:   {v}")
            else:
                print(f"oracle: pass {r['name']} ({r['compat']}): {summary}")
        elif verdict.startswith("reject:"):
            want = verdict[len("reject:"):]
            hit = [v for v in violations if want in v]
            if hit:
                print(f"oracle: pass {r['name']}: rejected as it must be: {hit[0]}")
            else:
                ok = False
                print(f"oracle: FAIL {r['name']}: a driver bug the oracle must reject "
                      f"(wanted a violation containing '{want}'), got {violations[:3]}")
        else:
            print(f"oracle: ERROR {r['name']}: unknown verdict {verdict!r}")
            return 2
    if ok:
        print(f"oracle: all verdicts met ({len(records)} records)")
    else:
        print(f"oracle: VERDICTS NOT MET ({len(records)} records)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
