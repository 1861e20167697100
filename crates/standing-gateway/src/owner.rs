//! Which process owns a subject: a stable hash of its id, the same on every process, machine and
//! version, so a subject never moves while the cluster's list of processes stays the same.

/// FNV-1a over the id's bytes, then SplitMix64's finaliser to spread the low bits.
fn hash(subject: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for &byte in subject.as_bytes() {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    let mut z = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The process (of `processes`) that owns `subject`.
pub fn owner_of(subject: &str, processes: usize) -> usize {
    assert!(processes > 0, "a cluster has at least one process");
    (hash(subject) % processes as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::owner_of;

    #[test]
    fn owners_are_fixed_and_even() {
        // Fixed: a subject's owner is part of every data directory's meaning.
        let fixed: Vec<usize> = ["p-1", "p-2", "p-3", "org-77", ""]
            .iter()
            .map(|s| owner_of(s, 3))
            .collect();
        assert_eq!(fixed, vec![1, 0, 0, 0, 0]);
        let mut counts = [0usize; 3];
        for i in 0..30_000 {
            counts[owner_of(&format!("p-{i}"), 3)] += 1;
        }
        for count in counts {
            assert!((9_500..=10_500).contains(&count), "{counts:?}");
        }
        assert!((0..100).all(|i| owner_of(&format!("s{i}"), 1) == 0));
    }
}
