//! Driver tests against the behavioural model (`model.rs`): enable
//! sequence, CMD_SYNC completion, command-error recovery, timeouts, STE/CD
//! installation seen through the model's stream lookup, range invalidation
//! cost, event and GERROR handling, cache maintenance when not coherent.

use super::cd::{Cd, Stage1Cd};
use super::coherency::CacheOps;
use super::command::{op, Command, TlbiForm, TlbiPolicy};
use super::driver::{Smmuv3, Smmuv3Config, VaRange};
use super::error::{CommandErrorKind, Smmuv3Error};
use super::event::EventKind;
use super::features::{Granule, QEMU_VIRT91_IDRS, QEMU_VIRT_IDRS};
use super::model::{SmmuModel, StreamConfig, TestMem};
use super::regs::Regs;
use super::ste::{Ste, SteKind};
use super::strtab::{StrtabChoice, StrtabLayout};
use crate::mm::cache::CacheMaintenance;
use crate::mm::BusAddr;
use crate::time::fake::SteppingClock;
use core::cell::Cell;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;
use std::string::ToString;
use std::vec::Vec;

fn clock() -> SteppingClock {
    SteppingClock {
        now: Cell::new(0),
        step: 10,
    }
}

fn cfg() -> Smmuv3Config {
    Smmuv3Config {
        timeout: Duration::from_millis(5),
        ..Smmuv3Config::default()
    }
}

fn opcodes(model: &SmmuModel) -> Vec<u8> {
    model
        .st
        .borrow()
        .executed
        .iter()
        .map(|c| (c[0] & 0xff) as u8)
        .collect()
}

fn cd(asid: u16, ttb: u64) -> Cd {
    let (irgn, orgn, sh) = Stage1Cd::WALK_COHERENT;
    Cd::stage1(&Stage1Cd {
        t0sz: 32,
        granule: Granule::Size4K,
        irgn,
        orgn,
        sh,
        ips: 4,
        asid,
        ttb0: BusAddr(ttb),
        mair: 0xF404_FF44,
        record_faults: true,
        access_flag_fault_disable: false,
    })
    .unwrap()
}

#[test]
fn enable_sequence_follows_the_documented_order() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let clk = clock();
    let mut smmu = Smmuv3::probe(Regs::new(&model), &clk, &pool, cfg()).unwrap();
    assert!(smmu.coherent());
    // Every StreamID of SIDSIZE 16, two-level (issue 11 item 6).
    assert_eq!(
        smmu.strtab_layout(),
        StrtabLayout::TwoLevel {
            log2size: 16,
            split: 8
        }
    );
    // Before enable, QEMU's reset GBPA bypasses.
    assert_eq!(model.stream_config(0x20), StreamConfig::GlobalBypass);
    let stale = smmu.reset_and_enable().unwrap();
    assert!(stale.is_empty());
    assert!(smmu.is_enabled());

    let st = model.st.borrow();
    let w = &st.writes;
    let first_gbpa = w.iter().position(|x| x.0 == 0x44).unwrap();
    let first_cr0 = w.iter().position(|x| x.0 == 0x20).unwrap();
    assert!(first_gbpa < first_cr0, "GBPA.ABORT before touching CR0");
    assert_ne!(w[first_gbpa].2 & (1 << 20), 0);
    assert_ne!(w[first_gbpa].2 & (1 << 31), 0, "GBPA written with UPDATE");
    assert_eq!(w[first_cr0].2, 0, "CR0 = 0 first");
    let cr0s: Vec<u64> = w.iter().filter(|x| x.0 == 0x20).map(|x| x.2).collect();
    assert_eq!(cr0s, [0, 0xC, 0xD]);
    assert_eq!(st.cr0ack, 0xD);
    assert_ne!(st.gbpa & (1 << 20), 0, "GBPA.ABORT stays set");
    assert_eq!(st.cr2, 0b110, "PTM | RECINVSID");
    assert_eq!(
        st.cr1, 0x820,
        "NC/NC/OSH for tables and queues: coherent, but the CPU maps the pool NC"
    );
    assert_eq!(
        st.strtab_cfg,
        (1 << 16) | (8 << 6) | 16,
        "two-level, SPLIT 8, 16 SID bits"
    );
    assert_eq!(st.cmdq_base & 0x1f, 8);
    assert_eq!(st.evtq_base & 0x1f, 11);
    assert_ne!(st.cmdq_base & (1 << 62), 0);
    // CFGI_ALL (0x04, Range 31) + SYNC, TLBI_NSNH_ALL + SYNC; no 0x07.
    assert_eq!(
        st.executed,
        [[0x04, 31], [0x46, 0], [0x30, 0], [0x46, 0]],
        "invalidate everything before SMMUEN"
    );
    // SMMUEN written after the last command was consumed.
    let last_prod = w.iter().rposition(|x| x.0 == 0x98).unwrap();
    let smmuen = w.iter().rposition(|x| x.0 == 0x20).unwrap();
    assert!(last_prod < smmuen);
    assert!(
        st.bad_64bit.is_empty(),
        "64-bit access to {:x?}",
        st.bad_64bit
    );
    drop(st);
    // Every stream is blocked until attached.
    assert_eq!(model.stream_config(0x20), StreamConfig::Abort);
    assert_eq!(model.stream_config(0xff), StreamConfig::Abort);
    assert_eq!(model.stream_config(0x100), StreamConfig::Abort);
    assert_eq!(model.stream_config(0xffff), StreamConfig::Abort);
    assert_eq!(smmu.commands_issued().total(), 4);
}

#[test]
fn cr0_without_ack_is_a_typed_timeout() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    model.st.borrow_mut().ack_cr0 = false;
    model.st.borrow_mut().cr0ack = 0x5; // stale, never updated
    let clk = clock();
    let mut smmu = Smmuv3::probe(Regs::new(&model), &clk, &pool, cfg()).unwrap();
    let err = smmu.reset_and_enable().unwrap_err();
    match err {
        Smmuv3Error::Timeout {
            register,
            expected,
            last,
            waited,
            ..
        } => {
            assert_eq!(register, "CR0ACK");
            assert_eq!((expected, last), (0, 5));
            assert!(waited >= Duration::from_millis(5));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("CR0ACK"));
    assert!(!smmu.is_enabled());
}

#[test]
fn gbpa_update_that_never_completes_times_out() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    model.st.borrow_mut().gbpa_stuck = true;
    let clk = clock();
    let mut smmu = Smmuv3::probe(Regs::new(&model), &clk, &pool, cfg()).unwrap();
    let err = smmu.reset_and_enable().unwrap_err();
    assert!(
        matches!(err, Smmuv3Error::Timeout { register: "GBPA", what, .. } if what.contains("after")),
        "{err:?}"
    );
}

fn enabled<'a>(
    model: &'a SmmuModel,
    clk: &'a SteppingClock,
    pool: &'a crate::mm::dma_pool::DmaPool,
    config: Smmuv3Config,
) -> Smmuv3<'a, &'a SmmuModel> {
    let mut smmu = Smmuv3::probe(Regs::new(model), clk, pool, config).unwrap();
    // As probe.rs does for the run's masters: span 0 (0x00..=0xff) gets its
    // level-2 table before enable.
    smmu.prepare_stream(0).unwrap();
    smmu.reset_and_enable().unwrap();
    model.st.borrow_mut().executed.clear();
    smmu
}

#[test]
fn illegal_command_is_replaced_reported_and_the_queue_keeps_running() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let clk = clock();
    let mut smmu = enabled(&model, &clk, &pool, cfg());
    // Opcode 0x07 is illegal on QEMU (docs/hw/qemu-virt.md §1.4, T18).
    let err = smmu
        .submit(&[Command::Raw([0x07, 0]), Command::TlbiNsnhAll], true)
        .unwrap_err();
    let Smmuv3Error::Command(ce) = err else {
        panic!("{err:?}")
    };
    assert_eq!(ce.kind, CommandErrorKind::Illegal);
    assert_eq!(ce.opcode, 0x07);
    assert_eq!(ce.index, 4, "after the 4 enable-time commands");
    assert!(err.to_string().contains("CERROR_ILL"), "{err}");
    // The bad slot became a CMD_SYNC; the rest ran; GERROR acknowledged.
    assert_eq!(opcodes(&model), [0x46, 0x30, 0x46]);
    let st = model.st.borrow();
    assert_eq!(st.gerror, st.gerrorn);
    assert_eq!((st.cmdq_cons >> 24) & 0x7f, 0);
    drop(st);
    assert_eq!(smmu.command_errors().len(), 1);
    // Next submission is clean.
    smmu.tlbi_nsnh_all().unwrap();
    assert!(smmu.check_gerror().unwrap().active.is_empty());
}

#[test]
fn s12_vmall_needs_stage2() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT91_IDRS);
    let clk = clock();
    let mut smmu = enabled(&model, &clk, &pool, cfg());
    assert!(matches!(
        smmu.tlbi_s12_vmall(),
        Err(Smmuv3Error::Unsupported {
            register: "IDR0",
            ..
        })
    ));
    // Forced through raw submission, the model (like QEMU) rejects it.
    let err = smmu
        .submit(&[Command::TlbiS12Vmall { vmid: 0 }], true)
        .unwrap_err();
    assert!(matches!(err, Smmuv3Error::Command(c) if c.opcode == op::TLBI_S12_VMALL));
    // On the nested-capable model it is fine.
    let model2 = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let mut smmu2 = enabled(&model2, &clk, &pool, cfg());
    smmu2.tlbi_s12_vmall().unwrap();
}

#[test]
fn fetch_abort_is_retried_once_then_reported() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let clk = clock();
    let mut smmu = enabled(&model, &clk, &pool, cfg());
    model.st.borrow_mut().abort_once_at = Some(4);
    let err = smmu.submit(&[Command::TlbiNsnhAll], true).unwrap_err();
    assert!(
        matches!(err, Smmuv3Error::Command(c) if c.kind == CommandErrorKind::FetchAbort && c.opcode == 0x30)
    );
    // The command was left in place and executed on the retry.
    assert_eq!(opcodes(&model), [0x30, 0x46]);
}

#[test]
fn long_batches_get_a_sync_every_63_commands() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let clk = clock();
    let mut smmu = enabled(&model, &clk, &pool, cfg());
    let cmds: Vec<Command> = (0..130)
        .map(|a| Command::TlbiNhAsid { vmid: 0, asid: a })
        .collect();
    let issued = smmu.submit(&cmds, true).unwrap();
    assert_eq!((issued.commands, issued.syncs), (130, 3));
    let ops = opcodes(&model);
    assert_eq!(ops.len(), 133);
    let syncs: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| **o == 0x46)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(syncs, [63, 127, 132]);
}

#[test]
fn cmd_sync_that_never_completes_times_out() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let clk = clock();
    let mut smmu = enabled(&model, &clk, &pool, cfg());
    model.st.borrow_mut().frozen = true;
    let err = smmu.tlbi_nsnh_all().unwrap_err();
    assert!(
        matches!(
            err,
            Smmuv3Error::Timeout {
                register: "CMDQ_CONS",
                what: "CMDQ_CONS to pass CMD_SYNC",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn lazy_consumer_and_wraparound() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let clk = clock();
    let config = Smmuv3Config {
        cmdq_log2: 2, // 4 entries: a 10-command batch must wait for space
        ..cfg()
    };
    let mut smmu = enabled(&model, &clk, &pool, config);
    model.st.borrow_mut().lazy = true;
    let cmds: Vec<Command> = (0..10)
        .map(|a| Command::TlbiNhAsid { vmid: 0, asid: a })
        .collect();
    let issued = smmu.submit(&cmds, true).unwrap();
    assert_eq!((issued.commands, issued.syncs), (10, 1));
    let st = model.st.borrow();
    let asids: Vec<u64> = st.executed.iter().take(10).map(|c| c[0] >> 48).collect();
    assert_eq!(asids, (0..10).collect::<Vec<u64>>());
    assert_eq!(st.executed.len(), 11);
    // 4 (enable) + 11 entries in a 4-entry queue: wrapped several times.
    assert_eq!(st.cmdq_cons, (4 + 11) & 7);
}

#[test]
fn stage1_attach_is_seen_by_the_smmu_and_cd_changes_need_cfgi() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let clk = clock();
    let mut smmu = enabled(&model, &clk, &pool, cfg());
    smmu.attach_stage1(0x20, &cd(5, 0x4000_0000)).unwrap();
    // Abort → stage 1: dwords 1..2 (ignored by the abort STE), CFGI_STE +
    // SYNC, dword0, CFGI_STE + SYNC.  The fresh CD needs no CFGI_CD.
    assert_eq!(opcodes(&model), [0x03, 0x46, 0x03, 0x46]);
    let StreamConfig::Stage1 { cd: seen, vmid } = model.stream_config(0x20) else {
        panic!("{:?}", model.stream_config(0x20))
    };
    assert_eq!(vmid, 0);
    assert_eq!(seen, cd(5, 0x4000_0000).0);
    // The STE: V | S1 translate, S1STALLD clear on QEMU's stall model.
    let ste = smmu.read_ste(0x20).unwrap();
    assert_eq!(ste.kind(), SteKind::Stage1);
    assert_eq!(ste.0[1] & (1 << 27), 0);
    assert_eq!(ste.cd_ptr(), smmu.cd_addr(0x20).unwrap());

    // Change TTB0 without invalidation: the SMMU keeps the cached CD.
    model.st.borrow_mut().executed.clear();
    let (_, issued) = smmu.write_cd(0x20, &cd(5, 0x5000_0000), false).unwrap();
    assert_eq!(issued.total(), 0);
    assert!(
        matches!(model.stream_config(0x20), StreamConfig::Stage1 { cd, .. } if cd[1] == 0x4000_0000)
    );
    smmu.cfgi_cd(0x20).unwrap();
    assert!(
        matches!(model.stream_config(0x20), StreamConfig::Stage1 { cd, .. } if cd[1] == 0x5000_0000)
    );

    // attach_stage1 on a live stream with a changed CD (ASID in dword0 and
    // TTB0 in dword1): V=0, CFGI_CD; dword1, CFGI_CD; dword0, CFGI_CD.
    model.st.borrow_mut().executed.clear();
    smmu.attach_stage1(0x20, &cd(6, 0x6000_0000)).unwrap();
    assert_eq!(opcodes(&model), [0x05, 0x46, 0x05, 0x46, 0x05, 0x46]);
    assert!(
        matches!(model.stream_config(0x20), StreamConfig::Stage1 { cd, .. } if cd[0] >> 48 == 6)
    );

    // Detach: to abort only dword0 changes among the dwords both entries
    // use, so one store and one CFGI_STE + SYNC; dwords 1..2, which the
    // abort STE ignores, are left as they were.
    model.st.borrow_mut().executed.clear();
    let before = smmu.read_ste(0x20).unwrap();
    smmu.detach(0x20).unwrap();
    assert_eq!(opcodes(&model), [0x03, 0x46]);
    let after = smmu.read_ste(0x20).unwrap();
    assert_eq!(after.0[0], Ste::abort().0[0]);
    assert_eq!(after.0[1..], before.0[1..]);
    assert_eq!(model.stream_config(0x20), StreamConfig::Abort);
    assert_eq!(smmu.cd_addr(0x20), None);
}

#[test]
fn ste_update_is_ordered_and_stale_until_cfgi() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let clk = clock();
    let config = Smmuv3Config { vmid: 3, ..cfg() };
    let mut smmu = enabled(&model, &clk, &pool, config);
    smmu.attach_stage1(0x10, &cd(1, 0x4000_0000)).unwrap();
    assert!(matches!(
        model.stream_config(0x10),
        StreamConfig::Stage1 { vmid: 3, .. }
    ));
    // Write an abort STE without CFGI (what config_invalidate needs): stale.
    model.st.borrow_mut().executed.clear();
    smmu.write_ste(0x10, &Ste::abort(), false).unwrap();
    assert!(opcodes(&model).is_empty());
    assert!(matches!(
        model.stream_config(0x10),
        StreamConfig::Stage1 { .. }
    ));
    smmu.cfgi_ste(0x10).unwrap();
    assert_eq!(model.stream_config(0x10), StreamConfig::Abort);
    // Stage 1 → bypass: dwords 0 and 1, both used by both entries, change
    // → abort first (CFGI+SYNC), dwords 1..7 (CFGI+SYNC), then dword0
    // (the final CFGI+SYNC).
    smmu.attach_stage1(0x10, &cd(1, 0x4000_0000)).unwrap();
    model.st.borrow_mut().executed.clear();
    smmu.set_bypass(0x10).unwrap();
    assert_eq!(opcodes(&model), [0x03, 0x46, 0x03, 0x46, 0x03, 0x46]);
    assert_eq!(model.stream_config(0x10), StreamConfig::Bypass);
    // Out-of-range StreamID (beyond SIDSIZE 16).
    assert!(matches!(
        smmu.set_bypass(0x1_0000),
        Err(Smmuv3Error::StreamIdOutOfRange {
            sid: 0x1_0000,
            table_bits: 16
        })
    ));
}

#[test]
fn two_level_stream_table_is_walkable() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let clk = clock();
    let config = Smmuv3Config {
        strtab: StrtabChoice::TwoLevel,
        max_stream_id: 0xffff,
        ..cfg()
    };
    let mut smmu = enabled(&model, &clk, &pool, config);
    assert_eq!(
        smmu.strtab_layout(),
        StrtabLayout::TwoLevel {
            log2size: 16,
            split: 8
        }
    );
    assert_eq!(model.st.borrow().strtab_cfg, (1 << 16) | (8 << 6) | 16);
    // No L2 of its own yet: the shared abort table, silently.
    assert_eq!(model.stream_config(0x1234), StreamConfig::Abort);
    assert_eq!(smmu.strtab_l2_tables(), 1, "span 0, prepared before enable");
    smmu.attach_stage1(0x1234, &cd(2, 0x4000_0000)).unwrap();
    // Publishing the L1 descriptor costs a non-leaf CFGI_STE + SYNC.
    let ex = model.st.borrow().executed.clone();
    assert_eq!(ex[0], [(0x1234 << 32) | 0x03, 0]);
    assert_eq!(ex[2], [(0x1234 << 32) | 0x03, 1]);
    assert!(
        matches!(model.stream_config(0x1234), StreamConfig::Stage1 { cd, .. } if cd[0] >> 48 == 2)
    );
    // Same span, not attached: abort.  Other span: the shared table, abort.
    assert_eq!(model.stream_config(0x12ff), StreamConfig::Abort);
    assert_eq!(model.stream_config(0x1334), StreamConfig::Abort);
    assert_eq!(smmu.strtab_l2_tables(), 2, "span 0 and 0x1234's");
}

/// Issue 11 item 6: every level-1 descriptor is valid from the start and
/// those of unused spans all point at one shared level-2 table of abort
/// STEs; a span gets a table of its own only when a stream in it is
/// attached, and the shared one is never written.
#[test]
fn unused_spans_share_one_abort_table() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let clk = clock();
    let mut smmu = enabled(&model, &clk, &pool, cfg());
    let l1 = model.st.borrow().strtab_base & !0x3f & ((1 << 52) - 1);
    let shared = smmu.strtab_shared_abort_table().unwrap().as_u64();
    let descs =
        |model: &SmmuModel| -> Vec<u64> { (0..256).map(|i| model.mem_read(l1 + 8 * i)).collect() };
    // Span 0 was prepared before enable (as probe.rs does for the run's
    // masters); every other descriptor points at the shared table.
    let d = descs(&model);
    assert!(d[0] & !0x3f != shared && d[0] & 0x1f == 9);
    assert!(d[1..].iter().all(|&d| d == shared | 9), "SPAN 9 → shared");
    assert_eq!(smmu.strtab_l2_tables(), 1);
    for i in 0..256 {
        assert_eq!(model.mem_read(shared + 64 * i), 1, "abort STE {i}");
    }
    smmu.attach_stage1(0x20, &cd(1, 0x4000_0000)).unwrap();
    smmu.attach_stage1(0x4321, &cd(2, 0x4000_0000)).unwrap();
    let d = descs(&model);
    for (i, desc) in d.iter().enumerate() {
        assert_eq!(desc & 0x1f, 9);
        assert_eq!(*desc & !0x3f == shared, i != 0 && i != 0x43, "L1[{i:#x}]");
    }
    assert_eq!(smmu.strtab_l2_tables(), 2);
    for i in 0..256 {
        assert_eq!(
            model.mem_read(shared + 64 * i),
            1,
            "shared STE {i} untouched"
        );
    }
    assert!(matches!(
        model.stream_config(0x4321),
        StreamConfig::Stage1 { .. }
    ));
    assert_eq!(model.stream_config(0x4320), StreamConfig::Abort);
    assert_eq!(model.stream_config(0x21), StreamConfig::Abort);
}

/// Issue 11 item 6: a live master the run does not drive, above the old
/// table's 0xff, DMAs continuously: every transaction aborts silently — no
/// event, no lost record, no EVTQ_ABT_ERR — and the event queue still
/// carries the attached stream's fault afterwards.  Failed before: the
/// stream table covered 0..=0xff only, so each transaction was a
/// C_BAD_STREAMID record (RECINVSID) and the 4-entry queue overflowed.
#[test]
fn an_unknown_master_above_0xff_aborts_without_flooding_the_event_queue() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let clk = clock();
    let config = Smmuv3Config {
        evtq_log2: 2,
        max_stream_id: 0x20,
        ..cfg()
    };
    let mut smmu = enabled(&model, &clk, &pool, config);
    smmu.attach_stage1(0x20, &cd(1, 0x4000_0000)).unwrap();
    for (sid, i) in [0x100u32, 0x1234, 0xffff]
        .iter()
        .flat_map(|s| (0..64).map(move |i| (*s, i)))
    {
        assert_eq!(
            model.translate(sid, 0x1000 * i, i % 2 == 0),
            Err(0),
            "{sid:#x}"
        );
    }
    {
        let st = model.st.borrow();
        assert_eq!(st.evtq_prod, st.evtq_cons, "no record written");
        assert_eq!(st.events_lost, 0);
        assert_eq!((st.gerror ^ st.gerrorn) & (1 << 2), 0, "no EVTQ_ABT_ERR");
        assert_eq!(st.cr2, 0b110, "RECINVSID: the table covers SIDSIZE");
    }
    assert!(smmu.drain_events().is_empty());
    assert!(smmu.check_gerror().unwrap().active.is_empty());
    // The queue still works for the stream the run uses.
    model.inject_event([0x10 | (0x20 << 32), 0, 0x2000, 0]);
    let recs = smmu.drain_events();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].stream_id, 0x20);
}

#[test]
fn range_invalidation_cost_with_and_without_ril() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let clk = clock();
    let mut smmu = enabled(&model, &clk, &pool, cfg());
    let range = VaRange {
        asid: Some(5),
        iova: 0x20_0000,
        size: 512 << 12,
        granule: Granule::Size4K,
        leaf_shift: 12,
        leaf: true,
    };
    let policy = smmu.tlbi_policy(Granule::Size4K);
    assert!(policy.ril);
    let (form, issued) = smmu.tlbi_range(&range, &policy).unwrap();
    assert_eq!(form, TlbiForm::Range);
    assert_eq!((issued.commands, issued.syncs), (1, 1));
    let ex = model.st.borrow().executed.clone();
    assert_eq!(ex[0][0], 0x12 | (5 << 48) | (9 << 20));
    assert_eq!(ex[0][1], 0x20_0000 | 1 | (3 << 8) | (1 << 10));
    // Empty range: nothing issued.
    let (form, issued) = smmu
        .tlbi_range(&VaRange { size: 0, ..range }, &policy)
        .unwrap();
    assert_eq!((form, issued.total()), (TlbiForm::Empty, 0));
    // Per-page fallback on demand.
    let per_page = TlbiPolicy {
        ril: false,
        context_wide_from: Some(512),
    };
    let (form, issued) = smmu
        .tlbi_range(
            &VaRange {
                size: 3 << 12,
                ..range
            },
            &per_page,
        )
        .unwrap();
    assert_eq!((form, issued.commands), (TlbiForm::PerEntry, 3));
    let (form, issued) = smmu.tlbi_range(&range, &per_page).unwrap();
    assert_eq!((form, issued.commands), (TlbiForm::ContextWide, 1));
    // ASID width and RIL availability are checked.
    smmu.tlbi_asid(0xffff).unwrap();
    let model8 = SmmuModel::new(
        mem.range(),
        [QEMU_VIRT_IDRS[0] & !(1 << 12), QEMU_VIRT_IDRS[1], 0x0, 0x74],
    );
    let mut small = enabled(&model8, &clk, &pool, cfg());
    assert!(matches!(
        small.tlbi_asid(0x100),
        Err(Smmuv3Error::IdOutOfRange {
            what: "ASID",
            bits: 8,
            ..
        })
    ));
    let ril = TlbiPolicy::linux_like(true, Granule::Size4K);
    assert!(matches!(
        small.tlbi_range(&range, &ril),
        Err(Smmuv3Error::Unsupported {
            register: "IDR3",
            ..
        })
    ));
    let policy = small.tlbi_policy(Granule::Size4K);
    let (form, _) = small
        .tlbi_range(
            &VaRange {
                asid: Some(5),
                ..range
            },
            &policy,
        )
        .unwrap();
    assert_eq!(form, TlbiForm::ContextWide);
}

#[test]
fn events_are_drained_decoded_and_overflow_reported() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let clk = clock();
    let config = Smmuv3Config {
        evtq_log2: 2,
        ..cfg()
    };
    let mut smmu = enabled(&model, &clk, &pool, config);
    assert!(smmu.drain_events().is_empty());
    for i in 0..3u64 {
        assert!(model.inject_event([0x10 | (0x20 << 32), 0x200 << 32, 0x2_0000 + 4 * i, 0]));
    }
    let recs = smmu.drain_events();
    assert_eq!(recs.len(), 3);
    assert!(recs
        .iter()
        .all(|r| r.kind == EventKind::Translation && r.stream_id == 0x20 && !r.read));
    assert_eq!(recs[2].iova, 0x2_0008);
    assert_eq!(model.st.borrow().evtq_cons, 3);
    // Fill past capacity: QEMU-style loss is a GERROR.EVTQ_ABT_ERR.
    for _ in 0..5 {
        model.inject_event([0x04 | (7 << 32), 0, 0, 0]);
    }
    assert_eq!(model.st.borrow().events_lost, 1);
    let d = smmu.drain_events_max(2);
    assert_eq!(d.records.len(), 2);
    assert!(d.more_pending && !d.overflowed);
    assert_eq!(smmu.drain_events().len(), 2);
    let g = smmu.check_gerror().unwrap();
    assert!(g.active.evtq_abort());
    assert!(
        smmu.check_gerror().unwrap().active.is_empty(),
        "acknowledged"
    );
    // Spec-style loss: OVFLG toggles, the drain reports it once.
    model.st.borrow_mut().overflow_flag = true;
    for _ in 0..5 {
        model.inject_event([0x04 | (7 << 32), 0, 0, 0]);
    }
    let d = smmu.drain_events_max(16);
    assert_eq!(d.records.len(), 4);
    assert!(d.overflowed);
    assert_eq!(d.records[0].kind, EventKind::BadSte);
    assert_ne!(
        model.st.borrow().evtq_cons & (1 << 31),
        0,
        "OVACKFLG copied"
    );
    assert!(!smmu.drain_events_max(16).overflowed);
}

static CLEANS: AtomicUsize = AtomicUsize::new(0);
static INVALS: AtomicUsize = AtomicUsize::new(0);
/// Counts the cleans and invalidates the driver asks for.
struct CountingCaches;
impl CacheMaintenance for CountingCaches {
    fn clean(&self, _: usize, len: usize) {
        assert!(len > 0);
        CLEANS.fetch_add(1, Ordering::Relaxed);
    }
    fn clean_invalidate(&self, _: usize, _: usize) {}
    fn invalidate(&self, _: usize, _: usize) {
        INVALS.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn non_coherent_smmu_gets_cache_maintenance() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let clk = clock();
    let config = Smmuv3Config {
        dt_dma_coherent: false,
        cache_ops: CacheOps {
            cache: &CountingCaches,
            ..CacheOps::COHERENT
        },
        ..cfg()
    };
    let mut smmu = enabled(&model, &clk, &pool, config);
    assert!(!smmu.coherent());
    assert_eq!(smmu.walk_attrs(), Stage1Cd::WALK_NON_COHERENT);
    assert_eq!(model.st.borrow().cr1, 0x820, "NC, outer shareable");
    let before = CLEANS.load(Ordering::Relaxed);
    smmu.attach_stage1(0x20, &cd(5, 0x4000_0000)).unwrap();
    assert!(
        CLEANS.load(Ordering::Relaxed) >= before + 4,
        "CD, STE, commands cleaned"
    );
    let ste = smmu.read_ste(0x20).unwrap();
    assert_eq!(ste.0[1] & 0xff, 2 << 6, "CD fetch NC/NC/OSH");
    model.inject_event([0x10, 0, 0, 0]);
    let before = INVALS.load(Ordering::Relaxed);
    assert_eq!(smmu.drain_events().len(), 1);
    assert!(INVALS.load(Ordering::Relaxed) > before);
}

#[test]
fn probe_refuses_and_validates() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let clk = clock();
    let no_s1 = SmmuModel::new(
        mem.range(),
        [QEMU_VIRT_IDRS[0] & !2, QEMU_VIRT_IDRS[1], 0, 0x74],
    );
    assert!(matches!(
        Smmuv3::probe(Regs::new(&no_s1), &clk, &pool, cfg()),
        Err(Smmuv3Error::Unsupported {
            register: "IDR0",
            ..
        })
    ));
    let vmid8 = SmmuModel::new(
        mem.range(),
        [QEMU_VIRT_IDRS[0] & !(1 << 18), QEMU_VIRT_IDRS[1], 0, 0x74],
    );
    assert!(matches!(
        Smmuv3::probe(
            Regs::new(&vmid8),
            &clk,
            &pool,
            Smmuv3Config {
                vmid: 0x100,
                ..cfg()
            }
        ),
        Err(Smmuv3Error::IdOutOfRange { what: "VMID", .. })
    ));
    let ok = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    assert!(matches!(
        Smmuv3::probe(
            Regs::new(&ok),
            &clk,
            &pool,
            Smmuv3Config {
                max_stream_id: 0x1_0000,
                ..cfg()
            }
        ),
        Err(Smmuv3Error::StreamIdOutOfRange { .. })
    ));
    let mut smmu = Smmuv3::probe(Regs::new(&ok), &clk, &pool, cfg()).unwrap();
    assert!(matches!(smmu.tlbi_nsnh_all(), Err(Smmuv3Error::NotEnabled)));
    // Before enable, STEs are written without commands.
    let issued = smmu.set_bypass(3).unwrap();
    assert_eq!(issued.total(), 0);
    assert_eq!(smmu.read_ste(3).unwrap().kind(), SteKind::Bypass);
}

std::thread_local! {
    /// What [`OrderProbe`] and [`Traced`] saw, in order (per test thread).
    static ORDER: core::cell::RefCell<Vec<&'static str>> = const { core::cell::RefCell::new(Vec::new()) };
}

fn order_note(what: &'static str) {
    ORDER.with(|o| o.borrow_mut().push(what));
}

/// Records barriers and the invalidate that precedes every record read (a
/// non-coherent SMMU: the driver invalidates each record right before it
/// reads it, so "invalidate" marks the record read).
struct OrderProbe;
impl CacheMaintenance for OrderProbe {
    fn clean(&self, _: usize, _: usize) {}
    fn clean_invalidate(&self, _: usize, _: usize) {}
    fn invalidate(&self, _: usize, _: usize) {
        order_note("read record");
    }
    fn barrier(&self, kind: crate::mm::cache::DmaBarrier) {
        order_note(match kind {
            crate::mm::cache::DmaBarrier::Write => "write barrier",
            crate::mm::cache::DmaBarrier::Read => "read barrier",
            crate::mm::cache::DmaBarrier::Full => "full barrier",
        });
    }
}

fn probe_write_barrier() {
    order_note("write barrier");
}

/// The model's register frame, noting the EVTQ_PROD read and EVTQ_CONS write.
struct Traced<'m>(&'m SmmuModel);
impl crate::mmio::Mmio for Traced<'_> {
    fn read8(&self, off: usize) -> u8 {
        (&self.0).read8(off)
    }
    fn write8(&self, off: usize, v: u8) {
        (&self.0).write8(off, v)
    }
    fn read16(&self, off: usize) -> u16 {
        (&self.0).read16(off)
    }
    fn write16(&self, off: usize, v: u16) {
        (&self.0).write16(off, v)
    }
    fn read32(&self, off: usize) -> u32 {
        if off == super::regs::R_EVTQ_PROD.offset {
            order_note("read PROD");
        }
        (&self.0).read32(off)
    }
    fn write32(&self, off: usize, v: u32) {
        if off == super::regs::R_EVTQ_CONS.offset {
            order_note("write CONS");
        }
        (&self.0).write32(off, v)
    }
    fn read64(&self, off: usize) -> u64 {
        (&self.0).read64(off)
    }
    fn write64(&self, off: usize, v: u64) {
        (&self.0).write64(off, v)
    }
}

/// Item 1 of issue 11: entries are read only after a *read* barrier that
/// follows the EVTQ_PROD read, and EVTQ_CONS is written only after a full
/// barrier that follows the last entry read (Linux `queue_sync_prod_in`,
/// `queue_sync_cons_out`; docs/hw/smmuv3.md §11.1).  The old drain issued
/// the write barrier (`DSB ST`) at both places.
#[test]
fn event_drain_orders_prod_read_records_and_cons_write() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let clk = clock();
    let config = Smmuv3Config {
        dt_dma_coherent: false,
        cache_ops: CacheOps {
            cache: &OrderProbe,
            barrier: probe_write_barrier,
        },
        ..cfg()
    };
    let mut smmu = Smmuv3::probe(Regs::new(Traced(&model)), &clk, &pool, config).unwrap();
    smmu.reset_and_enable().unwrap();
    model.inject_event([0x10 | (0x20 << 32), 0, 0x1000, 0]);
    model.inject_event([0x10 | (0x20 << 32), 0, 0x2000, 0]);
    ORDER.with(|o| o.borrow_mut().clear());
    assert_eq!(smmu.drain_events().len(), 2);
    let seen = ORDER.with(|o| o.borrow().clone());
    assert_eq!(
        seen,
        [
            "read PROD",
            "read barrier",
            "read record",
            "read record",
            "full barrier",
            "write CONS"
        ]
    );
}

/// Issue 11 items 3 and 14: the model checks every STE and reachable CD
/// after every single store the driver makes; with the update steps of
/// docs/hw/smmuv3.md §9 no fetch can mix old and new dwords.  The old
/// driver (dwords 1..7, a CPU barrier, dword0) fails here on the first
/// attach: a fetch in flight could pair the new dword0 with the old dword1.
/// Also the live-CD-change path: the STE stays, the CD changes, CFGI_CD.
#[test]
fn live_ste_and_cd_updates_are_never_torn_and_a_live_cd_change_uses_cfgi_cd() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let clk = clock();
    let mut smmu = enabled(&model, &clk, &pool, Smmuv3Config { vmid: 2, ..cfg() });
    smmu.attach_stage1(0x20, &cd(5, 0x4000_0000)).unwrap();
    assert!(
        matches!(model.stream_config(0x20), StreamConfig::Stage1 { cd, .. } if cd[1] == 0x4000_0000)
    );
    let ste = smmu.read_ste(0x20).unwrap();
    // Live CD change: same STE, new ASID and TTB0.
    model.st.borrow_mut().executed.clear();
    smmu.attach_stage1(0x20, &cd(6, 0x5000_0000)).unwrap();
    assert_eq!(smmu.read_ste(0x20).unwrap(), ste, "the STE did not change");
    let ops = opcodes(&model);
    assert!(
        ops.iter().all(|&o| o == 0x05 || o == 0x46),
        "only CFGI_CD + SYNC: {ops:x?}"
    );
    assert!(
        matches!(model.stream_config(0x20), StreamConfig::Stage1 { cd, .. } if cd[1] == 0x5000_0000 && cd[0] >> 48 == 6)
    );
    // Only the ASID changes: one store, hitless.
    model.st.borrow_mut().executed.clear();
    smmu.attach_stage1(0x20, &cd(7, 0x5000_0000)).unwrap();
    assert_eq!(opcodes(&model), [0x05, 0x46]);
    // Stage 1 → bypass → abort → stage 1 again.
    smmu.set_bypass(0x20).unwrap();
    assert_eq!(model.stream_config(0x20), StreamConfig::Bypass);
    smmu.set_abort(0x20).unwrap();
    smmu.attach_stage1(0x20, &cd(8, 0x6000_0000)).unwrap();
    assert!(
        matches!(model.stream_config(0x20), StreamConfig::Stage1 { cd, .. } if cd[0] >> 48 == 8)
    );
    assert_eq!(model.torn(), [], "a fetch could have seen a torn entry");
}

/// The checker itself: the same updates without the intermediate CFGIs
/// (what `write_*(.., false)` does, and what the old driver always did)
/// are caught, for a CD and for an STE.
#[test]
fn updates_without_the_intermediate_cfgi_are_caught_as_torn() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let clk = clock();
    let mut smmu = enabled(&model, &clk, &pool, cfg());
    smmu.attach_stage1(0x20, &cd(5, 0x4000_0000)).unwrap();
    assert_eq!(model.torn(), []);
    smmu.write_cd(0x20, &cd(6, 0x5000_0000), false).unwrap();
    let torn = model.torn();
    assert!(
        torn.iter().any(|t| t.kind == "CD"),
        "CD rewritten without CFGI_CD between steps: {torn:x?}"
    );
    smmu.cfgi_cd(0x20).unwrap();
    smmu.write_ste(0x21, &smmu.stage1_ste(BusAddr(0x4000_0040)).unwrap(), false)
        .unwrap();
    let torn = model.torn();
    assert!(
        torn.iter().any(|t| t.kind == "STE"),
        "STE installed without CFGI_STE between dwords 1..7 and dword0: {torn:x?}"
    );
}

/// Issue 11 item 7: GERROR.CMDQ_ERR active with CMDQ_CONS.ERR = 0
/// (CERROR_NONE) must not overwrite the command at CONS; the old recovery
/// replaced it with a CMD_SYNC, silently dropping the command.
#[test]
fn a_command_error_with_code_zero_leaves_the_command_in_place() {
    let mem = TestMem::new(4 << 20);
    let pool = mem.pool();
    let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
    let clk = clock();
    let mut smmu = enabled(&model, &clk, &pool, cfg());
    model.st.borrow_mut().executed.clear();
    model.st.borrow_mut().gerror ^= 1; // CMDQ_ERR active, CONS.ERR = 0
    let r = smmu.submit(&[Command::TlbiNhAsid { vmid: 0, asid: 9 }], true);
    assert!(
        matches!(r, Err(Smmuv3Error::Command(e)) if e.kind == CommandErrorKind::Unknown(0)),
        "{r:?}"
    );
    assert_eq!(opcodes(&model), [0x11, 0x46], "the TLBI still ran");
}

/// Issue 11 item 7: an SMMU that decodes Page 0 only
/// (`cavium,cn9900-broken-page1-regspace`): with `page0_regs_only` the
/// driver reaches EVTQ_PROD/CONS at 0xA8/0xAC and never touches Page 1 —
/// enable, attach, an event recorded and drained.  The same run without the
/// option goes to Page 1 (and would panic on this model).
#[test]
fn page0_only_smmu_is_driven_without_page1() {
    for page0 in [true, false] {
        let mem = TestMem::new(4 << 20);
        let pool = mem.pool();
        let model = SmmuModel::new(mem.range(), QEMU_VIRT_IDRS);
        model.st.borrow_mut().page0_regs_only = page0;
        let clk = clock();
        let config = Smmuv3Config {
            page0_regs_only: page0,
            ..cfg()
        };
        let regs = Regs::for_config(&model, &config);
        assert_eq!(regs.page0_only(), page0);
        let mut smmu = Smmuv3::probe(regs, &clk, &pool, config).unwrap();
        smmu.reset_and_enable().unwrap();
        smmu.attach_stage1(0x20, &cd(1, 0x4000_0000)).unwrap();
        assert!(model.inject_event([0x10 | (0x20 << 32), 0, 0x3000, 0]));
        let recs = smmu.drain_events();
        assert_eq!(recs.len(), 1);
        assert_eq!((recs[0].stream_id, recs[0].iova), (0x20, 0x3000));
        let st = model.st.borrow();
        assert_eq!(st.evtq_cons, 1, "CONS written back");
        if page0 {
            assert!(st.page1_accesses.is_empty(), "{:x?}", st.page1_accesses);
            assert!(st.writes.iter().any(|w| w.0 == 0xAC), "EVTQ_CONS at 0xAC");
        } else {
            assert!(st.page1_accesses.contains(&0x100A8), "EVTQ_PROD on Page 1");
            assert!(st.page1_accesses.contains(&0x100AC), "EVTQ_CONS on Page 1");
        }
    }
}
