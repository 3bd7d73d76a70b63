//! Counts the store reads made on this thread, so that whoever runs a reader can learn what one
//! answer cost: the HTTP layer records it for every API answer and page
//! (`ferrite_http_store_reads`, docs/http.md) and holds each route to its budget.
//!
//! One read is one key looked up (a `multi_get` of n keys is n) or one record stepped over by an
//! iterator. The count is thread-local: a reader on the blocking pool runs on one thread from
//! start to end, and two readers never share one.

use std::cell::Cell;

use rocksdb::DBIterator;

thread_local! {
    static READS: Cell<u64> = const { Cell::new(0) };
}

/// Adds `n` reads to this thread's count.
pub(super) fn note(n: usize) {
    READS.with(|r| r.set(r.get().saturating_add(n as u64)));
}

/// Runs `f` and returns what it gave with the store reads it made on this thread. Counts nest:
/// an outer count includes the inner one.
pub fn counted<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = READS.with(|r| r.replace(0));
    let out = f();
    let made = READS.with(|r| r.replace(0));
    READS.with(|r| r.set(before.saturating_add(made)));
    (out, made)
}

/// An iterator over one column family that counts each record it yields as a read.
pub struct StoreIter<'a>(DBIterator<'a>);

impl<'a> StoreIter<'a> {
    pub(super) fn new(inner: DBIterator<'a>) -> Self {
        StoreIter(inner)
    }
}

impl Iterator for StoreIter<'_> {
    type Item = Result<(Box<[u8]>, Box<[u8]>), rocksdb::Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.0.next();
        if item.is_some() {
            note(1);
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_nest_and_stay_on_their_thread() {
        let ((), outer) = counted(|| {
            note(2);
            let ((), inner) = counted(|| note(3));
            assert_eq!(inner, 3);
            std::thread::spawn(|| note(100)).join().expect("thread");
            note(1);
        });
        assert_eq!(
            outer, 6,
            "the inner count is part of the outer one; other threads are not"
        );
        let ((), after) = counted(|| ());
        assert_eq!(after, 0, "each count starts from nothing");
    }
}
