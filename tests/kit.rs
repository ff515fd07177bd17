//! The test kit's checks (`ws13_testkit::checks`), the ones the microcontroller runs
//! under QEMU, here on the host: the crate's parts one at a time, and every
//! whole-conversation check over a matrix of transfer sizes, buffer sizes and seeds of
//! injected faults.

use ws13_testkit::checks::{self, Buffers, Config};

fn run(cfg: Config) {
    let mut b = Box::new(Buffers::new());
    if let Err((check, what)) = checks::all(&mut b, &cfg) {
        panic!("{check}: {what} ({cfg:?})");
    }
}

#[test]
fn every_part() {
    let mut b = Box::new(Buffers::new());
    if let Err((check, what)) = checks::all_parts(&mut b) {
        panic!("{check}: {what}");
    }
}

#[test]
fn every_check_over_the_matrix() {
    for cfg in Config::matrix() {
        run(cfg);
    }
}

#[test]
fn every_check_with_faults_over_many_seeds() {
    ws13_testkit::rng::cases("KIT", 100, 200, |seed| run(Config::varied(seed)));
}

#[test]
fn async_conversation_split_halves_with_operations_dropped_and_made_again() {
    use std::time::Duration;
    use ws13_testkit::checks::asynch::{self, Setup};
    // A real executor, whose tasks sleep until woken: a missed wake-up hangs, and the
    // timeout reports it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let segments = [1, 2, 3, 5, 7, 13, 64, 100, 300, 512, 4096];
    for (i, segment) in segments.into_iter().cycle().take(55).enumerate() {
        let seed = i as u64 + 1;
        // Every operation awaited, then dropped and made again at its first, second or
        // third wake-up, as a timeout by select would.
        for patience in 0..4 {
            let mut setup = Box::new(Setup::new());
            let run = asynch::conversation(&mut setup, segment, seed, patience);
            let limited = async { tokio::time::timeout(Duration::from_secs(10), run).await };
            let what = match rt.block_on(limited) {
                Ok(Ok(())) => continue,
                Ok(Err(what)) => what,
                Err(_) => "no end after 10 s",
            };
            panic!("async conversation, {segment}-byte segments, patience {patience}: {what}");
        }
    }
}

/// The kit's checkers catch what they must: a checker that cannot fail checks nothing.
mod checkers {
    use embedded_io::{ErrorKind, Read, Write};
    use ws13::frame::OpCode;
    use ws13::proto::Role;
    use ws13::{Event, MessageKind};
    use ws13_testkit::owned::{frame, frame_masked, messages, messages_prefix, Msg};
    use ws13_testkit::wire::Tail;
    use ws13_testkit::{Duplex, Fault, Faults, Reassembler, Script};

    #[test]
    fn the_decoder_refuses_what_a_receiver_refuses() {
        let text = |fin, op, p: &[u8]| frame(Role::Client, fin, op, p);
        let mut after_close = text(true, OpCode::Close, &[0x03, 0xE8]);
        after_close.extend(text(true, OpCode::Text, b"late"));
        let mut two_starts = text(false, OpCode::Text, b"a");
        two_starts.extend(text(true, OpCode::Binary, b"b"));
        let bad = [
            frame_masked(None, true, OpCode::Text, b"unmasked"),
            text(true, OpCode::Continuation, b"x"),
            text(true, OpCode::Text, b"\xff"),
            text(true, OpCode::Close, &[0x03]),
            text(true, OpCode::Close, &[0x03, 0xED]),
            after_close,
            two_starts,
        ];
        for bytes in bad {
            assert!(messages(Role::Client, &bytes).is_err(), "{bytes:x?}");
        }
        // A server's frames must not be masked.
        let masked = frame_masked(Some([1, 2, 3, 4]), true, OpCode::Text, b"x");
        assert!(messages(Role::Server, &masked).is_err());
        // A stream cut anywhere is a valid prefix, and only that.
        let whole = text(true, OpCode::Binary, &[7; 300]);
        for cut in 1..whole.len() {
            let (got, tail) = messages_prefix(Role::Client, &whole[..cut]).unwrap();
            assert!(got.is_empty() && tail != Tail::None, "cut at {cut}");
            assert!(messages(Role::Client, &whole[..cut]).is_err());
        }
        assert_eq!(
            messages(Role::Client, &whole).unwrap(),
            vec![Msg::Binary(vec![7; 300])]
        );
    }

    #[test]
    fn the_reassembler_refuses_broken_promises() {
        let mut buf = [0u8; 64];
        let mut r = Reassembler::new(ws13_testkit::Fixed::new(&mut buf));
        // Pieces come from a real connection; then the order is broken by hand.
        let mut conn = ws13::proto::Connection::new(ws13::NoMask);
        let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
        let mut bytes = frame(Role::Client, false, OpCode::Text, b"h\xc3");
        bytes.extend(frame(Role::Client, true, OpCode::Continuation, b"\xa9"));
        conn.read_buffer(&mut rx)[..bytes.len()].copy_from_slice(&bytes);
        conn.received(bytes.len());
        let first = match conn.poll_event(&mut rx, &mut tx).unwrap() {
            ws13::Status::Complete(Event::Data(p)) => p,
            other => panic!("{other:?}"),
        };
        assert!(first.first && !first.last);
        assert_eq!(r.push(Event::Data(first)).unwrap(), None);
        // The same first piece again: `first` inside a message.
        assert!(r.push(Event::Data(first)).is_err());
        // A reassembler that resumes a message takes pieces without `first`.
        let mut buf = [0u8; 64];
        let mut r = Reassembler::new(ws13_testkit::Fixed::new(&mut buf));
        r.resume(MessageKind::Text).unwrap();
        assert!(r.resume(MessageKind::Text).is_err());
    }

    #[test]
    fn the_script_injects_what_it_is_told() {
        let faults = [
            (0, Fault::TimedOut),
            (1, Fault::Interrupted),
            (2, Fault::Short(2)),
            (4, Fault::Fail(ErrorKind::ConnectionReset)),
        ];
        let mut io = Script::new(&b"abcdef"[..], Vec::new()).reads(Faults::at(&faults));
        let mut buf = [0u8; 8];
        assert_eq!(io.read(&mut buf), Err(ErrorKind::TimedOut));
        assert_eq!(io.read(&mut buf), Err(ErrorKind::Interrupted));
        assert_eq!(io.read(&mut buf), Ok(2));
        assert_eq!(io.read(&mut buf), Ok(4));
        assert_eq!(io.read(&mut buf), Err(ErrorKind::ConnectionReset));
        // Dead: every call fails, both ways.
        assert_eq!(io.write(b"x"), Err(ErrorKind::ConnectionReset));
        assert_eq!(io.flush(), Err(ErrorKind::ConnectionReset));
        assert_eq!(io.injected(), 2);
        let mut io =
            Script::new(&b""[..], Vec::new()).writes(Faults::NONE.max_chunk(3).fail_after(5));
        assert_eq!(io.write(b"abcdef"), Ok(3));
        assert_eq!(io.write(b"def"), Ok(2));
        assert_eq!(io.write(b"f"), Err(ErrorKind::ConnectionReset));
        assert_eq!(io.written(), b"abcde");
    }

    #[test]
    fn a_stalling_transport_stalls_and_an_impatient_executor_drops_there() {
        use embedded_io_async::{Read as _, Write as _};
        use ws13_testkit::asyncio::{block_on, Impatient, Stalling};
        let script = Script::new(&b"abcdef"[..], Vec::new());
        // Every call stalls (1 to 3 times) before it does its work.
        let mut io = Stalling::new(script, 7, 1000);
        let mut buf = [0u8; 4];
        // Given up at its first stall: nothing moved.
        assert_eq!(Impatient::new(1, 1000).poll(io.read(&mut buf)), None);
        assert_eq!(io.get_ref().unread(), 6);
        assert_eq!(io.stalls(), 1);
        // Patient: done after its stalls.
        let mut patient = Impatient::default();
        assert_eq!(patient.poll(io.read(&mut buf)), Some(Ok(4)));
        assert!(patient.pendings >= 1 && patient.dropped == 0);
        assert_eq!(block_on(io.write(b"xy")), Ok(2));
        assert_eq!(block_on(io.flush()), Ok(()));
        assert_eq!(io.get_ref().written(), b"xy");
        // Never stalling: ready at the first poll.
        let mut io = Stalling::new(Script::new(&b"ab"[..], Vec::new()), 7, 0);
        assert_eq!(Impatient::new(1, 1000).poll(io.read(&mut buf)), Some(Ok(2)));
        assert_eq!(io.stalls(), 0);
    }

    #[test]
    #[should_panic(expected = "not ready")]
    fn a_strict_end_panics_when_read_while_not_ready() {
        let (mut ab, mut ba) = ([0u8; 8], [0u8; 8]);
        let duplex = Duplex::new(&mut ab, &mut ba);
        let (a, _b) = duplex.ends();
        let mut a = a.strict();
        let _ = a.read(&mut [0u8; 4]);
    }

    #[test]
    fn a_duplex_moves_bytes_both_ways_and_ends() {
        let (mut ab, mut ba) = ([0u8; 4], [0u8; 4]);
        let duplex = Duplex::new(&mut ab, &mut ba);
        let (mut a, mut b) = duplex.ends();
        assert_eq!(a.write(b"hello"), Ok(4), "a short write of what fits");
        assert_eq!(a.write(b"o"), Err(ErrorKind::TimedOut));
        let mut buf = [0u8; 8];
        assert_eq!(b.read(&mut buf), Ok(4));
        assert_eq!(&buf[..4], b"hell");
        assert_eq!(b.read(&mut buf), Err(ErrorKind::TimedOut));
        drop(a);
        assert_eq!(b.read(&mut buf), Ok(0), "the end of the stream");
    }
}
