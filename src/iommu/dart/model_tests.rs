//! Host tests of the DART model itself, through raw register accesses (no
//! driver): the bring-up sequences and golden values of docs/hw/dart.md
//! "Behavioural model (host)" §M8, and every behaviour §M9 says the model
//! implements.

use super::model::regs::{t8020, t8110};
use super::model::*;
use crate::mm::host_ram::{self, HostRam};
use crate::mmio::{Mmio, ModelMmio};

/// Host RAM behind two windows: tables and data.
struct Rig {
    dart: Dart,
    mmio: ModelMmio<Dart>,
    tables: Window,
    data: Window,
    _ram: (HostRam, HostRam),
}

fn rig(variant: Variant, knobs: Knobs, table_bus: u64, data_bus: u64) -> Rig {
    let t = HostRam::new(2 << 20);
    let d = HostRam::new(2 << 20);
    let tables = Window {
        bus: table_bus,
        host: t.range().base.as_u64(),
        len: 2 << 20,
    };
    let data = Window {
        bus: data_bus,
        host: d.range().base.as_u64(),
        len: 2 << 20,
    };
    let dart = Dart::from_model(
        DartModel::new(variant, knobs)
            .with_window(tables)
            .with_window(data),
    );
    Rig {
        mmio: ModelMmio::new(dart.clone()),
        dart,
        tables,
        data,
        _ram: (t, d),
    }
}

impl Rig {
    fn rd(&self, off: usize) -> u32 {
        self.mmio.read32(off)
    }

    fn wr(&self, off: usize, v: u32) {
        self.mmio.write32(off, v);
    }

    fn mem_write(&self, bus: u64, v: u64) {
        let host = self
            .tables
            .host(bus)
            .or_else(|| self.data.host(bus))
            .expect("bus address in a window");
        host_ram::write_u64(host, v);
    }

    fn xl(&self, sid: u32, iova: u64, write: bool) -> Option<u64> {
        self.dart.model_mut().translate_bus(sid, iova, write)
    }

    fn misuse(&self) -> alloc::vec::Vec<Misuse> {
        self.dart.model().misuse().to_vec()
    }
}

#[test]
fn golden_case_a_t8103_through_the_registers() {
    let r = rig(T8103, Knobs::default(), 0x8_0010_0000, 0x8_0120_0000);
    // m1n1-py `initialize` (T8020), then `iomap_at` and `invalidate_streams`.
    for sid in 0..15 {
        r.wr(t8020::TCR + 4 * sid, 0x80);
    }
    r.wr(t8020::TCR + 4 * 15, 0x100);
    r.wr(t8020::ENABLED_STREAMS, 1);
    r.wr(t8020::TTBR, 0x8080_0100);
    r.mem_write(0x8_0010_0200, 0x0000_0008_0010_4003);
    r.mem_write(0x8_0010_4008, 0x000f_ff08_0123_4003);
    r.wr(t8020::STREAM_SELECT, 1);
    r.wr(t8020::STREAM_COMMAND, t8020::CMD_INVALIDATE);
    while r.rd(t8020::STREAM_COMMAND) & t8020::CMD_BUSY != 0 {}
    assert_eq!(r.xl(0, 0x8000_4123, false), Some(0x8_0123_4123));
    assert!(r.misuse().is_empty(), "{:?}", r.misuse());
    let _ = t8110::TLB_OP;
}
