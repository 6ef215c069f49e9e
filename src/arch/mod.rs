//! CPU architecture support (aarch64 only, bare metal).
//!
//! This is where `unsafe` lives: entry assembly, system registers, cache
//! maintenance, the CPU MMU, SMCCC/semihosting calls.  Each `unsafe` block
//! carries a `// SAFETY:` comment.  Everything above this layer is safe code.

pub mod aarch64;
