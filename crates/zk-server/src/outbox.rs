//! A connection's outbox: where the core queues the replies, events and the close of one
//! connection, and where its task takes them from, all that is queued at once.
//!
//! It replaces an unbounded tokio channel, which allocates its first block of 32 slots
//! (32 × 128-byte [`Outgoing`], about 4 KiB) with the channel and keeps it for the
//! connection's life: that block alone was more than Apache ZooKeeper's whole heap per idle
//! session. Here the queue starts empty, the two sides swap buffers (so a busy connection
//! reuses both and allocates nothing per message), and the connection task gives both back
//! when it goes idle ([`Receiver::release`]).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

use futures::task::AtomicWaker;

use crate::core::Outgoing;

struct Shared {
    queue: Mutex<VecDeque<Outgoing>>,
    waker: AtomicWaker,
    /// The sender is gone: nothing more will be queued.
    closed: AtomicBool,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, VecDeque<Outgoing>> {
        // A panic while holding the lock leaves a queue that is still a queue.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The core's end; dropping it tells the connection nothing more will come.
pub struct Sender(Arc<Shared>);

/// The connection task's end.
pub struct Receiver(Arc<Shared>);

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("outbox::Sender")
    }
}

/// A new, empty outbox (it allocates nothing beyond its shared header until used).
pub fn outbox() -> (Sender, Receiver) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(VecDeque::new()),
        waker: AtomicWaker::new(),
        closed: AtomicBool::new(false),
    });
    (Sender(shared.clone()), Receiver(shared))
}

impl Sender {
    /// Queues `m` and wakes the connection.
    pub fn send(&self, m: Outgoing) {
        self.0.queue().push_back(m);
        self.0.waker.wake();
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Release);
        self.0.waker.wake();
    }
}

impl Receiver {
    /// Waits until something is queued and swaps it into `into` (which must be empty; its
    /// capacity goes to the core's side for the next messages). False when the sender is
    /// gone and everything it queued has been taken.
    pub async fn recv_all(&self, into: &mut VecDeque<Outgoing>) -> bool {
        debug_assert!(into.is_empty());
        poll_fn(|cx| {
            // Registered before looking, so a message queued after the look wakes us.
            self.0.waker.register(cx.waker());
            let closed = self.0.closed.load(Ordering::Acquire);
            let mut q = self.0.queue();
            if !q.is_empty() {
                std::mem::swap(&mut *q, into);
                Poll::Ready(true)
            } else if closed {
                Poll::Ready(false)
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// Takes what is queued now without waiting; false if nothing was.
    pub fn try_recv_all(&self, into: &mut VecDeque<Outgoing>) -> bool {
        debug_assert!(into.is_empty());
        let mut q = self.0.queue();
        if q.is_empty() {
            return false;
        }
        std::mem::swap(&mut *q, into);
        true
    }

    /// Gives back the memory of both sides' buffers if nothing is queued (an idle connection
    /// keeps only the shared header).
    pub fn release(&self, local: &mut VecDeque<Outgoing>) {
        if local.is_empty() {
            *local = VecDeque::new();
        }
        let mut q = self.0.queue();
        if q.is_empty() {
            *q = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close() -> Outgoing {
        Outgoing::Close
    }

    #[tokio::test]
    async fn messages_arrive_in_order_then_the_end() {
        let (tx, rx) = outbox();
        tx.send(close());
        tx.send(Outgoing::Event(zk_tree::WatchedEvent {
            kind: zk_proto::EventType::NodeCreated,
            path: bytes::Bytes::from_static(b"/a"),
            zxid: 1,
        }));
        let mut got = VecDeque::new();
        assert!(rx.recv_all(&mut got).await);
        assert_eq!(got.len(), 2);
        assert!(matches!(got.pop_front(), Some(Outgoing::Close)));
        assert!(matches!(got.pop_front(), Some(Outgoing::Event(_))));
        drop(tx);
        assert!(!rx.recv_all(&mut got).await, "the sender is gone");
    }

    #[tokio::test]
    async fn a_waiting_receiver_is_woken() {
        let (tx, rx) = outbox();
        let sender = tokio::spawn(async move {
            tokio::task::yield_now().await;
            tx.send(close());
            tx
        });
        let mut got = VecDeque::new();
        assert!(rx.recv_all(&mut got).await);
        assert_eq!(got.len(), 1);
        drop(sender.await.unwrap());
        got.clear();
        assert!(!rx.recv_all(&mut got).await);
    }

    #[test]
    fn release_gives_back_idle_buffers() {
        let (tx, rx) = outbox();
        for _ in 0..10 {
            tx.send(close());
        }
        let mut got = VecDeque::new();
        futures::executor::block_on(rx.recv_all(&mut got));
        got.clear();
        rx.release(&mut got);
        assert_eq!(got.capacity(), 0);
        assert_eq!(rx.0.queue().capacity(), 0);
        // Something queued stays queued.
        tx.send(close());
        rx.release(&mut got);
        assert_eq!(rx.0.queue().len(), 1);
    }
}
