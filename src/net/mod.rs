//! Byte streams and HTTP wire helpers shared by the listener, the hub and
//! the module client: a non-blocking TCP stream with or without TLS
//! (`transport`), poll(2) (`poll`), the TLS server configuration (`tls`) and
//! request heads (`head`). This module knows nothing of the platform's
//! state; it imports no other module of the crate.

pub mod head;
pub mod poll;
pub mod response;
pub mod tls;
pub mod transport;
