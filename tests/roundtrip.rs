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
//! The same conversations run through both drivers (the calls are written once, in
//! `roundtrip/talk.rs`, included for each). Through the async driver, the scripted
//! transport is made async and stalls now and then (`Pending`), and the futures are
//! polled by hand; at a stall a future may be dropped part-way, as a timeout by `select`
//! drops it, and the same call is made again at once, or the drop is a timeout to the
//! caller (which may then do something else, as after any timeout). And both drivers,
//! given the same calls, keys and faults, must put the same bytes on the wire.
//!
//! A failing case prints its seed; rerun it alone with
//! `ROUNDTRIP_SEED=<seed> cargo test --test roundtrip -- --nocapture`;
//! `ROUNDTRIP_CASES=<n>` changes the number of cases (`ASYNC_ROUNDTRIP_`, `SAME_BYTES_`,
//! `FAILURES_` and `ASYNC_FAILURES_` likewise for the async driver's cases, the
//! comparison of the two drivers' bytes and the hard-failure cases).

use blocking_talk::send_plan;
use embedded_io::ErrorKind;
use ws13::blocking::{WebSocket, MIN_BUFFER};
use ws13::proto::{Connection, Masking, Role};
use ws13::{Error, Event, Message, MessageKind, NoMask, Status};
use ws13_testkit::owned::{messages, Log, Msg};
use ws13_testkit::{AtEnd, Fault, Faults, Rng, Script, TestMask};

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

// The conversation's calls, written once in roundtrip/talk.rs and included once for each
// driver: before each inclusion, `driver!` says which driver it is, `once!` how a call is
// made once, and `call!` how it is made again after each timeout.

/// The blocking driver over the scripted transport itself.
macro_rules! driver {
    () => {
        pub use ws13::blocking::WebSocket;

        /// The driver's name, for messages.
        pub const DRIVER: &str = "blocking";

        /// How many timeouts in a row a call may meet before it is given up.
        pub const PATIENCE: u32 = ws13_testkit::drive::MAX_RETRIES;

        /// The transport: the script.
        pub type Transport<'a> = &'a mut Io;

        /// The transport over a script.
        pub fn wrap<'a>(io: &'a mut Io, _extra: &mut Rng) -> Transport<'a> {
            io
        }

        /// The script under the transport.
        pub fn script<'a>(io: &'a mut Transport<'_>) -> &'a mut Io {
            io
        }

        /// Nothing to set up.
        pub fn start(_extra: &mut Rng) {}

        /// After a failure, every call fails (the kit's check).
        pub fn fails_from_now_on<M: Masking>(
            ws: &mut WebSocket<'_, Transport<'_>, M>,
        ) -> Result<(), &'static str> {
            ws13_testkit::drive::fails_from_now_on(ws)
        }
    };
}

macro_rules! once {
    ($call:expr) => {
        $call
    };
}

/// Makes a call again after each timeout, up to `PATIENCE` of them in a row (the
/// kit's `retry!`, with the driver's patience).
macro_rules! call {
    ($call:expr) => {{
        let mut tries = 0u32;
        loop {
            match once!($call) {
                Err(e) if e.is_timeout() && tries < PATIENCE => tries += 1,
                other => break other,
            }
        }
    }};
}

#[path = "roundtrip/talk.rs"]
mod blocking_talk;

/// The async driver over the script made async, stalling now and then ([`Stalling`]),
/// its futures polled by an impatient executor ([`dropping`]).
macro_rules! driver {
    () => {
        pub use ws13::asynch::WebSocket;
        use ws13_testkit::asyncio::Stalling;

        /// The driver's name, for messages.
        pub const DRIVER: &str = "async";

        /// How many timeouts (and drops) in a row a call may meet before it is given
        /// up: more than the blocking driver's, for a dropped call is one more timeout
        /// (a 70 KB message read a byte at a time meets more than 100 000 of them).
        pub const PATIENCE: u32 = 10 * ws13_testkit::drive::MAX_RETRIES;

        /// The transport: the script, made async, stalling now and then.
        pub type Transport<'a> = Stalling<&'a mut Io>;

        /// The transport over a script: its stalls drawn from `extra`.
        pub fn wrap<'a>(io: &'a mut Io, extra: &mut Rng) -> Transport<'a> {
            let per_mille = *extra.pick(&[0, 100, 300, 700]);
            Stalling::new(io, extra.next_u64(), per_mille)
        }

        /// The script under the transport.
        pub fn script<'a>(io: &'a mut Transport<'_>) -> &'a mut Io {
            io.get_mut()
        }

        /// The impatient executor for this conversation, drawn from `extra`.
        pub fn start(extra: &mut Rng) {
            let per_mille = *extra.pick(&[0, 200, 500, 900]);
            let visible = extra.chance(1, 2);
            super::dropping::start(extra.next_u64(), per_mille, visible);
        }

        /// After a failure, every call fails (the kit's check, polled to its end).
        pub fn fails_from_now_on<M: Masking>(
            ws: &mut WebSocket<'_, Transport<'_>, M>,
        ) -> Result<(), &'static str> {
            let check = ws13_testkit::checks::asynch::fails_from_now_on(ws);
            ws13_testkit::asyncio::block_on(check)
        }
    };
}

macro_rules! once {
    ($call:expr) => {
        loop {
            if let Some(out) = super::dropping::once($call) {
                break out;
            }
        }
    };
}

#[path = "roundtrip/talk.rs"]
#[allow(clippy::duplicate_mod)] // one file, written once, for each driver
mod async_talk;

/// Polls the async driver's futures on this thread, dropping some part-way.
mod dropping {
    use std::cell::Cell;
    use std::future::Future;

    use embedded_io::ErrorKind;
    use ws13::Error;
    use ws13_testkit::asyncio::Impatient;

    thread_local! {
        static EXECUTOR: Cell<Impatient> = Cell::new(Impatient::default());
        /// Whether a dropped call shows as a timeout (the caller may then do something
        /// else), or is made again at once (the caller sees only its result).
        static VISIBLE: Cell<bool> = const { Cell::new(false) };
        /// Every future polled until it is ready, whatever `start` says (for the same
        /// transport calls as the blocking driver's: a call dropped in a stall before
        /// its transport's `flush` is not made again with that `flush`).
        static PATIENT: Cell<bool> = const { Cell::new(false) };
        /// Futures dropped, and stalls, in every conversation so far.
        static COUNTS: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    }

    /// A new executor: at each stall, a future is dropped with a chance of `per_mille`
    /// in 1000; `visible` says whether its caller sees it as a timeout.
    pub fn start(seed: u64, per_mille: u16, visible: bool) {
        let per_mille = if PATIENT.get() { 0 } else { per_mille };
        EXECUTOR.set(Impatient::new(seed, per_mille));
        VISIBLE.set(visible);
    }

    /// From now on (or no longer), no future is dropped.
    pub fn patient(on: bool) {
        PATIENT.set(on);
    }

    /// Futures dropped, and `Pending`s seen, in all conversations of this thread.
    pub fn counts() -> (usize, usize) {
        COUNTS.get()
    }

    /// Makes a call once: polls its future until it is ready. A future dropped
    /// part-way is a timeout (its caller makes the call again, or another), or, when
    /// the caller is not to see it, `None`: `once!` makes the same call again at once.
    pub fn once<T>(
        call: impl Future<Output = Result<T, Error<ErrorKind>>>,
    ) -> Option<Result<T, Error<ErrorKind>>> {
        let mut executor = EXECUTOR.take();
        let (dropped, pendings) = (executor.dropped, executor.pendings);
        let out = executor.poll(call);
        let (mut d, mut p) = COUNTS.get();
        d += executor.dropped - dropped;
        p += executor.pendings - pendings;
        COUNTS.set((d, p));
        EXECUTOR.set(executor);
        match out {
            Some(result) => Some(result),
            None if VISIBLE.get() => Some(Err(Error::Io(ErrorKind::TimedOut))),
            None => None,
        }
    }
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

/// What one conversation through one driver put on the wire.
struct Talked {
    /// What the sender sent: the plan's frames (the sans-IO core reads them again).
    sent: Vec<u8>,
    /// Everything the sender wrote, the conversation over.
    sender_wrote: Vec<u8>,
    /// Everything the receiver wrote: pongs, echoes, the close's echo.
    receiver_wrote: Vec<u8>,
    /// What the receiver had to see, and the pings sent.
    expected: Expected,
    /// The pings the sender sent.
    pings: Vec<Vec<u8>>,
    /// Timeouts and interruptions injected by both transports.
    injected: usize,
}

/// Which driver a conversation runs through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Driver {
    Blocking,
    Async,
}

/// One conversation from `sender`'s masking to a receiver with `receiver`'s, through
/// `driver` (the same conversation for a seed, whichever the driver), then the sans-IO
/// core fed the sender's bytes. Returns the timeouts and interruptions injected.
fn conversation<S: Masking, R: Masking + Clone>(
    seed: u64,
    sender: S,
    receiver: R,
    driver: Driver,
) -> usize {
    let mut rng = Rng::new(seed);
    let plan = plan(&mut rng);
    let mut extra = Rng::new(seed ^ 0xA5_7C00);
    let talked = match driver {
        Driver::Blocking => {
            blocking_talk::talk(&mut rng, &mut extra, &plan, sender, receiver.clone())
        }
        Driver::Async => async_talk::talk(&mut rng, &mut extra, &plan, sender, receiver.clone()),
    };

    // The sans-IO core, fed the same bytes in random splits.
    let (got, wire) = receive_sans_io(receiver, &talked.sent, &mut rng);
    check_received(&got, &talked.expected, &plan, "sans-IO");
    let mut answers: Vec<Msg> = talked.pings.iter().map(|p| Msg::Pong(p.clone())).collect();
    answers.push(Msg::close(plan.close.0, ""));
    assert_eq!(
        messages(R::ROLE, &wire).unwrap(),
        answers,
        "sans-IO answers"
    );
    talked.injected
}

#[test]
fn messages_arrive_once_and_whole_through_faulty_transports() {
    let mut injected = 0;
    ws13_testkit::rng::cases("ROUNDTRIP", 0x5713_0000, 1000, |seed| {
        injected += conversation(seed, Rng::new(seed ^ 1), NoMask, Driver::Blocking);
        injected += conversation(seed, NoMask, Rng::new(seed ^ 2), Driver::Blocking);
    });
    // Timeouts and interruptions were injected, and every call they hit was made again.
    assert!(injected > 0, "no fault injected");
    eprintln!("roundtrip: {injected} timeouts and interruptions injected and survived");
}

/// The same seeded conversations (the first of them: the async driver is the slower to
/// run here, every future polled by hand) through the async driver, whose transports
/// also stall, and whose calls are also dropped part-way at a stall, as a timeout by
/// `select` would drop them: a dropped call is then made again, or (like a timeout)
/// given up for another where the receiver may do so.
#[test]
fn async_driver_messages_arrive_once_and_whole_through_faulty_transports_and_dropped_calls() {
    let mut injected = 0;
    ws13_testkit::rng::cases("ASYNC_ROUNDTRIP", 0x5713_0000, 100, |seed| {
        injected += conversation(seed, Rng::new(seed ^ 1), NoMask, Driver::Async);
        injected += conversation(seed, NoMask, Rng::new(seed ^ 2), Driver::Async);
    });
    let (dropped, stalls) = dropping::counts();
    assert!(injected > 0, "no fault injected");
    assert!(dropped > 0, "no future dropped part-way");
    eprintln!(
        "async roundtrip: {injected} timeouts and interruptions, {stalls} stalls, \
         {dropped} futures dropped part-way and made again, all survived"
    );
}

/// Both drivers put the same bytes on the wire for the same conversation: the same
/// application calls (sends of every kind, reads of every kind, echoes, the close),
/// the same masking keys, the same transports with the same faults (and the same
/// transport calls, or the faults would fall elsewhere; the async driver's futures
/// stall, but are not dropped: a dropped flush is not made again, while the blocking
/// driver's flush goes on to the transport's).
#[test]
fn both_drivers_put_the_same_bytes_on_the_wire() {
    ws13_testkit::rng::cases("SAME_BYTES", 0x5A3E_0000, 40, |seed| {
        for client_sends in [true, false] {
            let run = |driver: Driver| {
                let mut rng = Rng::new(seed);
                let plan = plan(&mut rng);
                let mut extra = Rng::new(seed ^ 0xA5_7C00);
                dropping::patient(true);
                let talked = match (driver, client_sends) {
                    (Driver::Blocking, true) => blocking_talk::talk(
                        &mut rng,
                        &mut extra,
                        &plan,
                        TestMask(seed as u32),
                        NoMask,
                    ),
                    (Driver::Blocking, false) => blocking_talk::talk(
                        &mut rng,
                        &mut extra,
                        &plan,
                        NoMask,
                        TestMask(seed as u32),
                    ),
                    (Driver::Async, true) => {
                        async_talk::talk(&mut rng, &mut extra, &plan, TestMask(seed as u32), NoMask)
                    }
                    (Driver::Async, false) => {
                        async_talk::talk(&mut rng, &mut extra, &plan, NoMask, TestMask(seed as u32))
                    }
                };
                dropping::patient(false);
                talked
            };
            let blocking = run(Driver::Blocking);
            let asynch = run(Driver::Async);
            let sender = if client_sends { "client" } else { "server" };
            assert!(
                blocking.sender_wrote == asynch.sender_wrote,
                "the {sender}'s bytes differ ({} bytes blocking, {} async)",
                blocking.sender_wrote.len(),
                asynch.sender_wrote.len()
            );
            assert!(
                blocking.receiver_wrote == asynch.receiver_wrote,
                "the answers to the {sender} differ ({} bytes blocking, {} async)",
                blocking.receiver_wrote.len(),
                asynch.receiver_wrote.len()
            );
            assert!(!blocking.sender_wrote.is_empty() && !blocking.receiver_wrote.is_empty());
        }
    });
    let (_, stalls) = dropping::counts();
    assert!(stalls > 0, "no future stalled");
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

#[test]
fn hard_failures_end_everything_cleanly() {
    use blocking_talk::{receive_until_failure, send_until_failure};
    ws13_testkit::rng::cases("FAILURES", 0xFA11_0000, 400, |seed| {
        let extra = &mut Rng::new(seed ^ 0xA5_7C00);
        send_until_failure(seed, extra, NoMask);
        send_until_failure(seed, extra, Rng::new(seed));
        receive_until_failure(seed, extra, Rng::new(seed), NoMask);
        receive_until_failure(seed, extra, NoMask, Rng::new(seed));
    });
}

/// The same hard failures through the async driver, its transports stalling now and
/// then and its futures dropped there.
#[test]
fn async_driver_hard_failures_end_everything_cleanly() {
    use async_talk::{receive_until_failure, send_until_failure};
    ws13_testkit::rng::cases("ASYNC_FAILURES", 0xFA11_0000, 100, |seed| {
        let extra = &mut Rng::new(seed ^ 0xA5_7C00);
        send_until_failure(seed, extra, NoMask);
        send_until_failure(seed, extra, Rng::new(seed));
        receive_until_failure(seed, extra, Rng::new(seed), NoMask);
        receive_until_failure(seed, extra, NoMask, Rng::new(seed));
    });
    let (dropped, _) = dropping::counts();
    assert!(dropped > 0, "no future dropped part-way");
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

/// The peer's close, read while the transport cannot take its echo yet, survives the
/// reading call's future being dropped there (as a timeout by `select` drops it): the
/// same call made again reports the close, as the async driver promises of every
/// dropped call, and the echo goes out. Through `read` and `read_message`.
///
/// Fails: the async driver takes the close out of the core, then awaits the echo's
/// flush before returning it; dropped there, the close is gone, and the call made
/// again returns `Error::Closed` (the application never sees the peer's code and
/// reason). The blocking driver has no such point: a flush that times out there is
/// ignored and the close returned.
#[test]
fn async_a_close_whose_echo_waits_survives_a_dropped_read() {
    use embedded_io_async::{Read as _, Write as _};
    use ws13_testkit::asyncio::{block_on, AsyncDuplex, Impatient};
    use ws13_testkit::owned::frames_by;

    for whole in [false, true] {
        let duplex = AsyncDuplex::<256>::new();
        let (mut client, mut server_end) = duplex.ends(4096);
        // The server's direction is full: its echo waits until the client reads.
        assert_eq!(block_on(server_end.write(&[0x42; 256])), Ok(256));
        let mut close = frames_by(Role::Client);
        close.close(1000, "bye");
        let close = close.into_inner();
        assert_eq!(block_on(client.write(&close)), Ok(close.len()));
        let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
        let mut ws =
            ws13::asynch::WebSocket::from_upgraded(server_end, &mut rx, 0..0, &mut tx, 0, NoMask)
                .unwrap();
        let mut buf = [0u8; 125];
        let is_the_close = |m: &Msg| *m == Msg::close(1000, "bye");
        // Dropped at its first `Pending`: waiting to write the echo.
        let first = if whole {
            Impatient::new(0, 1000)
                .poll(ws.read_message(&mut buf))
                .map(|r| r.map(Msg::from))
        } else {
            Impatient::new(0, 1000)
                .poll(ws.read())
                .map(|r| r.map(|e| event_msg(e)))
        };
        if let Some(first) = first {
            // Not dropped: it did not wait for the echo.
            assert!(matches!(&first, Ok(m) if is_the_close(m)), "{first:?}");
            continue;
        }
        let mut waiting = [0u8; 256];
        assert_eq!(block_on(client.read(&mut waiting)), Ok(256));
        let again = if whole {
            block_on(ws.read_message(&mut buf)).map(Msg::from)
        } else {
            block_on(ws.read()).map(|e| event_msg(e))
        };
        let how = if whole { "read_message" } else { "read" };
        assert!(
            matches!(&again, Ok(m) if is_the_close(m)),
            "{how} made again after a drop: {again:?}, not the peer's close"
        );
        drop(ws);
        let mut echo = Vec::new();
        let mut piece = [0u8; 64];
        while let Ok(n @ 1..) = block_on(client.read(&mut piece)) {
            echo.extend_from_slice(&piece[..n]);
        }
        assert_eq!(
            messages(Role::Server, &echo).unwrap(),
            [Msg::close(1000, "")]
        );
    }
}

/// An event as a message (a data event must be a whole message).
fn event_msg(event: Event<'_>) -> Msg {
    let mut log = Log::default();
    log.event(event);
    log.msgs.pop().expect("a whole message or control frame")
}

/// A transport flush interrupted by a timeout (or, for the async driver, a dropped
/// future) after the bytes it flushes were written is made again by the next call: a
/// transport that holds bytes until it is flushed (TLS records, a buffered writer) gets
/// the pong out before the connection waits for the peer. Here a ping arrives; the read
/// after it writes the pong, and the transport's flush times out; the read made again
/// must flush before it waits for more.
///
/// Fails, both drivers: the driver flushes when it has bytes to write; written, they
/// are not, and the read goes on to wait for the peer with the pong unflushed (a peer
/// that waits for it waits for ever).
#[test]
fn an_interrupted_transport_flush_is_made_again_by_the_next_read() {
    use ws13_testkit::asyncio::{Impatient, Stalling};
    use ws13_testkit::owned::frames_by;

    let mut ping = frames_by(Role::Client);
    ping.ping(b"are you there");
    let ping = ping.into_inner();
    let script = || {
        Script::new(ping.clone(), Vec::new())
            .flushes(Faults::at(&[(0, Fault::TimedOut)]))
            .at_end(AtEnd::Block)
    };
    let (mut rx, mut tx) = (vec![0u8; MIN_BUFFER], vec![0u8; MIN_BUFFER]);

    let mut io = script();
    let mut ws = WebSocket::from_upgraded(&mut io, &mut rx, 0..0, &mut tx, 0, NoMask).unwrap();
    assert_eq!(ws.read().unwrap(), Event::Ping(b"are you there"));
    assert!(ws.read().unwrap_err().is_timeout(), "the flush's timeout");
    assert!(ws.read().unwrap_err().is_timeout(), "nothing more to read");
    let (_, writes, blocking) = io.calls();
    let pong = [Msg::Pong(b"are you there".to_vec())];
    assert_eq!(messages(Role::Server, io.written()).unwrap(), pong);
    assert!(writes > 0);

    let mut io = script();
    let stalling = Stalling::new(&mut io, 0, 0);
    let mut ws =
        ws13::asynch::WebSocket::from_upgraded(stalling, &mut rx, 0..0, &mut tx, 0, NoMask)
            .unwrap();
    let mut patient = Impatient::default();
    let first = patient.poll(ws.read()).unwrap();
    assert_eq!(first.unwrap(), Event::Ping(b"are you there"));
    assert!(patient.poll(ws.read()).unwrap().unwrap_err().is_timeout());
    assert!(patient.poll(ws.read()).unwrap().unwrap_err().is_timeout());
    assert_eq!(messages(Role::Server, io.written()).unwrap(), pong);
    let (_, _, asynch) = io.calls();
    // One flush call timed out; a second must have come before the last read.
    assert!(
        blocking >= 2 && asynch >= 2,
        "the pong was written, its flush timed out, and the next read waited for the \
         peer without flushing it: {blocking} flush call(s) through the blocking driver, \
         {asynch} through the async driver"
    );
}

/// Both drivers put the same handshake on the wire, and the same first frames after
/// it: a client's request (its key from the same masking source), a server's 101
/// (choosing the protocol the client offered), then a text message and a ping from the
/// client, the server's echo of the message and the pong. Through transports that time
/// out, are interrupted and move a few bytes at a time (the same faults for both); the
/// async driver's also stall, and its futures are dropped there and made again.
#[test]
fn both_drivers_put_the_same_handshakes_on_the_wire() {
    use ws13_testkit::asyncio::{block_on, Stalling};
    use ws13_testkit::consts::{head_len, HEAD_END};
    use ws13_testkit::drive::{ECHO_PROTOCOL, ECHO_REQUEST};
    use ws13_testkit::retry;

    let faulty = |seed: u64, input: Vec<u8>| -> Io {
        Script::new(input, Vec::new())
            .reads(Faults::random(200, 100, 300).max_chunk(50))
            .writes(Faults::random(200, 100, 300).max_chunk(50))
            .flushes(Faults::random(100, 100, 0))
            .seed(seed)
            .at_end(AtEnd::Block)
    };
    let text = "hello, κόσμε";
    let mut buf = [0u8; 125];

    for seed in 0..30u64 {
        // The blocking driver.
        let wire_blocking = {
            use ws13::blocking::{Connecting, Incoming};
            let (mut cio, mut crx, mut ctx) = (faulty(seed, vec![]), [0u8; 512], [0u8; 512]);
            let mask = TestMask(seed as u32);
            let mut c = Connecting::new(&mut cio, &mut crx, &mut ctx, &ECHO_REQUEST, mask).unwrap();
            // Until the request is out; then the client waits for the response.
            while !c.get_mut().written().ends_with(HEAD_END) {
                assert!(c.handshake().unwrap_err().is_timeout());
            }
            let request = c.get_mut().written().to_vec();
            let (mut sio, mut srx, mut stx) = (faulty(!seed, request), [0u8; 512], [0u8; 512]);
            let mut incoming = Incoming::new(&mut sio, &mut srx);
            assert!(retry!(incoming.read())
                .unwrap()
                .offers_protocol(ECHO_PROTOCOL));
            let mut server = incoming.accept(&mut stx, Some(ECHO_PROTOCOL)).unwrap();
            retry!(server.flush()).unwrap();
            let response = server.get_mut().written().to_vec();
            c.get_mut().feed(&response);
            assert_eq!(retry!(c.handshake()).unwrap(), Some(1));
            let (mut client, _) = c.finish().unwrap();
            retry!(client.send(Message::Text(text))).unwrap();
            retry!(client.send(Message::Ping(b"there?"))).unwrap();
            let sent = client.get_mut().written().to_vec();
            let frames = &sent[head_len(&sent).unwrap()..];
            server.get_mut().feed(frames);
            let got = retry!(server.read_message(&mut buf)).unwrap();
            assert_eq!(got, Message::Text(text));
            retry!(server.send(Message::Text(text))).unwrap();
            assert_eq!(retry!(server.read()).unwrap(), Event::Ping(b"there?"));
            retry!(server.flush()).unwrap();
            (sent, server.get_mut().written().to_vec())
        };

        // The async driver: each call made again after a timeout, and after a drop.
        dropping::start(seed, 300, false);
        macro_rules! again {
            ($call:expr) => {{
                let mut tries = 0;
                loop {
                    match dropping::once($call) {
                        Some(Err(e)) if e.is_timeout() && tries < 100_000 => tries += 1,
                        Some(out) => break out,
                        None => {}
                    }
                }
            }};
        }
        let wire_async = {
            use ws13::asynch::{Connecting, Incoming};
            let (mut cio, mut crx, mut ctx) = (faulty(seed, vec![]), [0u8; 512], [0u8; 512]);
            let mask = TestMask(seed as u32);
            let stalling = Stalling::new(&mut cio, seed, 500);
            let mut c = Connecting::new(stalling, &mut crx, &mut ctx, &ECHO_REQUEST, mask).unwrap();
            while !c.get_mut().get_ref().written().ends_with(HEAD_END) {
                if let Some(out) = dropping::once(c.handshake()) {
                    assert!(out.unwrap_err().is_timeout());
                }
            }
            let request = c.get_mut().get_ref().written().to_vec();
            let (mut sio, mut srx, mut stx) = (faulty(!seed, request), [0u8; 512], [0u8; 512]);
            let stalling = Stalling::new(&mut sio, !seed, 500);
            let mut incoming = Incoming::new(stalling, &mut srx);
            assert!(again!(incoming.read())
                .unwrap()
                .offers_protocol(ECHO_PROTOCOL));
            let mut server = incoming.accept(&mut stx, Some(ECHO_PROTOCOL)).unwrap();
            again!(server.flush()).unwrap();
            let response = server.get_mut().get_ref().written().to_vec();
            c.get_mut().get_mut().feed(&response);
            assert_eq!(again!(c.handshake()).unwrap(), Some(1));
            // No I/O left: the handshake is done.
            let (mut client, _) = block_on(c.finish()).unwrap();
            again!(client.send(Message::Text(text))).unwrap();
            again!(client.send(Message::Ping(b"there?"))).unwrap();
            let sent = client.get_mut().get_ref().written().to_vec();
            let frames = &sent[head_len(&sent).unwrap()..];
            server.get_mut().get_mut().feed(frames);
            let got = again!(server.read_message(&mut buf)).unwrap();
            assert_eq!(got, Message::Text(text));
            again!(server.send(Message::Text(text))).unwrap();
            assert_eq!(again!(server.read()).unwrap(), Event::Ping(b"there?"));
            again!(server.flush()).unwrap();
            (sent, server.get_mut().get_ref().written().to_vec())
        };
        assert!(
            wire_blocking.0 == wire_async.0,
            "seed {seed}: the client's bytes differ:\n{:?}\n{:?}",
            String::from_utf8_lossy(&wire_blocking.0),
            String::from_utf8_lossy(&wire_async.0)
        );
        assert!(
            wire_blocking.1 == wire_async.1,
            "seed {seed}: the server's bytes differ:\n{:?}\n{:?}",
            String::from_utf8_lossy(&wire_blocking.1),
            String::from_utf8_lossy(&wire_async.1)
        );
    }
}

/// A protocol error found while the transport cannot take the close that fails the
/// connection: the reading call's future dropped there (a timeout by `select`), the
/// same call made again still reports the error (what the peer broke), and the close
/// (1002) goes out. Through `read` and `read_message`.
///
/// Fails: as with the peer's close, the async driver awaits the flush of the failing
/// close before it returns the error; dropped there, the error is gone and the call
/// made again returns `Error::Closed`.
#[test]
fn async_a_protocol_error_whose_close_waits_survives_a_dropped_read() {
    use embedded_io_async::{Read as _, Write as _};
    use ws13::frame::OpCode;
    use ws13::ProtocolError;
    use ws13_testkit::asyncio::{block_on, AsyncDuplex, Impatient};
    use ws13_testkit::owned::frame_masked;

    for whole in [false, true] {
        let duplex = AsyncDuplex::<256>::new();
        let (mut client, mut server_end) = duplex.ends(4096);
        // The server's direction is full: its close waits until the client reads.
        assert_eq!(block_on(server_end.write(&[0x42; 256])), Ok(256));
        // A client's frame must be masked.
        let unmasked = frame_masked(None, true, OpCode::Text, b"in the clear");
        assert_eq!(block_on(client.write(&unmasked)), Ok(unmasked.len()));
        let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
        let mut ws =
            ws13::asynch::WebSocket::from_upgraded(server_end, &mut rx, 0..0, &mut tx, 0, NoMask)
                .unwrap();
        let mut buf = [0u8; 125];
        let the_error =
            |e: &Error<ErrorKind>| matches!(e, Error::Protocol(ProtocolError::UnmaskedFrame));
        let first = if whole {
            Impatient::new(0, 1000)
                .poll(ws.read_message(&mut buf))
                .map(|r| r.map(|_| ()))
        } else {
            Impatient::new(0, 1000)
                .poll(ws.read())
                .map(|r| r.map(|_| ()))
        };
        if let Some(first) = first {
            // Not dropped: it did not wait for the close.
            assert!(matches!(&first, Err(e) if the_error(e)), "{first:?}");
            continue;
        }
        let mut waiting = [0u8; 256];
        assert_eq!(block_on(client.read(&mut waiting)), Ok(256));
        let again = if whole {
            block_on(ws.read_message(&mut buf)).map(|_| ())
        } else {
            block_on(ws.read()).map(|_| ())
        };
        let how = if whole { "read_message" } else { "read" };
        assert!(
            matches!(&again, Err(e) if the_error(e)),
            "{how} made again after a drop: {again:?}, not the protocol error"
        );
        let _ = block_on(ws.flush());
        drop(ws);
        let mut close = Vec::new();
        let mut piece = [0u8; 64];
        while let Ok(n @ 1..) = block_on(client.read(&mut piece)) {
            close.extend_from_slice(&piece[..n]);
        }
        assert_eq!(
            messages(Role::Server, &close).unwrap(),
            [Msg::close(1002, "")]
        );
    }
}
