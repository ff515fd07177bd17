//! Helpers for the core's unit tests: frames as a peer sends them, and the frames in
//! what a connection sends.

use std::prelude::rust_2021::*;

use crate::frame::{self, FrameHeader, OpCode};
use crate::Status;

use super::Role;

/// The other end's role.
pub(crate) fn peer(role: Role) -> Role {
    match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

/// A frame as `role` sends it, with a fixed mask for a client.
pub(crate) fn frame(role: Role, fin: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let mask = (role == Role::Client).then_some([0x12, 0x34, 0x56, 0x78]);
    let h = FrameHeader {
        fin,
        opcode,
        mask,
        len: payload.len() as u64,
    };
    let mut out = h.emit().as_bytes().to_vec();
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        frame::apply_mask(&mut out[start..], key, 0);
    }
    out
}

/// The frames in `bytes` as `sender` must send them (masked by a client, not by a
/// server): (FIN, opcode, unmasked payload). Panics on anything else, and on bytes left
/// over after the last whole frame.
pub(crate) fn frames(sender: Role, mut bytes: &[u8]) -> Vec<(bool, OpCode, Vec<u8>)> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let Ok(Status::Complete((h, n))) = FrameHeader::parse(bytes) else {
            std::panic!("not a whole frame header: {bytes:x?}");
        };
        assert_eq!(h.mask.is_some(), sender == Role::Client, "masking of {h:?}");
        let end = n + h.len as usize;
        assert!(end <= bytes.len(), "cut frame {h:?}");
        let mut payload = bytes[n..end].to_vec();
        if let Some(key) = h.mask {
            frame::apply_mask(&mut payload, key, 0);
        }
        out.push((h.fin, h.opcode, payload));
        bytes = &bytes[end..];
    }
    out
}
