//! Counting the relocations a RELR section holds (ELF gABI, "Dynamic
//! Section", `DT_RELR`; docs/architecture.md, boot sequence): an even word
//! is the offset of one relocated pointer, an odd word a bitmap whose bits
//! 1..=63 each mark one.  The `relocation_applied` case compares this count
//! (plus the RELA entries) with the one `boot.S` reports, so a decoder in
//! the boot assembly that skips entries fails the run instead of leaving
//! pointers unrelocated at some load addresses.
#![forbid(unsafe_code)]

/// Relocations `words` (a `.relr.dyn` section) describe.
pub fn count(words: &[u64]) -> u64 {
    words
        .iter()
        .map(|&w| {
            if w & 1 == 0 {
                1
            } else {
                u64::from((w >> 1).count_ones())
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn addresses_count_one_and_bitmaps_their_set_bits_above_bit_0() {
        assert_eq!(count(&[]), 0);
        // One address, then a bitmap for the next 3 of 63 slots.
        assert_eq!(count(&[0x1000, 0b1011 | 1]), 1 + 2);
        // A full bitmap: 63 pointers.
        assert_eq!(count(&[0x2000, u64::MAX]), 1 + 63);
        // The marker bit alone relocates nothing.
        assert_eq!(count(&[0x3000, 1]), 1);
    }
}
