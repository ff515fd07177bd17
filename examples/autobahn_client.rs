//! Client for the Autobahn|Testsuite's fuzzing server (`wstest -m fuzzingserver`).
//!
//! ```text
//! cargo run --release --example autobahn_client -- ws://127.0.0.1:9002 ws13
//! ```
//!
//! Asks for the case count, runs every case (echoing each message, of any size, through
//! fixed 32 KiB buffers, piece by piece), then asks the suite to write its reports.

use std::time::Duration;

use ws13::{net, Error, Event, MaskSource, Message};

const BUFFER: usize = 32 * 1024;

type Result<T> = core::result::Result<T, Error<std::io::Error>>;

fn case_count(base: &str) -> Result<u32> {
    let (mut rx, mut tx) = (vec![0u8; BUFFER], vec![0u8; BUFFER]);
    let (mut ws, _) = net::connect(&format!("{base}/getCaseCount"), &mut rx, &mut tx, &[])?;
    let mut buf = [0u8; 128];
    loop {
        match ws.read_message(&mut buf)? {
            Message::Text(count) => {
                let count = count.trim().parse().unwrap_or(0);
                ws.close(ws13::CloseCode::NORMAL, "")?;
                return Ok(count);
            }
            Message::Close(_) => return Ok(0),
            _ => {}
        }
    }
}

/// Echoes everything until the suite closes the connection (or the connection fails,
/// which is what some cases expect).
fn run_case(base: &str, case: u32, agent: &str) -> Result<()> {
    let url = format!("{base}/runCase?case={case}&agent={agent}");
    // The connection owns its buffers (`Vec<u8>`): nothing outlives this function.
    let (mut ws, _) = net::connect(&url, vec![0u8; BUFFER], vec![0u8; BUFFER], &[])?;
    let stream = ws
        .get_ref()
        .inner()
        .stream()
        .try_clone()
        .map_err(Error::Io)?;
    let result = echo(&mut ws);
    net::linger(&stream, Duration::from_secs(2));
    result
}

fn echo<T: embedded_io::Read + embedded_io::Write, R: MaskSource, B: ws13::Buffer>(
    ws: &mut ws13::blocking::WebSocket<'_, T, R, B>,
) -> core::result::Result<(), Error<T::Error>> {
    loop {
        let (event, mut writer) = ws.read_split()?;
        match event {
            Event::Data(piece) => writer.write_fragment(piece.kind, piece.payload, piece.last)?,
            Event::Close(_) => return Ok(()),
            Event::Ping(_) | Event::Pong(_) => {}
        }
    }
}

fn update_reports(base: &str, agent: &str) -> Result<()> {
    let (mut rx, mut tx) = (vec![0u8; BUFFER], vec![0u8; BUFFER]);
    let url = format!("{base}/updateReports?agent={agent}");
    let (mut ws, _) = net::connect(&url, &mut rx, &mut tx, &[])?;
    let mut buf = [0u8; 256];
    loop {
        if let Message::Close(_) = ws.read_message(&mut buf)? {
            return Ok(());
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let agent = args.next().unwrap_or_else(|| "ws13".into());
    let base = base.trim_end_matches('/');
    let count = match case_count(base) {
        Ok(n) if n > 0 => n,
        Ok(_) => {
            eprintln!("autobahn_client: the suite reported no cases");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("autobahn_client: cannot get the case count from {base}: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("autobahn_client: running {count} cases");
    for case in 1..=count {
        if let Err(e) = run_case(base, case, &agent) {
            // Expected for the cases where the suite misbehaves on purpose.
            eprintln!("case {case}: {e}");
        }
    }
    if let Err(e) = update_reports(base, &agent) {
        eprintln!("autobahn_client: updateReports failed: {e}");
        std::process::exit(1);
    }
    eprintln!("autobahn_client: done");
}
