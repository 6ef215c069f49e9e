//! CPU architecture support (aarch64 only): entry, exceptions, MMU, timer.
