//! One conversation through one of ws13's drivers, included by `roundtrip.rs` once for
//! each (`#[path]`): `driver!()` names the driver's `WebSocket`, its transport over the
//! scripted one, how it starts and how patient it is; `once!` makes a call once (through
//! the async driver, polled by an impatient executor, which may drop it part-way: a
//! timeout, or made again at once), and `call!` makes it again after each timeout until
//! it is done.

use embedded_io::ErrorKind;
use ws13::blocking::MIN_BUFFER;
use ws13::proto::Masking;
use ws13::{CloseCode, CloseFrame, Error, Event, Message, MessageKind, SendError};
use ws13_testkit::owned::{messages_prefix, Log, Msg};
use ws13_testkit::{Faults, Rng, Script};

use super::{
    check_received, kind_of, message_of, plan, transport, Expected, Frame, Io, Mode, Plan,
    Received, Step, Talked, PIECES, SWITCHED, WHOLE,
};

driver!();

/// This driver's part of a conversation (the plan drawn from `rng`): `sender` sends
/// the plan through a faulty transport; a receiver with `receiver`'s masking reads those
/// bytes through another, in a way drawn from `rng`, echoing or not, and is checked; then
/// the sender reads what the receiver wrote, and its close handshake completes. `rng`
/// draws exactly what it draws for either driver (so a seed names the same conversation
/// for both); `extra` draws what only one driver needs.
pub fn talk<S: Masking, R: Masking>(
    rng: &mut Rng,
    extra: &mut Rng,
    plan: &Plan,
    sender: S,
    receiver: R,
) -> Talked {
    start(extra);
    let mut send_io = transport(rng, Vec::new());
    let (mut srx, mut stx) = (
        vec![0u8; rng.range(MIN_BUFFER, 4096)],
        vec![0u8; rng.range(MIN_BUFFER, 4096)],
    );
    let io = wrap(&mut send_io, extra);
    let mut ws = WebSocket::from_upgraded(io, &mut srx, 0..0, &mut stx, 0, sender).unwrap();
    let (expected, pings) = send_plan(&mut ws, plan).unwrap_or_else(|e| panic!("sending: {e:?}"));
    let sent = script(ws.get_mut()).written().to_vec();

    // The receiver.
    let mode = *rng.pick(&[Mode::Pieces, Mode::Whole, Mode::Relay, Mode::Mixed]);
    let echo = mode == Mode::Relay || rng.chance(1, 2);
    let mut recv_io = transport(rng, sent.clone());
    let (mut rrx, mut rtx) = (
        vec![0u8; rng.range(MIN_BUFFER, 8192)],
        vec![0u8; rng.range(MIN_BUFFER, 1024)],
    );
    let io = wrap(&mut recv_io, extra);
    let mut peer = WebSocket::from_upgraded(io, &mut rrx, 0..0, &mut rtx, 0, receiver).unwrap();
    let what = format!(
        "{} driver, {:?} receiving, {mode:?}, echo {echo}",
        DRIVER,
        R::ROLE
    );
    let got = receive(&mut peer, rng, mode, echo).unwrap_or_else(|e| panic!("{what}: {e:?}"));
    check_received(&got, &expected, plan, &what);
    let answers = script(peer.get_mut()).written().to_vec();
    let echoed = if echo {
        expected.messages.clone()
    } else {
        Vec::new()
    };

    // The sender reads the answers: its close handshake completes.
    read_answers(&mut ws, &answers, &pings, &echoed, plan.close.0);
    drop(ws);
    drop(peer);
    Talked {
        sent,
        sender_wrote: send_io.written().to_vec(),
        receiver_wrote: recv_io.written().to_vec(),
        expected,
        pings,
        injected: send_io.injected() + recv_io.injected(),
    }
}

/// Sends the plan through `ws`; returns what the peer must see and the pings sent, or
/// the first error that is not a timeout (every call interrupted by one is made again).
pub fn send_plan<M: Masking>(
    ws: &mut WebSocket<'_, Transport<'_>, M>,
    plan: &Plan,
) -> Result<(Expected, Vec<Vec<u8>>), Error<ErrorKind>> {
    let mut expected = Expected::default();
    let mut pings_sent = Vec::new();
    for step in &plan.steps {
        match step {
            Step::Whole(m, flush) => {
                let (kind, bytes) = kind_of(m);
                let message = match kind {
                    MessageKind::Text => Message::Text(std::str::from_utf8(&bytes).unwrap()),
                    MessageKind::Binary => Message::Binary(&bytes),
                };
                if *flush {
                    call!(ws.send(message))?;
                } else {
                    call!(ws.write(message))?;
                }
                expected.messages.push(m.clone());
            }
            Step::Frames(kind, frames, pings) => {
                let index = expected.messages.len();
                let mut all = Vec::new();
                for (i, frame) in frames.iter().enumerate() {
                    let last = i + 1 == frames.len();
                    for (_, p) in pings.iter().filter(|(at, _)| *at == i) {
                        call!(ws.write(Message::Ping(p)))?;
                        expected.pings.push((p.clone(), (i > 0).then_some(index)));
                        pings_sent.push(p.clone());
                    }
                    match frame {
                        Frame::Fragment(data) => {
                            call!(ws.writer().write_fragment(*kind, data, last))?;
                            all.extend_from_slice(data);
                        }
                        Frame::Streamed(data, chunks, inner) => {
                            let len = data.len() as u64;
                            call!(ws.writer().begin_frame(*kind, len, last))?;
                            // A ping asked for inside the frame waits for it; one the
                            // buffer has no room to hold meanwhile is refused, and asked
                            // for again after the frame.
                            let mut refused = None;
                            let mut at = 0;
                            for (c, n) in chunks.iter().enumerate() {
                                call!(ws.writer().write_payload(&data[at..at + n]))?;
                                at += n;
                                if let Some((_, p)) = inner.as_ref().filter(|(ci, _)| *ci == c) {
                                    match call!(ws.write(Message::Ping(p))) {
                                        Ok(()) => {}
                                        Err(Error::Send(SendError::FrameOpen)) => {
                                            assert!(ws.connection().frame_remaining() > 0);
                                            refused = Some(p);
                                        }
                                        Err(e) => return Err(e),
                                    }
                                }
                            }
                            if let Some(p) = refused {
                                call!(ws.write(Message::Ping(p)))?;
                            }
                            if let Some((_, p)) = inner {
                                expected.pings.push((p.clone(), (!last).then_some(index)));
                                pings_sent.push(p.clone());
                            }
                            all.extend_from_slice(data);
                        }
                    }
                }
                expected.messages.push(message_of(*kind, all));
            }
            Step::Ping(p) => {
                call!(ws.write(Message::Ping(p)))?;
                expected.pings.push((p.clone(), None));
                pings_sent.push(p.clone());
            }
            Step::Flush => call!(ws.flush())?,
        }
    }
    let (code, reason) = &plan.close;
    let close = Message::Close(Some(CloseFrame {
        code: CloseCode(*code),
        reason,
    }));
    call!(ws.send(close))?;
    Ok((expected, pings_sent))
}

/// Reads until the peer's close, echoing every message back if `echo`, each call made
/// again after a timeout.
pub fn receive<M: Masking>(
    ws: &mut WebSocket<'_, Transport<'_>, M>,
    rng: &mut Rng,
    mode: Mode,
    echo: bool,
) -> Result<Received, Error<ErrorKind>> {
    let mut got = Received::default();
    let mut buf = vec![0u8; 80_000];
    // The way the open message is read.
    let mut current: Option<Mode> = None;
    // A read_message a timeout interrupted was given up for read (only without an echo,
    // which would lack the message's start).
    let mut switched = false;
    // Pings read after such a switch, before the next piece tells whether they came
    // inside the message read_message had begun.
    let mut undecided: Vec<Vec<u8>> = Vec::new();
    loop {
        let way = current.unwrap_or(match mode {
            Mode::Mixed if echo => *rng.pick(&[Mode::Pieces, Mode::Whole, Mode::Relay]),
            Mode::Mixed => *rng.pick(&[Mode::Pieces, Mode::Whole]),
            m => m,
        });
        if way == Mode::Whole {
            // The same call again after each timeout; in mixed mode, now and then `read`
            // instead.
            let mut tries = 0;
            let message = loop {
                match once!(ws.read_message(&mut buf)) {
                    Err(e) if e.is_timeout() && tries < PATIENCE => {
                        tries += 1;
                        if mode == Mode::Mixed && !echo && rng.chance(1, 4) {
                            break None;
                        }
                    }
                    other => break Some(other?),
                }
            };
            let Some(message) = message else {
                switched = true;
                current = Some(Mode::Pieces);
                continue;
            };
            match message {
                Message::Text(_) | Message::Binary(_) => {
                    got.log.message(message);
                    got.whole.push(WHOLE);
                    if echo {
                        call!(ws.send(message))?;
                    }
                }
                Message::Ping(p) => got.pings.push((p.to_vec(), None)),
                Message::Pong(_) => panic!("no pong was sent"),
                Message::Close(c) => {
                    let c = c.expect("a close code");
                    got.close = Some((c.code.0, c.reason.to_string()));
                    break;
                }
            }
            continue;
        }
        let (event, mut writer) = call!(ws.read_split())?;
        let in_message = got.log.in_message();
        if let Event::Data(piece) = event {
            let resumed = !piece.first && !in_message;
            if resumed {
                // The rest of a message whose start went to the interrupted read_message.
                assert!(switched, "a piece without `first` outside a message");
                got.log.resume(piece.kind);
            }
            let inside = resumed.then_some(got.whole.len());
            got.pings.extend(undecided.drain(..).map(|p| (p, inside)));
            if piece.first {
                got.whole.push(PIECES);
            } else if resumed {
                got.whole.push(SWITCHED);
            }
            if piece.first || piece.last {
                switched = false;
            }
        }
        got.log.event(event);
        match event {
            Event::Data(piece) => {
                if echo && way == Mode::Relay {
                    call!(writer.relay(&piece))?;
                } else if echo {
                    call!(writer.write_fragment(piece.kind, piece.payload, piece.last))?;
                }
                current = (!piece.last).then_some(way);
            }
            Event::Ping(p) if switched && !in_message => undecided.push(p.to_vec()),
            Event::Ping(p) => got
                .pings
                .push((p.to_vec(), in_message.then(|| got.whole.len() - 1))),
            Event::Pong(_) => panic!("no pong was sent"),
            Event::Close(c) => {
                let c = c.expect("a close code");
                got.close = Some((c.code.0, c.reason.to_string()));
                got.pings.extend(undecided.drain(..).map(|p| (p, None)));
                break;
            }
        }
    }
    assert!(ws.is_closed());
    // The echo of the close went out with the event, unless a timeout kept it.
    call!(ws.flush())?;
    assert!(matches!(once!(ws.read()), Err(Error::Closed)));
    Ok(got)
}

/// Reads, as the sender, what the receiver wrote: a pong for each ping, the echoes, and
/// the echo of the close, which ends the close handshake.
pub fn read_answers<M: Masking>(
    ws: &mut WebSocket<'_, Transport<'_>, M>,
    answers: &[u8],
    pings: &[Vec<u8>],
    echoed: &[Msg],
    close: u16,
) {
    script(ws.get_mut()).feed(answers);
    let mut log = Log::default();
    loop {
        match call!(ws.read()) {
            Ok(event) => {
                let end = matches!(event, Event::Close(_));
                log.event(event);
                if end {
                    break;
                }
            }
            Err(e) => panic!("reading the answers: {e:?}"),
        }
    }
    let pongs: Vec<&Vec<u8>> = log
        .msgs
        .iter()
        .filter_map(|m| if let Msg::Pong(p) = m { Some(p) } else { None })
        .collect();
    assert_eq!(
        pongs,
        pings.iter().collect::<Vec<_>>(),
        "a pong for each ping, in order"
    );
    let data: Vec<&Msg> = log
        .msgs
        .iter()
        .filter(|m| matches!(m, Msg::Text(_) | Msg::Binary(_)))
        .collect();
    assert!(
        data == echoed.iter().collect::<Vec<_>>(),
        "the echo differs"
    );
    assert_eq!(log.msgs.last(), Some(&Msg::close(close, "")));
    // The close handshake is over: close() returns at once.
    call!(ws.close(CloseCode(close), "")).unwrap();
    assert!(ws.is_closed());
}

/// A hard failure of the transport at a random point (or a random write): the call it
/// hits fails, and so does every later one, nothing panics, and what reached the wire is
/// a valid prefix of the frames, carrying a prefix of the messages.
pub fn send_until_failure<M: Masking>(seed: u64, extra: &mut Rng, masks: M) {
    start(extra);
    let mut rng = Rng::new(seed);
    let plan = plan(&mut rng);
    let mut io = transport(&mut rng, Vec::new());
    let writes = if rng.chance(1, 2) {
        Faults::random(100, 100, 300).fail(rng.range(1, 50) as u16)
    } else {
        Faults::random(100, 100, 300).fail_after(rng.range(0, 3000))
    };
    io = io.writes(writes.max_chunk(*rng.pick(&[0, 1, 100])));
    let (mut rx, mut tx) = (
        vec![0u8; MIN_BUFFER],
        vec![0u8; rng.range(MIN_BUFFER, 2048)],
    );
    let io_ = wrap(&mut io, extra);
    let mut ws = WebSocket::from_upgraded(io_, &mut rx, 0..0, &mut tx, 0, masks).unwrap();
    let full = send_plan(&mut ws, &plan);
    let expected: Vec<Msg> = plan
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Whole(m, _) => Some(m.clone()),
            Step::Frames(kind, frames, _) => Some(message_of(
                *kind,
                frames
                    .iter()
                    .flat_map(|f| match f {
                        Frame::Fragment(d) | Frame::Streamed(d, _, _) => d.clone(),
                    })
                    .collect(),
            )),
            _ => None,
        })
        .collect();
    match full {
        // The failure came after the last write (or the transport took everything).
        Ok(_) => {}
        Err(Error::Io(kind)) => {
            assert_eq!(kind, ErrorKind::ConnectionReset);
            assert!(ws.is_closed());
            // Everything fails from now on.
            fails_from_now_on(&mut ws).unwrap();
            assert!(once!(ws.close(CloseCode::NORMAL, "")).is_err());
        }
        Err(e) => panic!("{e:?}"),
    }
    drop(ws);
    let (got, _) = messages_prefix(M::ROLE, io.written())
        .unwrap_or_else(|e| panic!("not a valid prefix of frames: {e}"));
    let data: Vec<Msg> = got
        .into_iter()
        .filter(|m| matches!(m, Msg::Text(_) | Msg::Binary(_)))
        .collect();
    assert!(
        data.len() <= expected.len() && data[..] == expected[..data.len()],
        "the messages that went out differ"
    );
}

/// A read that fails for good (or the transport's end) at a random point: the receiving
/// call fails, every later call fails, and what it wrote (pongs) is a valid frame stream.
pub fn receive_until_failure<M: Masking>(
    seed: u64,
    extra: &mut Rng,
    sender: impl Masking,
    masks: M,
) {
    start(extra);
    let mut rng = Rng::new(seed);
    let plan = plan(&mut rng);
    let mut send_io = transport(&mut rng, Vec::new());
    let (mut srx, mut stx) = (vec![0u8; MIN_BUFFER], vec![0u8; 1024]);
    let io = wrap(&mut send_io, extra);
    let mut ws = WebSocket::from_upgraded(io, &mut srx, 0..0, &mut stx, 0, sender).unwrap();
    send_plan(&mut ws, &plan).unwrap();
    drop(ws);
    let mut bytes = send_io.written().to_vec();
    let cut = rng.range(0, bytes.len());
    let eof = rng.chance(1, 2);
    let mut reads = Faults::random(100, 100, 300).max_chunk(*rng.pick(&[0, 1, 100]));
    if eof {
        bytes.truncate(cut);
    } else {
        reads = reads.fail_after(cut);
    }
    let mut io = Script::new(bytes, Vec::new())
        .reads(reads)
        .seed(rng.next_u64());
    let (mut rx, mut tx) = (vec![0u8; rng.range(MIN_BUFFER, 1024)], vec![0u8; 512]);
    let io_ = wrap(&mut io, extra);
    let mut peer = WebSocket::from_upgraded(io_, &mut rx, 0..0, &mut tx, 0, masks).unwrap();
    let echo = rng.chance(1, 2);
    match receive(&mut peer, &mut rng, Mode::Mixed, echo) {
        Ok(_) => {}
        Err(Error::Eof) => assert!(eof),
        Err(Error::Io(kind)) => assert!(!eof && kind == ErrorKind::ConnectionReset),
        Err(e) => panic!("{e:?}"),
    }
    fails_from_now_on(&mut peer).unwrap();
    drop(peer);
    messages_prefix(M::ROLE, io.written())
        .unwrap_or_else(|e| panic!("not a valid prefix of frames: {e}"));
}
