//! The SMMUv2 driver against a register-recording fake and the model.
