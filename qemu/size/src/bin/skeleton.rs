//! The skeleton alone: its "server" copies what arrives to the output. The baseline that
//! the servers' sizes are measured against (scripts/firmware-size.sh).
#![no_std]
#![no_main]

use embedded_io::{Read, Write};
use ws13_size::{firmware, Expect, Wire};

firmware!("skeleton", Expect::Copy, serve);

fn serve(wire: &mut Wire, rx: &mut [u8]) -> bool {
    loop {
        match wire.read(rx) {
            Ok(0) => return true,
            Ok(n) => {
                if wire.write_all(&rx[..n]).is_err() {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
}
