//! The `write_faults` target: the application's sends, chosen by the fuzzer, through a
//! transport whose writes and flushes the fuzzer makes short, time out, interrupt and
//! fail. Every call a timeout or an interruption hits is made again, the same call; what
//! reaches the wire must always be a valid frame stream carrying exactly the messages
//! sent, in order (a valid prefix of it after a hard failure, after which every call
//! fails).
//!
//! Input: config bit 0 = role (0 server, 1 client), bits 1-3 = transmit buffer size;
//! opts bits 0-2 = rate of random timeouts and interruptions, bit 3 = faults on flushes
//! too, bits 4-5 = the most bytes a write takes, bit 6 = random hard failures; chunk
//! bytes = the faults of the first writes in turn (0 timeout, 1 interruption, 2 failure,
//! 3 `Ok(0)`, n > 3 a short write of n bytes); the stream = the sends (see [`Op`]).

use embedded_io::ErrorKind;
use ws13::blocking::{WebSocket, MIN_BUFFER};
use ws13::proto::Masking;
use ws13::{CloseCode, CloseFrame, Error, Message, MessageKind, NoMask, SendError};
use ws13_testkit::owned::{messages_prefix, Msg};
use ws13_testkit::wire::Tail;
use ws13_testkit::{retry, AtEnd, Fault, Faults, Script, TestMask};

use crate::Input;

const TX_SIZES: [usize; 8] = [MIN_BUFFER, 140, 200, 256, 300, 512, 1024, 4096];
const MAX_CHUNKS: [usize; 4] = [0, 1, 7, 64];

/// Reads the sends from the stream, a byte or a few at a time.
struct Ops<'a> {
    bytes: &'a [u8],
}

impl Ops<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (first, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(*first)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.byte()?, self.byte()?]))
    }
}

/// One send of the application.
#[derive(Clone, Debug)]
enum Op {
    /// A whole message: `write`, or `send` (written and flushed).
    Whole(MessageKind, usize, bool),
    /// One frame of a fragmented message (`write_fragment`).
    Fragment(MessageKind, usize, bool),
    /// A frame streamed in chunks of `step` bytes (`begin_frame`, `write_payload`), with
    /// a ping asked for after the first chunk, perhaps (it waits for the frame).
    Streamed(MessageKind, usize, bool, usize, Option<usize>),
    /// A ping or a pong with this many bytes.
    Control(bool, usize),
    /// A flush.
    Flush,
    /// A close with a code and a reason of this many bytes.
    Close(CloseCode, usize),
}

fn next_op(ops: &mut Ops<'_>) -> Option<Op> {
    let kind = |b: u8| {
        if b & 1 == 0 {
            MessageKind::Binary
        } else {
            MessageKind::Text
        }
    };
    let op = ops.byte()?;
    Some(match op % 8 {
        0 => {
            let len = ops.byte()?;
            Op::Whole(kind(op >> 3), usize::from(len), op & 0x40 != 0)
        }
        1 => Op::Whole(
            MessageKind::Binary,
            usize::from(ops.u16()? % 5000),
            op & 0x40 != 0,
        ),
        2 => Op::Fragment(kind(op >> 3), usize::from(ops.byte()?), op & 0x40 != 0),
        3 | 4 => {
            let len = usize::from(ops.u16()? % 3000);
            let step = usize::from(ops.byte()?).max(1);
            let ping = (op % 8 == 4).then(|| usize::from(op >> 4) * 8);
            Op::Streamed(kind(op >> 3), len, op & 0x80 != 0, step, ping)
        }
        5 => Op::Control(op & 0x08 != 0, usize::from(ops.byte()? % 126)),
        6 => Op::Flush,
        _ => {
            let code = crate::CLOSE_CODES[usize::from(op >> 3) % crate::CLOSE_CODES.len()];
            Op::Close(code, usize::from(ops.byte()? % 30))
        }
    })
}

/// Payload bytes: ASCII (valid text), a pattern that depends on where they are.
fn payload(seed: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| b'a' + ((seed * 7 + i * 13) % 26) as u8)
        .collect()
}

fn message(kind: MessageKind, bytes: Vec<u8>) -> Msg {
    match kind {
        MessageKind::Text => Msg::Text(String::from_utf8(bytes).expect("ASCII")),
        MessageKind::Binary => Msg::Binary(bytes),
    }
}

/// The application's state and what the peer must see.
struct Model {
    /// The kind and bytes of the fragmented message open, if any.
    open: Option<(MessageKind, Vec<u8>)>,
    /// Messages and control frames, in the order they are on the wire.
    sent: Vec<Msg>,
    closed: bool,
}

/// What a send returned, as the model sees it.
enum Outcome {
    Done,
    /// The transport failed for good (or ended).
    Failed,
}

fn outcome(r: Result<(), Error<ErrorKind>>, what: &str) -> Outcome {
    match r {
        Ok(()) => Outcome::Done,
        Err(Error::Io(_) | Error::Eof) => Outcome::Failed,
        Err(e) => panic!("{what}: {e:?}"),
    }
}

/// Runs the sends through `ws`; returns the model, and whether the transport failed.
fn run<M: Masking>(
    ws: &mut WebSocket<'_, &mut Script<'_, &[u8], Vec<u8>>, M>,
    ops: &mut Ops<'_>,
    tx_len: usize,
) -> (Model, bool) {
    let mut model = Model {
        open: None,
        sent: Vec::new(),
        closed: false,
    };
    let mut count = 0;
    while let Some(op) = next_op(ops) {
        count += 1;
        if model.closed {
            // After our close nothing more is sent.
            let r = match op {
                Op::Flush => continue,
                Op::Close(..) => continue,
                Op::Whole(..) | Op::Fragment(..) | Op::Streamed(..) => {
                    ws.send(Message::Binary(b"late"))
                }
                Op::Control(..) => ws.send(Message::Ping(b"late")),
            };
            assert!(
                matches!(r, Err(Error::Closed)),
                "a send after our close: {r:?}"
            );
            continue;
        }
        let failed = match op {
            Op::Whole(kind, len, send) if model.open.is_none() => {
                let data = payload(count, len);
                model.sent.push(message(kind, data.clone()));
                let m = match kind {
                    MessageKind::Text => Message::Text(std::str::from_utf8(&data).unwrap()),
                    MessageKind::Binary => Message::Binary(&data),
                };
                if send {
                    outcome(retry!(ws.send(m)), "send")
                } else {
                    outcome(retry!(ws.write(m)), "write")
                }
            }
            Op::Whole(_, len, last) | Op::Fragment(_, len, last) => {
                let kind = match (&model.open, &op) {
                    (Some((k, _)), _) => *k,
                    (None, Op::Fragment(k, ..)) => *k,
                    (None, _) => MessageKind::Binary,
                };
                let data = payload(count, len);
                let (_, all) = model.open.get_or_insert((kind, Vec::new()));
                all.extend_from_slice(&data);
                if last {
                    let (kind, all) = model.open.take().unwrap();
                    model.sent.push(message(kind, all));
                }
                outcome(
                    retry!(ws.writer().write_fragment(kind, &data, last)),
                    "write_fragment",
                )
            }
            Op::Streamed(kind, len, fin, step, ping) => {
                let kind = model.open.as_ref().map_or(kind, |(k, _)| *k);
                let data = payload(count, len);
                let (_, all) = model.open.get_or_insert((kind, Vec::new()));
                all.extend_from_slice(&data);
                let mut result = retry!(ws.writer().begin_frame(kind, len as u64, fin));
                let mut waiting = None;
                let mut at = 0;
                while result.is_ok() && at < len {
                    let n = step.min(len - at);
                    result = retry!(ws.writer().write_payload(&data[at..at + n]));
                    at += n;
                    if let (Some(p), true, Ok(())) = (ping, waiting.is_none(), &result) {
                        let p = payload(count + 1, p.min(125));
                        match retry!(ws.write(Message::Ping(&p))) {
                            // After the frame: it waits for it, or (the frame complete
                            // already) goes at once.
                            Ok(()) => waiting = Some(p),
                            // No room to hold it beside a pong the peer may be owed.
                            Err(Error::Send(SendError::FrameOpen)) => {
                                assert!(
                                    at < len && tx_len < 137 + 6 + p.len(),
                                    "FrameOpen with room"
                                );
                            }
                            Err(e) => result = Err(e),
                        }
                    }
                }
                if result.is_ok() {
                    // The frame is complete (and its message, if it ends it): what waited
                    // for it follows it.
                    if fin {
                        let (kind, all) = model.open.take().unwrap();
                        model.sent.push(message(kind, all));
                    }
                    model.sent.extend(waiting.map(Msg::Ping));
                } else if fin {
                    let (kind, all) = model.open.take().unwrap();
                    model.sent.push(message(kind, all));
                }
                outcome(result, "streamed frame")
            }
            Op::Control(ping, len) => {
                let p = payload(count, len);
                if ping {
                    model.sent.push(Msg::Ping(p.clone()));
                    outcome(retry!(ws.write(Message::Ping(&p))), "ping")
                } else {
                    model.sent.push(Msg::Pong(p.clone()));
                    outcome(retry!(ws.write(Message::Pong(&p))), "pong")
                }
            }
            Op::Flush => outcome(retry!(ws.flush()), "flush"),
            Op::Close(code, len) => {
                let reason = String::from_utf8(payload(count, len)).unwrap();
                let close = Message::Close(Some(CloseFrame {
                    code,
                    reason: &reason,
                }));
                match retry!(ws.send(close)) {
                    Err(Error::Send(SendError::InvalidCloseCode)) => {
                        assert!(!code.is_valid_on_wire());
                        Outcome::Done
                    }
                    r => {
                        model.closed = true;
                        model.sent.push(Msg::close(code.0, &reason));
                        outcome(r, "close")
                    }
                }
            }
        };
        if let Outcome::Failed = failed {
            return (model, true);
        }
    }
    let flushed = outcome(retry!(ws.flush()), "the last flush");
    (model, matches!(flushed, Outcome::Failed))
}

fn target<M: Masking>(input: &Input<'_>, masks: M) {
    let tx_len = TX_SIZES[usize::from(input.config >> 1) & 7];
    let rate = u16::from(input.opts & 7) * 40;
    let mut writes =
        Faults::random(rate, rate / 2, 300).max_chunk(MAX_CHUNKS[usize::from(input.opts >> 4) & 3]);
    if input.opts & 0x40 != 0 {
        writes = writes.fail(3);
    }
    let plan: Vec<(usize, Fault)> = input
        .chunks
        .iter()
        .enumerate()
        .map(|(call, b)| {
            let fault = match b {
                0 => Fault::TimedOut,
                1 => Fault::Interrupted,
                2 => Fault::Fail(ErrorKind::ConnectionReset),
                3 => Fault::Eof,
                n => Fault::Short(usize::from(*n)),
            };
            (call, fault)
        })
        .collect();
    writes.at = &plan;
    let flushes = if input.opts & 8 != 0 {
        Faults::random(rate, rate / 2, 0)
    } else {
        Faults::NONE
    };
    let seed = u64::from(input.opts) << 8 | u64::from(input.config);
    let mut io = Script::new(&[][..], Vec::new())
        .writes(writes)
        .flushes(flushes)
        .seed(seed)
        .at_end(AtEnd::Block);
    let mut rx = vec![0u8; MIN_BUFFER];
    let mut tx = vec![0u8; tx_len];
    let mut ws =
        WebSocket::from_upgraded(&mut io, &mut rx, 0..0, &mut tx, 0, masks).expect("buffers");
    let mut ops = Ops {
        bytes: input.stream,
    };
    let (model, failed) = run(&mut ws, &mut ops, tx_len);
    if failed {
        // Every call fails from now on, and none panics.
        ws13_testkit::drive::fails_from_now_on(&mut ws).unwrap();
        // A transport that failed fails its flush too; one that took nothing (`Ok(0)`)
        // may still flush, with nothing of ours left to write.
        let flushed = ws.flush();
        let dead = ws.get_ref().failed().is_some();
        drop(ws);
        assert!(
            flushed.is_err() || !dead,
            "a flush after the failure: {flushed:?}"
        );
    } else {
        drop(ws);
    }
    let (got, tail) =
        messages_prefix(M::ROLE, io.written()).expect("the wire carries an invalid frame stream");
    if failed {
        assert!(
            got.len() <= model.sent.len(),
            "more on the wire than was sent"
        );
        assert!(
            got[..] == model.sent[..got.len()],
            "the wire differs from what was sent: {:?} vs {:?}",
            summary(&got),
            summary(&model.sent)
        );
    } else {
        assert_eq!(tail, Tail::None, "a frame left cut");
        assert!(
            got == model.sent,
            "the wire differs from what was sent: {:?} vs {:?}",
            summary(&got),
            summary(&model.sent)
        );
    }
}

/// See the module's documentation.
pub fn write_faults(data: &[u8]) {
    let input = Input::parse(data);
    if input.config & 1 == 0 {
        target(&input, NoMask);
    } else {
        target(&input, TestMask(0xC11E_0001));
    }
}

/// Each message's kind and length, to show a difference briefly.
fn summary(messages: &[Msg]) -> Vec<String> {
    messages
        .iter()
        .map(|m| match m {
            Msg::Text(t) => format!("text {}", t.len()),
            Msg::Binary(b) => format!("binary {}", b.len()),
            Msg::Ping(p) => format!("ping {}", p.len()),
            Msg::Pong(p) => format!("pong {}", p.len()),
            Msg::Close(c) => format!("close {c:?}"),
            Msg::Tail(_, b) => format!("tail {}", b.len()),
        })
        .collect()
}
