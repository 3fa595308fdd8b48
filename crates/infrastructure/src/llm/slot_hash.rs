// The hash that places a token in the rank table (`cl100k.slots`): FNV-1a, 64-bit. Included
// by `build.rs`, which writes the table, and by `tokens.rs`, which probes it — one definition,
// so the two cannot disagree.

/// FNV-1a of `bytes`.
fn slot_hash(bytes: &[u8]) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as usize
}
