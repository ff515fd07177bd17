//! Frames on the wire: a builder for a peer's bytes, and a decoder that checks every
//! rule a receiver would (masking by role, header rules, the order of fragments, UTF-8,
//! close payloads, nothing after the close).

use ws13::frame::{apply_mask, FrameHeader, OpCode};
use ws13::proto::{parse_close, Role};
use ws13::utf8::Utf8Validator;
use ws13::{Message, MessageKind, Status};

use crate::rng::TestMask;
use crate::storage::{Fixed, Storage};
use ws13::MaskSource;

/// The masking key of frames built for a client with [`Keys::fixed_for`].
pub const CLIENT_KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// The other role.
pub const fn peer(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

/// The masking keys of the frames a [`Frames`] builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Keys {
    /// Unmasked: a server's frames.
    None,
    /// Every frame masked with this key.
    Fixed([u8; 4]),
    /// Keys in turn from a [`TestMask`] (as a client made with it masks).
    Test(TestMask),
}

impl Keys {
    /// What `sender` uses: [`CLIENT_KEY`] for a client, nothing for a server.
    pub const fn fixed_for(sender: Role) -> Self {
        match sender {
            Role::Client => Keys::Fixed(CLIENT_KEY),
            Role::Server => Keys::None,
        }
    }

    fn next(&mut self) -> Option<[u8; 4]> {
        match self {
            Keys::None => None,
            Keys::Fixed(key) => Some(*key),
            Keys::Test(m) => Some(m.next_key()),
        }
    }
}

/// Writes one frame into the front of `out`; returns its length, or `None` if it does not
/// fit.
pub fn write_frame(
    out: &mut [u8],
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> Option<usize> {
    let mut storage = Fixed::new(out);
    put_frame(&mut storage, fin, opcode, mask, payload).then_some(storage.bytes().len())
}

fn put_frame<S: Storage>(
    out: &mut S,
    fin: bool,
    opcode: OpCode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> bool {
    let header = FrameHeader {
        fin,
        opcode,
        mask,
        len: payload.len() as u64,
    };
    let bytes = header.emit();
    if out.room() < bytes.as_bytes().len() + payload.len() {
        return false;
    }
    out.push(bytes.as_bytes());
    out.push(payload);
    if let Some(key) = mask {
        let all = out.bytes_mut();
        let start = all.len() - payload.len();
        apply_mask(&mut all[start..], key, 0);
    }
    true
}

/// A peer's bytes, built frame by frame into storage: `Frames::new(out, keys)
/// .text("hi").ping(b"p").close(1000, "bye").finish()`. A frame that does not fit is
/// an error at [`Frames::finish`].
#[derive(Debug)]
pub struct Frames<S> {
    out: S,
    keys: Keys,
    overflow: bool,
}

impl<S: Storage> Frames<S> {
    /// Frames appended to `out`, masked with `keys`.
    pub fn new(out: S, keys: Keys) -> Self {
        Frames {
            out,
            keys,
            overflow: false,
        }
    }

    /// Frames as `sender` sends them (see [`Keys::fixed_for`]).
    pub fn by(sender: Role, out: S) -> Self {
        Self::new(out, Keys::fixed_for(sender))
    }

    /// Raw bytes (a handshake, a broken frame).
    pub fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        if self.out.push(bytes) < bytes.len() {
            self.overflow = true;
        }
        self
    }

    /// One frame.
    pub fn frame(&mut self, fin: bool, opcode: OpCode, payload: &[u8]) -> &mut Self {
        let key = self.keys.next();
        if !put_frame(&mut self.out, fin, opcode, key, payload) {
            self.overflow = true;
        }
        self
    }

    /// A header announcing `len` payload bytes, none of which follow (yet).
    pub fn header(&mut self, fin: bool, opcode: OpCode, len: u64) -> &mut Self {
        let header = FrameHeader {
            fin,
            opcode,
            mask: self.keys.next(),
            len,
        };
        self.bytes(header.emit().as_bytes())
    }

    /// A text message in one frame.
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.frame(true, OpCode::Text, text.as_bytes())
    }

    /// A binary message in one frame.
    pub fn binary(&mut self, data: &[u8]) -> &mut Self {
        self.frame(true, OpCode::Binary, data)
    }

    /// A ping.
    pub fn ping(&mut self, payload: &[u8]) -> &mut Self {
        self.frame(true, OpCode::Ping, payload)
    }

    /// A pong.
    pub fn pong(&mut self, payload: &[u8]) -> &mut Self {
        self.frame(true, OpCode::Pong, payload)
    }

    /// A close frame with `code` and `reason` (at most 123 bytes).
    pub fn close(&mut self, code: u16, reason: &str) -> &mut Self {
        let mut payload = [0u8; 125];
        let n = close_payload(&mut payload, code, reason);
        self.frame(true, OpCode::Close, &payload[..n])
    }

    /// The bytes, unless a frame did not fit.
    pub fn finish(&self) -> Result<&[u8], &'static str> {
        if self.overflow {
            Err("the script does not fit its buffer")
        } else {
            Ok(self.out.bytes())
        }
    }

    /// The storage.
    pub fn storage(&mut self) -> &mut S {
        &mut self.out
    }

    /// Gives up the storage.
    pub fn into_inner(self) -> S {
        self.out
    }
}

/// Writes a close frame's payload (the code, big-endian, then the reason, cut at 123
/// bytes) into `out` (at least 125 bytes); returns its length.
pub fn close_payload(out: &mut [u8], code: u16, reason: &str) -> usize {
    let reason = &reason.as_bytes()[..reason.len().min(123)];
    out[..2].copy_from_slice(&code.to_be_bytes());
    out[2..2 + reason.len()].copy_from_slice(reason);
    2 + reason.len()
}

/// A whole frame, its payload unmasked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The FIN bit.
    pub fin: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key it carried.
    pub key: Option<[u8; 4]>,
    /// The payload, unmasked.
    pub payload: &'a [u8],
}

/// The bytes after the last whole frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    /// None: the stream ends with a whole frame.
    None,
    /// The first bytes of a header (valid so far).
    Header(usize),
    /// A valid header and part of its payload.
    Payload {
        /// The frame's opcode.
        opcode: OpCode,
        /// The payload length its header announced.
        announced: u64,
        /// The payload bytes there.
        have: usize,
    },
}

/// Decodes the frames one role sends, checking every rule a receiver checks: masking by
/// role, the header rules ([`FrameHeader::parse`]), continuations only inside a message
/// and new messages only outside one, text that is UTF-8 across its fragments, close
/// payloads ([`parse_close`]), and nothing after a close frame. Streams may be decoded a
/// piece at a time: the state carries over.
#[derive(Clone, Debug)]
pub struct Decoder {
    sender: Role,
    open: Option<MessageKind>,
    utf8: Utf8Validator,
    closed: bool,
    /// Whole frames decoded.
    pub frames: usize,
}

impl Decoder {
    /// A decoder for what `sender` sends.
    pub const fn new(sender: Role) -> Self {
        Decoder {
            sender,
            open: None,
            utf8: Utf8Validator::new(),
            closed: false,
            frames: 0,
        }
    }

    /// Whether a close frame was decoded.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether a fragmented message is open.
    pub fn in_message(&self) -> bool {
        self.open.is_some()
    }

    /// Checks a header against the rules and the stream's state (without taking it in).
    fn check_header(&self, h: &FrameHeader) -> Result<(), &'static str> {
        if self.closed {
            return Err("a frame after the close frame");
        }
        match (self.sender, h.mask) {
            (Role::Client, None) => return Err("an unmasked frame from a client"),
            (Role::Server, Some(_)) => return Err("a masked frame from a server"),
            _ => {}
        }
        match h.opcode {
            OpCode::Continuation if self.open.is_none() => {
                Err("a continuation frame outside a message")
            }
            OpCode::Text | OpCode::Binary if self.open.is_some() => {
                Err("a new message inside a fragmented one")
            }
            _ => Ok(()),
        }
    }

    /// Takes in a whole frame.
    fn take(&mut self, h: &FrameHeader, payload: &[u8]) -> Result<(), &'static str> {
        let kind = match h.opcode {
            OpCode::Text => Some(MessageKind::Text),
            OpCode::Binary => Some(MessageKind::Binary),
            OpCode::Continuation => self.open,
            OpCode::Close => {
                parse_close(payload).map_err(|_| "an invalid close frame")?;
                self.closed = true;
                None
            }
            _ => None,
        };
        if let Some(kind) = kind {
            if kind == MessageKind::Text {
                self.utf8
                    .feed(payload)
                    .map_err(|_| "invalid UTF-8 in text")?;
            }
            if h.fin {
                if kind == MessageKind::Text {
                    self.utf8
                        .finish()
                        .map_err(|_| "text ends inside a character")?;
                }
                self.utf8.reset();
                self.open = None;
            } else {
                self.open = Some(kind);
            }
        }
        self.frames += 1;
        Ok(())
    }

    /// Decodes the whole frames at the front of `bytes`, unmasking each in place, and
    /// calls `f` with each. Returns the bytes they took and what follows them: a frame
    /// begun but not complete (valid so far) is a [`Tail`], anything invalid an error.
    pub fn decode(
        &mut self,
        bytes: &mut [u8],
        mut f: impl FnMut(Frame<'_>) -> Result<(), &'static str>,
    ) -> Result<(usize, Tail), &'static str> {
        let mut pos = 0;
        while pos < bytes.len() {
            let rest = &mut bytes[pos..];
            let (h, n) = match FrameHeader::parse(rest) {
                Ok(Status::Complete(parsed)) => parsed,
                Ok(Status::Partial) => {
                    // Check what the first two bytes already tell.
                    if self.closed {
                        return Err("a frame after the close frame");
                    }
                    return Ok((pos, Tail::Header(rest.len())));
                }
                Err(_) => return Err("an invalid frame header"),
            };
            self.check_header(&h)?;
            let have = rest.len() - n;
            if (have as u64) < h.len {
                return Ok((
                    pos,
                    Tail::Payload {
                        opcode: h.opcode,
                        announced: h.len,
                        have,
                    },
                ));
            }
            let payload = &mut rest[n..n + h.len as usize];
            if let Some(key) = h.mask {
                apply_mask(payload, key, 0);
            }
            self.take(&h, payload)?;
            f(Frame {
                fin: h.fin,
                opcode: h.opcode,
                key: h.mask,
                payload,
            })?;
            pos += n + h.len as usize;
        }
        Ok((pos, Tail::None))
    }

    /// [`Decoder::decode`] of a stream that must end with a whole frame.
    pub fn decode_all(
        &mut self,
        bytes: &mut [u8],
        f: impl FnMut(Frame<'_>) -> Result<(), &'static str>,
    ) -> Result<(), &'static str> {
        match self.decode(bytes, f)? {
            (_, Tail::None) => Ok(()),
            _ => Err("the stream ends inside a frame"),
        }
    }
}

/// Decodes what `sender` sent in `bytes` (unmasking in place, checking every rule, see
/// [`Decoder`]), joins the data frames into messages in `scratch`, and calls `f` with
/// each message and each control frame in order. Returns the stream's [`Tail`] (`Ok`
/// only for a valid stream or a valid prefix of one).
pub fn messages<S: Storage>(
    sender: Role,
    bytes: &mut [u8],
    mut scratch: S,
    mut f: impl FnMut(Message<'_>) -> Result<(), &'static str>,
) -> Result<Tail, &'static str> {
    scratch.clear();
    let mut kind = None;
    let mut decoder = Decoder::new(sender);
    let (_, tail) = decoder.decode(bytes, |frame| {
        let message = match frame.opcode {
            OpCode::Ping => Message::Ping(frame.payload),
            OpCode::Pong => Message::Pong(frame.payload),
            OpCode::Close => Message::Close(parse_close(frame.payload).map_err(|_| "bad close")?),
            opcode => {
                if opcode != OpCode::Continuation {
                    kind = Some(if opcode == OpCode::Text {
                        MessageKind::Text
                    } else {
                        MessageKind::Binary
                    });
                }
                if scratch.push(frame.payload) < frame.payload.len() {
                    return Err("a message larger than the scratch buffer");
                }
                if !frame.fin {
                    return Ok(());
                }
                let result = match kind {
                    Some(MessageKind::Text) => f(Message::Text(
                        core::str::from_utf8(scratch.bytes()).map_err(|_| "invalid UTF-8")?,
                    )),
                    _ => f(Message::Binary(scratch.bytes())),
                };
                scratch.clear();
                return result;
            }
        };
        f(message)
    })?;
    Ok(tail)
}

/// Checks that `bytes` is exactly the frames `sender` would send for `expected`, in
/// order (data messages joined across fragments, each control frame on its own), using
/// `scratch` to join fragments.
pub fn expect_messages(
    sender: Role,
    bytes: &mut [u8],
    scratch: &mut [u8],
    expected: &[Message<'_>],
) -> Result<(), &'static str> {
    let mut next = 0;
    let tail = messages(sender, bytes, Fixed::new(scratch), |m| {
        let want = expected.get(next).ok_or("more messages than expected")?;
        next += 1;
        if *want == m {
            Ok(())
        } else {
            Err("a message differs from the one expected")
        }
    })?;
    if tail != Tail::None {
        return Err("the stream ends inside a frame");
    }
    if next != expected.len() {
        return Err("fewer messages than expected");
    }
    Ok(())
}
