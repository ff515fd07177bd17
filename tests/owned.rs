//! Whole messages moved into heapless storage of their own (feature `heapless`).

use std::net::TcpListener;
use std::thread;

use ws13::proto::Owned;
use ws13::{net, CloseCode, Error, Message, ProtocolError};

#[test]
fn messages_move_into_owned_storage_and_the_limit_is_its_capacity() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let (mut rx, mut tx) = (vec![0u8; 1024], vec![0u8; 1024]);
        let incoming = net::accept(&stream, &mut rx).unwrap();
        let mut ws = incoming.accept(&mut tx, None).unwrap();
        let mut storage = heapless::Vec::<u8, 256>::new();
        let mut got = Vec::new();
        loop {
            match ws.read_owned(&mut storage) {
                Ok(message) => got.push(message),
                Err(e) => return (got, e),
            }
        }
    });
    let (mut rx, mut tx) = (vec![0u8; 1024], vec![0u8; 1024]);
    let (mut ws, _) = net::connect(&url, &mut rx, &mut tx, &[]).unwrap();
    ws.send(Message::Text("héllo")).unwrap();
    ws.send(Message::Binary(&[7; 256])).unwrap();
    ws.send(Message::Ping(b"p")).unwrap();
    // One byte over the storage's capacity: the server fails the connection with 1009.
    ws.send(Message::Binary(&[8; 257])).unwrap();
    let mut buf = [0u8; 256];
    let close = loop {
        match ws.read_message(&mut buf) {
            Ok(Message::Close(c)) => break c.map(|c| c.code),
            Ok(_) => {}
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(close, Some(CloseCode::MESSAGE_TOO_BIG));
    let (got, err) = server.join().unwrap();
    assert!(
        matches!(err, Error::Protocol(ProtocolError::MessageTooBig)),
        "{err:?}"
    );
    assert_eq!(got.len(), 3);
    assert_eq!(
        got[0],
        Owned::Text(heapless::String::try_from("héllo").unwrap())
    );
    match &got[1] {
        Owned::Binary(b) => assert_eq!(b.as_slice(), &[7; 256]),
        other => panic!("{other:?}"),
    }
    match &got[2] {
        Owned::Ping(p) => assert_eq!(p.as_slice(), b"p"),
        other => panic!("{other:?}"),
    }
}
