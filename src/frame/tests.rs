//! Tests of `frame`.

use super::*;
use std::prelude::rust_2021::*;
use std::vec;

fn header(fin: bool, opcode: OpCode, mask: Option<[u8; 4]>, len: u64) -> FrameHeader {
    FrameHeader {
        fin,
        opcode,
        mask,
        len,
    }
}

#[test]
fn rfc_unmasked_hello() {
    // RFC 6455 5.7: a single-frame unmasked text message "Hello".
    let bytes = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let (h, n) = FrameHeader::parse(&bytes).unwrap().complete().unwrap();
    assert_eq!(h, header(true, OpCode::Text, None, 5));
    assert_eq!(n, 2);
    assert_eq!(&bytes[n..], b"Hello");
    assert_eq!(h.emit().as_bytes(), &bytes[..2]);
}

#[test]
fn rfc_masked_hello() {
    // RFC 6455 5.7: a single-frame masked text message "Hello".
    let mut bytes = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let (h, n) = FrameHeader::parse(&bytes).unwrap().complete().unwrap();
    assert_eq!(
        h,
        header(true, OpCode::Text, Some([0x37, 0xfa, 0x21, 0x3d]), 5)
    );
    assert_eq!(n, 6);
    assert_eq!(h.emit().as_bytes(), &bytes[..6]);
    apply_mask(&mut bytes[n..], h.mask.unwrap(), 0);
    assert_eq!(&bytes[n..], b"Hello");
}

#[test]
fn rfc_fragmented_hello() {
    // RFC 6455 5.7: "Hel" then "lo".
    let (h, _) = FrameHeader::parse(&[0x01, 0x03])
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(h, header(false, OpCode::Text, None, 3));
    let (h, _) = FrameHeader::parse(&[0x80, 0x02])
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(h, header(true, OpCode::Continuation, None, 2));
}

#[test]
fn rfc_ping_and_pong() {
    // RFC 6455 5.7: unmasked ping "Hello", masked pong "Hello".
    let (h, _) = FrameHeader::parse(&[0x89, 0x05])
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(h, header(true, OpCode::Ping, None, 5));
    let (h, n) = FrameHeader::parse(&[0x8a, 0x85, 1, 2, 3, 4])
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!(h, header(true, OpCode::Pong, Some([1, 2, 3, 4]), 5));
    assert_eq!(n, 6);
}

#[test]
fn rfc_256_bytes_and_64k() {
    // RFC 6455 5.7: 256 bytes binary in one unmasked frame: 0x82 0x7E 0x0100.
    let bytes = [0x82, 0x7E, 0x01, 0x00];
    let (h, n) = FrameHeader::parse(&bytes).unwrap().complete().unwrap();
    assert_eq!((h, n), (header(true, OpCode::Binary, None, 256), 4));
    assert_eq!(h.emit().as_bytes(), &bytes);
    // 64 KiB binary in one unmasked frame: 0x82 0x7F 0x0000000000010000.
    let bytes = [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0];
    let (h, n) = FrameHeader::parse(&bytes).unwrap().complete().unwrap();
    assert_eq!((h, n), (header(true, OpCode::Binary, None, 65536), 10));
    assert_eq!(h.emit().as_bytes(), &bytes);
}

#[test]
fn opcodes_round_trip_through_their_bits() {
    for bits in 0..=0xFFu8 {
        let op = OpCode::from_bits(bits);
        if let Some(op) = op {
            assert_eq!(op.bits(), bits & 0x0F);
            assert_eq!(op.is_control(), bits & 0x08 != 0);
        } else {
            assert!(matches!(bits & 0x0F, 3..=7 | 0xB..=0xF));
        }
    }
}

#[test]
fn boundary_lengths_round_trip() {
    for &len in &[
        0u64,
        1,
        125,
        126,
        127,
        65535,
        65536,
        u32::MAX as u64 + 1,
        (1 << 63) - 1,
    ] {
        for mask in [None, Some([9, 8, 7, 6])] {
            let h = header(true, OpCode::Binary, mask, len);
            let enc = h.emit();
            let expected_len = match len {
                0..=125 => 2,
                126..=65535 => 4,
                _ => 10,
            } + if mask.is_some() { 4 } else { 0 };
            assert_eq!(enc.as_bytes().len(), expected_len, "len {len}");
            assert_eq!(h.encoded_len(), expected_len);
            assert_eq!(
                FrameHeader::parse(enc.as_bytes()).unwrap(),
                Status::Complete((h, expected_len))
            );
            // Every proper prefix is incomplete, never an error.
            for cut in 0..expected_len {
                assert_eq!(
                    FrameHeader::parse(&enc.as_bytes()[..cut]),
                    Ok(Status::Partial)
                );
            }
            // Written in place: the same bytes into room enough (the rest untouched),
            // nothing into less.
            for room in 0..=MAX_HEADER_LEN + 1 {
                let mut dst = [0xEEu8; MAX_HEADER_LEN + 1];
                let written = h.write_into(&mut dst[..room]);
                if room < expected_len {
                    assert_eq!(written, 0, "len {len}, room {room}");
                } else {
                    assert_eq!(written, expected_len);
                    assert_eq!(&dst[..written], enc.as_bytes());
                    assert!(dst[written..].iter().all(|&b| b == 0xEE));
                }
            }
        }
    }
}

#[test]
fn non_minimal_lengths_are_read() {
    let (h, n) = FrameHeader::parse(&[0x82, 0x7E, 0x00, 0x05])
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!((h.len, n), (5, 4));
    let (h, n) = FrameHeader::parse(&[0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 7])
        .unwrap()
        .complete()
        .unwrap();
    assert_eq!((h.len, n), (7, 10));
}

#[test]
fn narrow_length_matches_wide() {
    // The 32-bit targets' length reading (two halves) against the 64-bit one, for every
    // second byte, on buffers cut at every length, with extended lengths at their edges.
    let extended: [[u8; 8]; 6] = [
        [0; 8],
        [0, 0, 0, 0, 0, 0, 0xFF, 0xFF],
        [0, 0, 0, 1, 0, 0, 0, 0],
        [0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
        [0x80, 0, 0, 0, 0, 0, 0, 0],
        [0xFF, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE],
    ];
    for b1 in 0..=255u8 {
        for ext in &extended {
            let mut buf = vec![0x82, b1];
            buf.extend_from_slice(ext);
            for cut in 0..=buf.len() {
                let part = &buf[..cut];
                assert_eq!(
                    length_narrow(b1, part),
                    length_wide(b1, part),
                    "{b1:#x} {part:x?}"
                );
            }
        }
    }
}

#[test]
fn header_errors() {
    for rsv in [0x40u8, 0x20, 0x10, 0x70] {
        assert_eq!(
            FrameHeader::parse(&[0x81 | rsv, 0]),
            Err(HeaderError::ReservedBits)
        );
    }
    for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        assert_eq!(
            FrameHeader::parse(&[0x80 | op, 0]),
            Err(HeaderError::ReservedOpcode)
        );
    }
    assert_eq!(
        FrameHeader::parse(&[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0]),
        Err(HeaderError::LengthOverflow)
    );
    assert_eq!(
        FrameHeader::parse(&[0x89, 126, 0, 126]),
        Err(HeaderError::ControlTooLong)
    );
    assert_eq!(
        FrameHeader::parse(&[0x88, 126]),
        Err(HeaderError::ControlTooLong)
    );
    assert_eq!(
        FrameHeader::parse(&[0x09, 0]),
        Err(HeaderError::ControlFragmented)
    );
    // 125 is allowed for control frames.
    assert!(FrameHeader::parse(&[0x8A, 125]).unwrap().is_complete());
}

#[test]
fn mask_at_every_offset_matches_bytewise() {
    let key = [0xA1, 0xB2, 0xC3, 0xD4];
    let original: [u8; 67] = core::array::from_fn(|i| (i * 7 + 3) as u8);
    let expected: [u8; 67] = core::array::from_fn(|i| original[i] ^ key[i % 4]);
    // Unmask the payload in two pieces split at every position.
    for split in 0..=original.len() {
        let mut data = original;
        let (a, b) = data.split_at_mut(split);
        apply_mask(a, key, 0);
        apply_mask(b, key, split);
        assert_eq!(data, expected, "split at {split}");
    }
    // And in pieces of every small size.
    for step in 1..=9 {
        let mut data = original;
        let mut pos = 0;
        while pos < data.len() {
            let end = (pos + step).min(data.len());
            apply_mask(&mut data[pos..end], key, pos);
            pos = end;
        }
        assert_eq!(data, expected, "step {step}");
    }
}

#[test]
fn narrow_mask_matches_bytewise() {
    // The 32-bit targets' loop, checked here too (QEMU runs the whole function).
    let key = [0x01, 0x80, 0x7F, 0xFE];
    for offset in 0..8 {
        for len in 0..40 {
            let original: std::vec::Vec<u8> = (0..len as u8).collect();
            let mut data = original.clone();
            mask_narrow(&mut data, key, offset);
            for (i, (got, was)) in data.iter().zip(&original).enumerate() {
                assert_eq!(
                    *got,
                    was ^ key[(i + offset) % 4],
                    "len {len} at {i}, offset {offset}"
                );
            }
        }
    }
}

#[test]
fn mask_matches_bytewise_at_every_alignment_length_and_offset() {
    let key = [0x01, 0x80, 0x7F, 0xFE];
    let original: std::vec::Vec<u8> = (0..600u32).map(|i| (i * 13 + 5) as u8).collect();
    // Every start address modulo 64, lengths around every step of the block loop and
    // both sides of the alignment threshold, and every key offset.
    for start in 0..64 {
        for len in (0..=300).chain([511, 512, 513]) {
            for offset in 0..8 {
                let mut data = original.clone();
                apply_mask(&mut data[start..start + len], key, offset);
                for (i, (got, was)) in data.iter().zip(&original).enumerate() {
                    let want = if (start..start + len).contains(&i) {
                        was ^ key[(i - start + offset) % 4]
                    } else {
                        *was
                    };
                    assert_eq!(*got, want, "start {start} len {len} offset {offset} at {i}");
                }
            }
        }
    }
}

#[test]
fn close_codes() {
    // An independent table, one row per range of RFC 6455 section 7.4 and the IANA
    // registry: (first, last, allowed in a close frame).
    const TABLE: &[(u16, u16, bool)] = &[
        (0, 999, false),         // not used
        (1000, 1003, true),      // normal, going away, protocol error, unsupported data
        (1004, 1004, false),     // reserved
        (1005, 1006, false),     // no status, abnormal: never on the wire
        (1007, 1011, true),      // invalid payload .. internal error
        (1012, 1014, true),      // service restart, try again later, bad gateway (IANA)
        (1015, 1015, false),     // TLS handshake: never on the wire
        (1016, 2999, false),     // reserved for the protocol
        (3000, 3999, true),      // registered by libraries and frameworks
        (4000, 4999, true),      // private use
        (5000, u16::MAX, false), // undefined
    ];
    let mut covered = 0u32;
    for &(first, last, allowed) in TABLE {
        for code in first..=last {
            assert_eq!(CloseCode(code).is_valid_on_wire(), allowed, "code {code}");
            covered += 1;
        }
    }
    assert_eq!(covered, 65536, "the table covers every code once");
    for named in [
        CloseCode::NORMAL,
        CloseCode::GOING_AWAY,
        CloseCode::PROTOCOL_ERROR,
        CloseCode::UNSUPPORTED_DATA,
        CloseCode::INVALID_PAYLOAD,
        CloseCode::POLICY_VIOLATION,
        CloseCode::MESSAGE_TOO_BIG,
        CloseCode::MANDATORY_EXTENSION,
        CloseCode::INTERNAL_ERROR,
        CloseCode::SERVICE_RESTART,
        CloseCode::TRY_AGAIN_LATER,
        CloseCode::BAD_GATEWAY,
    ] {
        assert!(named.is_valid_on_wire(), "{named}");
    }
    assert!(!CloseCode::NO_STATUS.is_valid_on_wire());
    assert!(!CloseCode::ABNORMAL.is_valid_on_wire());
}
