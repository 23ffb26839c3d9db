//! A module's WebSocket session (placeholder until the hub lands).

use crate::ctx::Ctx;
use crate::listener::head::Head;
use crate::listener::transport::Transport;
use std::net::SocketAddr;
use std::sync::Arc;

#[derive(Default)]
pub struct Peers;

impl Peers {
    pub fn broadcast(&self, _json: &str) {}
}

pub fn serve(_ctx: &Arc<Ctx>, client: Transport, _head: Head, _rest: Vec<u8>, _peer: SocketAddr) {
    crate::listener::reply_and_close(client, 503, "hub_not_available");
}
