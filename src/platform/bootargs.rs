//! `/chosen/bootargs` options for the image.
//!
//! Options are Linux-style `iommu_bringup.<key>=<value>` words.  Known keys:
//!
//! | key | values | meaning |
//! |---|---|---|
//! | `exit` | `semihosting`, `psci`, `spin` | how the run ends (default: PSCI when the DT has `/psci`, else spin) |
//! | `inject` | comma list: `fail-one`, `skip-sync`, `exception`, `panic`, `oom` | fault injection for negative controls |
//! | `granule` | `4k`, `16k`, `64k` | stage-1 page size of the IOMMU self-test's page tables (default 4k) |
//! | `evtq` | `5` … `19` | log2 of the SMMUv3 event queue's entries (default: the driver's, 2^11), small to make it wrap |
//! | `expect` | `iommu`, `no-iommu` | whether the lab expects an IOMMU to be tested (default `iommu`: a run that tests none exits 253; `no-iommu` makes such a run a pass) |
//! | `catalogue` | `full`, `quick` | the IOMMU cases to run (default `full`; `quick` runs a smoke subset — map, stale window, blocked DMA, canaries — and reports every other case as a SKIP saying so) |
//! | `qcom-tbu` | `ungated`, `all`, `none` | which Qualcomm TBUs (`qcom,<soc>-tbu` nodes) the SMMUv2 driver may drive as its self master through their debug translation block (default `ungated`: only a TBU with no `power-domains` and no `clocks` in the DT, since an access to an unpowered TBU can hang the bus; `all`: any TBU, the lab having made sure they are powered; `none`: never; docs/hw/smmuv2.md §11.7) |
//!
//! The rules, so that a typo can never quietly turn into a different run:
//!
//! * Words not starting with `iommu_bringup.` belong to someone else (a
//!   loader adds `console=ttyS0 root=...`): they are tolerated, and listed.
//! * The prefix and the key are matched as Linux matches parameter names
//!   (`-` and `_` are the same), and case-insensitively; values are matched
//!   case-insensitively only (`16K` is `16k`, but `skip_sync` is not
//!   `skip-sync`).  A word accepted only thanks to that is applied and a
//!   [`Note`] says what it was read as.
//! * An unknown key, a missing value or an unknown value (one bad item of an
//!   `inject` list included) rejects the whole word: nothing of it is
//!   applied, and the [`Rejected`] entry names the word and the accepted
//!   values.  The boot code turns any rejection into a failing run.
//! * A later `exit`, `granule`, `evtq`, `expect`, `catalogue` or `qcom-tbu` word replaces an earlier one (a [`Note`]
//!   says so); `inject` words add up.
//! * The command line is bytes: a byte that is not UTF-8 only spoils the
//!   word it is in.
//!
//! Parsing runs before the heap exists: the lists have fixed capacity
//! ([`MAX_LISTED`]) and count what they could not keep.
#![forbid(unsafe_code)]

use core::fmt;

/// Prefix of our options on the kernel-style command line.
pub const PREFIX: &str = "iommu_bringup.";

/// How many entries each list ([`Bootargs::rejected`], [`Bootargs::ignored`],
/// [`Bootargs::notes`]) keeps; the rest are counted.
pub const MAX_LISTED: usize = 16;

/// How the run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitRequest {
    /// Arm semihosting SYS_EXIT with the failure count (QEMU `-semihosting`).
    Semihosting,
    /// PSCI SYSTEM_OFF through the DT's conduit.
    Psci,
    /// Print the final line and wait forever (boards without a power-off path).
    Spin,
}

impl ExitRequest {
    /// The value as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ExitRequest::Semihosting => "semihosting",
            ExitRequest::Psci => "psci",
            ExitRequest::Spin => "spin",
        }
    }
}

/// Fault-injection switches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Inject {
    /// Add a case that always fails: proves a failure reaches the lab.
    pub fail_one: bool,
    /// Drivers withhold their invalidations: the negative control.
    pub skip_sync: bool,
    /// Provoke a data abort after the self-test: proves the vectors report
    /// and end the run as a failure.
    pub exception: bool,
    /// Panic after the self-test: proves a panic ends the run as a failure.
    pub panic: bool,
    /// Ask for more heap than exists after the self-test: proves a failed
    /// allocation is reported (`Bail out! out of memory`, status 252).
    pub oom: bool,
}

impl Inject {
    /// Every switch set in `self` or `other`.
    pub fn union(self, other: Inject) -> Inject {
        Inject {
            fail_one: self.fail_one || other.fail_one,
            skip_sync: self.skip_sync || other.skip_sync,
            exception: self.exception || other.exception,
            panic: self.panic || other.panic,
            oom: self.oom || other.oom,
        }
    }

    fn flags(self) -> [(bool, &'static str); 5] {
        [
            (self.fail_one, "fail-one"),
            (self.skip_sync, "skip-sync"),
            (self.exception, "exception"),
            (self.panic, "panic"),
            (self.oom, "oom"),
        ]
    }
}

/// `none`, or the switches as a comma list (`fail-one,skip-sync`).
impl fmt::Display for Inject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (_, name) in self.flags().into_iter().filter(|(on, _)| *on) {
            if !first {
                f.write_str(",")?;
            }
            f.write_str(name)?;
            first = false;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// Stage-1 granule for the IOMMU self-test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GranuleArg {
    /// 4 KiB pages.
    #[default]
    K4,
    /// 16 KiB pages.
    K16,
    /// 64 KiB pages.
    K64,
}

impl GranuleArg {
    /// Page size in bytes.
    pub fn bytes(self) -> u64 {
        match self {
            GranuleArg::K4 => 4 << 10,
            GranuleArg::K16 => 16 << 10,
            GranuleArg::K64 => 64 << 10,
        }
    }

    /// The value as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            GranuleArg::K4 => "4k",
            GranuleArg::K16 => "16k",
            GranuleArg::K64 => "64k",
        }
    }
}

/// A key of ours (`iommu_bringup.<key>=...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// `exit`.
    Exit,
    /// `inject`.
    Inject,
    /// `granule`.
    Granule,
    /// `evtq`.
    Evtq,
    /// `expect`.
    Expect,
    /// `catalogue`.
    Catalogue,
    /// `qcom-tbu`.
    QcomTbu,
}

/// Which Qualcomm TBUs the SMMUv2 driver may use as its self master
/// (`iommu_bringup.qcom-tbu`; docs/hw/smmuv2.md §11.7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QcomTbu {
    /// Only a TBU whose node has neither `power-domains` nor `clocks`:
    /// nothing the image leaves to the loader can have switched it off.
    #[default]
    Ungated,
    /// Any TBU the DT describes (the lab vouches that they are powered).
    All,
    /// None: Qualcomm MMU-500s stay untested without another master.
    None,
}

impl QcomTbu {
    /// The value as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            QcomTbu::Ungated => "ungated",
            QcomTbu::All => "all",
            QcomTbu::None => "none",
        }
    }
}

/// `qcom-tbu` values.
const QCOM_TBU_VALUES: [(&str, QcomTbu); 3] = [
    ("ungated", QcomTbu::Ungated),
    ("all", QcomTbu::All),
    ("none", QcomTbu::None),
];

/// `catalogue` values: `true` for the quick subset.
const CATALOGUE_VALUES: [(&str, bool); 2] = [("full", false), ("quick", true)];

/// `expect` values: `true` when an IOMMU is expected to be tested.
const EXPECT_VALUES: [(&str, bool); 2] = [("iommu", true), ("no-iommu", false)];

/// `evtq` values: log2 of the event queue's entries.  At least 2^5: a
/// blocked 64-byte DMA makes QEMU's SMMUv3 write 16 records
/// (docs/hw/qemu-virt.md §1.6), which the self-test drains after every DMA;
/// at most 2^19, the architecture's largest (IDR1.EVENTQS).
const EVTQ_VALUES: [(&str, u8); 15] = [
    ("5", 5),
    ("6", 6),
    ("7", 7),
    ("8", 8),
    ("9", 9),
    ("10", 10),
    ("11", 11),
    ("12", 12),
    ("13", 13),
    ("14", 14),
    ("15", 15),
    ("16", 16),
    ("17", 17),
    ("18", 18),
    ("19", 19),
];
const EVTQ_NAMES: [&str; 15] = [
    "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19",
];

const EXIT_VALUES: [(&str, ExitRequest); 3] = [
    ("semihosting", ExitRequest::Semihosting),
    ("psci", ExitRequest::Psci),
    ("spin", ExitRequest::Spin),
];

const GRANULE_VALUES: [(&str, GranuleArg); 3] = [
    ("4k", GranuleArg::K4),
    ("16k", GranuleArg::K16),
    ("64k", GranuleArg::K64),
];

const INJECT_VALUES: [(&str, Inject); 5] = [
    (
        "fail-one",
        Inject {
            fail_one: true,
            skip_sync: false,
            exception: false,
            panic: false,
            oom: false,
        },
    ),
    (
        "skip-sync",
        Inject {
            fail_one: false,
            skip_sync: true,
            exception: false,
            panic: false,
            oom: false,
        },
    ),
    (
        "exception",
        Inject {
            fail_one: false,
            skip_sync: false,
            exception: true,
            panic: false,
            oom: false,
        },
    ),
    (
        "panic",
        Inject {
            fail_one: false,
            skip_sync: false,
            exception: false,
            panic: true,
            oom: false,
        },
    ),
    (
        "oom",
        Inject {
            fail_one: false,
            skip_sync: false,
            exception: false,
            panic: false,
            oom: true,
        },
    ),
];

impl Key {
    /// Every key, in documentation order.
    pub const ALL: [Key; 7] = [
        Key::Exit,
        Key::Inject,
        Key::Granule,
        Key::Evtq,
        Key::Expect,
        Key::Catalogue,
        Key::QcomTbu,
    ];

    /// The key as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Key::Exit => "exit",
            Key::Inject => "inject",
            Key::Granule => "granule",
            Key::Evtq => "evtq",
            Key::Expect => "expect",
            Key::Catalogue => "catalogue",
            Key::QcomTbu => "qcom-tbu",
        }
    }

    /// The values the key accepts (for `inject`: the items of its comma
    /// list).
    pub fn accepted(self) -> &'static [&'static str] {
        match self {
            Key::Exit => &["semihosting", "psci", "spin"],
            Key::Inject => &["fail-one", "skip-sync", "exception", "panic", "oom"],
            Key::Granule => &["4k", "16k", "64k"],
            Key::Evtq => &EVTQ_NAMES,
            Key::Expect => &["iommu", "no-iommu"],
            Key::Catalogue => &["full", "quick"],
            Key::QcomTbu => &["ungated", "all", "none"],
        }
    }

    fn index(self) -> usize {
        match self {
            Key::Exit => 0,
            Key::Inject => 1,
            Key::Granule => 2,
            Key::Evtq => 3,
            Key::Expect => 4,
            Key::Catalogue => 5,
            Key::QcomTbu => 6,
        }
    }
}

/// What one accepted word sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setting {
    /// `iommu_bringup.exit=...`.
    Exit(ExitRequest),
    /// `iommu_bringup.inject=...` (the switches of this one word).
    Inject(Inject),
    /// `iommu_bringup.granule=...`.
    Granule(GranuleArg),
    /// `iommu_bringup.evtq=...` (log2 of the event queue's entries).
    Evtq(u8),
    /// `iommu_bringup.expect=...` (`true`: an IOMMU is expected).
    Expect(bool),
    /// `iommu_bringup.catalogue=...` (`true`: the quick subset).
    Catalogue(bool),
    /// `iommu_bringup.qcom-tbu=...`.
    QcomTbu(QcomTbu),
}

/// The word as it would be spelled exactly (`iommu_bringup.granule=16k`).
impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Setting::Exit(e) => write!(f, "{PREFIX}exit={}", e.name()),
            Setting::Inject(i) => write!(f, "{PREFIX}inject={i}"),
            Setting::Granule(g) => write!(f, "{PREFIX}granule={}", g.name()),
            Setting::Evtq(n) => write!(f, "{PREFIX}evtq={n}"),
            Setting::Expect(e) => write!(
                f,
                "{PREFIX}expect={}",
                if *e { "iommu" } else { "no-iommu" }
            ),
            Setting::Catalogue(q) => {
                write!(f, "{PREFIX}catalogue={}", if *q { "quick" } else { "full" })
            }
            Setting::QcomTbu(t) => write!(f, "{PREFIX}qcom-tbu={}", t.name()),
        }
    }
}

/// The bytes of one command-line word (or part of one); not necessarily
/// UTF-8.  Displayed with invalid bytes and control characters escaped
/// (`\xff`), so a report line is always printable.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct Word<'a>(pub &'a [u8]);

impl fmt::Display for Word<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                if c.is_control() {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        write!(f, "\\x{b:02x}")?;
                    }
                } else {
                    write!(f, "{c}")?;
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Word<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{self}`")
    }
}

/// Why a word of ours was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection<'a> {
    /// `iommu_bringup.<key>` with a key we do not know.
    UnknownKey {
        /// The key as written.
        key: Word<'a>,
    },
    /// A known key without `=value`.
    MissingValue {
        /// The key.
        key: Key,
    },
    /// A value (or one item of an `inject` list) that is not accepted.
    UnknownValue {
        /// The key.
        key: Key,
        /// The value or list item as written.
        value: Word<'a>,
        /// The accepted value it resembles (same letters, other case or
        /// separators), if any.
        suggestion: Option<&'static str>,
    },
}

fn write_list(f: &mut fmt::Formatter<'_>, items: &[&str]) -> fmt::Result {
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "`{v}`")?;
    }
    Ok(())
}

impl fmt::Display for Rejection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Rejection::UnknownKey { key } => {
                write!(f, "unknown key `{key}`; known keys: ")?;
                let names = Key::ALL.map(Key::name);
                write_list(f, &names)
            }
            Rejection::MissingValue { key } => {
                write!(f, "`{}` needs a value; accepted: ", key.name())?;
                write_list(f, key.accepted())
            }
            Rejection::UnknownValue {
                key,
                value,
                suggestion,
            } => {
                write!(f, "unknown {} value `{value}`", key.name())?;
                if let Some(s) = suggestion {
                    write!(f, " (did you mean `{s}`?)")?;
                }
                f.write_str("; accepted: ")?;
                write_list(f, key.accepted())?;
                if key == Key::Inject {
                    f.write_str(", as a comma list")?;
                }
                f.write_str(" (case-insensitive)")
            }
        }
    }
}

/// A word of ours that was not applied, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejected<'a> {
    /// The whole word, e.g. `iommu_bringup.exit=maybe`.
    pub word: Word<'a>,
    /// What is wrong with it.
    pub why: Rejection<'a>,
}

impl fmt::Display for Rejected<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}`: {}; nothing of it was applied",
            self.word, self.why
        )
    }
}

/// A word of ours that was applied, but not exactly as written, or that
/// replaced an earlier one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note<'a> {
    /// Accepted thanks to case folding (or `-` for `_` in the name).
    ReadAs {
        /// The word as written.
        word: Word<'a>,
        /// What it was read as.
        setting: Setting,
    },
    /// A later `exit`, `granule` or `evtq` word replaced an earlier, different one.
    Replaces {
        /// The later word (in force).
        word: Word<'a>,
        /// The earlier word (no longer in force).
        earlier: Word<'a>,
    },
}

impl fmt::Display for Note<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::ReadAs { word, setting } => write!(
                f,
                "`{word}` read as `{setting}` (names and values are case-insensitive)"
            ),
            Note::Replaces { word, earlier } => write!(
                f,
                "`{word}` replaces the earlier `{earlier}` (the last one is in force)"
            ),
        }
    }
}

/// A list that keeps its first [`MAX_LISTED`] entries and counts all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listed<T: Copy> {
    items: [Option<T>; MAX_LISTED],
    total: usize,
}

impl<T: Copy> Default for Listed<T> {
    fn default() -> Self {
        Self {
            items: [None; MAX_LISTED],
            total: 0,
        }
    }
}

impl<T: Copy> Listed<T> {
    fn push(&mut self, t: T) {
        if let Some(slot) = self.items.get_mut(self.total) {
            *slot = Some(t);
        }
        self.total += 1;
    }

    /// The entries kept, in command-line order.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.items.iter().flatten().copied()
    }

    /// How many entries there were.
    pub fn total(&self) -> usize {
        self.total
    }

    /// How many entries were counted but not kept.
    pub fn unlisted(&self) -> usize {
        self.total.saturating_sub(MAX_LISTED)
    }

    /// `true` when there were none.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

/// Parsed options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bootargs<'a> {
    /// `iommu_bringup.exit`.
    pub exit: Option<ExitRequest>,
    /// `iommu_bringup.inject`.
    pub inject: Inject,
    /// `iommu_bringup.granule`.
    pub granule: GranuleArg,
    /// `iommu_bringup.evtq`: log2 of the SMMUv3 event queue's entries
    /// (`None`: the driver's default).
    pub evtq_log2: Option<u8>,
    /// `iommu_bringup.expect=no-iommu`: the lab declares that no IOMMU is
    /// expected, so a run that tests none is not a failure.
    pub no_iommu_expected: bool,
    /// `iommu_bringup.catalogue=quick`: run only the smoke subset of the
    /// IOMMU cases (`selftest::iommu_cases::QUICK`).
    pub quick_catalogue: bool,
    /// `iommu_bringup.qcom-tbu`: which Qualcomm TBUs may serve as the
    /// SMMUv2 self master.
    pub qcom_tbu: QcomTbu,
    /// The word in force for each key (by [`Key`] index).
    given: [Option<Word<'a>>; 7],
    applied: usize,
    rejected: Listed<Rejected<'a>>,
    ignored: Listed<Word<'a>>,
    notes: Listed<Note<'a>>,
}

/// ASCII case folding plus Linux's `-` = `_` in parameter names.
fn name_byte(b: u8) -> u8 {
    if b == b'-' {
        b'_'
    } else {
        b.to_ascii_lowercase()
    }
}

fn name_eq(a: &[u8], b: &str) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.bytes())
            .all(|(&x, y)| name_byte(x) == name_byte(y))
}

/// `true` when `a` and `b` are the same letters, ignoring case and the
/// separators `-` and `_` (for suggestions only, never for matching).
fn loose_eq(a: &[u8], b: &str) -> bool {
    fn fold(s: &[u8]) -> impl Iterator<Item = u8> + '_ {
        s.iter()
            .filter(|&&c| c != b'-' && c != b'_')
            .map(|c| c.to_ascii_lowercase())
    }
    fold(a).eq(fold(b.as_bytes()))
}

/// Looks `value` up in `table`: the entry and whether it matched exactly.
fn lookup<T: Copy>(table: &[(&'static str, T)], value: &[u8]) -> Option<(T, bool)> {
    table
        .iter()
        .find(|(name, _)| value.eq_ignore_ascii_case(name.as_bytes()))
        .map(|&(name, t)| (t, value == name.as_bytes()))
}

fn suggest<T>(table: &[(&'static str, T)], value: &[u8]) -> Option<&'static str> {
    table
        .iter()
        .map(|(name, _)| *name)
        .find(|name| loose_eq(value, name))
}

impl<'a> Bootargs<'a> {
    /// Parses a command line (the bytes of `/chosen/bootargs`).  Never
    /// fails: rejected, ignored and case-folded words are collected.
    pub fn parse(cmdline: &'a [u8]) -> Self {
        let mut args = Bootargs::default();
        for word in cmdline
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty())
        {
            args.word(word);
        }
        args
    }

    fn word(&mut self, bytes: &'a [u8]) {
        let word = Word(bytes);
        let (prefix, opt) = bytes.split_at(PREFIX.len().min(bytes.len()));
        if !name_eq(prefix, PREFIX) {
            self.ignored.push(word);
            return;
        }
        let (key_bytes, value) = match opt.iter().position(|&b| b == b'=') {
            Some(i) => (&opt[..i], Some(&opt[i + 1..])),
            None => (opt, None),
        };
        let Some(key) = Key::ALL.into_iter().find(|k| name_eq(key_bytes, k.name())) else {
            let key = Word(key_bytes);
            return self.rejected.push(Rejected {
                word,
                why: Rejection::UnknownKey { key },
            });
        };
        let Some(value) = value else {
            return self.rejected.push(Rejected {
                word,
                why: Rejection::MissingValue { key },
            });
        };
        let unknown = |item: &'a [u8], suggestion| Rejected {
            word,
            why: Rejection::UnknownValue {
                key,
                value: Word(item),
                suggestion,
            },
        };
        let (setting, exact_value) = match key {
            Key::Exit => match lookup(&EXIT_VALUES, value) {
                Some((e, exact)) => (Setting::Exit(e), exact),
                None => {
                    return self
                        .rejected
                        .push(unknown(value, suggest(&EXIT_VALUES, value)))
                }
            },
            Key::Catalogue => match lookup(&CATALOGUE_VALUES, value) {
                Some((q, exact)) => (Setting::Catalogue(q), exact),
                None => {
                    return self
                        .rejected
                        .push(unknown(value, suggest(&CATALOGUE_VALUES, value)))
                }
            },
            Key::QcomTbu => match lookup(&QCOM_TBU_VALUES, value) {
                Some((t, exact)) => (Setting::QcomTbu(t), exact),
                None => {
                    return self
                        .rejected
                        .push(unknown(value, suggest(&QCOM_TBU_VALUES, value)))
                }
            },
            Key::Expect => match lookup(&EXPECT_VALUES, value) {
                Some((e, exact)) => (Setting::Expect(e), exact),
                None => {
                    return self
                        .rejected
                        .push(unknown(value, suggest(&EXPECT_VALUES, value)))
                }
            },
            Key::Evtq => match lookup(&EVTQ_VALUES, value) {
                Some((n, exact)) => (Setting::Evtq(n), exact),
                None => return self.rejected.push(unknown(value, None)),
            },
            Key::Granule => match lookup(&GRANULE_VALUES, value) {
                Some((g, exact)) => (Setting::Granule(g), exact),
                None => {
                    return self
                        .rejected
                        .push(unknown(value, suggest(&GRANULE_VALUES, value)))
                }
            },
            Key::Inject => {
                let mut all = Inject::default();
                let mut all_exact = true;
                for item in value.split(|&b| b == b',') {
                    match lookup(&INJECT_VALUES, item) {
                        Some((i, exact)) => {
                            all = all.union(i);
                            all_exact &= exact;
                        }
                        None => {
                            return self
                                .rejected
                                .push(unknown(item, suggest(&INJECT_VALUES, item)))
                        }
                    }
                }
                (Setting::Inject(all), all_exact)
            }
        };
        let exact =
            exact_value && prefix == PREFIX.as_bytes() && key_bytes == key.name().as_bytes();
        if !exact {
            self.notes.push(Note::ReadAs { word, setting });
        }
        let given = self.given(key);
        match setting {
            Setting::Exit(e) => {
                if let (Some(earlier), true) = (given, self.exit != Some(e)) {
                    self.notes.push(Note::Replaces { word, earlier });
                }
                self.exit = Some(e);
            }
            Setting::Granule(g) => {
                if let (Some(earlier), true) = (given, self.granule != g) {
                    self.notes.push(Note::Replaces { word, earlier });
                }
                self.granule = g;
            }
            Setting::Evtq(n) => {
                if let (Some(earlier), true) = (given, self.evtq_log2 != Some(n)) {
                    self.notes.push(Note::Replaces { word, earlier });
                }
                self.evtq_log2 = Some(n);
            }
            Setting::Expect(e) => {
                if let (Some(earlier), true) = (given, self.no_iommu_expected == e) {
                    self.notes.push(Note::Replaces { word, earlier });
                }
                self.no_iommu_expected = !e;
            }
            Setting::Catalogue(q) => {
                if let (Some(earlier), true) = (given, self.quick_catalogue != q) {
                    self.notes.push(Note::Replaces { word, earlier });
                }
                self.quick_catalogue = q;
            }
            Setting::QcomTbu(t) => {
                if let (Some(earlier), true) = (given, self.qcom_tbu != t) {
                    self.notes.push(Note::Replaces { word, earlier });
                }
                self.qcom_tbu = t;
            }
            Setting::Inject(i) => self.inject = self.inject.union(i),
        }
        if let Some(slot) = self.given.get_mut(key.index()) {
            *slot = Some(word);
        }
        self.applied += 1;
    }

    /// Words of ours that were not applied.  Any entry means the run must
    /// fail: it would not be the run that was asked for.
    pub fn rejected(&self) -> &Listed<Rejected<'a>> {
        &self.rejected
    }

    /// Words that are not ours (left to whoever else reads the command line).
    pub fn ignored(&self) -> &Listed<Word<'a>> {
        &self.ignored
    }

    /// Words applied, but not exactly as written or replacing an earlier one.
    pub fn notes(&self) -> &Listed<Note<'a>> {
        &self.notes
    }

    /// The last word applied for `key`, `None` when the default is in force.
    pub fn given(&self, key: Key) -> Option<Word<'a>> {
        self.given.get(key.index()).copied().flatten()
    }

    /// The settings in force on one line, with `exit` the name of the exit
    /// method actually chosen (the bootargs only ask; the DT decides what
    /// is possible).
    pub fn settings<'b>(&'b self, exit: &'b str) -> Settings<'b, 'a> {
        Settings { args: self, exit }
    }
}

/// The settings line (see [`Bootargs::settings`]), e.g.
/// `settings: granule=16k (bootargs), inject=none (default), exit=semihosting
/// (bootargs: semihosting); words: 2 applied, 1 not ours, 0 rejected`.
pub struct Settings<'b, 'a> {
    args: &'b Bootargs<'a>,
    exit: &'b str,
}

impl fmt::Display for Settings<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.args;
        let src = |k| {
            if a.given(k).is_some() {
                "bootargs"
            } else {
                "default"
            }
        };
        write!(
            f,
            "settings: granule={} ({}), inject={} ({}), exit={} (",
            a.granule.name(),
            src(Key::Granule),
            a.inject,
            src(Key::Inject),
            self.exit
        )?;
        match a.exit {
            Some(e) => write!(f, "bootargs: {}", e.name())?,
            None => f.write_str("default")?,
        }
        f.write_str(")")?;
        if let Some(n) = a.evtq_log2 {
            write!(f, ", evtq=2^{n} entries (bootargs)")?;
        }
        if a.no_iommu_expected {
            f.write_str(", expect=no-iommu (bootargs)")?;
        }
        if a.quick_catalogue {
            f.write_str(", catalogue=quick (bootargs)")?;
        }
        if a.given(Key::QcomTbu).is_some() {
            write!(f, ", qcom-tbu={} (bootargs)", a.qcom_tbu.name())?;
        }
        write!(
            f,
            "; words: {} applied, {} not ours, {} rejected",
            a.applied,
            a.ignored.total(),
            a.rejected.total()
        )
    }
}

#[cfg(test)]
mod tests;
