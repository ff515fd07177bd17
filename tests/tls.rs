//! TLS by composition, on loopback: ws13's blocking driver over rustls' `StreamOwned`
//! over `net::DeadlineStream` over a `TcpStream`, in both roles, through
//! `net::accept_layered` and `net::connect_layered`. Echoes both ways, the page over
//! https, close handshakes ending in close_notify and a TCP close without a reset,
//! clients trickling their TLS handshake or their HTTP request cut at the handshake
//! deadline, and read and write timeouts through TLS that lose nothing.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use rustls::{Error as TlsError, StreamOwned};
use ws13::blocking::{Incoming, WebSocket};
use ws13::net::{self, DeadlineStream, FromStd, Options, OsMask};
use ws13::{CloseCode, Error, Event, Message};
use ws13_testkit::drive::{receive_filled, send_again, send_until_a_timeout};

/// The server's TLS stream: rustls over the deadline layer over a borrowed TCP stream.
type ServerTls<'t> = StreamOwned<ServerConnection, DeadlineStream<&'t TcpStream>>;
/// The client's: it owns its TCP stream.
type ClientTls = StreamOwned<ClientConnection, DeadlineStream<TcpStream>>;
type ClientWs<'b> = WebSocket<'b, FromStd<ClientTls>, OsMask>;

/// A test CA and a server certificate it signed, for `localhost` and 127.0.0.1.
struct Pki {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "ws13 test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &ca, &ca_key)
        .unwrap();
    let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone(), ca.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();
    let client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Pki {
        server: Arc::new(server),
        client: Arc::new(client),
    }
}

fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// The server's side of a connection: TLS and the request within `deadline`, then `then`
/// with the request; afterwards, however it went, close_notify and a graceful TCP close.
fn serve<R>(
    tcp: &TcpStream,
    config: &Arc<ServerConfig>,
    deadline: Duration,
    then: impl FnOnce(Incoming<'_, FromStd<ServerTls<'_>>>, &mut [u8]) -> R,
) -> Result<R, Error<std::io::Error>> {
    tcp.set_nodelay(true).unwrap();
    tcp.set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (mut rx, mut tx) = (vec![0u8; 8192], vec![0u8; 8192]);
    let tls = StreamOwned::new(
        ServerConnection::new(config.clone()).unwrap(),
        DeadlineStream::new(tcp),
    );
    let incoming = net::accept_layered(
        tls,
        |tls| &mut tls.sock,
        &mut rx[..],
        deadline,
        Some(Duration::from_secs(10)),
    )?;
    Ok(then(incoming, &mut tx))
}

/// Ends a server's TLS stream: close_notify (once TLS is up), then the TCP close.
fn close_tls(tls: &mut ServerTls<'_>, tcp: &TcpStream) {
    if !tls.conn.is_handshaking() {
        tls.conn.send_close_notify();
        let _ = tls.flush();
    }
    net::linger(tcp, Duration::from_secs(2));
}

/// A client connection to 127.0.0.1:`port`, checking the certificate for `localhost`.
fn connect<'b>(
    port: u16,
    config: &Arc<ClientConfig>,
    options: &Options<'_>,
    rx: &'b mut [u8],
    tx: &'b mut [u8],
) -> Result<ClientWs<'b>, Error<std::io::Error>> {
    let url = format!("wss://localhost:{port}/echo");
    let url = net::parse_wss(&url).map_err(Error::Url)?;
    let tcp =
        net::connect_tcp("127.0.0.1", url.port, options.connect_timeout).map_err(Error::Io)?;
    let name = ServerName::try_from(url.host.to_string()).unwrap();
    let tls = StreamOwned::new(
        ClientConnection::new(config.clone(), name).unwrap(),
        DeadlineStream::new(tcp),
    );
    let (ws, _) = net::connect_layered(tls, |tls| &mut tls.sock, &url, options, rx, tx)?;
    Ok(ws)
}

/// After its close handshake, a client reads the server's close_notify, then the end
/// of the TCP stream: a FIN, not a reset.
fn assert_closed_cleanly(ws: ClientWs<'_>) {
    let mut tls = ws.into_inner().into_inner();
    let mut rest = [0u8; 64];
    assert_eq!(
        tls.read(&mut rest).unwrap(),
        0,
        "no close_notify from the server"
    );
    tls.conn.send_close_notify();
    tls.flush().unwrap();
    let tcp = tls.sock.stream();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    match (&*tcp).read(&mut rest) {
        Ok(0) => {}
        other => panic!("expected the server's FIN after close_notify, got {other:?}"),
    }
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn page_and_echoes_both_ways_over_tls_then_a_clean_close() {
    let pki = pki();
    let (listener, port) = listener();
    let config = pki.server.clone();
    let server = thread::spawn(move || {
        // The page over https: a request without Upgrade, answered as plain HTTP.
        let (tcp, _) = listener.accept().unwrap();
        serve(&tcp, &config, Duration::from_secs(5), |mut incoming, _| {
            assert_eq!(incoming.request().path(), "/");
            assert!(!incoming.request().is_upgrade());
            incoming
                .respond(200, &[("Content-Type", "text/html")], b"<html>page</html>")
                .unwrap();
            close_tls(incoming.get_mut().inner_mut(), &tcp);
        })
        .unwrap();
        // The WebSocket: echoes what the client sends, then sends messages of its own
        // for the client to echo, and checks them; the client closes.
        let (tcp, _) = listener.accept().unwrap();
        serve(&tcp, &config, Duration::from_secs(5), |incoming, tx| {
            assert_eq!(incoming.request().path(), "/echo");
            let mut ws = incoming.accept(tx, None).unwrap();
            let mut buf = vec![0u8; 4 << 20];
            loop {
                match ws.read_message(&mut buf).unwrap() {
                    Message::Text("your turn") => break,
                    Message::Text(t) => {
                        let t = t.to_string();
                        ws.send(Message::Text(&t)).unwrap();
                    }
                    Message::Binary(b) => {
                        let b = b.to_vec();
                        ws.send(Message::Binary(&b)).unwrap();
                    }
                    other => panic!("{other:?}"),
                }
            }
            for (i, len) in [0usize, 1, 126, 65536, 1 << 20].into_iter().enumerate() {
                let sent = data(len, i as u8);
                ws.send(Message::Binary(&sent)).unwrap();
                match ws.read_message(&mut buf).unwrap() {
                    Message::Binary(b) => assert!(b == sent.as_slice(), "len {len}"),
                    other => panic!("{other:?}"),
                }
            }
            match ws.read_message(&mut buf).unwrap() {
                Message::Close(Some(c)) => {
                    assert_eq!((c.code, c.reason), (CloseCode::NORMAL, "done"))
                }
                other => panic!("{other:?}"),
            }
            close_tls(ws.get_mut().inner_mut(), &tcp);
        })
        .unwrap();
    });

    // The page, with a rustls client of its own.
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = StreamOwned::new(
        ClientConnection::new(pki.client.clone(), name).unwrap(),
        tcp,
    );
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    // Read to the end: rustls says Ok(0) only after the server's close_notify.
    tls.read_to_string(&mut page).unwrap();
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.ends_with("\r\n\r\n<html>page</html>"), "{page}");

    let (mut rx, mut tx) = (vec![0u8; 8192], vec![0u8; 8192]);
    let mut ws = connect(port, &pki.client, &Options::new(), &mut rx, &mut tx).unwrap();
    let mut buf = vec![0u8; 4 << 20];
    for text in ["hello", "", "héllo ✓ 😀", &"x".repeat(70_000)] {
        ws.send(Message::Text(text)).unwrap();
        assert_eq!(ws.read_message(&mut buf).unwrap(), Message::Text(text));
    }
    for (i, len) in [0usize, 125, 126, 65535, 65536, 3 << 20]
        .into_iter()
        .enumerate()
    {
        let sent = data(len, i as u8);
        ws.send(Message::Binary(&sent)).unwrap();
        match ws.read_message(&mut buf).unwrap() {
            Message::Binary(b) => assert!(b == sent.as_slice(), "len {len}"),
            other => panic!("{other:?}"),
        }
    }
    // The server's own messages, echoed back piece by piece as they arrive.
    ws.send(Message::Text("your turn")).unwrap();
    for _ in 0..5 {
        loop {
            let (event, mut writer) = ws.read_split().unwrap();
            match event {
                Event::Data(piece) => {
                    writer.relay(&piece).unwrap();
                    if piece.last {
                        break;
                    }
                }
                other => panic!("{other:?}"),
            }
        }
    }
    ws.close(CloseCode::NORMAL, "done").unwrap();
    assert!(matches!(ws.read(), Err(Error::Closed)));
    assert_closed_cleanly(ws);
    server.join().unwrap();
}

#[test]
fn the_server_closes_over_tls() {
    let pki = pki();
    let (listener, port) = listener();
    let config = pki.server.clone();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        serve(&tcp, &config, Duration::from_secs(5), |incoming, tx| {
            let mut ws = incoming.accept(tx, None).unwrap();
            ws.send(Message::Text("bye")).unwrap();
            ws.close(CloseCode::GOING_AWAY, "going").unwrap();
            close_tls(ws.get_mut().inner_mut(), &tcp);
        })
        .unwrap();
    });
    let (mut rx, mut tx) = (vec![0u8; 4096], vec![0u8; 4096]);
    let mut ws = connect(port, &pki.client, &Options::new(), &mut rx, &mut tx).unwrap();
    let mut buf = [0u8; 256];
    assert_eq!(ws.read_message(&mut buf).unwrap(), Message::Text("bye"));
    match ws.read_message(&mut buf).unwrap() {
        Message::Close(Some(c)) => assert_eq!((c.code, c.reason), (CloseCode::GOING_AWAY, "going")),
        other => panic!("{other:?}"),
    }
    assert_closed_cleanly(ws);
    server.join().unwrap();
}

/// What `accept_layered` gave a client that trickles: the error and how long it took.
fn cut_at_deadline(listener: TcpListener, config: Arc<ServerConfig>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let started = Instant::now();
        let result = serve(&tcp, &config, Duration::from_millis(500), |_, _| ());
        let elapsed = started.elapsed();
        match result {
            Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::TimedOut, "{e}"),
            Err(e) => panic!("expected a timeout, got {e:?}"),
            Ok(()) => panic!("expected a timeout, got a request"),
        }
        assert!(elapsed >= Duration::from_millis(450), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        net::linger(&tcp, Duration::from_millis(100));
    })
}

/// Writes `bytes` one at a time, `gap` apart, until the server goes away.
fn trickle(stream: &mut impl Write, bytes: &[u8], gap: Duration) {
    for b in bytes {
        if stream
            .write_all(&[*b])
            .and_then(|()| stream.flush())
            .is_err()
        {
            return;
        }
        thread::sleep(gap);
    }
}

#[test]
fn a_client_trickling_its_tls_handshake_is_cut_at_the_deadline() {
    let pki = pki();
    let (listener, port) = listener();
    let server = cut_at_deadline(listener, pki.server.clone());
    // A real ClientHello, a byte every 40 ms: each read gets something, the whole takes
    // many seconds.
    let mut hello = Vec::new();
    let name = ServerName::try_from("localhost").unwrap();
    ClientConnection::new(pki.client.clone(), name)
        .unwrap()
        .write_tls(&mut hello)
        .unwrap();
    assert!(hello.len() > 100);
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_nodelay(true).unwrap();
    trickle(&mut tcp, &hello, Duration::from_millis(40));
    server.join().unwrap();
}

#[test]
fn a_client_trickling_its_request_after_the_tls_handshake_is_cut_at_the_deadline() {
    let pki = pki();
    let (listener, port) = listener();
    let server = cut_at_deadline(listener, pki.server.clone());
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_nodelay(true).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = StreamOwned::new(
        ClientConnection::new(pki.client.clone(), name).unwrap(),
        tcp,
    );
    // The handshake, promptly; then the request, a byte (a TLS record) every 40 ms.
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    let request = b"GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";
    trickle(&mut tls, request, Duration::from_millis(40));
    server.join().unwrap();
}

#[test]
fn a_client_that_is_no_tls_client_is_refused() {
    let pki = pki();
    let (listener, port) = listener();
    let config = pki.server.clone();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        match serve(&tcp, &config, Duration::from_secs(5), |_, _| ()) {
            Err(Error::Io(e)) => {
                assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}");
                let tls = e.get_ref().and_then(|e| e.downcast_ref::<TlsError>());
                assert!(tls.is_some(), "{e:?}");
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        net::linger(&tcp, Duration::from_secs(1));
    });
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP"), "{answer:?}");
    server.join().unwrap();
}

#[test]
fn read_and_write_timeouts_through_tls_lose_nothing() {
    const SIZE: usize = 1 << 20;
    let pki = pki();
    let (listener, port) = listener();
    let config = pki.server.clone();
    let (resume_tx, resume_rx) = mpsc::channel::<()>();
    let (count_tx, count_rx) = mpsc::channel::<(usize, usize)>();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        serve(&tcp, &config, Duration::from_secs(5), |incoming, tx| {
            let mut ws = incoming.accept(tx, None).unwrap();
            // Reads that time out while the client is silent, then a message whole.
            tcp.set_read_timeout(Some(Duration::from_millis(30)))
                .unwrap();
            let mut buf = vec![0u8; SIZE];
            let mut timeouts = 0;
            let first = loop {
                match ws.read_message(&mut buf) {
                    Ok(Message::Text(t)) => break t.to_string(),
                    Err(e) if e.is_timeout() => timeouts += 1,
                    other => panic!("{other:?}"),
                }
            };
            assert_eq!(first, "after a silence");
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            ws.send(Message::Text("now stop reading")).unwrap();
            // Then nothing is read until told; then every message, in order, intact.
            resume_rx.recv().unwrap();
            let count = receive_filled(&mut ws, &mut buf, SIZE);
            count_tx.send((timeouts, count)).unwrap();
            close_tls(ws.get_mut().inner_mut(), &tcp);
        })
        .unwrap();
    });
    let options = Options::new().write_timeout(Some(Duration::from_millis(200)));
    let (mut rx, mut tx) = (vec![0u8; 4096], vec![0u8; 16 * 1024]);
    let mut ws = connect(port, &pki.client, &options, &mut rx, &mut tx).unwrap();
    thread::sleep(Duration::from_millis(300));
    ws.send(Message::Text("after a silence")).unwrap();
    let mut buf = [0u8; 256];
    assert_eq!(
        ws.read_message(&mut buf).unwrap(),
        Message::Text("now stop reading")
    );
    // Messages until the buffers (the sockets' and rustls') are full and a send times out.
    let (mut sent, interrupted) = send_until_a_timeout(&mut ws, SIZE);
    assert!(!ws.is_closed());
    resume_tx.send(()).unwrap();
    // The same send again goes on where it stopped.
    send_again(&mut ws, &interrupted);
    sent += 1;
    ws.close(CloseCode::NORMAL, "").unwrap();
    let (timeouts, count) = count_rx.recv().unwrap();
    assert!(timeouts >= 3, "{timeouts} read timeouts");
    assert_eq!(count, sent, "each message once, none lost");
    assert_closed_cleanly(ws);
    server.join().unwrap();
}

#[test]
fn a_handshake_deadline_bounds_the_client_too() {
    // A server that completes TLS, reads the request and never answers.
    let pki = pki();
    let (listener, port) = listener();
    let config = pki.server.clone();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let _ = serve(&tcp, &config, Duration::from_secs(5), |incoming, _| {
            thread::sleep(Duration::from_secs(3));
            drop(incoming);
        });
    });
    let options = Options::new().handshake_timeout(Some(Duration::from_millis(500)));
    let (mut rx, mut tx) = (vec![0u8; 4096], vec![0u8; 4096]);
    let started = Instant::now();
    match connect(port, &pki.client, &options, &mut rx, &mut tx) {
        Err(e) => assert!(e.is_timeout(), "{e}"),
        Ok(_) => panic!("connected"),
    }
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    server.join().unwrap();
}
