//! Network bring-up for the ws13 firmware on an LM3S6965 (QEMU machine `lm3s6965evb`):
//!
//! - [`enet`]: a polled driver for the chip's Ethernet MAC, implementing smoltcp's
//!   `phy::Device`;
//! - [`clock`]: a monotonic millisecond clock from SysTick, for smoltcp's `Instant`;
//! - [`net`]: the stack in one place ([`net::Net`]: interface, device, sockets, server
//!   sockets kept listening) and [`net::SocketIo`], an `embedded_io` byte stream over one of
//!   its TCP sockets, for the WebSocket server to come.
//!
//! The binary (`src/main.rs`) puts them together with a stand-in HTTP server.
#![no_std]

pub mod clock;
pub mod enet;
pub mod net;
