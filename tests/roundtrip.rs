//! Property tests: whatever one role sends, the other receives once, unchanged, through
//! transports that time out, are interrupted, and move a few bytes at a time.
//!
//! Each case draws, from a seeded PRNG, a conversation: messages (text with random
//! Unicode of every encoded length, binary, empty, up to 70 KB), each sent whole
//! (`write` or `send`), as fragments cut anywhere (inside characters too, empty ones
//! included), or as frames streamed in chunks (`begin_frame`, `write_payload`), with
//! pings between fragments and inside streamed frames, flushes at random, and a close.
//! One role sends it through a `WebSocket` over a scripted transport that injects
//! timeouts, interruptions and short writes at random points; every interrupted call is
//! made again, the same call. The other role reads the bytes through a transport that
//! does the same to reads and writes, with `read`, `read_message`, `read_split` (echoing
//! each message back: pieces relayed as they came, or as fragments, or whole) or a mix,
//! and must see every message once, whole, in order, and every ping. Then the sender
//! reads what the receiver wrote: a pong for every ping, the echo of every message, and
//! the echo of its close, which ends the close handshake. The bytes are also fed, in
//! random splits, to the sans-IO `proto::Connection`.
//!
//! A failing case prints its seed; rerun it alone with
//! `ROUNDTRIP_SEED=<seed> cargo test --test roundtrip -- --nocapture`;
//! `ROUNDTRIP_CASES=<n>` changes the number of cases (`FAILURES_` likewise for the
//! hard-failure cases).

use embedded_io::ErrorKind;
use ws13::blocking::{WebSocket, MIN_BUFFER};
use ws13::proto::{Connection, Masking, Role};
use ws13::{CloseCode, CloseFrame, Error, Event, Message, MessageKind, NoMask, SendError, Status};
use ws13_testkit::owned::{messages, messages_prefix, Log, Msg};
use ws13_testkit::{retry, AtEnd, Fault, Faults, Rng, Script};

/// One way a message is sent: the frames it is cut into.
#[derive(Clone, Debug)]
enum Frame {
    /// `write_fragment` with these bytes.
    Fragment(Vec<u8>),
    /// `begin_frame`, then `write_payload` in chunks of these sizes; a ping may be asked
    /// for after the chunk of the given index (it waits for the frame).
    Streamed(Vec<u8>, Vec<usize>, Option<(usize, Vec<u8>)>),
}

/// What the sender does.
#[derive(Clone, Debug)]
enum Step {
    /// A whole message: `send` (written and flushed) or `write`.
    Whole(Msg, bool),
    /// A message as frames (the last one ends it), with pings between some of them.
    Frames(MessageKind, Vec<Frame>, Vec<(usize, Vec<u8>)>),
    /// A ping between messages.
    Ping(Vec<u8>),
    /// A flush.
    Flush,
}

fn kind_of(m: &Msg) -> (MessageKind, Vec<u8>) {
    match m {
        Msg::Text(t) => (MessageKind::Text, t.as_bytes().to_vec()),
        Msg::Binary(b) => (MessageKind::Binary, b.clone()),
        other => unreachable!("{other:?}"),
    }
}

fn message_of(kind: MessageKind, bytes: Vec<u8>) -> Msg {
    match kind {
        MessageKind::Text => Msg::Text(String::from_utf8(bytes).unwrap()),
        MessageKind::Binary => Msg::Binary(bytes),
    }
}

/// A conversation: the steps, then the close's code and reason.
#[derive(Clone, Debug)]
struct Plan {
    steps: Vec<Step>,
    close: (u16, String),
}

fn random_message(rng: &mut Rng) -> Msg {
    let len = if rng.chance(1, 40) {
        rng.range(65_536, 70_000) // a 64-bit length
    } else if rng.chance(1, 5) {
        rng.range(120, 300) // around the 7-bit/16-bit boundary
    } else {
        rng.range(0, 2_000)
    };
    match rng.below(5) {
        0 | 1 => Msg::Text(rng.text(len)),
        2 => Msg::Binary(rng.bytes(len)),
        3 => Msg::Text(String::new()),
        _ => Msg::Binary(Vec::new()),
    }
}

fn ping(rng: &mut Rng) -> Vec<u8> {
    let len = rng.range(0, 125);
    rng.bytes(len)
}

fn plan(rng: &mut Rng) -> Plan {
    let mut steps = Vec::new();
    for _ in 0..rng.range(0, 10) {
        let message = random_message(rng);
        match rng.below(3) {
            0 => steps.push(Step::Whole(message, rng.chance(1, 2))),
            _ => {
                let (kind, bytes) = kind_of(&message);
                let mut cuts: Vec<usize> = (0..rng.range(0, 5))
                    .map(|_| rng.range(0, bytes.len()))
                    .collect();
                cuts.sort_unstable();
                cuts.push(bytes.len());
                let mut frames = Vec::new();
                let mut start = 0;
                for cut in cuts {
                    let data = bytes[start..cut].to_vec();
                    start = cut;
                    if rng.chance(1, 3) {
                        let mut chunks = Vec::new();
                        let mut left = data.len();
                        while left > 0 {
                            let n = rng.range(1, left.min(3000));
                            chunks.push(n);
                            left -= n;
                        }
                        let inner = (rng.chance(1, 3) && !chunks.is_empty())
                            .then(|| (rng.below(chunks.len()), ping(rng)));
                        frames.push(Frame::Streamed(data, chunks, inner));
                    } else {
                        frames.push(Frame::Fragment(data));
                    }
                }
                let pings = (0..rng.range(0, 2))
                    .map(|_| (rng.below(frames.len()), ping(rng)))
                    .collect();
                steps.push(Step::Frames(kind, frames, pings));
            }
        }
        if rng.chance(1, 4) {
            steps.push(Step::Ping(ping(rng)));
        }
        if rng.chance(1, 3) {
            steps.push(Step::Flush);
        }
    }
    let reason_len = rng.range(0, 30);
    // At most 20 characters: at most 80 bytes, within the 123 a close reason allows.
    let close = (
        *rng.pick(&[1000u16, 1001, 3000, 4999]),
        rng.text(reason_len).chars().take(20).collect(),
    );
    Plan { steps, close }
}

/// What the receiver must see: messages in order, and pings each with the index of the
/// message it arrived inside (read_message does not show those).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Expected {
    messages: Vec<Msg>,
    pings: Vec<(Vec<u8>, Option<usize>)>,
}

/// A scripted transport for one end.
type Io = Script<'static, Vec<u8>, Vec<u8>>;

/// Faults for the transports of a case: none, rare, or frequent, with short transfers.
fn faults(rng: &mut Rng) -> Faults<'static> {
    let f = match rng.below(3) {
        0 => Faults::NONE,
        1 => Faults::random(50, 30, 200),
        _ => Faults::random(300, 200, 400),
    };
    f.max_chunk(*rng.pick(&[0, 1, 7, 131, 1000]))
}

fn transport(rng: &mut Rng, input: Vec<u8>) -> Io {
    Script::new(input, Vec::new())
        .reads(faults(rng))
        .writes(faults(rng))
        .flushes(Faults::random(100, 100, 0))
        .seed(rng.next_u64())
        .at_end(AtEnd::Block)
}

/// Sends the plan through `ws`; returns what the peer must see and the pings sent, or
/// the first error that is not a timeout (every call interrupted by one is made again).
fn send_plan<M: Masking>(
    ws: &mut WebSocket<'_, &mut Io, M>,
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
                    retry!(ws.send(message))?;
                } else {
                    retry!(ws.write(message))?;
                }
                expected.messages.push(m.clone());
            }
            Step::Frames(kind, frames, pings) => {
                let index = expected.messages.len();
                let mut all = Vec::new();
                for (i, frame) in frames.iter().enumerate() {
                    let last = i + 1 == frames.len();
                    for (_, p) in pings.iter().filter(|(at, _)| *at == i) {
                        retry!(ws.write(Message::Ping(p)))?;
                        expected.pings.push((p.clone(), (i > 0).then_some(index)));
                        pings_sent.push(p.clone());
                    }
                    match frame {
                        Frame::Fragment(data) => {
                            retry!(ws.writer().write_fragment(*kind, data, last))?;
                            all.extend_from_slice(data);
                        }
                        Frame::Streamed(data, chunks, inner) => {
                            let len = data.len() as u64;
                            retry!(ws.writer().begin_frame(*kind, len, last))?;
                            // A ping asked for inside the frame waits for it; one the
                            // buffer has no room to hold meanwhile is refused, and asked
                            // for again after the frame.
                            let mut refused = None;
                            let mut at = 0;
                            for (c, n) in chunks.iter().enumerate() {
                                retry!(ws.writer().write_payload(&data[at..at + n]))?;
                                at += n;
                                if let Some((_, p)) = inner.as_ref().filter(|(ci, _)| *ci == c) {
                                    match retry!(ws.write(Message::Ping(p))) {
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
                                retry!(ws.write(Message::Ping(p)))?;
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
                retry!(ws.write(Message::Ping(p)))?;
                expected.pings.push((p.clone(), None));
                pings_sent.push(p.clone());
            }
            Step::Flush => retry!(ws.flush())?,
        }
    }
    let (code, reason) = &plan.close;
    let close = Message::Close(Some(CloseFrame {
        code: CloseCode(*code),
        reason,
    }));
    retry!(ws.send(close))?;
    Ok((expected, pings_sent))
}

/// How the receiver reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `read` (or `read_split`, to echo).
    Pieces,
    /// `read_message`.
    Whole,
    /// `read_split`, each piece relayed as it came (`relay`): only with an echo.
    Relay,
    /// A way chosen at random for each message.
    Mixed,
}

/// A message read piece by piece (`read`, `read_split`).
const PIECES: u8 = 0;
/// A message read whole (`read_message`).
const WHOLE: u8 = 1;
/// A message `read_message` began and a timeout interrupted, finished with `read`: its
/// start is in `read_message`'s buffer, its end comes as pieces without `first`.
const SWITCHED: u8 = 2;

/// What the receiver saw.
#[derive(Debug, Default)]
struct Received {
    log: Log,
    /// Per data message: how it was read: [`PIECES`], [`WHOLE`] or [`SWITCHED`].
    whole: Vec<u8>,
    pings: Vec<(Vec<u8>, Option<usize>)>,
    close: Option<(u16, String)>,
}

/// Reads until the peer's close, echoing every message back if `echo`, each call made
/// again after a timeout.
fn receive<M: Masking>(
    ws: &mut WebSocket<'_, &mut Io, M>,
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
                match ws.read_message(&mut buf) {
                    Err(e) if e.is_timeout() && tries < 100_000 => {
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
                        retry!(ws.send(message))?;
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
        let (event, mut writer) = retry!(ws.read_split())?;
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
                    retry!(writer.relay(&piece))?;
                } else if echo {
                    retry!(writer.write_fragment(piece.kind, piece.payload, piece.last))?;
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
    retry!(ws.flush())?;
    assert!(matches!(ws.read(), Err(Error::Closed)));
    Ok(got)
}

/// Checks what the receiver saw against what was sent.
fn check_received(got: &Received, expected: &Expected, plan: &Plan, what: &str) {
    let data: Vec<&Msg> = got
        .log
        .msgs
        .iter()
        .filter(|m| matches!(m, Msg::Text(_) | Msg::Binary(_) | Msg::Tail(..)))
        .collect();
    assert_eq!(data.len(), expected.messages.len(), "{what}: message count");
    for (i, (got, want)) in data.iter().zip(&expected.messages).enumerate() {
        match (got, want) {
            // Its start is in read_message's buffer: the end must be the message's.
            (Msg::Tail(MessageKind::Text, tail), Msg::Text(t)) => {
                assert!(
                    t.as_bytes().ends_with(tail),
                    "{what}: the end of message {i}"
                )
            }
            (Msg::Tail(MessageKind::Binary, tail), Msg::Binary(b)) => {
                assert!(b.ends_with(tail), "{what}: the end of message {i}")
            }
            _ => assert!(got == &want, "{what}: message {i} differs"),
        }
    }
    // read_message does not show the pings inside a message it reads (nor, of a message
    // it began, those before it was given up).
    let shown = |inside: &Option<usize>| !inside.is_some_and(|k| got.whole.get(k) != Some(&PIECES));
    let pings: Vec<&(Vec<u8>, Option<usize>)> =
        expected.pings.iter().filter(|(_, i)| shown(i)).collect();
    let seen: Vec<&(Vec<u8>, Option<usize>)> = got.pings.iter().filter(|(_, i)| shown(i)).collect();
    assert_eq!(seen, pings, "{what}: pings");
    assert_eq!(got.close.as_ref(), Some(&plan.close), "{what}: close");
}

/// Reads, as the sender, what the receiver wrote: a pong for each ping, the echoes, and
/// the echo of the close, which ends the close handshake.
fn read_answers<M: Masking>(
    ws: &mut WebSocket<'_, &mut Io, M>,
    answers: &[u8],
    pings: &[Vec<u8>],
    echoed: &[Msg],
    close: u16,
) {
    ws.get_mut().feed(answers);
    let mut log = Log::default();
    loop {
        match retry!(ws.read()) {
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
    retry!(ws.close(CloseCode(close), "")).unwrap();
    assert!(ws.is_closed());
}

/// Receives `bytes` with the sans-IO connection, fed and drained in random splits;
/// returns what it saw and what it transmitted.
fn receive_sans_io<M: Masking>(masks: M, bytes: &[u8], rng: &mut Rng) -> (Received, Vec<u8>) {
    let mut conn = Connection::new(masks);
    let mut rx = vec![0u8; rng.range(MIN_BUFFER, 2048)];
    let mut tx = vec![0u8; rng.range(MIN_BUFFER, 2048)];
    let mut got = Received::default();
    let mut wire = Vec::new();
    let mut fed = 0;
    loop {
        match conn.poll_event(&mut rx, &mut tx).expect("a valid stream") {
            Status::Complete(event) => {
                let in_message = got.log.in_message();
                let index = got.whole.len();
                got.log.event(event);
                match event {
                    Event::Data(p) if p.first => got.whole.push(PIECES),
                    Event::Ping(p) => got.pings.push((p.to_vec(), in_message.then(|| index - 1))),
                    Event::Close(c) => {
                        let c = c.expect("a close code");
                        got.close = Some((c.code.0, c.reason.to_string()));
                        break;
                    }
                    _ => {}
                }
            }
            Status::Partial => {
                let out = conn.poll_transmit(&mut tx);
                if !out.is_empty() {
                    let n = rng.range(1, out.len());
                    wire.extend_from_slice(&out[..n]);
                    conn.transmitted(n);
                    continue;
                }
                let room = conn.read_buffer(&mut rx);
                let n = room.len().min(bytes.len() - fed).min(rng.range(1, 500));
                assert!(n > 0, "the stream ended before the close");
                room[..n].copy_from_slice(&bytes[fed..fed + n]);
                conn.received(n);
                fed += n;
            }
        }
    }
    loop {
        let out = conn.poll_transmit(&mut tx);
        if out.is_empty() {
            break;
        }
        let n = out.len();
        wire.extend_from_slice(out);
        conn.transmitted(n);
    }
    assert!(matches!(
        conn.poll_event(&mut rx, &mut tx),
        Err(Error::Closed)
    ));
    (got, wire)
}

/// One conversation from `sender`'s masking to a receiver with `receiver`'s.
fn conversation<S: Masking, R: Masking + Clone>(seed: u64, sender: S, receiver: R) -> usize {
    let mut rng = Rng::new(seed);
    let plan = plan(&mut rng);
    let mut send_io = transport(&mut rng, Vec::new());
    let (mut srx, mut stx) = (
        vec![0u8; rng.range(MIN_BUFFER, 4096)],
        vec![0u8; rng.range(MIN_BUFFER, 4096)],
    );
    let mut ws =
        WebSocket::from_upgraded(&mut send_io, &mut srx, 0..0, &mut stx, 0, sender).unwrap();
    let (expected, pings) = send_plan(&mut ws, &plan).unwrap_or_else(|e| panic!("sending: {e:?}"));
    let bytes = ws.get_ref().written().to_vec();

    // The receiver, through the blocking driver.
    let mode = *rng.pick(&[Mode::Pieces, Mode::Whole, Mode::Relay, Mode::Mixed]);
    let echo = mode == Mode::Relay || rng.chance(1, 2);
    let mut recv_io = transport(&mut rng, bytes.clone());
    let (mut rrx, mut rtx) = (
        vec![0u8; rng.range(MIN_BUFFER, 8192)],
        vec![0u8; rng.range(MIN_BUFFER, 1024)],
    );
    let mut peer =
        WebSocket::from_upgraded(&mut recv_io, &mut rrx, 0..0, &mut rtx, 0, receiver.clone())
            .unwrap();
    let what = format!("{:?} receiving, {mode:?}, echo {echo}", R::ROLE);
    let got = receive(&mut peer, &mut rng, mode, echo).unwrap_or_else(|e| panic!("{what}: {e:?}"));
    check_received(&got, &expected, &plan, &what);
    let answers = peer.get_ref().written().to_vec();
    let echoed = if echo {
        expected.messages.clone()
    } else {
        Vec::new()
    };

    // The sender reads the answers: its close handshake completes.
    read_answers(&mut ws, &answers, &pings, &echoed, plan.close.0);

    // The sans-IO core, fed the same bytes in random splits.
    let (got, wire) = receive_sans_io(receiver, &bytes, &mut rng);
    check_received(&got, &expected, &plan, "sans-IO");
    let mut answers: Vec<Msg> = pings.iter().map(|p| Msg::Pong(p.clone())).collect();
    answers.push(Msg::close(plan.close.0, ""));
    assert_eq!(
        messages(R::ROLE, &wire).unwrap(),
        answers,
        "sans-IO answers"
    );
    drop(ws);
    drop(peer);
    send_io.injected() + recv_io.injected()
}

#[test]
fn messages_arrive_once_and_whole_through_faulty_transports() {
    let mut injected = 0;
    ws13_testkit::rng::cases("ROUNDTRIP", 0x5713_0000, 1000, |seed| {
        injected += conversation(seed, Rng::new(seed ^ 1), NoMask);
        injected += conversation(seed, NoMask, Rng::new(seed ^ 2));
    });
    // Timeouts and interruptions were injected, and every call they hit was made again.
    assert!(injected > 0, "no fault injected");
    eprintln!("roundtrip: {injected} timeouts and interruptions injected and survived");
}

/// The same property for a few fixed plans at the edges, so that they are always covered.
#[test]
fn edge_plans() {
    let text = "a\u{e9}\u{20ac}\u{1d11e}".repeat(40);
    let bytes = text.as_bytes();
    let steps = vec![
        // Empty fragments with pings between them, the largest ping included.
        Step::Frames(
            MessageKind::Text,
            vec![
                Frame::Fragment(vec![]),
                Frame::Fragment(vec![]),
                Frame::Fragment(vec![]),
            ],
            vec![(1, vec![]), (2, vec![7; 125])],
        ),
        // Every cut inside a character.
        Step::Frames(
            MessageKind::Text,
            (0..bytes.len())
                .step_by(3)
                .map(|i| Frame::Fragment(bytes[i..(i + 3).min(bytes.len())].to_vec()))
                .collect(),
            vec![(3, b"mid".to_vec())],
        ),
        // A 64-bit length, streamed a byte at a time at first, a ping inside.
        Step::Frames(
            MessageKind::Binary,
            vec![Frame::Streamed(
                vec![0xAB; 65_536],
                [vec![1; 10], vec![65_526]].concat(),
                Some((3, vec![1])),
            )],
            vec![],
        ),
        Step::Whole(Msg::Binary(vec![0xCD; 125]), true),
        Step::Whole(Msg::Binary(vec![0xEF; 126]), false),
        Step::Whole(Msg::Text(String::new()), false),
        Step::Ping(vec![0; 125]),
    ];
    let plan = Plan {
        steps,
        close: (1000, "ok".into()),
    };
    for seed in 0..20 {
        for sender_is_client in [true, false] {
            let mut rng = Rng::new(seed);
            let mut io = transport(&mut rng, Vec::new());
            let (mut rx, mut tx) = (vec![0u8; MIN_BUFFER], vec![0u8; rng.range(MIN_BUFFER, 600)]);
            let (bytes, expected) = if sender_is_client {
                let mut ws =
                    WebSocket::from_upgraded(&mut io, &mut rx, 0..0, &mut tx, 0, Rng::new(seed))
                        .unwrap();
                send_plan(&mut ws, &plan).unwrap().0
            } else {
                let mut ws =
                    WebSocket::from_upgraded(&mut io, &mut rx, 0..0, &mut tx, 0, NoMask).unwrap();
                send_plan(&mut ws, &plan).unwrap().0
            }
            .pipe(|e| (io.written().to_vec(), e));
            let role = if sender_is_client {
                Role::Client
            } else {
                Role::Server
            };
            let (got, _) = if sender_is_client {
                receive_sans_io(NoMask, &bytes, &mut rng)
            } else {
                receive_sans_io(Rng::new(1), &bytes, &mut rng)
            };
            check_received(
                &got,
                &expected,
                &plan,
                &format!("{role:?} sending, seed {seed}"),
            );
        }
    }
}

/// `x.pipe(f)` is `f(x)`.
trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}

impl<T> Pipe for T {}

/// A hard failure of the transport at a random point (or a random write): the call it
/// hits fails, and so does every later one, nothing panics, and what reached the wire is
/// a valid prefix of the frames, carrying a prefix of the messages.
fn send_until_failure<M: Masking>(seed: u64, masks: M) {
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
    let mut ws = WebSocket::from_upgraded(&mut io, &mut rx, 0..0, &mut tx, 0, masks).unwrap();
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
            ws13_testkit::drive::fails_from_now_on(&mut ws).unwrap();
            assert!(ws.close(CloseCode::NORMAL, "").is_err());
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
fn receive_until_failure<M: Masking + Clone>(seed: u64, sender: impl Masking, masks: M) {
    let mut rng = Rng::new(seed);
    let plan = plan(&mut rng);
    let mut send_io = transport(&mut rng, Vec::new());
    let (mut srx, mut stx) = (vec![0u8; MIN_BUFFER], vec![0u8; 1024]);
    let mut ws =
        WebSocket::from_upgraded(&mut send_io, &mut srx, 0..0, &mut stx, 0, sender).unwrap();
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
    let mut peer = WebSocket::from_upgraded(&mut io, &mut rx, 0..0, &mut tx, 0, masks).unwrap();
    let echo = rng.chance(1, 2);
    match receive(&mut peer, &mut rng, Mode::Mixed, echo) {
        Ok(_) => {}
        Err(Error::Eof) => assert!(eof),
        Err(Error::Io(kind)) => assert!(!eof && kind == ErrorKind::ConnectionReset),
        Err(e) => panic!("{e:?}"),
    }
    ws13_testkit::drive::fails_from_now_on(&mut peer).unwrap();
    drop(peer);
    messages_prefix(M::ROLE, io.written())
        .unwrap_or_else(|e| panic!("not a valid prefix of frames: {e}"));
}

#[test]
fn hard_failures_end_everything_cleanly() {
    ws13_testkit::rng::cases("FAILURES", 0xFA11_0000, 400, |seed| {
        send_until_failure(seed, NoMask);
        send_until_failure(seed, Rng::new(seed));
        receive_until_failure(seed, Rng::new(seed), NoMask);
        receive_until_failure(seed, NoMask, Rng::new(seed));
    });
}

/// `read_message` called after `read` has handed out the start of a text message
/// refuses (the rest alone is not the message, and not even UTF-8 here: the first piece
/// ended inside a character), and `read` finishes the message.
#[test]
fn read_message_after_a_partial_read_drops_nothing() {
    let bytes = [0x01, 0x02, 0x68, 0xC3, 0x80, 0x04, 0xA9, 0x6C, 0x6C, 0x6F];
    let mut io = Script::new(bytes.to_vec(), Vec::new()).reads(Faults::at(&[(0, Fault::Short(4))]));
    let (mut rx, mut tx) = (vec![0u8; MIN_BUFFER], vec![0u8; MIN_BUFFER]);
    let mut ws = WebSocket::from_upgraded(&mut io, &mut rx, 0..0, &mut tx, 0, Rng::new(0)).unwrap();
    match ws.read().unwrap() {
        Event::Data(p) => assert!(p.first && !p.last && p.payload == b"h\xc3"),
        other => panic!("{other:?}"),
    }
    let mut buf = [0u8; 125];
    let rest = ws.read_message(&mut buf);
    assert!(matches!(rest, Err(Error::MessageInProgress)), "{rest:?}");
    match ws.read().unwrap() {
        Event::Data(p) => assert_eq!((p.payload, p.first, p.last), (&b"\xa9llo"[..], false, true)),
        other => panic!("{other:?}"),
    }
}

/// A read timeout inside `read_message` loses nothing: the same call made again returns
/// the whole message (the old driver gave up the part already copied).
#[test]
fn a_timeout_inside_read_message_loses_nothing() {
    let payload: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let frame =
        ws13_testkit::owned::frame(Role::Server, true, ws13::frame::OpCode::Binary, &payload);
    for (at, fault) in [
        (1, Fault::TimedOut),
        (1, Fault::Interrupted),
        (2, Fault::TimedOut),
    ] {
        let faults = [(0, Fault::Short(104)), (at, fault)];
        let mut io =
            Script::new(frame.clone(), Vec::new()).reads(Faults::at(&faults).max_chunk(50));
        let (mut rx, mut tx) = (vec![0u8; 1024], vec![0u8; MIN_BUFFER]);
        let mut ws =
            WebSocket::from_upgraded(&mut io, &mut rx, 0..0, &mut tx, 0, Rng::new(0)).unwrap();
        let mut buf = vec![0u8; 1000];
        let first = ws.read_message(&mut buf).map(|_| ()).unwrap_err();
        assert!(first.is_timeout(), "{first:?}");
        assert!(!ws.is_closed());
        assert_eq!(
            ws.read_message(&mut buf).unwrap(),
            Message::Binary(&payload)
        );
    }
}
