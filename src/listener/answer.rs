//! Where tiny_http's answer to the one request in flight ends.
//!
//! The bridge forwards the next request of a connection only after the
//! previous answer has come back whole, so it must know exactly where an
//! answer ends: after its head for HEAD requests, 204 and 304; after
//! `Content-Length` bytes; after the last chunk of a chunked body; or at the
//! end of the stream when the head says nothing. Interim `1xx` answers are
//! passed through and the real answer follows.
//!
//! Knowing that also lets the bridge leave a whole answer unread in the
//! socket until the next request has gone out (see `Bridge::read_backend`):
//! reading frees socket memory that tiny_http's side is charged for, and
//! Linux then wakes tiny_http's connection thread, which sleeps reading the
//! next request, for nothing: a wasted pair of context switches per request.

/// Longest answer head or chunk line tracked; beyond, the answer is read
/// to the end of the stream.
const MAX_LINE: usize = 16 * 1024;

/// How far one answer has come.
#[derive(Clone, Debug)]
pub struct Answer {
    state: State,
    /// The request was HEAD: the head announces a length it does not send.
    head_request: bool,
    /// Bytes of an incomplete head or chunk line, kept across reads.
    line: Vec<u8>,
    /// Bytes seen so far.
    seen: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Head,
    Body(usize),
    ChunkSize,
    ChunkData(usize),
    ChunkEnd(usize),
    Trailer,
    UntilEnd,
    Done,
}

/// What [`Answer::feed`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Fed {
    /// More of the answer is to come.
    More,
    /// The answer ended; this many of the bytes fed lie beyond it.
    Done { beyond: usize },
}

impl Answer {
    pub fn new(head_request: bool) -> Answer {
        Answer {
            state: State::Head,
            head_request,
            line: Vec::new(),
            seen: 0,
        }
    }

    /// Nothing of the answer has been seen yet.
    pub fn untouched(&self) -> bool {
        self.seen == 0
    }

    /// The answer runs to the end of the stream (its head gave no length).
    pub fn until_end(&self) -> bool {
        self.state == State::UntilEnd
    }

    /// Takes the next bytes of the stream.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Fed {
        self.seen += bytes.len();
        loop {
            if self.state == State::Done {
                return Fed::Done {
                    beyond: bytes.len(),
                };
            }
            if bytes.is_empty() || self.state == State::UntilEnd {
                return Fed::More;
            }
            let used = match self.state {
                State::Head => self.feed_head(bytes),
                State::Body(left) => {
                    let n = left.min(bytes.len());
                    self.state = if n == left {
                        State::Done
                    } else {
                        State::Body(left - n)
                    };
                    n
                }
                State::ChunkSize | State::Trailer => self.feed_line(bytes),
                State::ChunkData(left) => {
                    let n = left.min(bytes.len());
                    self.state = if n == left {
                        State::ChunkEnd(2)
                    } else {
                        State::ChunkData(left - n)
                    };
                    n
                }
                State::ChunkEnd(left) => {
                    let n = left.min(bytes.len());
                    self.state = if n == left {
                        State::ChunkSize
                    } else {
                        State::ChunkEnd(left - n)
                    };
                    n
                }
                State::UntilEnd | State::Done => 0,
            };
            bytes = &bytes[used..];
        }
    }

    /// Feeds head bytes; returns how many of `bytes` the head used.
    fn feed_head(&mut self, bytes: &[u8]) -> usize {
        let before = self.line.len();
        self.line.extend_from_slice(bytes);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut answer = httparse::Response::new(&mut headers);
        let len = match answer.parse(&self.line) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if self.line.len() <= MAX_LINE => return bytes.len(),
            // Unreadable or huge: pass it all on, up to the end.
            _ => {
                self.state = State::UntilEnd;
                return bytes.len();
            }
        };
        self.state = self.body_after(&answer);
        self.line.clear();
        len - before
    }

    /// How the body after a complete head is framed.
    fn body_after(&self, answer: &httparse::Response) -> State {
        let code = answer.code.unwrap_or(0);
        if code < 200 {
            // "100 Continue" and friends: the real answer follows.
            return State::Head;
        }
        if self.head_request || code == 204 || code == 304 {
            return State::Done;
        }
        let mut length = None;
        for h in answer.headers.iter() {
            if h.name.eq_ignore_ascii_case("transfer-encoding") {
                let chunked = std::str::from_utf8(h.value)
                    .is_ok_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
                return if chunked {
                    State::ChunkSize
                } else {
                    State::UntilEnd
                };
            }
            if h.name.eq_ignore_ascii_case("content-length") {
                let n = std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse::<usize>().ok());
                match (n, length) {
                    (Some(n), None) => length = Some(n),
                    (Some(n), Some(earlier)) if n == earlier => {}
                    _ => return State::UntilEnd,
                }
            }
        }
        match length {
            Some(0) => State::Done,
            Some(n) => State::Body(n),
            None => State::UntilEnd,
        }
    }

    /// Feeds a chunk-size or trailer line; returns how many bytes it used.
    fn feed_line(&mut self, bytes: &[u8]) -> usize {
        let Some(end) = bytes.iter().position(|&b| b == b'\n') else {
            self.line.extend_from_slice(bytes);
            if self.line.len() > MAX_LINE {
                self.state = State::UntilEnd;
            }
            return bytes.len();
        };
        self.line.extend_from_slice(&bytes[..end]);
        let line = String::from_utf8_lossy(&self.line);
        let line = line.trim_end_matches('\r');
        self.state = match self.state {
            State::ChunkSize => {
                let size = line.split(';').next().unwrap_or("").trim();
                match usize::from_str_radix(size, 16) {
                    Ok(0) => State::Trailer,
                    Ok(n) => State::ChunkData(n),
                    Err(_) => State::UntilEnd,
                }
            }
            _ if line.is_empty() => State::Done,
            _ => State::Trailer,
        };
        self.line.clear();
        end + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

    fn whole(answer: &[u8], head_request: bool) -> Fed {
        Answer::new(head_request).feed(answer)
    }

    #[test]
    fn lengths_come_from_the_head() {
        assert_eq!(whole(OK, false), Fed::Done { beyond: 0 });
        assert_eq!(whole(&OK[..20], false), Fed::More, "head incomplete");
        assert_eq!(whole(&OK[..OK.len() - 2], false), Fed::More, "body partial");
        assert_eq!(
            whole(b"HTTP/1.1 204 No Content\r\n\r\nxy", false),
            Fed::Done { beyond: 2 }
        );
        assert_eq!(
            whole(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true),
            Fed::Done { beyond: 0 },
            "HEAD: no body"
        );
        let mut no_length = Answer::new(false);
        assert_eq!(no_length.feed(b"HTTP/1.1 200 OK\r\n\r\nabc"), Fed::More);
        assert!(no_length.until_end());
    }

    #[test]
    fn interim_answers_are_followed_by_the_real_one() {
        let mut a = Answer::new(false);
        assert_eq!(a.feed(b"HTTP/1.1 100 Continue\r\n\r\n"), Fed::More);
        assert_eq!(a.feed(OK), Fed::Done { beyond: 0 });
    }

    #[test]
    fn byte_by_byte_equals_at_once() {
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n1\r\n!\r\n0\r\nTrailer: t\r\n\r\n";
        for answer in [OK, &chunked[..]] {
            let mut a = Answer::new(false);
            for (i, b) in answer.iter().enumerate() {
                let fed = a.feed(std::slice::from_ref(b));
                let expected = if i + 1 == answer.len() {
                    Fed::Done { beyond: 0 }
                } else {
                    Fed::More
                };
                assert_eq!(fed, expected, "byte {i}");
            }
            let mut with_more = answer.to_vec();
            with_more.extend_from_slice(b"HTTP");
            assert_eq!(whole(&with_more, false), Fed::Done { beyond: 4 });
        }
    }

    #[test]
    fn conflicting_lengths_read_to_the_end() {
        let mut a = Answer::new(false);
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab";
        assert_eq!(a.feed(two), Fed::More);
        assert!(a.until_end());
    }
}
