//! A hash whose value is part of Standing's stored formats (rule keys in snapshots, model
//! fingerprints, decision ids), so it must never change between builds, platforms or Rust
//! releases — which `std`'s `DefaultHasher` does not promise. FNV-1a, 64 bit, over explicit
//! little-endian bytes.

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a (64 bit). Feed it with the `write_*` methods; each writes a fixed byte form.
#[derive(Clone, Debug)]
pub struct StableHasher(u64);

impl Default for StableHasher {
    fn default() -> Self {
        Self(OFFSET_BASIS)
    }
}

impl StableHasher {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn write(&mut self, bytes: &[u8]) -> &mut Self {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(PRIME);
        }
        self
    }

    /// Writes a length prefix and the bytes, so that ("ab","c") and ("a","bc") differ.
    pub fn write_str(&mut self, text: &str) -> &mut Self {
        self.write_u64(text.len() as u64).write(text.as_bytes())
    }

    pub fn write_u64(&mut self, value: u64) -> &mut Self {
        self.write(&value.to_le_bytes())
    }

    pub fn write_i64(&mut self, value: i64) -> &mut Self {
        self.write(&value.to_le_bytes())
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::StableHasher;

    #[test]
    fn matches_the_published_fnv_1a_test_vectors() {
        assert_eq!(StableHasher::new().finish(), 0xcbf2_9ce4_8422_2325);
        assert_eq!(
            StableHasher::new().write(b"a").finish(),
            0xaf63_dc4c_8601_ec8c
        );
        assert_eq!(
            StableHasher::new().write(b"foobar").finish(),
            0x8594_4171_f739_67e8
        );
    }

    #[test]
    fn length_prefixes_keep_split_strings_apart() {
        let joined = |a: &str, b: &str| StableHasher::new().write_str(a).write_str(b).finish();
        assert_ne!(joined("ab", "c"), joined("a", "bc"));
    }
}
