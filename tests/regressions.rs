//! Regressions: library bugs found while porting the tests, and the items of the
//! adversarial review, each pinned by a test that fails without its fix.

use embedded_io::ErrorKind;
use ws13::blocking::{Incoming, WebSocket, MIN_BUFFER};
use ws13::frame::OpCode;
use ws13::proto::{Masking, Role};
use ws13::{Error, Event, Message, MessageKind, NoMask};
use ws13_testkit::consts::RFC_REQUEST;
use ws13_testkit::owned::{after_head, frame, frames, messages, Msg};
use ws13_testkit::wire::peer;
use ws13_testkit::{Faults, Script, TestMask};

type Peer = Script<'static, Vec<u8>, Vec<u8>>;

fn script(input: Vec<u8>, step: usize) -> Peer {
    Script::new(input, Vec::new()).reads(Faults::NONE.max_chunk(step))
}

/// The peer's close frame is echoed as the event is handed out, with no further call:
/// an application that stops at the close (as examples/echo_server.rs does) still
/// completes the close handshake. (Found porting the pipe tests: the new driver queued
/// the echo and wrote it only with a later write, flush or read, which never came.)
fn close_echo_goes_out_at_once<M: Masking + Clone>(masks: M) {
    let close = frame(peer(M::ROLE), true, OpCode::Close, &[0x0F, 0xA0, b'x']);
    for whole in [false, true] {
        for step in [1, 3, 100] {
            let mut io = script(close.clone(), step);
            let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
            let mut ws =
                WebSocket::from_upgraded(&mut io, &mut rx, 0..0, &mut tx, 0, masks.clone())
                    .unwrap();
            if whole {
                let mut buf = [0u8; 125];
                assert!(matches!(
                    ws.read_message(&mut buf),
                    Ok(Message::Close(Some(_)))
                ));
            } else {
                assert!(matches!(ws.read(), Ok(Event::Close(Some(_)))));
            }
            let _ = ws;
            assert_eq!(
                messages(M::ROLE, io.written()).unwrap(),
                vec![Msg::close(4000, "")],
                "{:?}, read_message {whole}, step {step}",
                M::ROLE
            );
        }
    }
}

#[test]
fn the_close_echo_goes_out_with_the_close_event() {
    close_echo_goes_out_at_once(NoMask);
    close_echo_goes_out_at_once(TestMask(9));
}

/// After a timeout kept the echo in the buffer, the next read (which reports `Closed`)
/// or a flush writes it, once.
#[test]
fn a_close_echo_interrupted_by_a_timeout_goes_out_on_the_next_call() {
    let close = frame(Role::Client, true, OpCode::Close, &[0x03, 0xE8]);
    let mut io = script(close, 100).writes(Faults::at(&[(0, ws13_testkit::Fault::TimedOut)]));
    let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
    let mut ws = WebSocket::from_upgraded(&mut io, &mut rx, 0..0, &mut tx, 0, NoMask).unwrap();
    assert!(matches!(ws.read(), Ok(Event::Close(Some(_)))));
    assert!(matches!(ws.read(), Err(Error::Closed)));
    ws.flush().unwrap();
    let _ = ws;
    assert_eq!(
        messages(Role::Server, io.written()).unwrap(),
        vec![Msg::close(1000, "")]
    );
}

/// With the smallest transmit buffer (MIN_BUFFER), a 125-byte pong waiting behind one of
/// our frames left the core unable to read on: it kept room for a whole control frame
/// and the waiting pong besides (137 bytes of 131), so it read the transport to its end
/// (or blocked forever) instead of handing out the next frame. Inside our frame an
/// answer takes the waiting pong's place, so room for one pong's payload is enough.
fn reads_on_with_a_pong_waiting<M: Masking + Clone>(masks: M) {
    let sender = peer(M::ROLE);
    let mut input = frame(sender, true, OpCode::Ping, &[b'p'; 125]);
    input.extend(frame(sender, true, OpCode::Ping, b"second"));
    input.extend(frame(sender, true, OpCode::Close, &[0x03, 0xE8]));
    let mut io = script(input, 7);
    let (mut rx, mut tx) = (vec![0u8; 512], vec![0u8; MIN_BUFFER]);
    let mut ws = WebSocket::from_upgraded(&mut io, &mut rx, 0..0, &mut tx, 0, masks).unwrap();
    let mut w = ws.writer();
    w.begin_frame(MessageKind::Binary, 300, true).unwrap();
    w.write_payload(&[1; 100]).unwrap();
    assert_eq!(ws.read().unwrap(), Event::Ping(&[b'p'; 125]));
    assert_eq!(ws.read().unwrap(), Event::Ping(b"second"));
    assert!(matches!(ws.read(), Ok(Event::Close(Some(_)))));
    ws.writer().write_payload(&[1; 200]).unwrap();
    ws.flush().unwrap();
    let _ = ws;
    let sent = frames(M::ROLE, io.written()).unwrap();
    // The frame, then the close's echo: after the peer's close no pong is owed.
    assert_eq!(
        sent,
        vec![
            (true, OpCode::Binary, vec![1; 300]),
            (true, OpCode::Close, vec![0x03, 0xE8])
        ],
        "{:?}",
        M::ROLE
    );
}

#[test]
fn the_smallest_transmit_buffer_reads_on_with_a_pong_waiting() {
    reads_on_with_a_pong_waiting(NoMask);
    reads_on_with_a_pong_waiting(TestMask(3));
}
