//! The register seam in miniature: a driver written against `Mmio` with
//! `tock-registers` fields, run against a host model through `ModelMmio`.

use iommu_bringup::mmio::{Mmio, ModelMmio, Reg32, Reg64, RegisterModel, Width};
use tock_registers::register_bitfields;

register_bitfields![u32,
    CTRL [
        EN OFFSET(0) NUMBITS(1) [],
        MODE OFFSET(1) NUMBITS(2) [Off = 0, Fast = 2]
    ],
    STATUS [
        READY OFFSET(0) NUMBITS(1) [],
        MODE_ACK OFFSET(4) NUMBITS(2) []
    ]
];

const REG_CTRL: Reg32<CTRL::Register> = Reg32::at(0x0);
const REG_STATUS: Reg32<STATUS::Register> = Reg32::at(0x4);
const REG_BASE: Reg64 = Reg64::at(0x8);

/// A toy device: STATUS.READY follows CTRL.EN and STATUS.MODE_ACK echoes
/// CTRL.MODE; every access is logged.
#[derive(Default)]
struct ToyDevice {
    ctrl: u32,
    base: u64,
    log: Vec<(char, usize, Width, u64)>,
}

impl RegisterModel for ToyDevice {
    fn read(&mut self, off: usize, width: Width) -> u64 {
        let v = match off {
            0x0 => u64::from(self.ctrl),
            0x4 => u64::from((self.ctrl & 1) | ((self.ctrl >> 1) & 3) << 4),
            0x8 => self.base,
            _ => 0,
        };
        self.log.push(('r', off, width, v));
        v
    }
    fn write(&mut self, off: usize, width: Width, val: u64) {
        self.log.push(('w', off, width, val));
        match off {
            0x0 => self.ctrl = val as u32,
            0x8 => self.base = val,
            _ => {}
        }
    }
}

/// What a driver's enable routine looks like.
fn enable(mmio: &impl Mmio) -> bool {
    REG_BASE.set_raw(mmio, 0x8000_1000);
    REG_CTRL.set(mmio, CTRL::MODE::Fast);
    REG_CTRL.modify(mmio, CTRL::EN::SET);
    let st = REG_STATUS.get(mmio);
    st.is_set(STATUS::READY) && st.read(STATUS::MODE_ACK) == 2
}

#[test]
fn driver_code_runs_against_a_register_model() {
    let dev = ModelMmio::new(ToyDevice::default());
    assert!(enable(&dev));
    assert_eq!(dev.model().ctrl, 0b101);
    assert_eq!(REG_BASE.get(&dev).get(), 0x8000_1000);
    let log = dev.into_inner().log;
    assert_eq!(
        log,
        [
            ('w', 0x8, Width::W64, 0x8000_1000),
            ('w', 0x0, Width::W32, 0b100),
            ('r', 0x0, Width::W32, 0b100),
            ('w', 0x0, Width::W32, 0b101),
            ('r', 0x4, Width::W32, 0x21),
            ('r', 0x8, Width::W64, 0x8000_1000),
        ]
    );
}
