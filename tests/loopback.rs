//! Client and server over real loopback TCP sockets (127.0.0.1), through the `net` helpers
//! and, on tokio, the async driver.

use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use ws13::{net, CloseCode, Error, Event, Message};

/// Serves one connection: echoes messages piece by piece; answers `GET /` with a page.
fn serve_one(listener: TcpListener) -> thread::JoinHandle<Result<(), String>> {
    thread::spawn(move || {
        for _ in 0..2 {
            let (stream, _) = listener.accept().map_err(|e| e.to_string())?;
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let lingering = stream.try_clone().unwrap();
            let (mut rx, mut tx) = (vec![0u8; 4096], vec![0u8; 4096]);
            let mut incoming = net::accept(stream, &mut rx).map_err(|e| e.to_string())?;
            let request = incoming.request();
            if !request.is_upgrade() {
                incoming
                    .respond(200, &[("Content-Type", "text/html")], b"<html></html>")
                    .map_err(|e| e.to_string())?;
                net::linger(&lingering, Duration::from_secs(1));
                continue;
            }
            let protocol = request.offers_protocol("ws13.echo").then_some("ws13.echo");
            let mut ws = incoming
                .accept(&mut tx, protocol)
                .map_err(|e| e.to_string())?;
            loop {
                let (event, mut w) = ws.read_split().map_err(|e| e.to_string())?;
                match event {
                    Event::Data(p) => w
                        .write_fragment(p.kind, p.payload, p.last)
                        .map_err(|e| e.to_string())?,
                    Event::Close(c) => {
                        assert_eq!(
                            c.map(|c| (c.code, c.reason)),
                            Some((CloseCode::NORMAL, "done"))
                        );
                        break;
                    }
                    _ => {}
                }
            }
            net::linger(&lingering, Duration::from_secs(1));
        }
        Ok(())
    })
}

#[test]
fn echo_over_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = serve_one(listener);

    // A plain HTTP request first, as a browser loading the page would.
    let mut http = std::net::TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(&mut http, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut page = String::new();
    std::io::Read::read_to_string(&mut http, &mut page).unwrap();
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.ends_with("<html></html>"));
    drop(http);

    let (mut rx, mut tx) = (vec![0u8; 8192], vec![0u8; 8192]);
    let url = format!("ws://{addr}/echo");
    let (mut ws, protocol) = net::connect(&url, &mut rx, &mut tx, &["other", "ws13.echo"]).unwrap();
    assert_eq!(protocol, Some(1));
    let mut buf = vec![0u8; 3 << 20];
    for len in [0usize, 125, 126, 65535, 65536, 3 << 20] {
        let data: Vec<u8> = (0..len).map(|i| (i * 31 % 256) as u8).collect();
        ws.send(Message::Binary(&data)).unwrap();
        match ws.read_message(&mut buf).unwrap() {
            Message::Binary(got) => assert!(got == data.as_slice(), "len {len}"),
            other => panic!("unexpected {other:?}"),
        }
    }
    // Many small messages written before any is read: batched both ways.
    let mut w = ws.writer();
    for i in 0..2000 {
        w.write(Message::Text(&format!("message {i}"))).unwrap();
    }
    w.flush().unwrap();
    for i in 0..2000 {
        assert_eq!(
            ws.read_message(&mut buf).unwrap(),
            Message::Text(&format!("message {i}"))
        );
    }
    ws.close(CloseCode::NORMAL, "done").unwrap();
    assert!(matches!(ws.read(), Err(Error::Closed)));
    drop(ws);
    server.join().unwrap().unwrap();
}

#[test]
fn handshake_deadline_stops_a_trickling_client() {
    use std::io::Write as _;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        // One byte every 100 ms: each read succeeds, the whole never arrives in time.
        for b in b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n" {
            if s.write_all(&[*b]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    let (stream, _) = listener.accept().unwrap();
    let mut rx = [0u8; 1024];
    let started = std::time::Instant::now();
    let result = net::accept_within(stream, &mut rx, Duration::from_millis(500), None);
    let elapsed = started.elapsed();
    match result {
        Err(Error::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::TimedOut),
        Err(e) => panic!("expected a timeout, got {e:?}"),
        Ok(_) => panic!("expected a timeout, got a request"),
    }
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    client.join().unwrap();
}

/// A client connection that owns its buffers: made in a function and returned.
fn open_owned(
    url: &str,
) -> Result<ws13::blocking::WebSocket<'static, net::TcpTransport, net::OsMask, Vec<u8>>, String> {
    let (ws, _) =
        net::connect(url, vec![0u8; 2048], vec![0u8; 1024], &[]).map_err(|e| e.to_string())?;
    Ok(ws)
}

/// Connections that own their buffers (`Vec<u8>`) are returned from functions and moved
/// into threads, in both roles, with no scope and nothing leaked.
#[test]
fn connections_that_own_their_buffers_move_into_threads() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = thread::spawn(move || -> Result<u32, String> {
        let (stream, _) = listener.accept().map_err(|e| e.to_string())?;
        let incoming = net::accept(stream, vec![0u8; 1024]).map_err(|e| e.to_string())?;
        let ws = incoming
            .accept(vec![0u8; 4096], None)
            .map_err(|e| e.to_string())?;
        // The open connection, buffers and all, moves into a thread of its own.
        let echo = thread::spawn(move || -> Result<u32, String> {
            let mut ws = ws;
            let mut echoed = 0;
            loop {
                let (event, mut w) = ws.read_split().map_err(|e| e.to_string())?;
                match event {
                    Event::Data(p) => {
                        w.write_fragment(p.kind, p.payload, p.last)
                            .map_err(|e| e.to_string())?;
                        echoed += u32::from(p.last);
                    }
                    Event::Close(_) => return Ok(echoed),
                    Event::Ping(_) | Event::Pong(_) => {}
                }
            }
        });
        echo.join()
            .map_err(|_| "echo thread panicked".to_string())?
    });
    let ws = open_owned(&url).unwrap();
    let client = thread::spawn(move || {
        let mut ws = ws;
        let mut reply = [0u8; 4096];
        for size in [0usize, 1, 125, 126, 2000, 3000] {
            let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            ws.send(Message::Binary(&payload)).unwrap();
            match ws.read_message(&mut reply).unwrap() {
                Message::Binary(b) => assert_eq!(b, &payload[..], "size {size}"),
                other => panic!("size {size}: {other:?}"),
            }
        }
        ws.close(CloseCode::NORMAL, "done").unwrap();
        // The buffers come back with the transport.
        let (_, rx, tx) = ws.into_parts();
        (rx.len(), tx.len())
    });
    assert_eq!(client.join().unwrap(), (2048, 1024));
    assert_eq!(server.join().unwrap(), Ok(6));
}

/// The same through the async driver on tokio: connections that own their buffers are
/// spawned as tasks of their own (`tokio::spawn` needs `'static + Send`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_connections_that_own_their_buffers_are_spawned() {
    use embedded_io_adapters::tokio_1::FromTokio;
    use ws13::handshake::client::{ClientRequest, Url};
    use ws13::handshake::server::RequestParser;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let io = FromTokio::new(stream);
        let mut incoming =
            ws13::asynch::Incoming::with_buffer(io, vec![0u8; 1024], RequestParser::new());
        assert!(incoming.read().await.unwrap().is_upgrade());
        let ws = incoming.accept(vec![0u8; 4096], None).unwrap();
        tokio::spawn(async move {
            let mut ws = ws;
            let mut echoed = 0u32;
            loop {
                let (event, mut w) = ws.read_split().await.unwrap();
                match event {
                    Event::Data(p) => {
                        w.write_fragment(p.kind, p.payload, p.last).await.unwrap();
                        echoed += u32::from(p.last);
                    }
                    Event::Close(_) => return echoed,
                    Event::Ping(_) | Event::Pong(_) => {}
                }
            }
        })
        .await
        .unwrap()
    });
    let parsed = Url::parse(&url).unwrap();
    let stream = tokio::net::TcpStream::connect((parsed.host, parsed.port))
        .await
        .unwrap();
    let request = ClientRequest::for_url(&parsed);
    let connecting = ws13::asynch::Connecting::with_buffers(
        FromTokio::new(stream),
        vec![0u8; 2048],
        vec![0u8; 1024],
        &request,
        ws13_testkit::TestMask(7),
    )
    .unwrap();
    let (ws, _) = connecting.finish().await.unwrap();
    let client = tokio::spawn(async move {
        let mut ws = ws;
        let mut reply = [0u8; 4096];
        for size in [0usize, 1, 125, 126, 2000, 3000] {
            let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            ws.send(Message::Binary(&payload)).await.unwrap();
            match ws.read_message(&mut reply).await.unwrap() {
                Message::Binary(b) => assert_eq!(b, &payload[..], "size {size}"),
                other => panic!("size {size}: {other:?}"),
            }
        }
        ws.close(CloseCode::NORMAL, "done").await.unwrap();
        let (_, rx, tx) = ws.into_parts();
        (rx.len(), tx.len())
    });
    assert_eq!(client.await.unwrap(), (2048, 1024));
    assert_eq!(server.await.unwrap(), 6);
}
