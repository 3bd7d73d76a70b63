//! The canonical byte encoding shared by every consensus type.
//!
//! Integers are fixed-width little-endian, byte arrays are written as they are and sequences carry
//! a `u32` count. Every value therefore has exactly one encoding; decoding reads exactly that form
//! and rejects anything left over, so ids computed over encodings are unique and stable.

/// Why bytes do not decode to the expected value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the value was complete.
    #[error("input ended early: needed {needed} more bytes, {remaining} left")]
    UnexpectedEnd {
        /// Bytes the next field needs.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// The value was complete but bytes were left over.
    #[error("{0} trailing bytes after the value")]
    TrailingBytes(usize),
    /// A sequence announces more items than the remaining input could hold.
    #[error("sequence of {count} items cannot fit in the {remaining} bytes left")]
    CountTooLarge {
        /// The announced count.
        count: u32,
        /// Bytes left in the input.
        remaining: usize,
    },
}

/// Types with a canonical encoding.
pub trait Encode {
    /// Appends the canonical encoding to `out`.
    fn encode_to(&self, out: &mut Vec<u8>);

    /// Length of the canonical encoding in bytes.
    fn encoded_len(&self) -> usize;

    /// The canonical encoding as a new vector.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_to(&mut out);
        out
    }
}

/// Types that decode from their canonical encoding.
pub trait Decode: Sized {
    /// Reads one value from the reader, leaving the reader after it.
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Decodes a whole buffer: exactly one value and nothing after it.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let value = Self::decode_from(&mut r)?;
        r.finish()?;
        Ok(value)
    }
}

/// A cursor over input bytes that never reads past the end.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader positioned at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::UnexpectedEnd {
                needed: n,
                remaining: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Takes the next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads a little-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// Reads a little-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// Reads a sequence count and checks that `count` items of at least `min_item_len` bytes
    /// can fit in what is left, so a forged count cannot make the caller allocate.
    pub fn count(&mut self, min_item_len: usize) -> Result<u32, DecodeError> {
        let count = self.u32()?;
        let fits = (count as usize)
            .checked_mul(min_item_len.max(1))
            .is_some_and(|need| need <= self.buf.len());
        if !fits {
            return Err(DecodeError::CountTooLarge {
                count,
                remaining: self.buf.len(),
            });
        }
        Ok(count)
    }

    /// Succeeds only if every byte was read.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

/// Appends a little-endian `u32`.
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a little-endian `u64`.
pub fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reports_short_input() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(
            r.u32(),
            Err(DecodeError::UnexpectedEnd {
                needed: 4,
                remaining: 3
            })
        );
    }

    #[test]
    fn reader_rejects_trailing_bytes() {
        let mut r = Reader::new(&[1, 0, 0, 0, 9]);
        assert_eq!(r.u32(), Ok(1));
        assert_eq!(r.finish(), Err(DecodeError::TrailingBytes(1)));
    }

    #[test]
    fn count_cannot_exceed_input() {
        let mut bytes = vec![];
        put_u32(&mut bytes, 3);
        bytes.extend_from_slice(&[0; 20]);
        assert_eq!(Reader::new(&bytes).count(6), Ok(3));
        assert_eq!(
            Reader::new(&bytes).count(10),
            Err(DecodeError::CountTooLarge {
                count: 3,
                remaining: 20
            })
        );
        let mut huge = vec![];
        put_u32(&mut huge, u32::MAX);
        assert!(Reader::new(&huge).count(usize::MAX / 2).is_err());
    }
}
