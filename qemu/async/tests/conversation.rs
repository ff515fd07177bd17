//! ws13's async driver on an emulated Cortex-M, under embassy-executor's thread-mode
//! executor: a conversation of tasks over an in-memory async pipe (the test kit's
//! `AsyncDuplex`, ring buffers whose reads and writes wait through wakers).
//!
//! Each round spawns the kit's `checks::asynch::server` as a task; the main task then
//! runs the client's handshake, splits the connection, and spawns its halfs as two
//! more tasks, one reading (`checks::asynch::reader`) and one writing
//! (`checks::asynch::writer`), which answers the pings the reader reads. The main task
//! waits for all three and reports. The same pieces run on the host, joined in one
//! future (tests/kit.rs). Rounds move at most 1, 7 and 512 bytes a read or write; in all
//! but the first, every operation still not done when it is woken for the first (or
//! second) time is dropped and made again, as a timeout by `select` would drop it.
#![no_std]
#![no_main]

use core::cell::Cell;
use core::ptr::addr_of_mut;

use embassy_executor::Spawner;
use ws13::asynch::{Reader, SplitWriter};
use ws13_qemu::{check, core_name, fail, hprintln, pass};
use ws13_testkit::asyncio::{AsyncEnd, AsyncReadHalf, AsyncWriteHalf, Flag};
use ws13_testkit::checks::asynch::{self, Setup, MESSAGES, PIPE};
use ws13_testkit::TestMask;

ws13_qemu::exit_on_fault!();

/// Segment size, seed and patience (0: every operation awaited; n: dropped and made
/// again at its n-th wake-up) of each round.
const ROUNDS: [(usize, u64, u32); 4] = [(1, 1, 0), (1, 2, 1), (7, 3, 2), (512, 4, 1)];

/// What a task ends with, for the main task to wait for and read.
struct Report {
    done: Flag,
    outcome: Cell<Option<Result<usize, &'static str>>>,
}

impl Report {
    const fn new() -> Self {
        Report {
            done: Flag::new(),
            outcome: Cell::new(None),
        }
    }

    fn finish(&self, outcome: Result<usize, &'static str>) {
        self.outcome.set(Some(outcome));
        self.done.set();
    }

    async fn outcome(&self) -> Result<usize, &'static str> {
        self.done.wait().await;
        self.outcome.get().unwrap_or(Err("no outcome"))
    }
}

/// One round's state: the kit's setup (pipe, shared state, buffers) and the tasks'
/// reports.
struct Round {
    setup: Setup,
    server: Report,
    reader: Report,
    writer: Report,
}

/// Every round's state, in `.bss`: each round takes its own, once.
static mut STATE: [Round; ROUNDS.len()] = [const {
    Round {
        setup: Setup::new(),
        server: Report::new(),
        reader: Report::new(),
        writer: Report::new(),
    }
}; ROUNDS.len()];

type End = AsyncEnd<'static, PIPE>;
type ClientReader = Reader<'static, 'static, AsyncReadHalf<'static, PIPE>>;
type ClientWriter = SplitWriter<'static, 'static, AsyncWriteHalf<'static, PIPE>, TestMask>;

#[embassy_executor::task]
async fn server(
    io: End,
    rx: &'static mut [u8],
    tx: &'static mut [u8],
    patience: u32,
    report: &'static Report,
) {
    report.finish(asynch::server(io, rx, tx, patience).await);
}

#[embassy_executor::task]
async fn reader(
    half: ClientReader,
    seed: u64,
    expected: &'static mut [u8],
    msg: &'static mut [u8],
    echoed: &'static Flag,
    patience: u32,
    report: &'static Report,
) {
    let outcome = asynch::reader(half, seed, expected, msg, echoed, patience).await;
    report.finish(outcome.map(|()| 0));
}

#[embassy_executor::task]
async fn writer(
    half: ClientWriter,
    seed: u64,
    sent: &'static mut [u8],
    echoed: &'static Flag,
    patience: u32,
    report: &'static Report,
) {
    let outcome = asynch::writer(half, seed, sent, echoed, patience).await;
    report.finish(outcome.map(|()| 0));
}

/// Spawns a task, or ends the run.
fn spawn<S>(spawner: Spawner, token: Result<embassy_executor::SpawnToken<S>, impl Sized>) {
    match token {
        Ok(token) => spawner.spawn(token),
        Err(_) => {
            hprintln!("a task could not be spawned");
            fail()
        }
    }
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    hprintln!(
        "ws13 async conversations on {}, embassy-executor (thread mode)",
        core_name()
    );
    for (i, (segment, seed, patience)) in ROUNDS.into_iter().enumerate() {
        // SAFETY: each round's state is taken once, here, and nothing else refers to it.
        let round: &'static mut Round = unsafe { &mut *addr_of_mut!(STATE[i]) };
        let Round {
            setup,
            server: server_report,
            reader: reader_report,
            writer: writer_report,
        } = round;
        let Setup {
            duplex,
            shared,
            echoed,
            server_rx,
            server_tx,
            client_rx,
            client_tx,
            sent,
            expected,
            msg,
        } = setup;
        let (duplex, shared, echoed) = (&*duplex, &*shared, &*echoed);
        let (server_report, reader_report, writer_report) =
            (&*server_report, &*reader_report, &*writer_report);
        if patience == 0 {
            hprintln!("segments of at most {} bytes:", segment);
        } else {
            hprintln!(
                "segments of at most {} bytes, every operation dropped and made again at \
                 wake-up {}:",
                segment,
                patience
            );
        }
        let (client_end, server_end) = duplex.ends(segment);
        spawn(
            spawner,
            server(server_end, server_rx, server_tx, patience, server_report),
        );
        let connected =
            asynch::connect(client_end, client_rx, client_tx, seed as u32, patience).await;
        let mut ws = None;
        check(
            "  main task: the client's handshake, ws13.echo chosen",
            || connected.map(|c| ws = Some(c)),
        );
        let Some(ws) = ws else { fail() };
        let (r, w) = ws.split(shared, |end| end.split());
        spawn(
            spawner,
            reader(r, seed, expected, msg, echoed, patience, reader_report),
        );
        spawn(
            spawner,
            writer(w, seed, sent, echoed, patience, writer_report),
        );
        let served = server_report.outcome().await;
        let read = reader_report.outcome().await;
        let wrote = writer_report.outcome().await;
        check(
            "  server task: request, echoes as fragments, its ping answered, the close",
            || {
                if served? != MESSAGES {
                    return Err("the server echoed another number of messages");
                }
                Ok(())
            },
        );
        check(
            "  reader task: every echo whole, the server's ping, the pong, the close's echo",
            || read.map(drop),
        );
        check(
            "  writer task: messages, fragments and pings sent, the reader's pongs, the close",
            || wrote.map(drop),
        );
    }
    hprintln!(
        "all {} async conversations passed ({} messages echoed in each)",
        ROUNDS.len(),
        MESSAGES
    );
    pass()
}
