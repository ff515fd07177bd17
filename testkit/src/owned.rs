//! Owned frames and messages (feature `std`), for `assert_eq!` in host tests.

use std::string::{String, ToString};
use std::vec::Vec;

use ws13::frame::OpCode;
use ws13::proto::Role;
use ws13::{Event, Message, MessageKind};

use crate::assemble::{Assembled, Reassembler};
use crate::consts::head_len;
use crate::wire::{self, Decoder, Frames, Keys, Tail};

/// A message or control frame, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping.
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
    /// A close frame: code and reason.
    Close(Option<(u16, String)>),
    /// The rest of a message whose start went elsewhere ([`Reassembler::resume`]).
    Tail(MessageKind, Vec<u8>),
}

impl Msg {
    /// A close frame with `code` and `reason`.
    pub fn close(code: u16, reason: &str) -> Msg {
        Msg::Close(Some((code, reason.to_string())))
    }

    /// A text message.
    pub fn text(text: &str) -> Msg {
        Msg::Text(text.to_string())
    }
}

impl From<Message<'_>> for Msg {
    fn from(m: Message<'_>) -> Msg {
        match m {
            Message::Text(t) => Msg::Text(t.to_string()),
            Message::Binary(b) => Msg::Binary(b.to_vec()),
            Message::Ping(p) => Msg::Ping(p.to_vec()),
            Message::Pong(p) => Msg::Pong(p.to_vec()),
            Message::Close(c) => Msg::Close(c.map(|c| (c.code.0, c.reason.to_string()))),
        }
    }
}

impl From<Assembled<'_>> for Msg {
    fn from(a: Assembled<'_>) -> Msg {
        match a {
            Assembled::Message(m) => m.into(),
            Assembled::Tail(kind, bytes) => Msg::Tail(kind, bytes.to_vec()),
        }
    }
}

/// A frame as `sender` sends it (a client's masked with [`wire::CLIENT_KEY`]).
pub fn frame(sender: Role, fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mut f = Frames::by(sender, Vec::new());
    f.frame(fin, opcode, payload);
    f.into_inner()
}

/// A frame masked with `mask` (or not).
pub fn frame_masked(mask: Option<[u8; 4]>, fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let keys = mask.map_or(Keys::None, Keys::Fixed);
    let mut f = Frames::new(Vec::new(), keys);
    f.frame(fin, opcode, payload);
    f.into_inner()
}

/// A frame builder over a `Vec`, as `sender` sends.
pub fn frames_by(sender: Role) -> Frames<Vec<u8>> {
    Frames::by(sender, Vec::new())
}

/// A whole frame, owned: (FIN, opcode, unmasked payload).
pub type RawFrame = (bool, OpCode, Vec<u8>);

/// The frames `sender` sent in `bytes`, each checked ([`Decoder`]); the stream must end
/// with a whole frame.
pub fn frames(sender: Role, bytes: &[u8]) -> Result<Vec<RawFrame>, &'static str> {
    let mut bytes = bytes.to_vec();
    let mut out = Vec::new();
    Decoder::new(sender).decode_all(&mut bytes, |f| {
        out.push((f.fin, f.opcode, f.payload.to_vec()));
        Ok(())
    })?;
    Ok(out)
}

/// The messages and control frames `sender` sent in `bytes`, each checked; the stream
/// must end with a whole frame.
pub fn messages(sender: Role, bytes: &[u8]) -> Result<Vec<Msg>, &'static str> {
    let (out, tail) = messages_prefix(sender, bytes)?;
    if tail != Tail::None {
        return Err("the stream ends inside a frame");
    }
    Ok(out)
}

/// The messages and control frames `sender` sent in `bytes`, which must be a valid
/// stream or a valid prefix of one (a stream cut anywhere), and what follows them.
pub fn messages_prefix(sender: Role, bytes: &[u8]) -> Result<(Vec<Msg>, Tail), &'static str> {
    let mut bytes = bytes.to_vec();
    let mut out = Vec::new();
    let tail = wire::messages(sender, &mut bytes, Vec::new(), |m| {
        out.push(m.into());
        Ok(())
    })?;
    Ok((out, tail))
}

/// What follows the HTTP head at the start of `bytes` (the frames after a handshake).
pub fn after_head(bytes: &[u8]) -> &[u8] {
    match head_len(bytes) {
        Some(n) => &bytes[n..],
        None => panic!(
            "no HTTP head in {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        ),
    }
}

/// A [`Reassembler`] that keeps what it completes.
#[derive(Debug)]
pub struct Log {
    re: Reassembler<Vec<u8>>,
    /// Messages and control frames, in order.
    pub msgs: Vec<Msg>,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            re: Reassembler::new(Vec::new()),
            msgs: Vec::new(),
        }
    }
}

impl Log {
    /// Takes in an event (panics on a broken promise).
    pub fn event(&mut self, event: Event<'_>) {
        match self.re.push(event) {
            Ok(Some(done)) => self.msgs.push(done.into()),
            Ok(None) => {}
            Err(e) => panic!("{e}: {event:?}"),
        }
    }

    /// Takes in a whole message from `read_message` (panics on a broken promise).
    pub fn message(&mut self, message: Message<'_>) {
        match self.re.message(message) {
            Ok(m) => self.msgs.push(m.into()),
            Err(e) => panic!("{e}: {message:?}"),
        }
    }

    /// See [`Reassembler::resume`].
    pub fn resume(&mut self, kind: MessageKind) {
        self.re.resume(kind).expect("resume between messages");
    }

    /// Whether a message is open.
    pub fn in_message(&self) -> bool {
        self.re.in_message()
    }

    /// Whether the peer's close came.
    pub fn is_closed(&self) -> bool {
        self.re.is_closed()
    }

    /// The open message's bytes so far.
    pub fn partial(&self) -> &[u8] {
        self.re.partial()
    }
}
