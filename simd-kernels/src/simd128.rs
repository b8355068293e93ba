//! A `reed-solomon-simd` engine on WebAssembly SIMD128, so that a Wasm component can erasure-code
//! at SIMD speed without calling the host.
//!
//! It is the crate's SSSE3 engine (`engine_ssse3.rs`) ported to `core::arch::wasm32`: the same
//! algorithm and the same tables as every other engine, so parity is bit-identical to the native
//! host's. `pshufb` becomes `i8x16.swizzle`, which agrees with it because every index is a
//! nibble (0..16).
//!
//! Every function that touches `v128` enables `simd128` itself, so the SIMD code is emitted even
//! when the crate is not built with `-C target-feature=+simd128`.

use core::arch::wasm32::{i8x16_swizzle, u8x16_shr, u8x16_splat, v128, v128_and, v128_load, v128_store, v128_xor};
use core::iter::zip;
use core::ptr;

use reed_solomon_simd::engine::tables::{Mul128, Multiply128lutT, Skew};
use reed_solomon_simd::engine::{Engine, GF_MODULUS, GF_ORDER, GfElement, ShardsRefMut, utils};

/// Reed-Solomon engine on WebAssembly SIMD128.
#[derive(Clone, Copy)]
pub struct Simd128 {
    /// Per multiplier (by logarithm), the nibble tables that `i8x16.swizzle` looks products up in.
    mul128: &'static Mul128,
    /// The logarithms of the FFT twiddle factors, shared by all engines.
    skew: &'static Skew,
}

impl Simd128 {
    /// Borrows the multiplication and skew tables, precomputed at build time (build.rs).
    pub fn new() -> Self {
        Self { mul128: precomputed::mul128(), skew: precomputed::skew() }
    }
}

/// reed-solomon-simd's own tables, computed by build.rs and embedded, so that a fresh instance
/// does not spend ~13 ms building them. The bit-identical tests against the native engine
/// check that they are read back exactly.
mod precomputed {
    use super::{Mul128, Multiply128lutT, Skew};

    /// Embedded bytes at the alignment of the table types (u128 and u16).
    #[repr(C, align(16))]
    struct Aligned<Bytes: ?Sized>(Bytes);

    static MUL128: &Aligned<[u8; 128 << 16]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/mul128.bin")));
    static SKEW: &Aligned<[u8; 2 * 65535]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/skew.bin")));

    const _: () = assert!(size_of::<Mul128>() == 128 << 16 && size_of::<Multiply128lutT>() == 128);
    const _: () = assert!(size_of::<Skew>() == 2 * 65535);

    pub fn mul128() -> &'static Mul128 {
        // SAFETY: the bytes are a little-endian `[Multiply128lutT; 65536]` (each `lo` then `hi`,
        // four u128 each, as build.rs writes them; Wasm is little-endian), sized and aligned for
        // it by the assertions and `Aligned` above, and immutable for the program's life.
        unsafe { &*MUL128.0.as_ptr().cast::<Mul128>() }
    }

    pub fn skew() -> &'static Skew {
        // SAFETY: as above, for `[u16; 65535]`.
        unsafe { &*SKEW.0.as_ptr().cast::<Skew>() }
    }
}

impl Default for Simd128 {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine for Simd128 {
    fn fft(&self, data: &mut ShardsRefMut, pos: usize, size: usize, truncated_size: usize, skew_delta: usize) {
        self.fft_simd128(data, pos, size, truncated_size, skew_delta);
    }

    fn ifft(&self, data: &mut ShardsRefMut, pos: usize, size: usize, truncated_size: usize, skew_delta: usize) {
        self.ifft_simd128(data, pos, size, truncated_size, skew_delta);
    }

    fn mul(&self, x: &mut [[u8; 64]], log_m: GfElement) {
        self.mul_simd128(x, log_m);
    }

    fn eval_poly(erasures: &mut [GfElement; GF_ORDER], truncated_size: usize) {
        eval_poly_simd128(erasures, truncated_size);
    }
}

/// Sixteen GF(2^16) symbols. Leopard stores a 64-byte chunk of 32 symbols as their 32 low bytes
/// followed by their 32 high bytes, so a chunk is two of these.
#[derive(Clone, Copy)]
struct Symbols {
    lo: v128,
    hi: v128,
}

impl Symbols {
    /// Addition in GF(2^16).
    #[target_feature(enable = "simd128")]
    #[inline]
    fn xor(self, other: Self) -> Self {
        Self { lo: v128_xor(self.lo, other.lo), hi: v128_xor(self.hi, other.hi) }
    }
}

/// The 32 symbols of a chunk, as symbols 0..16 and 16..32.
#[target_feature(enable = "simd128")]
#[inline]
fn load(chunk: &[u8; 64]) -> [Symbols; 2] {
    let vectors = chunk.as_ptr().cast::<v128>();
    // SAFETY: a chunk is four vectors' worth of bytes, and `v128_load` needs no alignment.
    unsafe {
        [
            Symbols { lo: v128_load(vectors), hi: v128_load(vectors.add(2)) },
            Symbols { lo: v128_load(vectors.add(1)), hi: v128_load(vectors.add(3)) },
        ]
    }
}

/// Writes back what `load` read.
#[target_feature(enable = "simd128")]
#[inline]
fn store(chunk: &mut [u8; 64], [first, second]: [Symbols; 2]) {
    let vectors = chunk.as_mut_ptr().cast::<v128>();
    // SAFETY: as in `load`, for writing.
    unsafe {
        v128_store(vectors, first.lo);
        v128_store(vectors.add(1), second.lo);
        v128_store(vectors.add(2), first.hi);
        v128_store(vectors.add(3), second.hi);
    }
}

/// Multiplication by one constant as sixteen-entry tables that `i8x16.swizzle` can index: entry
/// `n` of table `k` is the constant times nibble value `n` at nibble `k` of a symbol (low nibble
/// of the low byte first), split into the product's low and high bytes.
struct Multiplier {
    lo: [v128; 4],
    hi: [v128; 4],
}

impl Multiplier {
    #[target_feature(enable = "simd128")]
    #[inline]
    fn new(tables: &Multiply128lutT) -> Self {
        // SAFETY: a u128 is 16 readable bytes, laid out little-endian like a v128.
        let vector = |table: &u128| unsafe { v128_load(ptr::from_ref(table).cast()) };
        Self { lo: tables.lo.each_ref().map(vector), hi: tables.hi.each_ref().map(vector) }
    }

    /// The product is the xor of the products of the symbols' four nibbles.
    #[target_feature(enable = "simd128")]
    #[inline]
    fn times(&self, symbols: Symbols) -> Symbols {
        let low_nibble = u8x16_splat(0x0f);
        // A byte shift by 4 leaves only the high nibble, so it needs no mask (SSSE3 has no byte
        // shift and masks after a 64-bit one).
        let nibbles =
            [v128_and(symbols.lo, low_nibble), u8x16_shr(symbols.lo, 4), v128_and(symbols.hi, low_nibble), u8x16_shr(symbols.hi, 4)];
        let mut product = Symbols { lo: u8x16_splat(0), hi: u8x16_splat(0) };
        for (k, nibble) in nibbles.into_iter().enumerate() {
            product.lo = v128_xor(product.lo, i8x16_swizzle(self.lo[k], nibble));
            product.hi = v128_xor(product.hi, i8x16_swizzle(self.hi[k], nibble));
        }
        product
    }
}

impl Simd128 {
    #[target_feature(enable = "simd128")]
    #[inline]
    fn multiplier(&self, log_m: GfElement) -> Multiplier {
        Multiplier::new(&self.mul128[usize::from(log_m)])
    }

    /// `x[] *= m`, with `log_m` the logarithm of m.
    #[target_feature(enable = "simd128")]
    fn mul_simd128(&self, x: &mut [[u8; 64]], log_m: GfElement) {
        let multiplier = self.multiplier(log_m);
        for chunk in x {
            let [first, second] = load(chunk);
            store(chunk, [multiplier.times(first), multiplier.times(second)]);
        }
    }
}

// The FFT and IFFT below walk the shards exactly as `NoSimd` and `Ssse3` do: two layers of
// butterflies at a time, then one last layer when the size is an odd power of two.

impl Simd128 {
    #[target_feature(enable = "simd128")]
    fn fft_simd128(&self, data: &mut ShardsRefMut, pos: usize, size: usize, truncated_size: usize, skew_delta: usize) {
        let mut dist4 = size;
        let mut dist = size >> 2;
        while dist != 0 {
            for r in (0..truncated_size).step_by(dist4) {
                let base = r + dist + skew_delta - 1;
                let log_m01 = self.skew[base];
                let log_m02 = self.skew[base + dist];
                let log_m23 = self.skew[base + dist * 2];
                for i in r..r + dist {
                    let (s0, s1, s2, s3) = data.dist4_mut(pos + i, dist);
                    self.fft_butterfly(s0, s2, log_m02);
                    self.fft_butterfly(s1, s3, log_m02);
                    self.fft_butterfly(s0, s1, log_m01);
                    self.fft_butterfly(s2, s3, log_m23);
                }
            }
            dist4 = dist;
            dist >>= 2;
        }

        if dist4 == 2 {
            for r in (0..truncated_size).step_by(2) {
                let (x, y) = data.dist2_mut(pos + r, 1);
                self.fft_butterfly(x, y, self.skew[r + skew_delta]);
            }
        }
    }

    /// `x ^= y * m; y ^= x`, chunk by chunk (LEO_FFTB_128).
    #[target_feature(enable = "simd128")]
    #[inline]
    fn fft_butterfly(&self, x: &mut [[u8; 64]], y: &mut [[u8; 64]], log_m: GfElement) {
        // A skew of GF_MODULUS stands for the factor zero: only the xor is left.
        if log_m == GF_MODULUS {
            utils::xor(y, x);
            return;
        }
        let multiplier = self.multiplier(log_m);
        for (x_chunk, y_chunk) in zip(x, y) {
            let (mut xs, mut ys) = (load(x_chunk), load(y_chunk));
            for (x, y) in zip(&mut xs, &mut ys) {
                *x = x.xor(multiplier.times(*y));
                *y = y.xor(*x);
            }
            store(x_chunk, xs);
            store(y_chunk, ys);
        }
    }

    #[target_feature(enable = "simd128")]
    fn ifft_simd128(&self, data: &mut ShardsRefMut, pos: usize, size: usize, truncated_size: usize, skew_delta: usize) {
        let mut dist = 1;
        let mut dist4 = 4;
        while dist4 <= size {
            for r in (0..truncated_size).step_by(dist4) {
                let base = r + dist + skew_delta - 1;
                let log_m01 = self.skew[base];
                let log_m02 = self.skew[base + dist];
                let log_m23 = self.skew[base + dist * 2];
                for i in r..r + dist {
                    let (s0, s1, s2, s3) = data.dist4_mut(pos + i, dist);
                    self.ifft_butterfly(s0, s1, log_m01);
                    self.ifft_butterfly(s2, s3, log_m23);
                    self.ifft_butterfly(s0, s2, log_m02);
                    self.ifft_butterfly(s1, s3, log_m02);
                }
            }
            dist = dist4;
            dist4 <<= 2;
        }

        if dist < size {
            let log_m = self.skew[dist + skew_delta - 1];
            for i in 0..dist {
                let (x, y) = data.dist2_mut(pos + i, dist);
                self.ifft_butterfly(x, y, log_m);
            }
        }
    }

    /// `y ^= x; x ^= y * m`, chunk by chunk (LEO_IFFTB_128).
    #[target_feature(enable = "simd128")]
    #[inline]
    fn ifft_butterfly(&self, x: &mut [[u8; 64]], y: &mut [[u8; 64]], log_m: GfElement) {
        // A skew of GF_MODULUS stands for the factor zero: only the xor is left.
        if log_m == GF_MODULUS {
            utils::xor(y, x);
            return;
        }
        let multiplier = self.multiplier(log_m);
        for (x_chunk, y_chunk) in zip(x, y) {
            let (mut xs, mut ys) = (load(x_chunk), load(y_chunk));
            for (x, y) in zip(&mut xs, &mut ys) {
                *y = y.xor(*x);
                *x = x.xor(multiplier.times(*y));
            }
            store(x_chunk, xs);
            store(y_chunk, ys);
        }
    }
}

/// The shared polynomial evaluation, compiled here with `simd128` so that LLVM can vectorize its
/// Walsh-Hadamard transforms (`utils::eval_poly` is `inline(always)` for this purpose).
#[target_feature(enable = "simd128")]
fn eval_poly_simd128(erasures: &mut [GfElement; GF_ORDER], truncated_size: usize) {
    utils::eval_poly(erasures, truncated_size);
}
