//! The std client over loopback TCP: it cannot hang (silent, trickling and non-reading
//! servers meet its deadlines), it sees the server's response, and a send that times
//! out goes on when made again.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use ws13::handshake::client::UrlError;
use ws13::net::{self, Options};
use ws13::{Error, Message};
use ws13_testkit::drive::{receive_filled, send_again, send_until_a_timeout};

/// A listener on a free loopback port, and its `ws://` URL.
fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    (listener, url)
}

fn assert_timed_out(result: Result<impl Sized, Error<std::io::Error>>) {
    match result {
        Err(e) => {
            assert!(e.is_timeout(), "{e}");
            assert!(matches!(&e, Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut));
        }
        Ok(_) => panic!("connected"),
    }
}

#[test]
fn a_silent_server_fails_the_client_at_its_deadline() {
    let (listener, url) = listener();
    // Accepts, reads the request, never answers.
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut sink = [0u8; 1024];
        let _ = stream.read(&mut sink);
        thread::sleep(Duration::from_secs(3));
    });
    let options = Options::new().handshake_timeout(Some(Duration::from_millis(300)));
    let (mut rx, mut tx) = (vec![0u8; 1024], vec![0u8; 1024]);
    let start = Instant::now();
    assert_timed_out(net::connect_with(&url, &options, &mut rx, &mut tx));
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    server.join().unwrap();
}

#[test]
fn a_trickling_server_fails_the_client_at_its_deadline() {
    let (listener, url) = listener();
    // Sends its 101 a byte every 50 ms: each read makes progress, the whole does not.
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut sink = [0u8; 1024];
        let _ = stream.read(&mut sink);
        for b in b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n".iter() {
            if stream.write_all(&[*b]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
    let options = Options::new().handshake_timeout(Some(Duration::from_millis(400)));
    let (mut rx, mut tx) = (vec![0u8; 1024], vec![0u8; 1024]);
    let start = Instant::now();
    assert_timed_out(net::connect_with(&url, &options, &mut rx, &mut tx));
    assert!(start.elapsed() < Duration::from_secs(2));
    server.join().unwrap();
}

/// A ws13 server on `listener` that accepts one upgrade with `headers` on its 101, then
/// runs `then` on the connection.
fn serve_one(
    listener: TcpListener,
    headers: &'static [(&'static str, &'static str)],
    then: impl FnOnce(&mut ws13::blocking::WebSocket<'_, net::TcpTransport<&TcpStream>>)
        + Send
        + 'static,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let (mut rx, mut tx) = (vec![0u8; 64 * 1024], vec![0u8; 4096]);
        let incoming = net::accept(&stream, &mut rx[..]).unwrap();
        let mut ws = incoming.accept_with(&mut tx, None, headers).unwrap();
        then(&mut ws);
    })
}

#[test]
fn the_client_sees_the_servers_response_headers() {
    let (listener, url) = listener();
    let server = serve_one(listener, &[("Set-Cookie", "session=42")], |ws| {
        ws.flush().unwrap();
        let mut buf = [0u8; 256];
        while !matches!(ws.read_message(&mut buf), Ok(Message::Close(_)) | Err(_)) {}
    });
    let (mut rx, mut tx) = (vec![0u8; 1024], vec![0u8; 1024]);
    let options = Options::new().headers(&[("Authorization", "Bearer x")]);
    let connecting = net::open(&url, &options, &mut rx, &mut tx).unwrap();
    let response = connecting.response().expect("accepted");
    assert_eq!(response.status(), 101);
    assert_eq!(response.header("set-cookie"), Some("session=42"));
    assert_eq!(response.protocol(), None);
    let (mut ws, _) = connecting.finish().unwrap();
    ws.close(ws13::CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

#[test]
fn a_send_to_a_server_that_stops_reading_times_out_then_goes_on() {
    const SIZE: usize = 1 << 20;
    let (listener, url) = listener();
    let (resume_tx, resume_rx) = std::sync::mpsc::channel::<()>();
    let (count_tx, count_rx) = std::sync::mpsc::channel::<usize>();
    // The server reads nothing until told, then reads every message, in order, intact.
    let server = serve_one(listener, &[], move |ws| {
        ws.flush().unwrap();
        resume_rx.recv().unwrap();
        let mut buf = vec![0u8; SIZE];
        let count = receive_filled(ws, &mut buf, SIZE);
        count_tx.send(count).unwrap();
    });
    let options = Options::new().write_timeout(Some(Duration::from_millis(200)));
    let (mut rx, mut tx) = (vec![0u8; 4096], vec![0u8; 16 * 1024]);
    let (mut ws, _) = net::connect_with(&url, &options, &mut rx, &mut tx).unwrap();
    // Messages until the sockets' buffers are full and a send times out part-way.
    let (mut sent, interrupted) = send_until_a_timeout(&mut ws, SIZE);
    assert!(!ws.is_closed());
    resume_tx.send(()).unwrap();
    // The same send again goes on where it stopped.
    send_again(&mut ws, &interrupted);
    sent += 1;
    ws.close(ws13::CloseCode::NORMAL, "").unwrap();
    assert_eq!(
        count_rx.recv().unwrap(),
        sent,
        "each message once, none lost"
    );
    server.join().unwrap();
}

#[test]
fn wss_says_tls_is_the_callers() {
    let (mut rx, mut tx) = (vec![0u8; 1024], vec![0u8; 1024]);
    match net::connect("wss://127.0.0.1:1/", &mut rx, &mut tx, &[]) {
        Err(Error::Url(UrlError::Tls)) => {}
        other => panic!("{:?}", other.map(|_| ())),
    }
    let message = Error::<std::io::Error>::Url(UrlError::Tls).to_string();
    assert!(message.contains("TLS"), "{message}");
}
