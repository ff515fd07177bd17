//! Line client over TLS: `client`, for `wss://` URLs, with rustls.
//!
//! ```text
//! cargo run --release --example wss_client -- wss://localhost:9443/ CA.pem
//! ```
//!
//! The server's certificate must chain to a certificate in CA.pem (PEM, one or more;
//! `wss_echo_server` writes its test CA's) and name the URL's host. Sends each line of
//! standard input as a text message, prints each message received, closes with 1000 at
//! the end of input, then ends TLS with close_notify and TCP gracefully; exits 0 when all
//! of that went well, non-zero with a message on standard error otherwise.
//!
//! How TLS is composed with ws13 (see the `ws13::net` docs): the transport is
//! `FromStd<StreamOwned<ClientConnection, DeadlineStream<TcpStream>>>`. The handshake
//! deadline sits on the `DeadlineStream`, under TLS, so it bounds the TLS handshake and
//! the HTTP upgrade together; the read and write timeouts are the `TcpStream`'s.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use ws13::net::{self, DeadlineStream, Options};

#[path = "shared/lines.rs"]
mod lines;

/// The client's TLS configuration: trusts the certificates in `ca_file`, and only them.
fn tls_config(ca_file: &str) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_file).map_err(|e| format!("{ca_file}: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("{ca_file}: {e}"))?;
        roots.add(cert).map_err(|e| format!("{ca_file}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{ca_file}: no certificate in it"));
    }
    let config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn run(url: &str, ca_file: &str) -> Result<(), String> {
    let config = tls_config(ca_file)?;
    let parsed = net::parse_wss(url).map_err(|e| format!("{url}: {e}"))?;
    let name = ServerName::try_from(parsed.host.to_string())
        .map_err(|e| format!("{url}: not a host name for TLS: {e}"))?;
    // The same bounds as `client`: connecting, the handshake (TLS and the upgrade
    // together) and each write; reads wake up every POLL to look at standard input.
    let options = Options::new()
        .connect_timeout(Some(Duration::from_secs(5)))
        .handshake_timeout(Some(Duration::from_secs(5)))
        .write_timeout(Some(Duration::from_secs(10)))
        .read_timeout(Some(lines::POLL));
    let cannot = |e: &dyn std::fmt::Display| format!("cannot connect to {url}: {e}");
    let tcp = net::connect_tcp(parsed.host, parsed.port, options.connect_timeout)
        .map_err(|e| cannot(&e))?;
    let conn = ClientConnection::new(config, name).map_err(|e| cannot(&e))?;
    // The WebSocket borrows the TLS stream, which is still here for close_notify however
    // the conversation ended.
    let mut tls = StreamOwned::new(conn, DeadlineStream::new(tcp));
    let (mut rx, mut tx) = (vec![0u8; lines::BUFFER], vec![0u8; lines::BUFFER]);
    let result = match net::connect_layered(
        &mut tls,
        |tls| &mut tls.sock,
        &parsed,
        &options,
        &mut rx,
        &mut tx,
    ) {
        Ok((mut ws, _)) => lines::chat(&mut ws),
        Err(e) => Err(cannot(&e)),
    };
    // Once TLS is up, however the conversation ended: close_notify (bounded by the
    // write timeout); then a graceful TCP close.
    let notified = if tls.conn.is_handshaking() {
        Ok(())
    } else {
        tls.conn.send_close_notify();
        tls.flush()
    };
    net::linger(tls.sock.stream(), Duration::from_secs(1));
    result?;
    notified.map_err(|e| format!("close_notify not sent: {e}"))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, ca_file] = args.as_slice() else {
        eprintln!("usage: wss_client wss://HOST:PORT/PATH CA.pem");
        return ExitCode::from(2);
    };
    match run(url, ca_file) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wss_client: {e}");
            ExitCode::FAILURE
        }
    }
}
