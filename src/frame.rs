//! Wire format (RFC 6455 section 5): frame headers, masking and close codes.
//!
//! Everything here is stateless: it parses and emits bytes and never does I/O.
//! The protocol state machine in [`crate::proto`] decides what a frame means.

use core::fmt;

use crate::Status;

/// The largest header a frame can have: 2 bytes, 8 of extended length, 4 of mask key.
pub const MAX_HEADER_LEN: usize = 14;

/// The largest payload a control frame (close, ping, pong) may carry.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame's opcode; each variant's discriminant is its four-bit value on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OpCode {
    /// `0x0`: continues a fragmented message.
    Continuation = 0x0,
    /// `0x1`: first frame of a text message.
    Text = 0x1,
    /// `0x2`: first frame of a binary message.
    Binary = 0x2,
    /// `0x8`: close.
    Close = 0x8,
    /// `0x9`: ping.
    Ping = 0x9,
    /// `0xA`: pong.
    Pong = 0xA,
}

impl OpCode {
    /// Decodes the low four bits of a header's first byte; `None` for a reserved opcode.
    pub const fn from_bits(bits: u8) -> Option<OpCode> {
        match bits & 0x0F {
            0x0 => Some(OpCode::Continuation),
            0x1 => Some(OpCode::Text),
            0x2 => Some(OpCode::Binary),
            0x8 => Some(OpCode::Close),
            0x9 => Some(OpCode::Ping),
            0xA => Some(OpCode::Pong),
            _ => None,
        }
    }

    /// The opcode's four-bit value (its discriminant: no table to look it up in).
    pub const fn bits(self) -> u8 {
        self as u8
    }

    /// Close, ping and pong are control frames.
    pub const fn is_control(self) -> bool {
        // The control opcodes are those with the high bit of the four set.
        self.bits() & 0x8 != 0
    }
}

/// A frame header that breaks a wire-format rule, found before any payload is looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HeaderError {
    /// One of RSV1-3 is set, and no extension was negotiated.
    ReservedBits,
    /// The opcode is one of the reserved values (3-7, 0xB-0xF).
    ReservedOpcode,
    /// A 64-bit length with its most significant bit set.
    LengthOverflow,
    /// A control frame with a payload longer than 125 bytes.
    ControlTooLong,
    /// A control frame without the FIN bit.
    ControlFragmented,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeaderError::ReservedBits => "reserved bits set in frame header",
            HeaderError::ReservedOpcode => "reserved opcode",
            HeaderError::LengthOverflow => "64-bit frame length with the top bit set",
            HeaderError::ControlTooLong => "control frame longer than 125 bytes",
            HeaderError::ControlFragmented => "fragmented control frame",
        })
    }
}

impl core::error::Error for HeaderError {}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FrameHeader {
    /// The FIN bit: this is the last frame of its message.
    pub fin: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present on every frame a client sends.
    pub mask: Option<[u8; 4]>,
    /// The payload length in bytes (at most 2^63 - 1).
    pub len: u64,
}

impl FrameHeader {
    /// Parses a header from the start of `buf`.
    ///
    /// Returns `Status::Partial` when `buf` does not hold the whole header yet (at most
    /// [`MAX_HEADER_LEN`] bytes are needed), and the header and its length otherwise.
    /// Checks the rules that need no connection state: RSV bits, reserved opcodes, the
    /// 64-bit length's top bit, and the control-frame limits.
    #[inline]
    pub fn parse(buf: &[u8]) -> Result<Status<(FrameHeader, usize)>, HeaderError> {
        let (b0, b1) = match buf {
            [b0, b1, ..] => (*b0, *b1),
            _ => return Ok(Status::Partial),
        };
        if b0 & 0x70 != 0 {
            return Err(HeaderError::ReservedBits);
        }
        let opcode = OpCode::from_bits(b0).ok_or(HeaderError::ReservedOpcode)?;
        let fin = b0 & 0x80 != 0;
        let masked = b1 & 0x80 != 0;
        if opcode.is_control() {
            // Checked before the extended length arrives: fail as early as possible.
            if b1 & 0x7F > MAX_CONTROL_PAYLOAD as u8 {
                return Err(HeaderError::ControlTooLong);
            }
            if !fin {
                return Err(HeaderError::ControlFragmented);
            }
        }
        let length = if cfg!(target_pointer_width = "64") {
            length_wide(b1, buf)
        } else {
            length_narrow(b1, buf)
        };
        let Some((len, mut pos)) = length? else {
            return Ok(Status::Partial);
        };
        let mask = if masked {
            match buf.get(pos..) {
                Some(&[a, b, c, d, ..]) => {
                    pos = pos.saturating_add(4);
                    Some([a, b, c, d])
                }
                _ => return Ok(Status::Partial),
            }
        } else {
            None
        };
        Ok(Status::Complete((
            FrameHeader {
                fin,
                opcode,
                mask,
                len,
            },
            pos,
        )))
    }

    /// The number of bytes [`FrameHeader::emit`] writes for this header.
    pub const fn encoded_len(&self) -> usize {
        let len: usize = if self.len < 126 {
            2
        } else if self.len <= 0xFFFF {
            4
        } else {
            10
        };
        if self.mask.is_some() {
            len.saturating_add(4)
        } else {
            len
        }
    }

    /// Writes the header, with the shortest length encoding, and returns its bytes.
    ///
    /// The caller keeps `len` below 2^63 and control payloads within 125 bytes; the
    /// protocol layer checks both before it emits.
    #[inline]
    pub fn emit(&self) -> EncodedHeader {
        let mut bytes = [0u8; MAX_HEADER_LEN];
        let len = self.write_into(&mut bytes);
        // At most 14: the cast cannot truncate.
        EncodedHeader {
            bytes,
            len: len as u8,
        }
    }

    /// Writes the header at the front of `dst` and returns its length
    /// ([`FrameHeader::encoded_len`]); 0, with nothing meaningful written, when `dst` is
    /// shorter. The connection writes its headers straight into the transmit buffer
    /// through this, with no copy of them to make.
    #[inline]
    pub(crate) fn write_into(&self, dst: &mut [u8]) -> usize {
        let b0 = (if self.fin { 0x80 } else { 0 }) | self.opcode.bits();
        write_header(dst, b0, self.len, self.mask)
    }
}

/// The payload length a header's second byte `b1` and the extended length after it (in
/// `buf`, the whole header) give, and where the header goes on after it; `None` when
/// `buf` does not hold it yet. For 64-bit targets.
#[inline(always)]
fn length_wide(b1: u8, buf: &[u8]) -> Result<Option<(u64, usize)>, HeaderError> {
    Ok(Some(match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(&[hi, lo]) => (u64::from(u16::from_be_bytes([hi, lo])), 4),
            _ => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(bytes) => {
                let mut be = [0u8; 8];
                be.copy_from_slice(bytes);
                let len = u64::from_be_bytes(be);
                if len >> 63 != 0 {
                    return Err(HeaderError::LengthOverflow);
                }
                (len, 10)
            }
            None => return Ok(None),
        },
        short => (u64::from(short), 2),
    }))
}

/// [`length_wide`] for smaller targets: the length as its high and low 32 bits, each
/// filled alike by every encoding (one 64-bit value merged from the three made the
/// compiler split it at odd places and join it again).
#[inline(always)]
fn length_narrow(b1: u8, buf: &[u8]) -> Result<Option<(u64, usize)>, HeaderError> {
    let (high, low, pos) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(&[hi, lo]) => (0, u32::from(u16::from_be_bytes([hi, lo])), 4),
            _ => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(&[a, b, c, d, e, f, g, h]) => {
                let high = u32::from_be_bytes([a, b, c, d]);
                if high >> 31 != 0 {
                    return Err(HeaderError::LengthOverflow);
                }
                (high, u32::from_be_bytes([e, f, g, h]), 10)
            }
            _ => return Ok(None),
        },
        short => (0, u32::from(short), 2),
    };
    Ok(Some(((u64::from(high) << 32) | u64::from(low), pos)))
}

/// [`FrameHeader::write_into`] from the header's parts: `b0` its first byte (FIN and
/// opcode), `payload_len` its payload length, `mask` its key. Taken as values, the parts
/// need no header built in memory, and what every caller passes the same (a server's
/// missing key) can be folded into the one copy.
// Inlined on 64-bit hosts, for speed; out of line on microcontrollers, where each
// inlined copy costs flash.
#[cfg_attr(target_pointer_width = "64", inline)]
#[cfg_attr(not(target_pointer_width = "64"), inline(never))]
pub(crate) fn write_header(
    dst: &mut [u8],
    b0: u8,
    payload_len: u64,
    mask: Option<[u8; 4]>,
) -> usize {
    let Some(([first, b1], rest)) = dst.split_first_chunk_mut() else {
        return 0;
    };
    *first = b0;
    // Whole arrays at fixed offsets: nothing to check at run time but the room for
    // each.
    let (rest, len) = if payload_len < 126 {
        // Fits in seven bits: the cast cannot truncate.
        *b1 = payload_len as u8;
        (rest, 2)
    } else if payload_len <= 0xFFFF {
        *b1 = 126;
        let Some((ext, rest)) = rest.split_first_chunk_mut() else {
            return 0;
        };
        // At most 0xFFFF: the cast cannot truncate.
        *ext = (payload_len as u16).to_be_bytes();
        (rest, 4)
    } else {
        *b1 = 127;
        let Some((ext, rest)) = rest.split_first_chunk_mut() else {
            return 0;
        };
        *ext = payload_len.to_be_bytes();
        (rest, 10)
    };
    match (mask, rest.first_chunk_mut()) {
        (None, _) => len,
        (Some(key), Some(k)) => {
            *b1 |= 0x80;
            *k = key;
            // At most 10: cannot wrap.
            len.wrapping_add(4)
        }
        (Some(_), None) => 0,
    }
}

/// A header as bytes, ready for the wire (see [`FrameHeader::emit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodedHeader {
    bytes: [u8; MAX_HEADER_LEN],
    len: u8,
}

impl EncodedHeader {
    /// The header's bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes
            .get(..usize::from(self.len))
            .unwrap_or(&self.bytes)
    }
}

/// XORs `data` with the masking key, as if `data` began `offset` bytes into the payload.
///
/// Masking is its own inverse. `offset` lets a payload be unmasked piece by piece as it
/// arrives, across reads. In safe code: on 64-bit targets, 64 bytes at a time (which the
/// compiler turns into vector instructions) from a vector-aligned address when `data`
/// is long; on smaller ones (microcontrollers), a 32-bit word at a time, in less code.
#[inline]
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    if cfg!(target_pointer_width = "64") {
        mask_wide(data, rotate_key(key, offset));
    } else {
        mask_narrow(data, key, offset);
    }
}

/// [`apply_mask`] at offset 0 for 64-bit targets.
#[inline(always)]
fn mask_wide(data: &mut [u8], key: [u8; 4]) {
    /// Below this length, aligning first costs more than it saves.
    const ALIGN_FROM: usize = 128;
    /// The vector width the compiler works with: stores that do not cross a cache line.
    const VECTOR: usize = if cfg!(target_feature = "avx2") {
        32
    } else {
        16
    };
    let head = if data.len() >= ALIGN_FROM {
        // A byte pointer can always be aligned; `min` covers `align_offset`'s escape hatch.
        data.as_ptr().align_offset(VECTOR).min(data.len())
    } else {
        0
    };
    let (head, body) = data.split_at_mut(head);
    mask_short(head, key);
    let key = rotate_key(key, head.len());
    let word = key_word(key);
    // 256 bytes a turn: long enough a loop body that its speed does not hang on where
    // the loop lands in memory (a 64-byte body ran at half speed in some builds).
    let mut large = body.chunks_exact_mut(256);
    for block in &mut large {
        xor_words(block, word);
    }
    let mut blocks = large.into_remainder().chunks_exact_mut(64);
    for block in &mut blocks {
        xor_words(block, word);
    }
    mask_short(blocks.into_remainder(), key);
}

/// [`apply_mask`] for 32- and 16-bit targets: words, then bytes. One copy out of line,
/// for every caller (each inlined copy cost flash).
#[inline(never)]
fn mask_narrow(data: &mut [u8], key: [u8; 4], offset: usize) {
    // The key as a little-endian word, turned so that its low byte masks the first byte
    // of `data` (a turn of at most 24 bits: the multiplication cannot overflow).
    let mut k = u32::from_le_bytes(key).rotate_right(((offset % 4) as u32).wrapping_mul(8));
    // A word at a time off the front (always there: at least 4 bytes are left), in
    // fewer instructions than a chunk iterator sets up.
    let mut rest = data;
    while rest.len() >= 4 {
        if let Some((bytes, tail)) = core::mem::take(&mut rest).split_first_chunk_mut::<4>() {
            *bytes = (u32::from_le_bytes(*bytes) ^ k).to_le_bytes();
            rest = tail;
        }
    }
    // The rest begins a multiple of 4 bytes in: its bytes take the key's low byte, then
    // the next (the cast keeps the low byte).
    for byte in rest {
        *byte ^= k as u8;
        k >>= 8;
    }
}

/// The key for a piece that begins `offset` bytes into the payload, so that the piece's
/// first byte is masked with its first byte.
#[inline(always)]
fn rotate_key(key: [u8; 4], offset: usize) -> [u8; 4] {
    // At most 24: the multiplication cannot overflow.
    let rot = ((offset % 4) as u32).wrapping_mul(8);
    u32::from_be_bytes(key).rotate_left(rot).to_be_bytes()
}

/// The key twice over, as the 8-byte word that masks 8 bytes at once. (Built with a
/// multiplication: the compiler makes a long chain of shifts of the byte-by-byte form.)
#[inline(always)]
fn key_word(key: [u8; 4]) -> u64 {
    // k * (2^32 + 1) is k in both halves; k < 2^32, so it does not wrap.
    u64::from(u32::from_ne_bytes(key)).wrapping_mul(0x1_0000_0001)
}

/// XORs every whole 8-byte word of `data` with `word`.
#[inline(always)]
fn xor_words(data: &mut [u8], word: u64) {
    for chunk in data.chunks_exact_mut(8) {
        if let Ok(bytes) = <&mut [u8; 8]>::try_from(chunk) {
            *bytes = (u64::from_ne_bytes(*bytes) ^ word).to_ne_bytes();
        }
    }
}

/// Masks fewer than 64 bytes at offset 0, in straight-line steps of 32, 16, 8, 4, 2 and
/// 1 bytes (no loop for the compiler to unroll and vectorize all over again).
#[inline(always)]
fn mask_short(data: &mut [u8], key: [u8; 4]) {
    let word = key_word(key);
    let (bytes32, rest) = split_chunk::<32>(data);
    if let Some(bytes) = bytes32 {
        xor_words(bytes, word);
    }
    let (bytes16, rest) = split_chunk::<16>(rest);
    if let Some(bytes) = bytes16 {
        xor_words(bytes, word);
    }
    let (eight, rest) = split_chunk::<8>(rest);
    if let Some(bytes) = eight {
        *bytes = (u64::from_ne_bytes(*bytes) ^ word).to_ne_bytes();
    }
    let (four, rest) = split_chunk::<4>(rest);
    if let Some(bytes) = four {
        *bytes = (u32::from_ne_bytes(*bytes) ^ u32::from_ne_bytes(key)).to_ne_bytes();
    }
    // Each step so far covered a multiple of 4 bytes: the key is back at its start.
    let (two, rest) = split_chunk::<2>(rest);
    let mut last = key[0];
    if let Some(bytes) = two {
        *bytes = (u16::from_ne_bytes(*bytes) ^ u16::from_ne_bytes([key[0], key[1]])).to_ne_bytes();
        last = key[2];
    }
    if let Some(byte) = rest.first_mut() {
        *byte ^= last;
    }
}

/// The first `N` bytes of `data` as an array, if there are that many, and the rest.
#[inline(always)]
fn split_chunk<const N: usize>(data: &mut [u8]) -> (Option<&mut [u8; N]>, &mut [u8]) {
    if data.len() < N {
        return (None, data);
    }
    let (head, rest) = data.split_at_mut(N);
    (<&mut [u8; N]>::try_from(head).ok(), rest)
}

/// A close status code (RFC 6455 section 7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present (never sent on the wire).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the connection closed without a close frame (never sent on the wire).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with the message type, such as invalid UTF-8 in text.
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violates the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later.
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway received an invalid response.
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);

    /// Whether this code may appear in a close frame on the wire: 1000-1003, 1007-1014
    /// (RFC 6455 and the IANA registry) and 3000-4999 (registered and private use).
    pub const fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests;
