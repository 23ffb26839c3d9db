//! Where tiny_http's answers end, so that the bridge can leave a finished
//! answer unread in the socket until the next request has gone out.
//!
//! Why: reading an answer frees socket memory that the sender (tiny_http's
//! side) is charged for, and Linux then wakes whatever sleeps on that
//! socket, without checking why it sleeps. What sleeps there is tiny_http's
//! connection thread, blocked reading the next request: it wakes, finds
//! nothing and sleeps again, a wasted pair of context switches on every
//! request. Peeking at a complete answer (forwarding it, not reading it)
//! and reading it only right after sending the next request, when that
//! thread is being woken anyway, avoids the wake-up.
//!
//! The bridge only does this while it knows exactly where answers end: one
//! request in flight, an answer whose head gives its length. Anything else
//! (a HEAD request, a pipelined request, a chunked answer, a head split
//! across writes) ends the tracking for the connection, which then reads
//! answers as they come, as before.

/// The bridge's knowledge of the answers on one backend connection.
#[derive(Debug)]
pub struct Answers {
    /// Still following where answers end.
    tracking: bool,
    /// Requests sent whose answers have not been read or parked.
    in_flight: u32,
    /// Bytes of the current answer still to come (0: between answers).
    left: usize,
    /// Bytes of a complete answer already forwarded from a peek and still
    /// in the socket.
    parked: usize,
}

/// What to do with bytes seen by a peek.
#[derive(Debug, PartialEq, Eq)]
pub enum Peeked {
    /// They are exactly one whole answer: forward them, leave them unread.
    Park,
    /// Read them as usual.
    Read,
}

impl Answers {
    pub fn new() -> Self {
        Answers {
            tracking: true,
            in_flight: 0,
            left: 0,
            parked: 0,
        }
    }

    /// A request was forwarded.
    pub fn sent(&mut self, method: &str) {
        self.in_flight += 1;
        // A HEAD answer announces a length it does not send.
        if method.eq_ignore_ascii_case("HEAD") || self.in_flight > 1 {
            self.tracking = false;
        }
    }

    /// Whether the next read should be a peek: the only request in flight
    /// and none of its answer read yet.
    pub fn wants_peek(&self) -> bool {
        self.tracking && self.in_flight == 1 && self.left == 0 && self.parked == 0
    }

    /// Decides on the bytes a peek returned (`wants_peek` was true).
    pub fn peeked(&mut self, bytes: &[u8]) -> Peeked {
        match length(bytes) {
            Some(total) if total == bytes.len() => {
                self.parked = total;
                self.in_flight = 0;
                Peeked::Park
            }
            Some(total) if total > bytes.len() => {
                self.left = total;
                Peeked::Read
            }
            _ => {
                self.tracking = false;
                Peeked::Read
            }
        }
    }

    /// `n` answer bytes were read as usual.
    pub fn read(&mut self, n: usize) {
        if !self.tracking || n == 0 {
            return;
        }
        if n <= self.left {
            self.left -= n;
            if self.left == 0 {
                self.in_flight -= 1;
            }
        } else {
            self.tracking = false;
        }
    }

    /// Bytes parked in the socket.
    pub fn parked(&self) -> usize {
        self.parked
    }

    /// `n` parked bytes were read and dropped.
    pub fn unparked(&mut self, n: usize) {
        self.parked = self.parked.saturating_sub(n);
    }
}

/// The length of the answer at the start of `buf`, head and body, when
/// `buf` holds its whole head and the head tells the body's length.
fn length(buf: &[u8]) -> Option<usize> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut answer = httparse::Response::new(&mut headers);
    let head = match answer.parse(buf) {
        Ok(httparse::Status::Complete(head)) => head,
        _ => return None,
    };
    let code = answer.code?;
    if code < 200 {
        // "100 Continue": the real answer follows.
        return None;
    }
    if code == 204 || code == 304 {
        return Some(head);
    }
    let mut body = None;
    for h in answer.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return None;
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let n: usize = std::str::from_utf8(h.value).ok()?.trim().parse().ok()?;
            if body.replace(n).is_some_and(|earlier| earlier != n) {
                return None;
            }
        }
    }
    head.checked_add(body?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

    #[test]
    fn lengths_come_from_the_head() {
        assert_eq!(length(OK), Some(OK.len()));
        assert_eq!(length(&OK[..20]), None, "head incomplete");
        assert_eq!(length(&OK[..OK.len() - 2]), Some(OK.len()), "body partial");
        assert_eq!(length(b"HTTP/1.1 204 No Content\r\n\r\n"), Some(27));
        assert_eq!(length(b"HTTP/1.1 100 Continue\r\n\r\n"), None);
        assert_eq!(
            length(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            None
        );
        assert_eq!(length(b"HTTP/1.1 200 OK\r\n\r\n"), None, "no length");
        assert_eq!(
            length(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
            None
        );
    }

    #[test]
    fn a_whole_answer_to_the_only_request_is_parked() {
        let mut a = Answers::new();
        assert!(!a.wants_peek(), "nothing asked yet");
        a.sent("GET");
        assert!(a.wants_peek());
        assert_eq!(a.peeked(OK), Peeked::Park);
        assert_eq!(a.parked(), OK.len());
        assert!(!a.wants_peek(), "parked bytes come first");
        a.unparked(OK.len());
        a.sent("GET");
        assert!(a.wants_peek(), "tracking goes on");
    }

    #[test]
    fn a_partial_answer_is_read_and_counted() {
        let mut a = Answers::new();
        a.sent("GET");
        assert_eq!(a.peeked(&OK[..OK.len() - 2]), Peeked::Read);
        a.read(OK.len() - 2);
        assert!(!a.wants_peek(), "two bytes still to come");
        a.read(2);
        a.sent("GET");
        assert!(a.wants_peek());
    }

    #[test]
    fn anything_unexpected_ends_tracking() {
        let mut head = Answers::new();
        head.sent("HEAD");
        assert!(!head.wants_peek());

        let mut pipelined = Answers::new();
        pipelined.sent("GET");
        pipelined.sent("GET");
        assert!(!pipelined.wants_peek());

        let mut chunked = Answers::new();
        chunked.sent("GET");
        assert_eq!(
            chunked.peeked(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Peeked::Read
        );
        chunked.read(10);
        chunked.sent("GET");
        assert!(!chunked.wants_peek());

        let mut overlong = Answers::new();
        overlong.sent("GET");
        assert_eq!(overlong.peeked(&OK[..OK.len() - 2]), Peeked::Read);
        overlong.read(OK.len() + 10);
        overlong.sent("GET");
        assert!(!overlong.wants_peek(), "bytes beyond the answer");
    }
}
