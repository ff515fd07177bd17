//! Many connections served from one thread, none ever blocking.
//!
//! Eight clients and eight servers, each pair joined by an in-memory pipe (the kit's
//! `Duplex`) whose ends panic if read or written when they are not ready. Every end is
//! wrapped in `blocking::Ready`, which turns "not ready" into a timeout, so each call of
//! the driver returns at once where it would block; the one loop below steps every
//! connection in turn, from the handshake (`Incoming::read`, `Connecting::handshake`,
//! each made again after its timeouts) through messages of many sizes (some larger than
//! the pipe and than every buffer) each echoed and checked, to the close handshake,
//! until all sixteen are done.

use ws13::blocking::Ready;
use ws13_testkit::drive::{EchoClient, EchoMode, EchoServer};
use ws13_testkit::{Duplex, TestMask};

/// Bytes each direction of a pipe holds.
const PIPE: usize = 1024;
/// Connections of each role.
const PAIRS: usize = 8;

/// The buffers of one pair of connections.
struct Buffers {
    client_rx: Vec<u8>,
    client_tx: Vec<u8>,
    server_rx: Vec<u8>,
    server_tx: Vec<u8>,
    piece: Vec<u8>,
    data: Vec<u8>,
    reply: Vec<u8>,
}

impl Buffers {
    fn new(i: usize) -> Self {
        let size = |base: usize| base + 37 * i;
        Buffers {
            client_rx: vec![0; size(256)],
            client_tx: vec![0; size(300)],
            server_rx: vec![0; size(200)],
            server_tx: vec![0; size(256)],
            piece: vec![0; 1024],
            data: vec![0; 4096],
            reply: vec![0; 4096],
        }
    }
}

/// The sizes of the messages of connection `i`: every length encoding, and messages
/// larger than the pipe and the buffers.
fn sizes(i: usize) -> Vec<usize> {
    let all = [0, 1, 125, 126, 127, 700, 1024, 1500, 2000, 64, 300, 1999];
    (0..6 + i).map(|k| all[(k * 5 + i) % all.len()]).collect()
}

#[test]
fn one_thread_serves_many_connections_without_blocking() {
    let mut rings: Vec<(Vec<u8>, Vec<u8>)> =
        (0..PAIRS).map(|_| (vec![0; PIPE], vec![0; PIPE])).collect();
    let duplexes: Vec<Duplex<'_>> = rings
        .iter_mut()
        .map(|(ab, ba)| Duplex::new(ab, ba))
        .collect();
    let mut buffers: Vec<Buffers> = (0..PAIRS).map(Buffers::new).collect();
    let plans: Vec<Vec<usize>> = (0..PAIRS).map(sizes).collect();
    let mut clients = Vec::new();
    let mut servers = Vec::new();
    for (i, ((duplex, b), plan)) in duplexes.iter().zip(&mut buffers).zip(&plans).enumerate() {
        let (client_end, server_end) = duplex.ends();
        // Some ends move a few bytes a call, others all they can.
        let max_io = [usize::MAX, 1, 7, 100][i % 4];
        let client = EchoClient::new(
            Ready(client_end.strict().max_io(max_io)),
            &mut b.client_rx,
            &mut b.client_tx,
            TestMask(i as u32),
            plan,
            i as u64,
            &mut b.data,
            &mut b.reply,
        )
        .unwrap();
        // Echoing a piece as a fragment adds a header to it: where pieces are a byte or
        // a few, the echo is several times the message, more than is in flight (each
        // end writes out its output before it reads: see the kit's loopback check), so
        // those echo frame for frame.
        let mode = if i % 2 == 0 || max_io < 100 {
            EchoMode::Frames
        } else {
            EchoMode::Fragments
        };
        let server = EchoServer::new(
            Ready(server_end.strict().max_io(max_io)),
            &mut b.server_rx,
            &mut b.server_tx,
            &mut b.piece,
            mode,
        );
        clients.push(client);
        servers.push(server);
    }
    let mut done = [[false; 2]; PAIRS];
    let mut rounds = 0;
    let mut waits = [[0usize; 2]; PAIRS];
    while done.iter().flatten().any(|d| !d) {
        rounds += 1;
        assert!(
            rounds < 1_000_000,
            "no end after a million rounds: {done:?}"
        );
        // Servers and clients interleaved, in an order that changes every round.
        for k in 0..2 * PAIRS {
            let k = (k + rounds) % (2 * PAIRS);
            let (i, server) = (k / 2, k % 2 == 1);
            if done[i][usize::from(server)] {
                continue;
            }
            let finished = if server {
                servers[i]
                    .step()
                    .unwrap_or_else(|e| panic!("server {i}: {e:?}"))
            } else {
                clients[i]
                    .step()
                    .unwrap_or_else(|e| panic!("client {i}: {e:?}"))
            };
            done[i][usize::from(server)] = finished;
            waits[i][usize::from(server)] += usize::from(!finished);
        }
    }
    for (i, (client, server)) in clients.iter().zip(&servers).enumerate() {
        assert!(client.is_done() && server.is_done(), "connection {i}");
        assert_eq!(client.echoed(), plans[i].len(), "client {i}");
        assert_eq!(server.messages, plans[i].len(), "server {i}");
        assert_eq!(client.protocol, Some(1), "client {i}: ws13.echo chosen");
    }
    // The connections took turns: each returned, not ready, again and again.
    assert!(
        waits.iter().flatten().all(|&w| w >= 3),
        "{waits:?} in {rounds} rounds"
    );
    eprintln!("many: {PAIRS} pairs done in {rounds} rounds; steps stopped at a transport not ready: {waits:?}");
}

/// One slot's buffers serve one client after another: each connection gives them back
/// with `into_parts` (as the network firmware's slots do), whatever state it ended in,
/// and the next one works as if they were new.
#[test]
fn one_pair_of_buffers_serves_connection_after_connection() {
    use ws13::blocking::Incoming;
    use ws13::Event;
    use ws13_testkit::consts::{RFC_MASKED_HELLO, RFC_REQUEST};
    use ws13_testkit::Script;

    let (mut rx_store, mut tx_store) = ([0u8; 512], [0u8; 512]);
    let (rx_at, tx_at) = (rx_store.as_ptr(), tx_store.as_ptr());
    let (mut rx, mut tx): (&mut [u8], &mut [u8]) = (&mut rx_store, &mut tx_store);
    for round in 0..4 {
        let upgrade = round % 2 == 0;
        let mut input = if upgrade {
            RFC_REQUEST.to_vec()
        } else {
            b"GET / HTTP/1.1\r\nHost: h\r\n\r\n".to_vec()
        };
        input.extend_from_slice(&RFC_MASKED_HELLO);
        let mut incoming = Incoming::new(Script::new(input, Vec::new()), rx);
        assert_eq!(
            incoming.read().unwrap().is_upgrade(),
            upgrade,
            "round {round}"
        );
        let (io, rx_back, tx_back) = if upgrade {
            let mut ws = incoming.accept(tx, None).unwrap();
            match ws.read().unwrap() {
                Event::Data(piece) => assert_eq!(piece.payload, b"Hello", "round {round}"),
                other => panic!("round {round}: {other:?}"),
            }
            ws.flush().unwrap();
            ws.into_parts()
        } else {
            incoming.respond(200, &[], b"page").unwrap();
            let (io, rx_back) = incoming.into_parts();
            (io, rx_back, tx)
        };
        let head: &[u8] = if upgrade {
            b"HTTP/1.1 101 "
        } else {
            b"HTTP/1.1 200 "
        };
        assert!(io.written().starts_with(head), "round {round}");
        assert_eq!((rx_back.as_ptr(), tx_back.as_ptr()), (rx_at, tx_at));
        assert_eq!((rx_back.len(), tx_back.len()), (512, 512));
        (rx, tx) = (rx_back, tx_back);
    }
}
