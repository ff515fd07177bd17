//! Client for the Autobahn|Testsuite's fuzzing server (`wstest -m fuzzingserver`), on
//! tokio through ws13's async driver.
//!
//! ```text
//! cargo run --release --features async --example async_autobahn_client -- ws://127.0.0.1:9002 ws13-async
//! ```
//!
//! Asks for the case count, runs every case (echoing each message, of any size, through
//! fixed 32 KiB buffers, piece by piece), then asks the suite to write its reports.

use std::time::Duration;

use embedded_io_adapters::tokio_1::FromTokio;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ws13::asynch::{self, WebSocket};
use ws13::handshake::client::{ClientRequest, Url};
use ws13::net::OsMask;
use ws13::{Error, Event, MaskSource, Message};

const BUFFER: usize = 32 * 1024;

type Result<T> = core::result::Result<T, Error<std::io::Error>>;

/// Connects to `url` and runs `f` on the connection, then closes the TCP connection
/// gracefully.
async fn with_connection<T>(
    url: &str,
    f: impl AsyncFnOnce(&mut WebSocket<'_, FromTokio<&mut TcpStream>, OsMask>) -> Result<T>,
) -> Result<T> {
    let parsed = Url::parse(url).map_err(Error::Url)?;
    let mut stream = TcpStream::connect((parsed.host, parsed.port))
        .await
        .map_err(Error::Io)?;
    stream.set_nodelay(true).map_err(Error::Io)?;
    let (mut rx, mut tx) = (vec![0u8; BUFFER], vec![0u8; BUFFER]);
    let request = ClientRequest::for_url(&parsed);
    let result = match asynch::connect(
        FromTokio::new(&mut stream),
        &mut rx,
        &mut tx,
        &request,
        OsMask::new(),
    )
    .await
    {
        Ok((mut ws, _)) => f(&mut ws).await,
        Err(e) => Err(e),
    };
    let _ = stream.shutdown().await;
    let mut sink = [0u8; 512];
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    result
}

async fn case_count(base: &str) -> Result<u32> {
    with_connection(&format!("{base}/getCaseCount"), async |ws| {
        let mut buf = [0u8; 128];
        loop {
            match ws.read_message(&mut buf).await? {
                Message::Text(count) => {
                    let count = count.trim().parse().unwrap_or(0);
                    ws.close(ws13::CloseCode::NORMAL, "").await?;
                    return Ok(count);
                }
                Message::Close(_) => return Ok(0),
                _ => {}
            }
        }
    })
    .await
}

/// Echoes everything until the suite closes the connection (or the connection fails,
/// which is what some cases expect).
async fn echo<T, R>(ws: &mut WebSocket<'_, T, R>) -> core::result::Result<(), Error<T::Error>>
where
    T: embedded_io_async::Read + embedded_io_async::Write,
    R: MaskSource,
{
    loop {
        let (event, mut writer) = ws.read_split().await?;
        match event {
            Event::Data(piece) => {
                writer
                    .write_fragment(piece.kind, piece.payload, piece.last)
                    .await?
            }
            Event::Close(_) => return Ok(()),
            Event::Ping(_) | Event::Pong(_) => {}
        }
    }
}

async fn run_case(base: &str, case: u32, agent: &str) -> Result<()> {
    let url = format!("{base}/runCase?case={case}&agent={agent}");
    with_connection(&url, async |ws| echo(ws).await).await
}

async fn update_reports(base: &str, agent: &str) -> Result<()> {
    let url = format!("{base}/updateReports?agent={agent}");
    with_connection(&url, async |ws| {
        let mut buf = [0u8; 256];
        loop {
            if let Message::Close(_) = ws.read_message(&mut buf).await? {
                return Ok(());
            }
        }
    })
    .await
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let agent = args.next().unwrap_or_else(|| "ws13-async".into());
    let base = base.trim_end_matches('/');
    let count = match case_count(base).await {
        Ok(n) if n > 0 => n,
        Ok(_) => {
            eprintln!("async_autobahn_client: the suite reported no cases");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("async_autobahn_client: cannot get the case count from {base}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("async_autobahn_client: running {count} cases");
    for case in 1..=count {
        if let Err(e) = run_case(base, case, &agent).await {
            // Expected for the cases where the suite misbehaves on purpose.
            eprintln!("case {case}: {e}");
        }
    }
    if let Err(e) = update_reports(base, &agent).await {
        eprintln!("async_autobahn_client: updateReports failed: {e}");
        std::process::exit(1);
    }
    eprintln!("async_autobahn_client: done");
}
