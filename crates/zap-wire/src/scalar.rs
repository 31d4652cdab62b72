//! Fixed-width values stored inline, little-endian.

mod sealed {
    pub trait Sealed {}
}

/// A value stored inline in an object or list: integers, floats and bool.
///
/// Sealed: the set of inline kinds is the format's, not the caller's.
pub trait Scalar: sealed::Sealed + Copy + Default {
    /// Bytes on the wire.
    const WIDTH: usize;
    /// Decodes from the first `WIDTH` little-endian bytes of `bytes`.
    ///
    /// # Panics
    ///
    /// If `bytes` is shorter than `WIDTH`; the readers of this crate check first.
    fn from_le(bytes: &[u8]) -> Self;
    /// Writes the `WIDTH` little-endian bytes of `self` to the start of `out`.
    ///
    /// # Panics
    ///
    /// If `out` is shorter than `WIDTH`.
    fn write_le(self, out: &mut [u8]);
}

macro_rules! int_scalar {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Scalar for $t {
            const WIDTH: usize = std::mem::size_of::<$t>();
            #[inline]
            fn from_le(bytes: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(&bytes[..Self::WIDTH]);
                <$t>::from_le_bytes(a)
            }
            #[inline]
            fn write_le(self, out: &mut [u8]) {
                out[..Self::WIDTH].copy_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}

int_scalar!(u8, i8, u16, i16, u32, i32, u64, i64, f32, f64);

impl sealed::Sealed for bool {}
impl Scalar for bool {
    const WIDTH: usize = 1;
    // Any non-zero byte is true, as the Go reader has it.
    #[inline]
    fn from_le(bytes: &[u8]) -> Self {
        bytes[0] != 0
    }
    #[inline]
    fn write_le(self, out: &mut [u8]) {
        out[0] = u8::from(self);
    }
}
