//! Bytes shared read-only between the store that holds them and the engine that reads them in
//! place: a memory-mapped snapshot file, or an aligned copy in memory.

use std::sync::Arc;

/// Bytes shared read-only, their start aligned to 8 bytes.
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// Bytes held in 8-byte words, so that what is read from them in place is aligned as a mapped
/// file's pages are.
#[derive(Clone, Debug, Default)]
pub struct Aligned {
    words: Vec<u64>,
    len: usize,
}

impl Aligned {
    pub fn copy_of(bytes: &[u8]) -> Self {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Aligned {
            words,
            len: bytes.len(),
        }
    }

    /// A shared copy of `bytes`.
    pub fn shared(bytes: &[u8]) -> SharedBytes {
        Arc::new(Aligned::copy_of(bytes))
    }
}

impl AsRef<[u8]> for Aligned {
    fn as_ref(&self) -> &[u8] {
        &bytemuck::cast_slice::<u64, u8>(&self.words)[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::Aligned;

    #[test]
    fn a_copy_holds_the_same_bytes_at_an_aligned_address() {
        for length in [0, 1, 7, 8, 9, 100] {
            let bytes: Vec<u8> = (0..length as u8).collect();
            let copy = Aligned::copy_of(&bytes);
            assert_eq!(copy.as_ref(), &bytes[..]);
            assert_eq!(copy.as_ref().as_ptr() as usize % 8, 0);
        }
    }
}
