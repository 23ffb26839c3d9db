//! The ids a thread is working for (`request_id` while an HTTP worker runs
//! a request, `conn_id` on a module connection's thread), added to every
//! line that thread logs meanwhile, so that no call site has to pass them.

use std::cell::RefCell;
use std::marker::PhantomData;

thread_local! {
    static IDS: RefCell<Vec<(&'static str, String)>> = const { RefCell::new(Vec::new()) };
}

/// An id in force on this thread until dropped; not `Send`, as it belongs
/// to the thread that made it.
pub struct Scope {
    _thread: PhantomData<*const ()>,
}

/// Adds `key=value` to this thread's lines until the scope is dropped.
pub fn scope(key: &'static str, value: String) -> Scope {
    IDS.with(|ids| {
        if let Ok(mut ids) = ids.try_borrow_mut() {
            ids.push((key, value));
        }
    });
    Scope {
        _thread: PhantomData,
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        IDS.with(|ids| {
            if let Ok(mut ids) = ids.try_borrow_mut() {
                ids.pop();
            }
        });
    }
}

/// This thread's ids, oldest first.
pub(super) fn current() -> Vec<(&'static str, String)> {
    IDS.with(|ids| ids.try_borrow().map(|ids| ids.clone()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest_and_end_with_their_guard() {
        assert!(current().is_empty());
        let outer = scope("conn_id", "c1".into());
        {
            let _inner = scope("request_id", "r1".into());
            assert_eq!(
                current(),
                vec![("conn_id", "c1".into()), ("request_id", "r1".into())]
            );
        }
        assert_eq!(current(), vec![("conn_id", "c1".into())]);
        drop(outer);
        assert!(current().is_empty());
    }
}
