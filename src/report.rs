//! One line for an error and every error beneath it (`source()`), as the
//! binary prints a failure and log lines name one.

use std::error::Error;

/// `what failed: why: deeper cause`, each error's own text once.
pub fn chain(e: &dyn Error) -> String {
    let mut line = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        next = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("cannot start")
        }
    }

    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn every_cause_once_in_order() {
        let e = Outer(std::io::Error::other("no room"));
        assert_eq!(chain(&e), "cannot start: no room");
    }
}
