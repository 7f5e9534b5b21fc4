//! MD5 (RFC 1321) with an exportable and resumable chaining state.
//!
//! Why this exists: CRAM-MD5 (RFC 2195) needs HMAC-MD5 keyed with the
//! password itself. To avoid storing the password, Dovecot (`CRAM-MD5`
//! scheme) and mox store the MD5 state right after the first block of the
//! inner and of the outer hash, i.e. after absorbing `key XOR ipad` and
//! `key XOR opad` (RFC 2104 §2). The `md-5` crate does not expose that state,
//! so this small file implements the compression function to (a) export the
//! 16-byte state after one block and (b) resume from it to finish the HMAC.
//! It is tested against the RFC 1321 test suite and against the `md-5` crate.
//!
//! MD5 is broken for collision resistance; here it is only used where the
//! protocol (CRAM-MD5) mandates it.

/// The MD5 initial chaining values (RFC 1321 §3.3).
const IV: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// Per-round shift amounts (RFC 1321 §3.4).
const SHIFTS: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, //
    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, //
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, //
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

/// The table `T[i] = floor(2^32 * abs(sin(i + 1)))` of RFC 1321 §3.4.
const T: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// The MD5 compression function: absorbs one 64-byte block into `state`.
fn compress(state: &mut [u32; 4], block: &[u8; 64]) {
    let mut m = [0u32; 16];
    for (word, chunk) in m.iter_mut().zip(block.chunks_exact(4)) {
        *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    let [mut a, mut b, mut c, mut d] = *state;
    for i in 0..64 {
        // RFC 1321 §3.4: the four auxiliary functions F, G, H, I and the
        // message word each round reads.
        let (f, g) = match i / 16 {
            0 => ((b & c) | (!b & d), i),
            1 => ((b & d) | (c & !d), (5 * i + 1) % 16),
            2 => (b ^ c ^ d, (3 * i + 5) % 16),
            _ => (c ^ (b | !d), (7 * i) % 16),
        };
        let rotated = a
            .wrapping_add(f)
            .wrapping_add(T[i])
            .wrapping_add(m[g])
            .rotate_left(SHIFTS[i]);
        a = d;
        d = c;
        c = b;
        b = b.wrapping_add(rotated);
    }
    state[0] = state[0].wrapping_add(a);
    state[1] = state[1].wrapping_add(b);
    state[2] = state[2].wrapping_add(c);
    state[3] = state[3].wrapping_add(d);
}

/// Encodes a chaining state as 16 bytes: the words A, B, C, D, each
/// little-endian (RFC 1321 §3.5 output order; also Dovecot's CRAM-MD5 layout).
pub(crate) fn state_to_bytes(state: &[u32; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    out
}

/// The inverse of [`state_to_bytes`].
pub(crate) fn state_from_bytes(bytes: &[u8; 16]) -> [u32; 4] {
    let mut state = [0u32; 4];
    for (word, chunk) in state.iter_mut().zip(bytes.chunks_exact(4)) {
        *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    state
}

/// The chaining state after absorbing exactly one 64-byte block from the IV.
pub(crate) fn state_after_block(block: &[u8; 64]) -> [u32; 4] {
    let mut state = IV;
    compress(&mut state, block);
    state
}

/// An incremental MD5 computation that can start from a saved state.
#[derive(Clone)]
pub(crate) struct Md5 {
    state: [u32; 4],
    /// Bytes absorbed so far, including those represented by a resumed state.
    length: u64,
    buffer: [u8; 64],
    buffered: usize,
}

impl Md5 {
    /// A fresh MD5 computation.
    pub(crate) fn new() -> Md5 {
        Md5::resume(IV, 0)
    }

    /// Continues from `state`, which represents `length` bytes already
    /// absorbed (a multiple of 64: states are only saved at block boundaries).
    pub(crate) fn resume(state: [u32; 4], length: u64) -> Md5 {
        debug_assert_eq!(length % 64, 0, "MD5 states are saved at block boundaries");
        Md5 {
            state,
            length,
            buffer: [0u8; 64],
            buffered: 0,
        }
    }

    /// Absorbs more input.
    pub(crate) fn update(&mut self, mut input: &[u8]) {
        self.length = self.length.wrapping_add(input.len() as u64);
        if self.buffered > 0 {
            let take = (64 - self.buffered).min(input.len());
            self.buffer[self.buffered..self.buffered + take].copy_from_slice(&input[..take]);
            self.buffered += take;
            input = &input[take..];
            if self.buffered < 64 {
                return;
            }
            let block = self.buffer;
            compress(&mut self.state, &block);
            self.buffered = 0;
        }
        let mut blocks = input.chunks_exact(64);
        for block in &mut blocks {
            let mut full = [0u8; 64];
            full.copy_from_slice(block);
            compress(&mut self.state, &full);
        }
        let rest = blocks.remainder();
        self.buffer[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    /// Pads (RFC 1321 §3.1, §3.2) and returns the 16-byte digest.
    pub(crate) fn finalize(mut self) -> [u8; 16] {
        let bit_length = self.length.wrapping_mul(8);
        let mut padding = [0u8; 72];
        padding[0] = 0x80;
        // Pad to 56 mod 64, then append the 64-bit little-endian length.
        let pad_len = if self.buffered < 56 {
            56 - self.buffered
        } else {
            120 - self.buffered
        };
        let length_before = self.length;
        self.update(&padding[..pad_len]);
        self.update(&bit_length.to_le_bytes());
        self.length = length_before;
        debug_assert_eq!(self.buffered, 0);
        state_to_bytes(&self.state)
    }
}

/// One-shot MD5 of `input`.
pub(crate) fn md5(input: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(input);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::md5::Digest;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 1321 §A.5, the test suite.
    #[test]
    fn rfc1321_test_suite() {
        let cases: [(&str, &str); 7] = [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("a", "0cc175b9c0f1b6a831c399e269772661"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                "abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(hex(&md5(input.as_bytes())), want, "MD5({input:?})");
        }
    }

    #[test]
    fn matches_md5_crate_for_all_lengths_and_split_points() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for len in 0..data.len() {
            let want = ::md5::Md5::digest(&data[..len]);
            assert_eq!(md5(&data[..len]), want.as_slice(), "length {len}");
            let split = len / 3;
            let mut h = Md5::new();
            h.update(&data[..split]);
            h.update(&data[split..len]);
            assert_eq!(
                h.finalize(),
                want.as_slice(),
                "length {len} split at {split}"
            );
        }
    }

    #[test]
    fn resuming_from_an_exported_state_equals_hashing_in_one_go() {
        let mut first = [0u8; 64];
        first.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        let saved = state_to_bytes(&state_after_block(&first));
        let mut resumed = Md5::resume(state_from_bytes(&saved), 64);
        resumed.update(b"the rest of the message");
        let mut whole = first.to_vec();
        whole.extend_from_slice(b"the rest of the message");
        assert_eq!(resumed.finalize(), md5(&whole));
    }
}
