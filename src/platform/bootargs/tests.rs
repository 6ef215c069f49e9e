//! Host tests of the bootargs grammar: every case of issue 10 item 8.
#![forbid(unsafe_code)]

use super::*;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

fn parse(s: &str) -> Bootargs<'_> {
    Bootargs::parse(s.as_bytes())
}

fn rejected(a: &Bootargs<'_>) -> Vec<String> {
    a.rejected().iter().map(|r| r.to_string()).collect()
}

fn notes(a: &Bootargs<'_>) -> Vec<String> {
    a.notes().iter().map(|n| n.to_string()).collect()
}

#[test]
fn parses_our_options_and_ignores_others() {
    let a = parse(
        "console=ttyS0 iommu_bringup.exit=semihosting  iommu_bringup.inject=fail-one,skip-sync root=/dev/x",
    );
    assert_eq!(a.exit, Some(ExitRequest::Semihosting));
    assert!(a.inject.fail_one && a.inject.skip_sync);
    assert!(!a.inject.exception && !a.inject.panic);
    assert!(a.rejected().is_empty());
    assert!(a.notes().is_empty(), "{:?}", notes(&a));
    let ignored: Vec<_> = a.ignored().iter().map(|w| w.to_string()).collect();
    assert_eq!(ignored, ["console=ttyS0", "root=/dev/x"]);
    let b = parse("iommu_bringup.inject=exception,panic");
    assert!(b.inject.exception && b.inject.panic && !b.inject.fail_one);
    // inject words add up.
    let c = parse("iommu_bringup.inject=fail-one iommu_bringup.inject=panic");
    assert!(c.inject.fail_one && c.inject.panic);
}

#[test]
fn unknown_keys_and_values_are_rejected_with_the_accepted_values() {
    let a = parse(
        "iommu_bringup.exit=maybe iommu_bringup.colour=blue iommu_bringup.inject=everything iommu_bringup.granule",
    );
    assert_eq!(a.exit, None);
    assert_eq!(a.inject, Inject::default());
    let r = rejected(&a);
    assert_eq!(r.len(), 4);
    assert!(r[0].starts_with("`iommu_bringup.exit=maybe`: unknown exit value `maybe`"));
    assert!(r[0].contains("`semihosting`, `psci`, `spin`"), "{}", r[0]);
    assert!(r[1].contains("unknown key `colour`"), "{}", r[1]);
    assert!(
        r[1].contains("`exit`, `inject`, `granule`, `evtq`, `expect`"),
        "{}",
        r[1]
    );
    assert!(r[2].contains("`fail-one`, `skip-sync`, `exception`, `panic`, `oom`"));
    assert!(r[3].contains("`granule` needs a value"), "{}", r[3]);
    assert!(r.iter().all(|s| s.ends_with("nothing of it was applied")));
}

#[test]
fn a_misspelt_value_is_rejected_with_a_suggestion() {
    // The case: the negative control must not become a passing run.
    let a = parse("iommu_bringup.inject=skip_sync");
    assert!(!a.inject.skip_sync);
    assert_eq!(
        a.rejected().iter().next().map(|r| r.why),
        Some(Rejection::UnknownValue {
            key: Key::Inject,
            value: Word(b"skip_sync"),
            suggestion: Some("skip-sync"),
        })
    );
    let r = rejected(&a);
    assert!(
        r[0].contains("unknown inject value `skip_sync` (did you mean `skip-sync`?)"),
        "{}",
        r[0]
    );
    // No suggestion when nothing resembles it.
    let b = parse("iommu_bringup.granule=8k");
    assert!(matches!(
        b.rejected().iter().next().map(|r| r.why),
        Some(Rejection::UnknownValue {
            suggestion: None,
            ..
        })
    ));
    assert_eq!(b.granule, GranuleArg::K4);
}

#[test]
fn partly_valid_words_apply_nothing() {
    let a = parse("iommu_bringup.inject=fail-one,bogus");
    assert!(
        !a.inject.fail_one,
        "fail-one of a rejected word was applied"
    );
    let r = rejected(&a);
    assert_eq!(r.len(), 1);
    assert!(r[0].starts_with("`iommu_bringup.inject=fail-one,bogus`: unknown inject value `bogus`"));
    // An empty item is an unknown value too.
    assert_eq!(
        parse("iommu_bringup.inject=fail-one,").rejected().total(),
        1
    );
    assert_eq!(parse("iommu_bringup.inject=").rejected().total(), 1);
}

#[test]
fn values_are_case_insensitive_and_say_so() {
    let a = parse("iommu_bringup.granule=16K");
    assert_eq!(a.granule, GranuleArg::K16);
    assert!(a.rejected().is_empty());
    assert_eq!(
        notes(&a),
        ["`iommu_bringup.granule=16K` read as `iommu_bringup.granule=16k` (names and values are case-insensitive)"]
    );
    assert_eq!(parse("iommu_bringup.granule=16k").granule.bytes(), 16384);
    assert!(parse("iommu_bringup.granule=16k").notes().is_empty());
    assert_eq!(parse("iommu_bringup.granule=64k").granule, GranuleArg::K64);
    let b = parse("iommu_bringup.exit=SemiHosting iommu_bringup.inject=Skip-Sync,PANIC");
    assert_eq!(b.exit, Some(ExitRequest::Semihosting));
    assert!(b.inject.skip_sync && b.inject.panic);
    assert_eq!(b.notes().total(), 2);
    assert!(notes(&b)[1].contains("read as `iommu_bringup.inject=skip-sync,panic`"));
}

#[test]
fn names_follow_linux_dash_underscore_rule_and_case() {
    let a = parse("IOMMU-BRINGUP.Granule=64k iommu_bringup.EXIT=psci");
    assert_eq!(a.granule, GranuleArg::K64);
    assert_eq!(a.exit, Some(ExitRequest::Psci));
    assert!(a.rejected().is_empty());
    assert_eq!(a.notes().total(), 2);
    assert_eq!(a.ignored().total(), 0);
    // Something else entirely is not ours.
    let b = parse("iommu_bringup_granule=16k iommu=pt iommu_bringup");
    assert_eq!(b.ignored().total(), 3);
    assert_eq!(b.granule, GranuleArg::K4);
}

#[test]
fn later_words_replace_earlier_ones_and_say_so() {
    let a = parse("iommu_bringup.granule=16k iommu_bringup.granule=64k");
    assert_eq!(a.granule, GranuleArg::K64);
    assert_eq!(
        notes(&a),
        ["`iommu_bringup.granule=64k` replaces the earlier `iommu_bringup.granule=16k` (the last one is in force)"]
    );
    // The same value twice (runner prefix plus user) is no news.
    let b = parse("iommu_bringup.exit=semihosting iommu_bringup.exit=semihosting");
    assert!(b.notes().is_empty());
    let c = parse("iommu_bringup.exit=semihosting iommu_bringup.exit=psci");
    assert_eq!(c.exit, Some(ExitRequest::Psci));
    assert_eq!(c.notes().total(), 1);
}

#[test]
fn a_non_utf8_byte_spoils_only_its_word() {
    let line = b"console=tty\xffS0 iommu_bringup.exit=semihosting iommu_bringup.granule=16\xfek iommu_bringup.inject=fail-one";
    let a = Bootargs::parse(line);
    assert_eq!(a.exit, Some(ExitRequest::Semihosting));
    assert!(a.inject.fail_one);
    assert_eq!(a.granule, GranuleArg::K4);
    let ignored: Vec<_> = a.ignored().iter().map(|w| w.to_string()).collect();
    assert_eq!(ignored, ["console=tty\\xffS0"]);
    let r = rejected(&a);
    assert_eq!(r.len(), 1);
    assert!(
        r[0].starts_with("`iommu_bringup.granule=16\\xfek`: unknown granule value `16\\xfek`"),
        "{}",
        r[0]
    );
    // A non-UTF-8 key, and control characters, are escaped too.
    let b = Bootargs::parse(b"iommu_bringup.\x80\x01=1");
    assert!(rejected(&b)[0].contains("unknown key `\\x80\\x01`"));
    // Other whitespace separates words as well.
    let c = Bootargs::parse(b"iommu_bringup.exit=spin\tiommu_bringup.granule=64k\n");
    assert_eq!(
        (c.exit, c.granule),
        (Some(ExitRequest::Spin), GranuleArg::K64)
    );
}

#[test]
fn empty_cmdline_is_default() {
    assert_eq!(parse(""), Bootargs::default());
    assert_eq!(parse("   "), Bootargs::default());
    assert_eq!(Bootargs::default().granule, GranuleArg::K4);
}

#[test]
fn many_words_are_counted_not_dropped() {
    let s = "iommu_bringup.x ".repeat(20) + &"loader=1 ".repeat(MAX_LISTED + 3);
    let a = parse(&s);
    assert_eq!(a.rejected().total(), 20);
    assert_eq!(a.rejected().iter().count(), MAX_LISTED);
    assert_eq!(a.rejected().unlisted(), 20 - MAX_LISTED);
    assert_eq!(a.ignored().total(), MAX_LISTED + 3);
    assert_eq!(a.ignored().unlisted(), 3);
    assert!(a.settings("spin").to_string().ends_with(&format!(
        "words: 0 applied, {} not ours, 20 rejected",
        MAX_LISTED + 3
    )));
}

#[test]
fn settings_line_says_what_is_in_force_and_where_it_came_from() {
    let a = parse("console=ttyAMA0 iommu_bringup.exit=semihosting iommu_bringup.granule=16K");
    assert_eq!(
        a.settings("semihosting").to_string(),
        "settings: granule=16k (bootargs), inject=none (default), exit=semihosting (bootargs: semihosting); words: 2 applied, 1 not ours, 0 rejected"
    );
    let b = parse("iommu_bringup.inject=skip-sync,fail-one");
    assert_eq!(
        b.settings("psci (hvc)").to_string(),
        "settings: granule=4k (default), inject=fail-one,skip-sync (bootargs), exit=psci (hvc) (default); words: 1 applied, 0 not ours, 0 rejected"
    );
    assert_eq!(
        b.given(Key::Inject),
        Some(Word(b"iommu_bringup.inject=skip-sync,fail-one"))
    );
    assert_eq!(b.given(Key::Exit), None);
}

#[test]
fn suggestions_ignore_case_and_separators_only() {
    assert!(loose_eq(b"SKIP_SYNC", "skip-sync"));
    assert!(loose_eq(b"skipsync", "skip-sync"));
    assert!(!loose_eq(b"skip-syn", "skip-sync"));
    assert_eq!(suggest(&INJECT_VALUES, b"fail_one"), Some("fail-one"));
    assert_eq!(suggest(&EXIT_VALUES, b"semi-hosting"), Some("semihosting"));
}

#[test]
fn evtq_takes_a_log2_size_in_range_and_rejects_everything_else() {
    let a = parse("iommu_bringup.evtq=7");
    assert_eq!(a.evtq_log2, Some(7));
    assert!(a.rejected().is_empty() && a.notes().is_empty());
    assert_eq!(
        a.given(Key::Evtq).map(|w| w.to_string()).as_deref(),
        Some("iommu_bringup.evtq=7")
    );
    assert_eq!(parse("").evtq_log2, None);
    assert_eq!(parse("iommu_bringup.evtq=5").evtq_log2, Some(5));
    assert_eq!(parse("iommu_bringup.evtq=19").evtq_log2, Some(19));
    // Too small for one blocked DMA's records, too large for the
    // architecture, not decimal, signed, padded, empty, missing: rejected
    // whole, with the accepted values.
    for bad in ["4", "20", "0x7", "+7", "07", "7k", "", "-1"] {
        let w = format!("iommu_bringup.evtq={bad}");
        let a = parse(&w);
        assert_eq!(a.evtq_log2, None, "{w}");
        let r = rejected(&a);
        assert_eq!(r.len(), 1, "{w}");
        assert!(
            r[0].contains(&format!("unknown evtq value `{bad}`"))
                && r[0].contains("`5`, `6`")
                && r[0].contains("`19`"),
            "{}",
            r[0]
        );
    }
    let r = rejected(&parse("iommu_bringup.evtq"));
    assert!(r[0].contains("`evtq` needs a value"), "{}", r[0]);
    // The name follows the Linux rules; a later word replaces an earlier.
    let a = parse("IOMMU_BRINGUP.EVTQ=6 iommu_bringup.evtq=8");
    assert_eq!(a.evtq_log2, Some(8));
    let n = notes(&a);
    assert!(n[0].contains("read as `iommu_bringup.evtq=6`"), "{n:?}");
    assert!(
        n[1].contains("replaces the earlier `IOMMU_BRINGUP.EVTQ=6`"),
        "{n:?}"
    );
    // The settings line says it only when given.
    let line = a.settings("semihosting").to_string();
    assert!(
        line.contains("(default), evtq=2^8 entries (bootargs); words: 2 applied"),
        "{line}"
    );
    assert!(!parse("").settings("psci").to_string().contains("evtq"));
}

#[test]
fn expect_declares_whether_an_iommu_is_expected() {
    let a = Bootargs::parse(b"iommu_bringup.expect=no-iommu");
    assert!(a.no_iommu_expected);
    assert_eq!(a.rejected().total(), 0);
    assert!(format!("{}", a.settings("psci")).contains("expect=no-iommu (bootargs)"));
    // Case folds, the default is "expected", a later word replaces.
    assert!(Bootargs::parse(b"iommu_bringup.expect=NO-IOMMU").no_iommu_expected);
    assert!(!Bootargs::parse(b"").no_iommu_expected);
    assert!(
        !Bootargs::parse(b"iommu_bringup.expect=no-iommu iommu_bringup.expect=iommu")
            .no_iommu_expected
    );
    // A misspelling is rejected with a suggestion, never taken as "none".
    let bad = Bootargs::parse(b"iommu_bringup.expect=no_iommu");
    assert!(!bad.no_iommu_expected);
    assert_eq!(bad.rejected().total(), 1);
}

#[test]
fn catalogue_selects_the_quick_subset_and_says_so() {
    let a = Bootargs::parse(b"iommu_bringup.catalogue=quick");
    assert!(a.quick_catalogue);
    assert_eq!(a.rejected().total(), 0);
    assert!(format!("{}", a.settings("psci")).contains(", catalogue=quick (bootargs)"));
    // The default is the whole catalogue, and the settings line then says
    // nothing about it; a later word replaces, case folds.
    let full = Bootargs::parse(b"");
    assert!(!full.quick_catalogue);
    assert!(!format!("{}", full.settings("psci")).contains("catalogue"));
    assert!(
        !Bootargs::parse(b"iommu_bringup.catalogue=quick iommu_bringup.catalogue=full")
            .quick_catalogue
    );
    assert!(Bootargs::parse(b"iommu_bringup.catalogue=QUICK").quick_catalogue);
    // Anything else is rejected with the accepted values, never taken as full.
    let bad = Bootargs::parse(b"iommu_bringup.catalogue=fast");
    assert!(!bad.quick_catalogue);
    assert_eq!(bad.rejected().total(), 1);
    let why = format!("{}", bad.rejected().iter().next().unwrap().why);
    assert!(why.contains("accepted: `full`, `quick`"), "{why}");
}

#[test]
fn qcom_tbu_defaults_to_ungated_and_takes_all_or_none() {
    let d = Bootargs::parse(b"");
    assert_eq!(d.qcom_tbu, QcomTbu::Ungated);
    assert!(!format!("{}", d.settings("psci")).contains("qcom-tbu"));
    let a = Bootargs::parse(b"iommu_bringup.qcom-tbu=all");
    assert_eq!(a.qcom_tbu, QcomTbu::All);
    assert!(a.rejected().is_empty());
    assert!(format!("{}", a.settings("psci")).contains(", qcom-tbu=all (bootargs)"));
    // Linux's `_` for `-` in the key is read, with a note.
    let n = Bootargs::parse(b"iommu_bringup.qcom_tbu=none");
    assert_eq!(n.qcom_tbu, QcomTbu::None);
    assert_eq!(n.notes().total(), 1);
    // A value it does not know rejects the word and changes nothing.
    let bad = Bootargs::parse(b"iommu_bringup.qcom-tbu=some");
    assert_eq!(bad.qcom_tbu, QcomTbu::Ungated);
    assert_eq!(bad.rejected().total(), 1);
    // A later word replaces an earlier one.
    let two = Bootargs::parse(b"iommu_bringup.qcom-tbu=all iommu_bringup.qcom-tbu=ungated");
    assert_eq!(two.qcom_tbu, QcomTbu::Ungated);
}
