//! Joins the events a connection hands out into messages, checking what the crate
//! promises about them.

use ws13::utf8::Utf8Validator;
use ws13::{CloseFrame, Event, Message, MessageKind};

use crate::storage::Storage;

/// What [`Reassembler::push`] completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assembled<'m> {
    /// A whole message (a data message joined from its pieces, or a control frame).
    Message(Message<'m>),
    /// The rest of a message whose start went elsewhere (see [`Reassembler::resume`]).
    Tail(MessageKind, &'m [u8]),
}

/// Joins the pieces of data messages ([`Event::Data`]) into whole messages in its
/// storage, and checks, as they come: `first` exactly on a message's first piece, `last`
/// on its last, one kind throughout, text that is UTF-8 (across pieces that split
/// characters), control payloads within 125 bytes, valid close codes, and nothing after
/// the peer's close.
#[derive(Debug)]
pub struct Reassembler<S> {
    buf: S,
    open: Option<MessageKind>,
    utf8: Utf8Validator,
    tail: bool,
    /// Continuation bytes that may still begin the tail: the end of a character cut at
    /// the message's start, which went elsewhere.
    skip: u8,
    closed: bool,
    /// Data messages completed.
    pub messages: usize,
}

impl<S: Storage> Reassembler<S> {
    /// A reassembler collecting messages in `buf`.
    pub fn new(buf: S) -> Self {
        Reassembler {
            buf,
            open: None,
            utf8: Utf8Validator::new(),
            tail: false,
            skip: 0,
            closed: false,
            messages: 0,
        }
    }

    /// Whether a data message is open.
    pub fn in_message(&self) -> bool {
        self.open.is_some()
    }

    /// Whether the peer's close arrived.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The open message's bytes so far (none between messages).
    pub fn partial(&self) -> &[u8] {
        match self.open {
            Some(_) => self.buf.bytes(),
            None => &[],
        }
    }

    /// A message of `kind` was begun elsewhere (by a `read_message` that a timeout
    /// interrupted): its other pieces follow with `first == false`, and its end comes
    /// out as [`Assembled::Tail`]. Text is checked as the end of UTF-8 (it may begin
    /// inside a character).
    pub fn resume(&mut self, kind: MessageKind) -> Result<(), &'static str> {
        if self.open.is_some() || self.closed {
            return Err("resumed inside a message, or after the close");
        }
        self.open = Some(kind);
        self.tail = true;
        self.skip = 3;
        self.buf.clear();
        self.utf8.reset();
        Ok(())
    }

    /// Takes in the next event; returns what it completed.
    pub fn push<'m>(&'m mut self, event: Event<'m>) -> Result<Option<Assembled<'m>>, &'static str> {
        if self.closed {
            return Err("an event after the peer's close");
        }
        match event {
            Event::Data(piece) => {
                match self.open {
                    None if !piece.first => {
                        return Err("a piece without `first` outside a message")
                    }
                    Some(_) if piece.first => return Err("`first` on a piece inside a message"),
                    Some(kind) if kind != piece.kind => return Err("a message changed its kind"),
                    _ => {}
                }
                if piece.first {
                    self.open = Some(piece.kind);
                    self.buf.clear();
                    self.utf8.reset();
                    self.skip = 0;
                }
                let mut payload = piece.payload;
                if piece.kind == MessageKind::Text {
                    // The start is elsewhere: skip the end of a character cut there (at
                    // most 3 continuation bytes, over as many pieces as they span).
                    while self.skip > 0 {
                        match payload.split_first() {
                            Some((b, rest)) if b & 0xC0 == 0x80 => {
                                payload = rest;
                                self.skip -= 1;
                            }
                            Some(_) => self.skip = 0,
                            None => break,
                        }
                    }
                    self.utf8
                        .feed(payload)
                        .map_err(|_| "invalid UTF-8 handed out")?;
                }
                if self.buf.push(piece.payload) < piece.payload.len() {
                    return Err("a message larger than the reassembly buffer");
                }
                if !piece.last {
                    return Ok(None);
                }
                if piece.kind == MessageKind::Text {
                    self.utf8
                        .finish()
                        .map_err(|_| "text ends inside a character")?;
                }
                self.open = None;
                self.messages += 1;
                let bytes = self.buf.bytes();
                if core::mem::take(&mut self.tail) {
                    return Ok(Some(Assembled::Tail(piece.kind, bytes)));
                }
                Ok(Some(Assembled::Message(match piece.kind {
                    MessageKind::Text => Message::Text(
                        core::str::from_utf8(bytes).map_err(|_| "invalid UTF-8 handed out")?,
                    ),
                    MessageKind::Binary => Message::Binary(bytes),
                })))
            }
            Event::Ping(p) => control(p).map(|()| Some(Assembled::Message(Message::Ping(p)))),
            Event::Pong(p) => control(p).map(|()| Some(Assembled::Message(Message::Pong(p)))),
            Event::Close(c) => {
                close(c)?;
                self.closed = true;
                Ok(Some(Assembled::Message(Message::Close(c))))
            }
        }
    }

    /// Takes in a whole message that `read_message` returned: checked as `push` checks
    /// events (it may not come inside a message).
    pub fn message<'m>(&mut self, message: Message<'m>) -> Result<Message<'m>, &'static str> {
        if self.closed {
            return Err("a message after the peer's close");
        }
        if self.open.is_some() {
            return Err("a whole message inside another");
        }
        match message {
            Message::Text(_) | Message::Binary(_) => self.messages += 1,
            Message::Ping(p) | Message::Pong(p) => control(p)?,
            Message::Close(c) => {
                close(c)?;
                self.closed = true;
            }
        }
        Ok(message)
    }
}

fn control(payload: &[u8]) -> Result<(), &'static str> {
    if payload.len() > 125 {
        Err("a control payload over 125 bytes")
    } else {
        Ok(())
    }
}

fn close(c: Option<CloseFrame<'_>>) -> Result<(), &'static str> {
    match c {
        Some(c) if !c.code.is_valid_on_wire() => Err("a close code not allowed on the wire"),
        Some(c) if c.reason.len() > 123 => Err("a close reason over 123 bytes"),
        _ => Ok(()),
    }
}
