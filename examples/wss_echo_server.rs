//! Echo server over TLS: `echo_server`'s page over https and its echo over wss, on one
//! port, with rustls.
//!
//! ```text
//! cargo run --release --example wss_echo_server -- [ADDR] [--out DIR]        (default 127.0.0.1:9443)
//! cargo run --release --example wss_echo_server -- [ADDR] --cert CHAIN.pem --key KEY.pem
//! ```
//!
//! With `--cert` and `--key` it serves that certificate chain (PEM, the server's
//! certificate first) and private key (PEM: PKCS#8, PKCS#1 or SEC1). Without them it
//! makes, at start-up, a test CA and a certificate signed by it for `localhost`,
//! `127.0.0.1`, `::1` and ADDR's address, and writes them to DIR (default: the system's
//! temporary directory, `ws13-wss-echo/`): `ca.pem`, the CA to trust
//! (`wss_client wss://localhost:9443/ DIR/ca.pem`; Python's `ssl` `cafile`), and the
//! server's `cert.pem` (its chain) and `key.pem` (its key, a test key: it is written
//! out for other test servers to reuse). A browser opening <https://localhost:9443/>
//! warns about the unknown CA; Chromium can be told to accept this certificate's key
//! with `--ignore-certificate-errors-spki-list` (scripts/interop.sh does that).
//!
//! How TLS is composed with ws13 (see the `ws13::net` docs): each connection's transport
//! is `FromStd<StreamOwned<ServerConnection, DeadlineStream<&TcpStream>>>`.
//! `net::accept_layered` sets the handshake deadline on the `DeadlineStream`, under TLS,
//! so a client must finish its TLS handshake and send its whole request within 10 s,
//! however it trickles them; the read (1 s, for the keepalive) and write (30 s) timeouts
//! are the `TcpStream`'s. However the connection ends, the server sends TLS's
//! close_notify and then closes TCP gracefully (`net::linger`). One thread and one log
//! line per connection.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use ws13::net::{self, DeadlineStream};
use ws13::Error;

#[path = "shared/echo.rs"]
mod echo;

use echo::{Buffers, Stats};

/// A connection's TLS stream: rustls over the deadline layer over the TCP stream, which
/// the connection's thread keeps to close gracefully.
type Tls<'t> = StreamOwned<ServerConnection, DeadlineStream<&'t TcpStream>>;

/// How long close_notify and the TCP close may take at the end of a connection.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

fn serve(tls: &mut Tls<'_>, stats: &mut Stats) -> Result<&'static str, Error<std::io::Error>> {
    let mut buffers = Buffers::new();
    let (rx, tx) = buffers.split();
    let incoming = net::accept_layered(
        tls,
        |tls| &mut tls.sock,
        rx,
        echo::HANDSHAKE_DEADLINE,
        Some(echo::TICK),
    )?;
    echo::answer(incoming, tx, stats)
}

fn handle(tcp: TcpStream, config: Arc<ServerConfig>) {
    let peer = tcp
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_write_timeout(Some(echo::WRITE_TIMEOUT));
    let mut stats = Stats::default();
    let outcome = match ServerConnection::new(config) {
        Ok(conn) => {
            let mut tls = StreamOwned::new(conn, DeadlineStream::new(&tcp));
            let outcome = match serve(&mut tls, &mut stats) {
                Ok(what) => what.to_string(),
                Err(e) => format!("error: {e}"),
            };
            // However it ended, once TLS is up: close_notify, within CLOSE_WAIT (a peer
            // that reads nothing cannot hold the thread for the write timeout). A
            // handshake that failed or timed out has nothing to notify.
            if !tls.conn.is_handshaking() {
                tls.sock
                    .set_deadline(Instant::now().checked_add(CLOSE_WAIT));
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
            outcome
        }
        Err(e) => format!("error: {e}"),
    };
    net::linger(&tcp, CLOSE_WAIT);
    eprintln!(
        "{peer}: {outcome}; {} messages, {} bytes echoed",
        stats.messages, stats.bytes
    );
}

/// The certificate chain and key to serve.
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// Reads a chain and a key from PEM files.
fn load(cert: &Path, key: &Path) -> Result<Identity, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate in it", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    Ok(Identity { chain, key })
}

/// Makes a test CA and a certificate it signs for `localhost`, the loopback addresses
/// and `ip`, and writes `ca.pem`, `cert.pem` and `key.pem` into `dir`.
fn make(dir: &Path, ip: IpAddr) -> Result<Identity, String> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let failed = |e: rcgen::Error| format!("cannot make a test certificate: {e}");
    let ca_key = KeyPair::generate().map_err(failed)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "ws13 wss_echo_server test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca.self_signed(&ca_key).map_err(failed)?;

    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if !ip.is_unspecified() && !ip.is_loopback() {
        names.push(ip.to_string());
    }
    let key = KeyPair::generate().map_err(failed)?;
    let mut params = CertificateParams::new(names).map_err(failed)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "ws13 wss_echo_server");
    let cert = params.signed_by(&key, &ca, &ca_key).map_err(failed)?;

    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    write("ca.pem", &ca.pem())?;
    write("cert.pem", &format!("{}{}", cert.pem(), ca.pem()))?;
    write("key.pem", &key.serialize_pem())?;
    Ok(Identity {
        chain: vec![cert.der().clone(), ca.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    })
}

/// What the command line asks for.
struct Args {
    addr: String,
    files: Option<(PathBuf, PathBuf)>,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut addr = None;
    let (mut cert, mut key, mut out) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--cert" => cert = Some(PathBuf::from(value()?)),
            "--key" => key = Some(PathBuf::from(value()?)),
            "--out" => out = Some(PathBuf::from(value()?)),
            _ if arg.starts_with('-') || addr.is_some() => return Err(format!("unexpected {arg}")),
            _ => addr = Some(arg),
        }
    }
    let files = match (cert, key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("--cert and --key go together".into()),
    };
    Ok(Args {
        addr: addr.unwrap_or_else(|| "127.0.0.1:9443".into()),
        files,
        out: out.unwrap_or_else(|| std::env::temp_dir().join("ws13-wss-echo")),
    })
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("wss_echo_server: {e}");
        eprintln!("usage: wss_echo_server [ADDR] [--out DIR | --cert CHAIN.pem --key KEY.pem]");
        std::process::exit(2);
    });
    let listener = TcpListener::bind(&args.addr).unwrap_or_else(|e| {
        eprintln!("wss_echo_server: cannot listen on {}: {e}", args.addr);
        std::process::exit(1);
    });
    let local: Option<SocketAddr> = listener.local_addr().ok();
    let identity = match &args.files {
        Some((cert, key)) => load(cert, key),
        None => make(
            &args.out,
            local.map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip()),
        ),
    };
    let config = identity.and_then(|id| {
        ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(id.chain, id.key)
            .map_err(|e| format!("certificate and key refused: {e}"))
    });
    let config = Arc::new(config.unwrap_or_else(|e| {
        eprintln!("wss_echo_server: {e}");
        std::process::exit(1);
    }));
    match &args.files {
        Some((cert, _)) => eprintln!("wss_echo_server: certificate from {}", cert.display()),
        None => eprintln!(
            "wss_echo_server: test certificate made; trust {} (its key and chain are beside it)",
            args.out.join("ca.pem").display()
        ),
    }
    let port = local.map_or(0, |a| a.port());
    eprintln!(
        "wss_echo_server: listening on https://localhost:{port}/ ({}; open it in a browser)",
        args.addr
    );
    let _ = std::io::stderr().flush();
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let config = config.clone();
                let spawned = std::thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn(move || handle(stream, config));
                if let Err(e) = spawned {
                    eprintln!("wss_echo_server: cannot start a thread: {e}");
                }
            }
            Err(e) => {
                // Out of file descriptors, say: wait before trying again, not in a busy loop.
                eprintln!("wss_echo_server: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
