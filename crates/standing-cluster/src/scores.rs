//! Scores as the workers exchange them: serialised as one run of bytes (the values' own
//! little-endian bytes, copied whole), not value by value, which at a country's scale is the
//! difference between a memory copy and tens of millions of calls per sweep.

use serde::de::{Error, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[cfg(not(target_endian = "little"))]
compile_error!("scores are exchanged as little-endian bytes: a big-endian build needs a swap here");

/// A run of scores.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Scores(pub(crate) Vec<f64>);

impl Serialize for Scores {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(bytemuck::cast_slice(&self.0))
    }
}

struct ScoresVisitor;

impl<'de> Visitor<'de> for ScoresVisitor {
    type Value = Scores;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("bytes of little-endian f64s")
    }

    fn visit_bytes<E: Error>(self, bytes: &[u8]) -> Result<Scores, E> {
        if !bytes.len().is_multiple_of(8) {
            return Err(E::invalid_length(bytes.len(), &self));
        }
        let values = bytes
            .chunks_exact(8)
            .map(|value| f64::from_le_bytes(value.try_into().expect("8 bytes")))
            .collect();
        Ok(Scores(values))
    }

    fn visit_byte_buf<E: Error>(self, bytes: Vec<u8>) -> Result<Scores, E> {
        self.visit_bytes(&bytes)
    }
}

impl<'de> Deserialize<'de> for Scores {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Scores, D::Error> {
        deserializer.deserialize_bytes(ScoresVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_go_through_bincode_bit_for_bit() {
        let scores = Scores(vec![
            0.0,
            -0.0,
            1.5,
            f64::MIN_POSITIVE,
            1e308,
            f64::NAN,
            -3.25,
        ]);
        let bytes = bincode::serialize(&scores).unwrap();
        assert_eq!(
            bytes.len(),
            8 + 8 * scores.0.len(),
            "a length, then the values' bytes"
        );
        let back: Scores = bincode::deserialize(&bytes).unwrap();
        let bits = |s: &Scores| s.0.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&scores));
        assert!(bincode::deserialize::<Scores>(&bytes[..bytes.len() - 3]).is_err());
    }
}
